package accelerator_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/codec"
	"github.com/accelerator-go/accelerator/internal/clock"
	"github.com/accelerator-go/accelerator/internal/envelope"
	"github.com/accelerator-go/accelerator/local"
)

// memRemote is an in-memory backend.Remote without expiry, for the benchmarks that
// measure what the cache adds to a remote read: it costs the same in the raw read and
// in the cache's.
type memRemote struct {
	mu sync.RWMutex
	m  map[string][]byte
}

func newMemRemote() *memRemote { return &memRemote{m: map[string][]byte{}} }

func (r *memRemote) Get(_ context.Context, key string) ([]byte, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.m[key], nil
}

func (r *memRemote) MGet(_ context.Context, keys []string) ([][]byte, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = r.m[k]
	}
	return out, nil
}

func (r *memRemote) Set(_ context.Context, key string, v []byte, _ time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[key] = append([]byte(nil), v...)
	return nil
}

func (r *memRemote) MSet(ctx context.Context, items []backend.Item) error {
	for _, it := range items {
		r.Set(ctx, it.Key, it.Value, it.TTL)
	}
	return nil
}

func (r *memRemote) Del(_ context.Context, keys ...string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		delete(r.m, k)
	}
	return nil
}

// BenchmarkHitPath measures, on one goroutine, what a cache hit costs against the raw
// read it is made of: an L1 hit against otter's Get of the same entry, an L2 hit
// against the remote's Get plus the decoding of the value (on an in-memory remote, so
// that the difference is the cache's own work). Under callgrind, with
// GODEBUG=asyncpreemptoff=1, it counts the instructions of each.
func BenchmarkHitPath(b *testing.B) {
	ctx := context.Background()
	b.Run("l1/otter", func(b *testing.B) {
		// Configured as local.New configures the cache's default L1.
		clk, release := clock.Acquire()
		defer release()
		oc := otter.Must(&otter.Options[int64, backend.Entry[benchUser]]{
			MaximumSize: local.DefaultMaximumSize,
			ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[int64, backend.Entry[benchUser]]) time.Duration {
				return time.Duration(e.Value.Deadline() - clk.NowNano())
			}),
			Executor: func(fn func()) { fn() },
			Clock:    clk,
		})
		oc.Set(1, backend.Entry[benchUser]{Value: sampleUser(1), ExpireAt: clk.NowNano() + int64(time.Hour)})
		b.ReportAllocs()
		for b.Loop() {
			if e, ok := oc.GetIfPresent(1); !ok || e.ExpireAt < 0 {
				b.Fatal("miss")
			}
		}
	})
	b.Run("l1/otter-ptr", func(b *testing.B) {
		// The same, with entries behind a pointer, as the default L1 keeps them.
		clk, release := clock.Acquire()
		defer release()
		oc := otter.Must(&otter.Options[int64, *backend.Entry[benchUser]]{
			MaximumSize: local.DefaultMaximumSize,
			ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[int64, *backend.Entry[benchUser]]) time.Duration {
				return time.Duration(e.Value.Deadline() - clk.NowNano())
			}),
			Executor: func(fn func()) { fn() },
			Clock:    clk,
		})
		oc.Set(1, &backend.Entry[benchUser]{Value: sampleUser(1), ExpireAt: clk.NowNano() + int64(time.Hour)})
		b.ReportAllocs()
		for b.Loop() {
			if e, ok := oc.GetIfPresent(1); !ok || e.ExpireAt < 0 {
				b.Fatal("miss")
			}
		}
	})
	b.Run("l1/cache", func(b *testing.B) {
		c := newLocal(b, accelerator.Options[int64, benchUser]{})
		must(b, c.Set(ctx, 1, sampleUser(1)))
		b.ReportAllocs()
		for b.Loop() {
			if _, found, _ := c.Get(ctx, 1); !found {
				b.Fatal("miss")
			}
		}
	})
	remote := newMemRemote()
	// RemoteTimeout is long so that l2/cache-deadline can read with a deadline before
	// it for as long as the benchmark runs.
	c := newCache(b, accelerator.Options[int64, benchUser]{Remote: remote, Mode: accelerator.ModeRemote, Area: "hitpath", RemoteTimeout: time.Hour})
	must(b, c.Set(ctx, 1, sampleUser(1)))
	var key string
	for k := range remote.m {
		key = k
	}
	b.Run("l2/raw", func(b *testing.B) {
		var cd codec.Msgpack[benchUser]
		b.ReportAllocs()
		for b.Loop() {
			data, err := remote.Get(ctx, key)
			if err != nil {
				b.Fatal(err)
			}
			_, payload, err := envelope.Decode(data, 1<<20)
			if err != nil {
				b.Fatal(err)
			}
			var u benchUser
			if err := cd.Unmarshal(payload, &u); err != nil || u.ID != 1 {
				b.Fatal(err)
			}
		}
	})
	b.Run("l2/cache", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, found, err := c.Get(ctx, 1); !found || err != nil {
				b.Fatal("miss", err)
			}
		}
	})
	b.Run("l2/cache-deadline", func(b *testing.B) {
		// A caller whose deadline comes before the remote timeout: the remote call
		// needs no timer of its own.
		ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
		defer cancel()
		b.ReportAllocs()
		for b.Loop() {
			if _, found, err := c.Get(ctx, 1); !found || err != nil {
				b.Fatal("miss", err)
			}
		}
	})
}
