package breaker

import (
	"errors"
	"sync"
	"testing"
	"time"
)

type fakeClock struct{ t int64 }

func (c *fakeClock) now() int64              { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t += int64(d) }

func TestOpensAfterThresholdAndProbes(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: 1}
	opens := 0
	b := New(3, time.Second, 4*time.Second, clk.now, func() { opens++ })
	for range 2 {
		must(t, b.Allow())
		b.Done(true)
	}
	if b.State() != Closed {
		t.Fatalf("open after 2 of 3 failures")
	}
	must(t, b.Allow())
	b.Done(true)
	if b.State() != Open || opens != 1 {
		t.Fatalf("state %v after 3 failures (opens %d), want open", b.State(), opens)
	}
	if err := b.Allow(); !errors.Is(err, ErrOpen) {
		t.Fatalf("open breaker allowed a call: %v", err)
	}
	clk.advance(time.Second)
	must(t, b.Allow()) // the probe
	if err := b.Allow(); !errors.Is(err, ErrOpen) {
		t.Fatal("a second probe was allowed while the first is out")
	}
	b.Done(true) // probe failed: reopen for 2s
	if b.State() != Open || opens != 2 {
		t.Fatalf("state %v after a failed probe", b.State())
	}
	clk.advance(time.Second)
	if b.Allow() == nil {
		t.Fatal("backoff did not double after a failed probe")
	}
	clk.advance(time.Second)
	must(t, b.Allow())
	b.Done(false) // probe succeeded
	if b.State() != Closed {
		t.Fatalf("state %v after a good probe, want closed", b.State())
	}
	must(t, b.Allow())
}

func TestSuccessResetsTheFailureRun(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: 1}
	b := New(3, time.Second, time.Second, clk.now, nil)
	for range 10 {
		b.Done(true)
		b.Done(true)
		b.Done(false)
	}
	if b.State() != Closed {
		t.Fatal("non-consecutive failures opened the breaker")
	}
}

func TestBackoffIsCapped(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: 1}
	b := New(1, time.Second, 3*time.Second, clk.now, nil)
	b.Done(true)
	for range 5 {
		clk.advance(10 * time.Second)
		must(t, b.Allow())
		b.Done(true)
	}
	clk.advance(3 * time.Second)
	must(t, b.Allow())
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	b := New(5, time.Millisecond, 10*time.Millisecond, func() int64 { return time.Now().UnixNano() }, nil)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 1000 {
				if b.Allow() == nil {
					b.Done((i+j)%3 == 0)
				}
			}
		})
	}
	wg.Wait()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
