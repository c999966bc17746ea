package accelerator_test

import (
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand: entries expire, refresh windows open
// and breakers let probes through when the test says so, not when the machine gets
// round to it.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) NowNano() int64          { return c.ns.Load() }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// waitTimeout bounds waitFor: far longer than anything it waits for takes on a busy
// machine, so that only a real failure reaches it.
const waitTimeout = 10 * time.Second

// waitFor waits until cond holds, polling it every millisecond, and fails the test
// when it still does not after waitTimeout. It is for what happens on a goroutine the
// test does not schedule (a background refresh, a subscriber, a reconnecting client).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !waitUntil(waitTimeout, cond) {
		t.Fatalf("still waiting after %v: %s", waitTimeout, what)
	}
}

// waitUntil waits for cond up to d; it reports whether cond came true. Tests use it
// only where the passing run does not need to wait the whole of d.
func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			return false
		case <-tick.C:
		}
	}
	return true
}
