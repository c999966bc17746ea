package accelerator_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/internal/redistest"
)

// gatedSource is a Loader and an MLoader that counts the loads of each key and holds
// every call until gate is closed. The value of key k is k*10.
type gatedSource struct {
	gate          chan struct{}
	calls, mcalls atomic.Int32
	mu            sync.Mutex
	perKey        map[int]int
	batches       [][]int
}

func newGatedSource() *gatedSource {
	return &gatedSource{gate: make(chan struct{}), perKey: map[int]int{}}
}

func (s *gatedSource) record(keys []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		s.perKey[k]++
	}
	s.batches = append(s.batches, append([]int(nil), keys...))
}

func (s *gatedSource) Load(ctx context.Context, k int) (int, bool, error) {
	s.calls.Add(1)
	s.record([]int{k})
	<-s.gate
	return k * 10, true, nil
}

func (s *gatedSource) MLoad(ctx context.Context, keys []int) (map[int]int, error) {
	s.mcalls.Add(1)
	s.record(keys)
	<-s.gate
	out := make(map[int]int, len(keys))
	for _, k := range keys {
		out[k] = k * 10
	}
	return out, nil
}

// loadedOnce fails unless each of keys was loaded exactly once.
func (s *gatedSource) loadedOnce(t *testing.T, keys []int) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		if s.perKey[k] != 1 {
			t.Fatalf("key %d loaded %d times, want once (batches %v)", k, s.perKey[k], s.batches)
		}
	}
}

func keyRange(from, to int) []int {
	keys := make([]int, 0, to-from)
	for k := from; k < to; k++ {
		keys = append(keys, k)
	}
	return keys
}

// dedupModes runs f on a local-only cache and on a cache with L1 and a real Redis.
func dedupModes(t *testing.T, f func(t *testing.T, opts accelerator.Options[int, int])) {
	t.Run("local", func(t *testing.T) {
		t.Parallel()
		f(t, accelerator.Options[int, int]{Mode: accelerator.ModeLocal})
	})
	t.Run("both", func(t *testing.T) {
		t.Parallel()
		srv := redistest.Start(t)
		f(t, accelerator.Options[int, int]{Mode: accelerator.ModeBoth, Remote: newRemote(t, srv.URL()), Area: "dedup"})
	})
}

func mgetAll(t *testing.T, c *accelerator.Cache[int, int], keys []int) {
	t.Helper()
	got, err := c.MGet(context.Background(), keys)
	if err != nil || len(got) != len(keys) {
		t.Errorf("MGet = %d values, %v; want %d", len(got), err, len(keys))
		return
	}
	for _, k := range keys {
		if got[k] != k*10 {
			t.Errorf("MGet[%d] = %d, want %d", k, got[k], k*10)
		}
	}
}

// TestOverlappingMGetsLoadEachKeyOnce: two MGets of the same 100 missing keys, the
// second while the first one's MLoad runs, load each key once: the second joins the
// loads in flight instead of calling MLoad again.
func TestOverlappingMGetsLoadEachKeyOnce(t *testing.T) {
	t.Parallel()
	dedupModes(t, func(t *testing.T, opts accelerator.Options[int, int]) {
		src := newGatedSource()
		opts.MLoader = src
		c := newCache(t, opts)
		keys := keyRange(0, 100)
		var wg sync.WaitGroup
		wg.Go(func() { mgetAll(t, c, keys) })
		waitFor(t, "the first MLoad", func() bool { return src.mcalls.Load() == 1 })
		wg.Go(func() { mgetAll(t, c, keys) })
		waitFor(t, "the second MGet to join the 100 loads", func() bool { return c.MetricsSnapshot().SharedLoads == 100 })
		close(src.gate)
		wg.Wait()
		if n := src.mcalls.Load(); n != 1 {
			t.Fatalf("MLoad called %d times, want 1", n)
		}
		src.loadedOnce(t, keys)
	})
}

