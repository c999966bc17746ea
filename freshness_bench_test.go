package accelerator_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator"
)

// BenchmarkExpiryStampede writes 10,000 hot keys at the same moment and keeps reading
// them past their expiry, to show how each refresh policy spreads the reloads that
// reach the source: without refresh-ahead they all come at expiry, and readers wait;
// with the fixed window they all come when the window opens, but readers do not
// wait; the probabilistic rule spreads them out. One iteration is one whole scenario.
//
// Reported: loads/op (reloads that reached the source), peak-loads/10ms (the busiest
// 10 ms, and the same as a rate per second), spread-ms (time between the 5th and 95th percentile reload) and misses/op
// (reads that had to wait for a load). Each scenario reads until just past the
// expiry, so each key is reloaded at most once.
func BenchmarkExpiryStampede(b *testing.B) {
	const (
		keys   = 10_000
		ttl    = time.Second
		window = 400 * time.Millisecond
		cost   = time.Millisecond
	)
	cases := []struct {
		name string
		opts func(o *accelerator.Options[int, int])
	}{
		{"refresh=off", func(o *accelerator.Options[int, int]) {}},
		{"refresh=fixed", func(o *accelerator.Options[int, int]) { o.RefreshAhead = window }},
		{"refresh=xfetch-beta1", func(o *accelerator.Options[int, int]) {
			o.RefreshAhead, o.RefreshPolicy = window, accelerator.RefreshProbabilistic
		}},
		{"refresh=xfetch-beta100", func(o *accelerator.Options[int, int]) {
			o.RefreshAhead, o.RefreshPolicy, o.RefreshBeta = window, accelerator.RefreshProbabilistic, 100
		}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			var loads, misses, peaks, spreads float64
			for range b.N {
				r := runExpiryScenario(b, keys, ttl, cost, tc.opts)
				loads += float64(r.loads)
				misses += float64(r.misses)
				peaks += float64(r.peak)
				spreads += r.spread.Seconds() * 1000
			}
			n := float64(b.N)
			b.ReportMetric(loads/n, "loads/op")
			b.ReportMetric(peaks/n, "peak-loads/10ms")
			b.ReportMetric(peaks/n*100, "peak-loads/s")
			b.ReportMetric(spreads/n, "spread-ms")
			b.ReportMetric(misses/n, "misses/op")
		})
	}
}

type expiryResult struct {
	loads, misses, peak int
	spread              time.Duration
}

func runExpiryScenario(b *testing.B, keys int, ttl, cost time.Duration, configure func(*accelerator.Options[int, int])) expiryResult {
	var mu sync.Mutex
	var stamps []time.Duration
	var start time.Time
	opts := accelerator.Options[int, int]{
		LocalTTL:        ttl,
		LocalMaxEntries: 2 * keys,
		Loader: accelerator.LoaderFunc[int, int](func(ctx context.Context, k int) (int, bool, error) {
			mu.Lock()
			stamps = append(stamps, time.Since(start))
			mu.Unlock()
			time.Sleep(cost)
			return k, true, nil
		}),
	}
	configure(&opts)
	c, err := accelerator.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	items := make(map[int]int, keys)
	for i := range keys {
		items[i] = i
	}
	start = time.Now()
	if err := c.MSet(ctx, items); err != nil {
		b.Fatal(err)
	}
	missesBefore := c.MetricsSnapshot().LocalMisses
	var wg sync.WaitGroup
	// Read until just past the expiry: one round of reloads per key. 32 readers stand
	// for the concurrent requests of a busy service.
	deadline := start.Add(ttl + ttl/10)
	for range 32 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				for range 256 {
					c.Get(ctx, rand.IntN(keys))
				}
			}
		})
	}
	wg.Wait()
	res := expiryResult{misses: int(c.MetricsSnapshot().LocalMisses - missesBefore)}
	mu.Lock()
	defer mu.Unlock()
	res.loads = len(stamps)
	if len(stamps) == 0 {
		return res
	}
	slices.Sort(stamps)
	buckets := map[time.Duration]int{}
	for _, s := range stamps {
		bk := s / (10 * time.Millisecond)
		buckets[bk]++
		res.peak = max(res.peak, buckets[bk])
	}
	res.spread = stamps[len(stamps)*95/100] - stamps[len(stamps)*5/100]
	return res
}

func BenchmarkGetLocalHitRefreshAhead(b *testing.B) {
	for _, policy := range []accelerator.RefreshPolicy{accelerator.RefreshFixedWindow, accelerator.RefreshProbabilistic} {
		name := map[accelerator.RefreshPolicy]string{accelerator.RefreshFixedWindow: "fixed", accelerator.RefreshProbabilistic: "xfetch"}[policy]
		b.Run(name, func(b *testing.B) {
			c := newLocal(b, accelerator.Options[int64, benchUser]{
				Loader: benchLoader, LocalTTL: time.Hour, RefreshAhead: time.Minute, RefreshPolicy: policy,
			})
			ctx := context.Background()
			c.Get(ctx, 1)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, found, _ := c.Get(ctx, 1); !found {
						b.Fatal("miss")
					}
				}
			})
		})
	}
}
