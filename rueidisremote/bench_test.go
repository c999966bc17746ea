package rueidisremote_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"strconv"
	"strings"
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

// redisUsec returns the server CPU time (microseconds) spent in the commands of
// INFO commandstats so far.
func redisUsec(b *testing.B, s *redistest.Server) (usec int64) {
	for name, v := range s.Info(b, "commandstats") {
		if !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		for _, f := range strings.Split(v, ",") {
			if n, ok := strings.CutPrefix(f, "usec="); ok {
				x, _ := strconv.ParseInt(n, 10, 64)
				usec += x
			}
		}
	}
	return usec
}

// BenchmarkFill compares the two forms of a compare-and-set fill of one key, in
// client time and in Redis CPU per fill: a key seen absent (SET NX), and a key that
// held a stale value (the script).
func BenchmarkFill(b *testing.B) {
	srv := redistest.Start(b)
	r, err := rueidisremote.NewFromURL(srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(r.Close)
	ctx := context.Background()
	value := make([]byte, 128)
	stale := sha1.Sum(value)
	runs := 0
	for _, absent := range []bool{true, false} {
		name := "absent-set-nx"
		if !absent {
			name = "stale-script"
		}
		b.Run(name, func(b *testing.B) {
			runs++
			keys := make([]string, b.N)
			for i := range keys {
				keys[i] = name + ":" + strconv.Itoa(runs) + ":" + strconv.Itoa(i)
				if !absent {
					srv.Do(b, "SET", keys[i], string(value))
				}
			}
			expect := ""
			if !absent {
				expect = hex.EncodeToString(stale[:])
			}
			before := redisUsec(b, srv)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				done, err := r.CompareAndSet(ctx, []backend.CASItem{{Key: keys[i], Expect: expect, Value: value, TTL: time.Minute}})
				if err != nil || !done[0] {
					b.Fatalf("CompareAndSet = %v, %v", done, err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(redisUsec(b, srv)-before)/float64(b.N), "redis-µs/op")
		})
	}
}