// TestPartlyOverlappingMGetsLoadOnlyTheirOwnKeys: a second MGet that shares half of
// its keys with a batch in flight loads only the other half, in one MLoad call.
func TestPartlyOverlappingMGetsLoadOnlyTheirOwnKeys(t *testing.T) {
	t.Parallel()
	dedupModes(t, func(t *testing.T, opts accelerator.Options[int, int]) {
		src := newGatedSource()
		opts.MLoader = src
		c := newCache(t, opts)
		var wg sync.WaitGroup
		wg.Go(func() { mgetAll(t, c, keyRange(0, 100)) })
		waitFor(t, "the first MLoad", func() bool { return src.mcalls.Load() == 1 })
		wg.Go(func() { mgetAll(t, c, keyRange(50, 150)) })
		waitFor(t, "the second MLoad", func() bool { return src.mcalls.Load() == 2 })
		if m := c.MetricsSnapshot(); m.SharedLoads != 50 || m.LoadedKeys != 150 {
			t.Fatalf("SharedLoads %d, LoadedKeys %d; want 50 and 150", m.SharedLoads, m.LoadedKeys)
		}
		close(src.gate)
		wg.Wait()
		src.loadedOnce(t, keyRange(0, 150))
	})
}

// TestGetAndMGetShareLoads: a Get joins the load of its key by an MGet in flight, and
// an MGet joins the load of a Get in flight and loads only its other keys.
func TestGetAndMGetShareLoads(t *testing.T) {
	t.Parallel()
	dedupModes(t, func(t *testing.T, opts accelerator.Options[int, int]) {
		t.Run("Get first", func(t *testing.T) {
			src := newGatedSource()
			o := opts
			o.Loader, o.MLoader, o.Area = src, src, o.Area+"-get-first"
			c := newCache(t, o)
			var wg sync.WaitGroup
			wg.Go(func() {
				if v, found, err := c.Get(context.Background(), 5); v != 50 || !found || err != nil {
					t.Errorf("Get = %d %v %v", v, found, err)
				}
			})
			waitFor(t, "the Get's load", func() bool { return src.calls.Load() == 1 })
			wg.Go(func() { mgetAll(t, c, keyRange(0, 100)) })
			waitFor(t, "the MGet's load", func() bool { return src.mcalls.Load() == 1 && c.MetricsSnapshot().SharedLoads == 1 })
			close(src.gate)
			wg.Wait()
			src.loadedOnce(t, keyRange(0, 100))
		})
		t.Run("MGet first", func(t *testing.T) {
			src := newGatedSource()
			o := opts
			o.Loader, o.MLoader, o.Area = src, src, o.Area+"-mget-first"
			c := newCache(t, o)
			var wg sync.WaitGroup
			wg.Go(func() { mgetAll(t, c, keyRange(0, 100)) })
			waitFor(t, "the MGet's load", func() bool { return src.mcalls.Load() == 1 })
			var gets sync.WaitGroup
			for _, k := range []int{5, 50, 99} {
				gets.Go(func() {
					if v, found, err := c.Get(context.Background(), k); v != k*10 || !found || err != nil {
						t.Errorf("Get(%d) = %d %v %v", k, v, found, err)
					}
				})
			}
			// The Gets have missed L1 while the MGet's load is held: they must join
			// it, and none may reach the loader, before or after the load ends.
			waitFor(t, "the Gets' L1 misses", func() bool { return c.MetricsSnapshot().LocalMisses >= 103 })
			close(src.gate)
			wg.Wait()
			gets.Wait()
			if n := src.calls.Load(); n != 0 {
				t.Fatalf("%d Gets called the loader while an MGet was loading their keys", n)
			}
			if m := c.MetricsSnapshot(); m.SharedLoads != 3 {
				t.Fatalf("SharedLoads = %d, want 3", m.SharedLoads)
			}
			src.loadedOnce(t, keyRange(0, 100))
		})
	})
}
