package counter

import (
	"sync"
	"testing"
)

func TestCounterSumsEveryIncrement(t *testing.T) {
	c := New()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 1000 {
				c.Inc()
			}
			c.Add(10)
		})
	}
	wg.Wait()
	if got := c.Load(); got != 16*1010 {
		t.Fatalf("Load = %d, want %d", got, 16*1010)
	}
}

// Goroutines alive at the same time must mostly pick different stripes.
func TestStripesSpreadGoroutines(t *testing.T) {
	const n = 64
	picked := make([]uint32, n)
	var ready, wg sync.WaitGroup
	release := make(chan struct{})
	ready.Add(n)
	for i := range n {
		wg.Go(func() {
			picked[i] = stripe() & (n - 1)
			ready.Done()
			<-release // stays alive, so that no other goroutine reuses its stack
		})
	}
	ready.Wait()
	close(release)
	wg.Wait()
	distinct := map[uint32]bool{}
	for _, s := range picked {
		distinct[s] = true
	}
	// 64 balls in 64 bins land in about 40 distinct bins at random.
	if len(distinct) < n/4 {
		t.Fatalf("%d goroutines picked %d distinct stripes of %d: %v", n, len(distinct), n, picked)
	}
}

func TestStripeIsStableOnAGoroutine(t *testing.T) {
	if a, b := stripe(), stripe(); a != b {
		t.Fatalf("stripe moved between two calls at the same depth: %d, %d", a, b)
	}
}

func BenchmarkAdd(b *testing.B) {
	c := New()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Inc()
		}
	})
}
