package accelerator_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/internal/redistest"
)

// benchUser is about 100 bytes encoded.
type benchUser struct {
	ID    int64
	Name  string
	Email string
	Tags  []string
	Score float64
}

func sampleUser(id int64) benchUser {
	return benchUser{ID: id, Name: "user-" + strconv.FormatInt(id, 10), Email: "user@example.com", Tags: []string{"a", "b", "c"}, Score: 4.5}
}

var benchLoader = accelerator.LoaderFunc[int64, benchUser](func(_ context.Context, id int64) (benchUser, bool, error) {
	return sampleUser(id), true, nil
})

var benchMLoader = accelerator.MLoaderFunc[int64, benchUser](func(_ context.Context, ids []int64) (map[int64]benchUser, error) {
	out := make(map[int64]benchUser, len(ids))
	for _, id := range ids {
		out[id] = sampleUser(id)
	}
	return out, nil
})

func reportRoundTrips(b *testing.B, r *countingRemote, before int64) {
	b.ReportMetric(float64(r.calls.Load()-before)/float64(b.N), "roundtrips/op")
}

func BenchmarkGetLocalHit(b *testing.B) {
	c := newLocal(b, accelerator.Options[int64, benchUser]{})
	ctx := context.Background()
	must(b, c.Set(ctx, 1, sampleUser(1)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, found, _ := c.Get(ctx, 1); !found {
				b.Fatal("miss")
			}
		}
	})
}

func BenchmarkGetRemoteHit(b *testing.B) {
	srv := redistest.Start(b)
	remote := &countingRemote{Remote: newRemote(b, srv.URL())}
	c := newCache(b, accelerator.Options[int64, benchUser]{Remote: remote, Mode: accelerator.ModeRemote})
	ctx := context.Background()
	must(b, c.Set(ctx, 1, sampleUser(1)))
	before := remote.calls.Load()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, found, err := c.Get(ctx, 1); !found || err != nil {
			b.Fatal("miss", err)
		}
	}
	reportRoundTrips(b, remote, before)
}

func BenchmarkGetMissLoad(b *testing.B) {
	ctx := context.Background()
	b.Run("local", func(b *testing.B) {
		c := newLocal(b, accelerator.Options[int64, benchUser]{Loader: benchLoader, LocalMaxEntries: 1 << 20})
		b.ReportAllocs()
		var id int64
		for b.Loop() {
			id++
			if _, found, err := c.Get(ctx, id); !found || err != nil {
				b.Fatal("not loaded", err)
			}
		}
	})
	b.Run("both", func(b *testing.B) {
		srv := redistest.Start(b)
		remote := &countingRemote{Remote: newRemote(b, srv.URL())}
		c := newCache(b, accelerator.Options[int64, benchUser]{Remote: remote, Loader: benchLoader, LocalMaxEntries: 1 << 20})
		before := remote.calls.Load()
		b.ReportAllocs()
		var id int64
		for b.Loop() {
			id++
			if _, found, err := c.Get(ctx, id); !found || err != nil {
				b.Fatal("not loaded", err)
			}
		}
		reportRoundTrips(b, remote, before)
	})
}

// mgetMissNext numbers the keys of BenchmarkMGet100/all-missing across its runs (the
// Redis server is shared by them), so that every key is missing.
var mgetMissNext atomic.Int64

func BenchmarkMGet100(b *testing.B) {
	ctx := context.Background()
	srv := redistest.Start(b)
	remote := &countingRemote{Remote: newRemote(b, srv.URL())}
	b.Run("all-in-remote", func(b *testing.B) {
		c := newCache(b, accelerator.Options[int64, benchUser]{Remote: remote, Mode: accelerator.ModeRemote, Area: "mget-hit"})
		keys := make([]int64, 100)
		items := make(map[int64]benchUser, 100)
		for i := range keys {
			keys[i] = int64(i)
			items[int64(i)] = sampleUser(int64(i))
		}
		must(b, c.MSet(ctx, items))
		before := remote.calls.Load()
		b.ReportAllocs()
		for b.Loop() {
			if got, err := c.MGet(ctx, keys); len(got) != 100 || err != nil {
				b.Fatal(len(got), err)
			}
		}
		reportRoundTrips(b, remote, before)
	})
	b.Run("all-missing", func(b *testing.B) {
		c := newCache(b, accelerator.Options[int64, benchUser]{Remote: remote, Mode: accelerator.ModeRemote, Area: "mget-miss", MLoader: benchMLoader})
		keys := make([]int64, 100)
		before := remote.calls.Load()
		loadsBefore := c.MetricsSnapshot().MLoads
		b.ReportAllocs()
		for b.Loop() {
			for i := range keys {
				keys[i] = mgetMissNext.Add(1)
			}
			if got, err := c.MGet(ctx, keys); len(got) != 100 || err != nil {
				b.Fatal(len(got), err)
			}
		}
		reportRoundTrips(b, remote, before)
		b.ReportMetric(float64(c.MetricsSnapshot().MLoads-loadsBefore)/float64(b.N), "loads/op")
	})
}

// BenchmarkSet measures what the per-key protocol costs a write: the stripe lock
// held across the L2 write ("protocol") against the same writes without it
// ("no-write-lock", which is not safe: see docs/design.md). Writers run in parallel
// on distinct keys.
func BenchmarkSet(b *testing.B) {
	srv := redistest.Start(b)
	ctx := context.Background()
	for _, mode := range []accelerator.Mode{accelerator.ModeLocal, accelerator.ModeBoth} {
		for _, weak := range []bool{false, true} {
			name := mode.String() + "/protocol"
			if weak {
				name = mode.String() + "/no-write-lock"
			}
			b.Run(name, func(b *testing.B) {
				opts := accelerator.Options[int64, benchUser]{Mode: mode, Area: "bset" + name, LocalMaxEntries: 1 << 16}
				if mode != accelerator.ModeLocal {
					opts.Remote = newRemote(b, srv.URL())
				}
				c := newCache(b, opts)
				accelerator.WeakenProtocol(c, false, weak)
				var next atomic.Int64
				v := sampleUser(1)
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					base := next.Add(1) << 32
					var i int64
					for pb.Next() {
						i++
						if err := c.Set(ctx, base+i%4096, v); err != nil {
							b.Fatal(err)
						}
					}
				})
			})
		}
	}
}
