//go:build !linux

package redistest

import "os/exec"

// startProcess starts cmd. Only Linux can tie a child's life to its parent's, so
// elsewhere a test binary killed by its timeout may leave a server behind.
func startProcess(cmd *exec.Cmd) error {
	return cmd.Start()
}
