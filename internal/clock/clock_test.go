package clock

import (
	"testing"
	"testing/synctest"
	"time"
)

// The clock ticks while it is read, stops when nobody has read it for IdleAfter (an
// idle process spends nothing on it), starts again on the next read, and stops for
// good once released.
func TestCoarseTicksOnlyWhileRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &Coarse{}
		start := c.NowNano()
		for range 10 {
			<-time.After(Resolution)
			c.NowNano()
		}
		if got := c.NowNano(); got-start < int64(9*Resolution) || got-start > int64(11*Resolution) {
			t.Fatalf("after 10 ticks the clock moved %v", time.Duration(got-start))
		}
		<-time.After(IdleAfter + 2*Resolution)
		synctest.Wait()
		if c.running.Load() {
			t.Fatal("the clock still ticks after IdleAfter without a read")
		}
		if got, want := c.NowNano(), time.Now().UnixNano(); got != want {
			t.Fatalf("a read of a stopped clock = %d, want the precise time %d", got, want)
		}
		if !c.running.Load() {
			t.Fatal("a read did not start the clock again")
		}
		c.stopped.Store(true)
		<-time.After(Resolution)
		c.NowNano() // read on: a released clock stops all the same
		<-time.After(2 * Resolution)
		synctest.Wait()
		if c.running.Load() {
			t.Fatal("a released clock still ticks")
		}
		if c.NowNano(); c.running.Load() {
			t.Fatal("a read restarted a released clock")
		}
	})
}

func TestAcquireSharesOneClockUntilTheLastRelease(t *testing.T) {
	a, releaseA := Acquire()
	b, releaseB := Acquire()
	if a != b {
		t.Fatal("two holders got two clocks")
	}
	releaseA()
	releaseA() // idempotent
	if a.stopped.Load() {
		t.Fatal("the clock stopped while a holder remained")
	}
	releaseB()
	if !a.stopped.Load() {
		t.Fatal("the clock did not stop with its last holder")
	}
	c, releaseC := Acquire()
	defer releaseC()
	if c == a {
		t.Fatal("a released clock was handed out again")
	}
}
