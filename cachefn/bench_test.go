package cachefn_test

import (
	"context"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/cachefn"
)

// BenchmarkL1Hit compares a wrapped call answered by L1 with the cache code one would
// write by hand. Compare the sub-benchmarks with benchstat over -count=10.
func BenchmarkL1Hit(b *testing.B) {
	ctx := context.Background()
	src := newSource()
	c := newLocal(b, accelerator.Options[int64, user]{})
	must(b, c.Set(ctx, 1, user{1, "Ada"}))
	loader := accelerator.LoaderFunc[int64, user](func(ctx context.Context, id int64) (user, bool, error) {
		u, err := src.Get(ctx, id)
		return u, err == nil, err
	})

	// handwritten/get is cache-aside written out: Get, and on a miss the source and Set.
	handGet := func(ctx context.Context, id int64) (user, error) {
		u, found, err := c.Get(ctx, id)
		if err == nil && found {
			return u, nil
		}
		if u, err = src.Get(ctx, id); err != nil {
			return u, err
		}
		_ = c.Set(ctx, id, u)
		return u, nil
	}
	// handwritten/getorload is the cache's read-through with a loader built once.
	handLoad := func(ctx context.Context, id int64) (user, error) {
		u, found, err := c.GetOrLoad(ctx, id, loader)
		if err == nil && !found {
			err = cachefn.ErrNotFound
		}
		return u, err
	}
	cases := []struct {
		name string
		fn   func(context.Context, int64) (user, error)
	}{
		{"handwritten/get", handGet},
		{"handwritten/getorload", handLoad},
		{"cachefn/Cacheable", cachefn.Cacheable(c, src.Get)},
		{"cachefn/Cacheable-propagate", cachefn.Cacheable(c, src.Get, cachefn.OnCacheError(cachefn.Propagate))},
		{"cachefn/CacheableBy", cachefn.CacheableBy(c, idKey, src.Get)},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if u, err := tc.fn(ctx, 1); err != nil || u.ID != 1 {
					b.Fatal("miss", err)
				}
			}
			if src.calls.Load() != 0 {
				b.Fatal("the source was called: not an L1 hit")
			}
		})
	}
}

// BenchmarkL1HitParallel is BenchmarkL1Hit with every CPU reading the same key.
func BenchmarkL1HitParallel(b *testing.B) {
	ctx := context.Background()
	src := newSource()
	c := newLocal(b, accelerator.Options[int64, user]{})
	must(b, c.Set(ctx, 1, user{1, "Ada"}))
	cases := []struct {
		name string
		fn   func(context.Context, int64) (user, error)
	}{
		{"handwritten/get", func(ctx context.Context, id int64) (user, error) {
			u, _, err := c.Get(ctx, id)
			return u, err
		}},
		{"cachefn/Cacheable", cachefn.Cacheable(c, src.Get)},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := tc.fn(ctx, 1); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkL1HitOverhead measures the wrapper's overhead on an L1 hit against
// hand-written cache code robustly on a busy machine: it alternates blocks of calls of
// the two, so that both see the same noise, and reports the ratio as overhead-%.
func BenchmarkL1HitOverhead(b *testing.B) {
	ctx := context.Background()
	src := newSource()
	c := newLocal(b, accelerator.Options[int64, user]{})
	must(b, c.Set(ctx, 1, user{1, "Ada"}))
	loader := accelerator.LoaderFunc[int64, user](func(ctx context.Context, id int64) (user, bool, error) {
		u, err := src.Get(ctx, id)
		return u, err == nil, err
	})
	hand := map[string]func(context.Context, int64) (user, error){
		// cache-aside written out: Get, and on a miss the source and Set.
		"vs-get": func(ctx context.Context, id int64) (user, error) {
			u, found, err := c.Get(ctx, id)
			if err == nil && found {
				return u, nil
			}
			if u, err = src.Get(ctx, id); err != nil {
				return u, err
			}
			_ = c.Set(ctx, id, u)
			return u, nil
		},
		// the cache's read-through with a loader built once.
		"vs-getorload": func(ctx context.Context, id int64) (user, error) {
			u, found, err := c.GetOrLoad(ctx, id, loader)
			if err == nil && !found {
				err = cachefn.ErrNotFound
			}
			return u, err
		},
	}
	wrapped := map[string]func(context.Context, int64) (user, error){
		"Cacheable":   cachefn.Cacheable(c, src.Get),
		"CacheableBy": cachefn.CacheableBy(c, idKey, src.Get),
	}
	for _, wn := range []string{"Cacheable", "CacheableBy"} {
		for _, hn := range []string{"vs-get", "vs-getorload"} {
			b.Run(wn+"/"+hn, func(b *testing.B) {
				w, h := wrapped[wn], hand[hn]
				const block = 512
				var tHand, tWrap time.Duration
				run := func(f func(context.Context, int64) (user, error)) time.Duration {
					start := time.Now()
					for range block {
						if u, err := f(ctx, 1); err != nil || u.ID != 1 {
							b.Fatal("miss", err)
						}
					}
					return time.Since(start)
				}
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if i++; i%2 == 0 {
						tHand += run(h)
						tWrap += run(w)
					} else {
						tWrap += run(w)
						tHand += run(h)
					}
				}
				calls := float64(b.N * block)
				b.ReportMetric(float64(tHand.Nanoseconds())/calls, "hand-ns/call")
				b.ReportMetric(float64(tWrap.Nanoseconds())/calls, "wrapped-ns/call")
				b.ReportMetric((float64(tWrap)/float64(tHand)-1)*100, "overhead-%")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}
