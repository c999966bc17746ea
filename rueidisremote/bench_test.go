package rueidisremote_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/internal/redistest"
	"github.com/accelerator-go/accelerator/rueidisremote"
)

// reportCommands reports how many commands named cmd the servers executed per
// operation while f ran.
func reportCommands(b *testing.B, servers []*redistest.Server, cmd string, f func()) {
	b.Helper()
	count := func() (n int64) {
		for _, s := range servers {
			n += s.CommandStats(b)[cmd].Calls
		}
		return n
	}
	before := count()
	f()
	b.StopTimer()
	b.ReportMetric(float64(count()-before)/float64(b.N), cmd+"/op")
}

func seed(b *testing.B, r *rueidisremote.Remote, n int) []string {
	b.Helper()
	keys := make([]string, n)
	items := make([]backend.Item, n)
	for i := range keys {
		keys[i] = "bench:" + strconv.Itoa(i)
		items[i] = backend.Item{Key: keys[i], Value: make([]byte, 128), TTL: time.Hour}
	}
	if err := r.MSet(context.Background(), items); err != nil {
		b.Fatalf("MSet = %v", err)
	}
	return keys
}

func BenchmarkGet(b *testing.B) {
	s := redistest.Start(b)
	r := newRemote(b, s.URL())
	key := seed(b, r, 1)[0]
	ctx := context.Background()
	b.ReportAllocs()
	reportCommands(b, []*redistest.Server{s}, "get", func() {
		for b.Loop() {
			if _, err := r.Get(ctx, key); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkGetParallel(b *testing.B) {
	s := redistest.Start(b)
	r := newRemote(b, s.URL())
	key := seed(b, r, 1)[0]
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.Get(ctx, key); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkSet(b *testing.B) {
	s := redistest.Start(b)
	r := newRemote(b, s.URL())
	ctx := context.Background()
	value := make([]byte, 128)
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Set(ctx, "bench:set", value, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMGet100(b *testing.B) {
	s := redistest.Start(b)
	r := newRemote(b, s.URL())
	keys := seed(b, r, 100)
	ctx := context.Background()
	b.ReportAllocs()
	reportCommands(b, []*redistest.Server{s}, "mget", func() {
		for b.Loop() {
			if _, err := r.MGet(ctx, keys); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkMGet100Cluster(b *testing.B) {
	c := redistest.StartCluster(b, 3)
	r, err := rueidisremote.NewFromOptions(rueidis.ClientOption{InitAddress: c.Addrs()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(r.Close)
	keys := seed(b, r, 100)
	ctx := context.Background()
	b.ReportAllocs()
	reportCommands(b, c.Nodes(), "mget", func() {
		for b.Loop() {
			if _, err := r.MGet(ctx, keys); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGetBounded is BenchmarkGet through the bounded read (GETRANGE), with the
// cache's default MaxValueSize as the limit.
func BenchmarkGetBounded(b *testing.B) {
	s := redistest.Start(b)
	r := newRemote(b, s.URL())
	key := seed(b, r, 1)[0]
	ctx := context.Background()
	b.ReportAllocs()
	reportCommands(b, []*redistest.Server{s}, "getrange", func() {
		for b.Loop() {
			if _, err := r.GetBounded(ctx, key, 8<<20); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkMGet100Bounded is BenchmarkMGet100 through the bounded read: 100
// GETRANGE in one pipeline instead of one MGET.
func BenchmarkMGet100Bounded(b *testing.B) {
	s := redistest.Start(b)
	r := newRemote(b, s.URL())
	keys := seed(b, r, 100)
	ctx := context.Background()
	b.ReportAllocs()
	reportCommands(b, []*redistest.Server{s}, "getrange", func() {
		for b.Loop() {
			if _, err := r.MGetBounded(ctx, keys, 8<<20); err != nil {
				b.Fatal(err)
			}
		}
	})
}
