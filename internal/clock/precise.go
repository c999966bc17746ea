package clock

import "time"

// Precise reads the precise time. Caches without an in-process layer use it: they read
// the time only around remote calls, where its cost does not show, and so need no
// background goroutine.
var Precise Clock = Func(func() int64 { return time.Now().UnixNano() })
