// Package clock provides the process-wide coarse clock that the caches with an L1 and
// their default local backend read on every operation.
//
// Reading the precise time costs tens of nanoseconds; an L1 hit must check freshness,
// so the cache reads a [Coarse] clock instead, which a background goroutine advances
// once per [Resolution] while the clock is being read. When nobody has read it for
// [IdleAfter], the goroutine stops, and the next read starts it again (that read, and
// any read while it is stopped, gets the precise time): an idle process spends no CPU
// on it. One clock serves every cache in the process: it is created by the first
// Acquire and stopped when the last holder releases it.
package clock

import (
	"sync"
	"sync/atomic"
	"time"
)

// Resolution is how often the shared clock reads the time while it is in use: it is
// also the most that a freshness check can lag behind the real time.
const Resolution = time.Millisecond

// IdleAfter is how long the clock goes on ticking after its last read.
const IdleAfter = time.Second

// Clock reads the current time in Unix nanoseconds.
type Clock interface {
	NowNano() int64
}

// Coarse is a clock advanced by a goroutine once per Resolution while it is read. Its
// zero value is not usable; get one with [Acquire].
type Coarse struct {
	now atomic.Int64
	// read is set by the readers since the last tick, running while the goroutine
	// ticks, and stopped once the clock was released.
	read, running, stopped atomic.Bool
}

// NowNano returns the time of the last tick, or the precise time while the ticking
// goroutine is stopped (and starts it again).
func (c *Coarse) NowNano() int64 {
	if !c.running.Load() {
		return c.wake()
	}
	if !c.read.Load() {
		c.read.Store(true)
	}
	return c.now.Load()
}

// Tick returns the ticks of a [time.Ticker], for otter's periodic clean-up.
func (c *Coarse) Tick(d time.Duration) <-chan time.Time {
	return time.NewTicker(d).C
}

func (c *Coarse) wake() int64 {
	now := time.Now().UnixNano()
	if c.stopped.Load() || !c.running.CompareAndSwap(false, true) {
		return now
	}
	c.now.Store(now)
	c.read.Store(true)
	go c.tick()
	return now
}

// tick advances the clock until it is released or nobody read it for IdleAfter.
// Idleness is measured on the wall clock, not in ticks: on a loaded machine ticks
// come late or are dropped, and counting them would keep the clock running longer.
func (c *Coarse) tick() {
	t := time.NewTicker(Resolution)
	defer t.Stop()
	lastRead := time.Now()
	for range t.C {
		if c.stopped.Load() {
			c.running.Store(false)
			return
		}
		now := time.Now()
		c.now.Store(now.UnixNano())
		if c.read.Swap(false) {
			lastRead = now
			continue
		}
		if now.Sub(lastRead) >= IdleAfter {
			c.running.Store(false)
			return
		}
	}
}

// Running reports whether the clock is ticking: it has been read within about
// IdleAfter and is not released.
func (c *Coarse) Running() bool { return c.running.Load() }

var (
	mu     sync.Mutex
	shared *Coarse
	refs   int
)

// Acquire returns the shared coarse clock, creating it if needed. Each call must be
// paired with one call of the returned release function.
func Acquire() (c *Coarse, release func()) {
	mu.Lock()
	defer mu.Unlock()
	if shared == nil {
		shared = &Coarse{}
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
	// After it is stopped the clock reads the precise time, so a holder that still
	// reads it after its release keeps working.
	shared.stopped.Store(true)
	shared = nil
}

// Func adapts a function to [Clock]; tests use it to drive time by hand.
type Func func() int64

// NowNano calls f.
func (f Func) NowNano() int64 { return f() }
