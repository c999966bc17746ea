//go:build !unix

package redistest

import "os"

// Freezing a process needs job-control signals, which only Unix has.
var sigStop, sigCont os.Signal
