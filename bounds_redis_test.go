package accelerator_test

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/internal/redistest"
	"github.com/accelerator-go/accelerator/rueidisremote"
)

// TestHugePlantedValueIsReadWithBoundedMemory: a 100 MB value planted in Redis under a
// cache key costs a reader about MaxValueSize of memory, not 100 MB: reads go through
// the backend's bounded read (GETRANGE), the cut value is rejected as too large, and
// the read goes on to the loader.
func TestHugePlantedValueIsReadWithBoundedMemory(t *testing.T) {
	srv := redistest.Start(t)
	const huge = 100 << 20
	remote := newRemote(t, srv.URL())
	loads := 0
	c := newCache(t, accelerator.Options[string, string]{
		Area:         "huge",
		Remote:       remote,
		MaxValueSize: 1 << 20,
		Loader: accelerator.LoaderFunc[string, string](func(_ context.Context, k string) (string, bool, error) {
			loads++
			return "loaded " + k, true, nil
		}),
	})
	// SETRANGE grows the value on the server: the test itself never holds it.
	srv.Do(t, "SETRANGE", "huge:k1", strconv.Itoa(huge-1), "x")
	srv.Do(t, "SETRANGE", "huge:k2", strconv.Itoa(huge-1), "x")
	ctx := context.Background()

	allocated := func(f func()) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	n := allocated(func() {
		v, found, err := c.Get(ctx, "k1")
		if err != nil || !found || v != "loaded k1" {
			t.Errorf("Get = %q, %v, %v; want the loaded value", v, found, err)
		}
		got, err := c.MGet(ctx, []string{"k2"})
		if err != nil || got["k2"] != "loaded k2" {
			t.Errorf("MGet = %v, %v; want the loaded value", got, err)
		}
	})
	// Two reads of at most 1 MiB + 1 byte each, plus the reply buffers and the rest of
	// the work: far below one 100 MB value.
	if n > 16<<20 {
		t.Errorf("reading two 100 MB values allocated %d MiB, want about 2 MiB", n>>20)
	}
	if loads != 2 {
		t.Errorf("loads = %d, want 2", loads)
	}
	if m := c.MetricsSnapshot(); m.DecodeErrors != 2 {
		t.Errorf("DecodeErrors = %d, want 2: an oversized value is counted as undecodable", m.DecodeErrors)
	}
	t.Logf("two reads of 100 MB values allocated %.1f MiB", float64(n)/(1<<20))
}

// TestHugeMGetWritesBackEveryKey: an MGet of 100,000 keys with an MLoader writes all
// of them back to Redis, in pipelines of MaxBatchKeys keys each bounded by
// RemoteTimeout, where one pipeline of 100,000 timed out and lost most of them.
func TestHugeMGetWritesBackEveryKey(t *testing.T) {
	srv := redistest.Start(t)
	const n = 100_000
	c := newCache(t, accelerator.Options[int, int]{
		Area:          "many",
		Remote:        newRemote(t, srv.URL()),
		RemoteTimeout: time.Second,
		LoaderTimeout: time.Minute,
		MLoader: accelerator.MLoaderFunc[int, int](func(_ context.Context, keys []int) (map[int]int, error) {
			out := make(map[int]int, len(keys))
			for _, k := range keys {
				out[k] = k
			}
			return out, nil
		}),
	})
	keys := make([]int, n)
	for i := range keys {
		keys[i] = i
	}
	got, err := c.MGet(context.Background(), keys)
	if err != nil || len(got) != n {
		t.Fatalf("MGet = %d values, %v; want %d", len(got), err, n)
	}
	// Besides the values, the area's invalidation clock and clear mark (docs/tags.md).
	if size := srv.Do(t, "DBSIZE"); size != int64(n+2) {
		t.Errorf("Redis holds %v keys after the write-back, want %d and the clock and clear mark (RemoteErrors %d)", size, n, c.MetricsSnapshot().RemoteErrors)
	}
	// A second cache reads them all from Redis, in as many pipelines.
	reader := newCache(t, accelerator.Options[int, int]{Area: "many", Remote: newRemote(t, srv.URL()), RemoteTimeout: time.Second})
	got, err = reader.MGet(context.Background(), keys)
	if err != nil || len(got) != n {
		t.Errorf("second MGet = %d values, %v; want %d from Redis", len(got), err, n)
	}
}

