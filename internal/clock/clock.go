// Package clock provides the process-wide coarse clock that the cache and its default
// local backend read on every operation.
//
// Reading the precise time costs tens of nanoseconds; an L1 hit must check freshness,
// so the cache reads an [otter.CoarseClock] instead, which a background goroutine
// advances once per [Resolution]. One clock serves every cache in the process: it is
// started by the first Acquire and stopped when the last holder releases it.
package clock

import (
	"sync"
	"time"

	"github.com/maypok86/otter/v2"
)

// Resolution is how often the shared clock reads the time: it is also the most that a
// freshness check can lag behind the real time.
const Resolution = time.Millisecond

// Clock reads the current time in Unix nanoseconds.
type Clock interface {
	NowNano() int64
}

var (
	mu     sync.Mutex
	shared *otter.CoarseClock
	refs   int
)

// Acquire returns the shared coarse clock, starting it if needed. Each call must be
// paired with one call of the returned release function.
func Acquire() (c *otter.CoarseClock, release func()) {
	mu.Lock()
	defer mu.Unlock()
	if shared == nil {
		shared = otter.NewCoarseClock(Resolution)
	}
	refs++
	c = shared
	var once sync.Once
	return c, func() { once.Do(releaseShared) }
}

func releaseShared() {
	mu.Lock()
	defer mu.Unlock()
	refs--
	if refs > 0 {
		return
	}
	// After Stop the clock reads the precise time, so a holder that still reads it
	// after its release keeps working.
	shared.Stop()
	shared = nil
}

// Func adapts a function to [Clock]; tests use it to drive time by hand.
type Func func() int64

// NowNano calls f.
func (f Func) NowNano() int64 { return f() }