// TestHugeSetIsBoundedByRemoteTimeout: a 100 MiB Set to a frozen Redis returns within
// RemoteTimeout and some slack, with an error that says it timed out.
func TestHugeSetIsBoundedByRemoteTimeout(t *testing.T) {
	srv := redistest.Start(t)
	const timeout = 500 * time.Millisecond
	c := newCache(t, accelerator.Options[string, []byte]{
		Area:                  "bigset",
		Mode:                  accelerator.ModeRemote,
		Remote:                newRemote(t, srv.URL()),
		RemoteTimeout:         timeout,
		MaxValueSize:          256 << 20,
		DisableCircuitBreaker: true,
	})
	value := make([]byte, 100<<20)
	srv.Stop(t)
	defer srv.Cont(t)
	start := time.Now()
	err := c.Set(context.Background(), "k", value)
	took := time.Since(start)
	if !errors.Is(err, accelerator.ErrRemoteTimeout) || accelerator.ErrorKind(err) != accelerator.ErrorKindTimeout {
		t.Errorf("Set to a frozen Redis = %v (kind %q), want a timeout", err, accelerator.ErrorKind(err))
	}
	// Without the bound the Set would never return: a frozen Redis stops reading, and
	// 100 MiB fill the socket buffers. The slack covers encoding 100 MiB and copying it
	// into the command, under -race on a loaded machine (4.2 s seen under stress-ng),
	// so it is the tests' wait bound, not a measure of speed.
	if took > timeout+waitTimeout {
		t.Errorf("Set took %v with RemoteTimeout %v", took, timeout)
	}
	t.Logf("Set of 100 MiB to a frozen Redis returned after %v: %v", took, err)
}

// batchRecorder is a Redis backend that records how many keys each batch call
// carried.
type batchRecorder struct {
	*rueidisremote.Remote
	mu    sync.Mutex
	sizes map[string][]int
}

func (r *batchRecorder) record(op string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sizes[op] = append(r.sizes[op], n)
}

func (r *batchRecorder) MGetBounded(ctx context.Context, keys []string, limit int) ([][]byte, error) {
	r.record("mget", len(keys))
	return r.Remote.MGetBounded(ctx, keys, limit)
}

func (r *batchRecorder) MSet(ctx context.Context, items []backend.Item) error {
	r.record("mset", len(items))
	return r.Remote.MSet(ctx, items)
}

func (r *batchRecorder) Del(ctx context.Context, keys ...string) error {
	r.record("del", len(keys))
	return r.Remote.Del(ctx, keys...)
}

func (r *batchRecorder) CompareAndSet(ctx context.Context, items []backend.CASItem) ([]bool, error) {
	r.record("cas", len(items))
	return r.Remote.CompareAndSet(ctx, items)
}

// TestBatchesAreSplitIntoMaxBatchKeys: every batch call the cache makes carries at
// most MaxBatchKeys keys, and together they carry them all.
func TestBatchesAreSplitIntoMaxBatchKeys(t *testing.T) {
	srv := redistest.Start(t)
	rec := &batchRecorder{Remote: newRemote(t, srv.URL()), sizes: map[string][]int{}}
	c := newCache(t, accelerator.Options[int, int]{
		Area:         "split",
		Remote:       rec,
		MaxBatchKeys: 10,
		MLoader: accelerator.MLoaderFunc[int, int](func(_ context.Context, keys []int) (map[int]int, error) {
			out := make(map[int]int, len(keys))
			for _, k := range keys {
				out[k] = k
			}
			return out, nil
		}),
	})
	ctx := context.Background()
	items := map[int]int{}
	for i := range 25 {
		items[i] = i
	}
	must(t, c.MSet(ctx, items))
	keys := make([]int, 50) // 25 in Redis, 25 loaded and written back
	for i := range keys {
		keys[i] = i
	}
	got, err := c.MGet(ctx, keys)
	if err != nil || len(got) != 50 {
		t.Fatalf("MGet = %d values, %v", len(got), err)
	}
	must(t, c.MDel(ctx, keys))
	// MDel writes tombstones (MSet) with the fill guard on; the write-back of the
	// 25 loaded keys is compare-and-set.
	want := map[string]int{"mset": 25 + 50, "cas": 25}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for op, calls := range rec.sizes {
		for _, n := range calls {
			if n > 10 {
				t.Errorf("%s call of %d keys, MaxBatchKeys is 10 (calls %v)", op, n, calls)
			}
		}
	}
	for op, total := range want {
		sum := 0
		for _, n := range rec.sizes[op] {
			sum += n
		}
		if sum != total {
			t.Errorf("%s calls carried %d keys in all, want %d (calls %v)", op, sum, total, rec.sizes[op])
		}
	}
	if len(rec.sizes["mget"]) < 3 {
		t.Errorf("MGet of 25 keys not in L1 made %d calls, want at least 3 of 10", len(rec.sizes["mget"]))
	}
}
