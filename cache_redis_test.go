package accelerator_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/internal/redistest"
	"github.com/accelerator-go/accelerator/rueidisremote"
)

// countingRemote wraps a backend.Remote and counts its calls: each call of a
// conforming backend is one round trip (per server touched).
type countingRemote struct {
	backend.Remote
	calls atomic.Int64
}

func (r *countingRemote) Get(ctx context.Context, key string) ([]byte, error) {
	r.calls.Add(1)
	return r.Remote.Get(ctx, key)
}

func (r *countingRemote) MGet(ctx context.Context, keys []string) ([][]byte, error) {
	r.calls.Add(1)
	return r.Remote.MGet(ctx, keys)
}

func (r *countingRemote) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	r.calls.Add(1)
	return r.Remote.Set(ctx, key, v, ttl)
}

func (r *countingRemote) MSet(ctx context.Context, items []backend.Item) error {
	r.calls.Add(1)
	return r.Remote.MSet(ctx, items)
}

func (r *countingRemote) Del(ctx context.Context, keys ...string) error {
	r.calls.Add(1)
	return r.Remote.Del(ctx, keys...)
}

func newRemote(t testing.TB, url string) *rueidisremote.Remote {
	t.Helper()
	r, err := rueidisremote.NewFromURL(url)
	if err != nil {
		t.Fatalf("rueidisremote: %v", err)
	}
	t.Cleanup(r.Close)
	return r
}

func newCache[K comparable, V any](t testing.TB, opts accelerator.Options[K, V]) *accelerator.Cache[K, V] {
	t.Helper()
	c, err := accelerator.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

type user struct {
	ID   int64
	Name string
}

// TestEveryMethodInEveryMode runs the whole API against a real redis-server in each
// mode, and checks which layers each write reached.
func TestEveryMethodInEveryMode(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	remote := newRemote(t, srv.URL())
	for _, mode := range []accelerator.Mode{accelerator.ModeLocal, accelerator.ModeRemote, accelerator.ModeBoth} {
		t.Run(mode.String(), func(t *testing.T) {
			ctx := context.Background()
			ld := &countingLoader[int64, user]{data: map[int64]user{}}
			for i := range int64(50) {
				ld.data[i] = user{ID: i, Name: fmt.Sprint("u", i)}
			}
			opts := accelerator.Options[int64, user]{
				Area: "users", KeyPrefix: "t-" + mode.String() + ":", Mode: mode,
				Loader: ld, MLoader: ld, CacheNullValue: true,
			}
			if mode != accelerator.ModeLocal {
				opts.Remote = remote
			}
			c := newCache(t, opts)

			// Get: load, then cached.
			u, found, err := c.Get(ctx, 1)
			if err != nil || !found || u.Name != "u1" {
				t.Fatalf("Get = %+v %v %v", u, found, err)
			}
			c.Get(ctx, 1)
			if ld.calls.Load() != 1 {
				t.Fatalf("loader calls %d, want 1", ld.calls.Load())
			}
			inRedis := srv.Do(t, "EXISTS", opts.KeyPrefix+"users:1") == int64(1)
			if inRedis != (mode != accelerator.ModeLocal) {
				t.Fatalf("key in Redis = %v in mode %v", inRedis, mode)
			}

			// Not found is remembered.
			if _, found, _ := c.Get(ctx, 999); found {
				t.Fatal("999 found")
			}
			c.Get(ctx, 999)
			if ld.calls.Load() != 2 {
				t.Fatalf("negative entry did not answer: %d loader calls", ld.calls.Load())
			}

			// Set / Get / Del.
			must(t, c.Set(ctx, 2, user{ID: 2, Name: "set"}))
			if u, _, _ := c.Get(ctx, 2, accelerator.DisableLoad()); u.Name != "set" {
				t.Fatalf("Get after Set = %+v", u)
			}
			must(t, c.Del(ctx, 2))
			if _, found, _ := c.Get(ctx, 2, accelerator.DisableLoad()); found {
				t.Fatal("Get after Del found the key")
			}

			// MSet / MGet / MDel.
			must(t, c.MSet(ctx, map[int64]user{10: {ID: 10, Name: "ten"}, 11: {ID: 11, Name: "eleven"}}))
			got, err := c.MGet(ctx, []int64{10, 11, 12, 999})
			must(t, err)
			if len(got) != 3 || got[10].Name != "ten" || got[12].Name != "u12" {
				t.Fatalf("MGet = %v", got)
			}
			must(t, c.MDel(ctx, []int64{10, 11, 12}))
			got, err = c.MGet(ctx, []int64{10, 11, 12}, accelerator.DisableLoad())
			must(t, err)
			if len(got) != 0 {
				t.Fatalf("MGet after MDel = %v", got)
			}

			// Warmup.
			n, err := c.Warmup(ctx, []int64{20, 21, 22, 1})
			must(t, err)
			if n != 3 {
				t.Fatalf("Warmup loaded %d, want 3", n)
			}
			got, _ = c.MGet(ctx, []int64{20, 21, 22}, accelerator.DisableLoad())
			if len(got) != 3 {
				t.Fatalf("after Warmup MGet = %v", got)
			}
		})
	}
}

// TestRemoteHitFillsLocalNoLongerThanRemote: an L1 entry filled from L2 must not
// outlive the L2 entry, or an instance would serve a value Redis has already dropped.
func TestRemoteHitFillsLocalNoLongerThanRemote(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	remote := newRemote(t, srv.URL())
	ctx := context.Background()
	clk := newFakeClock()
	writer := newCache(t, accelerator.Options[string, string]{Remote: remote, RemoteTTL: 300 * time.Millisecond, Clock: clk})
	reader := newCache(t, accelerator.Options[string, string]{Remote: remote, LocalTTL: time.Hour, Clock: clk})
	must(t, writer.Set(ctx, "k", "v"))
	if v, found, err := reader.Get(ctx, "k"); err != nil || !found || v != "v" {
		t.Fatalf("reader Get = %q %v %v", v, found, err)
	}
	if m := reader.MetricsSnapshot(); m.RemoteHits != 1 {
		t.Fatalf("reader RemoteHits = %d, want 1", m.RemoteHits)
	}
	if _, found, _ := reader.Get(ctx, "k"); !found || reader.MetricsSnapshot().LocalHits != 1 {
		t.Fatal("the L2 hit did not fill L1")
	}
	clk.Advance(300 * time.Millisecond) // the L2 entry, as its envelope says, expires now
	if _, found, _ := reader.Get(ctx, "k", accelerator.DisableLoad()); found {
		t.Fatal("L1 served the entry after its L2 copy expired")
	}
}

// TestNegativeEntryIsSharedThroughRemote: a "not found" cached by one instance
// answers another instance without a load.
func TestNegativeEntryIsSharedThroughRemote(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	remote := newRemote(t, srv.URL())
	ld := &countingLoader[string, string]{data: map[string]string{}}
	opts := accelerator.Options[string, string]{Remote: remote, Loader: ld, CacheNullValue: true}
	a, b := newCache(t, opts), newCache(t, opts)
	ctx := context.Background()
	a.Get(ctx, "ghost")
	if _, found, err := b.Get(ctx, "ghost"); found || err != nil {
		t.Fatalf("b.Get = %v %v", found, err)
	}
	if ld.calls.Load() != 1 {
		t.Fatalf("loader calls %d, want 1", ld.calls.Load())
	}
	if m := b.MetricsSnapshot(); m.NullHits != 1 || m.RemoteHits != 1 {
		t.Fatalf("b metrics %+v", m)
	}
}

// TestCorruptRemoteValuesAreMissesThatGetOverwritten: bad bytes in Redis never panic
// and never come back as a value; they count as decode errors and the load
// overwrites them.
func TestCorruptRemoteValuesAreMissesThatGetOverwritten(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	remote := newRemote(t, srv.URL())
	ctx := context.Background()

	good := newCache(t, accelerator.Options[string, user]{Remote: remote, Area: "probe"})
	must(t, good.Set(ctx, "x", user{ID: 1, Name: strings.Repeat("n", 100)}))
	valid, _ := srv.Do(t, "GET", "probe:x").(string)
	if len(valid) < 20 {
		t.Fatalf("unexpected stored value %q", valid)
	}
	tests := []struct {
		name, raw    string
		decodeErrors uint64
	}{
		{"garbage", "\x00\x01garbage", 1},
		// The bounded read (GETRANGE) cannot tell an empty value from an absent key,
		// and the cache never writes one: it is a miss, and overwritten.
		{"empty", "", 0},
		{"truncated", valid[:len(valid)/2], 1},
		{"unknown version", valid[:1] + "\x09" + valid[2:], 1},
		{"wrong payload type", valid[:len(valid)-110] + "\xa5hello", 1},
		{"oversized", valid + strings.Repeat("x", 2000), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ld := &countingLoader[string, user]{data: map[string]user{"k": {ID: 7, Name: "fresh"}}}
			c := newCache(t, accelerator.Options[string, user]{Remote: remote, Area: "corrupt", Loader: ld, MaxValueSize: 1024})
			srv.Do(t, "SET", "corrupt:k", tt.raw)
			u, found, err := c.Get(ctx, "k")
			if err != nil || !found || u.Name != "fresh" {
				t.Fatalf("Get over corrupt bytes = %+v %v %v, want the loaded value", u, found, err)
			}
			if m := c.MetricsSnapshot(); m.DecodeErrors != tt.decodeErrors {
				t.Fatalf("DecodeErrors = %d, want %d", m.DecodeErrors, tt.decodeErrors)
			}
			other := newCache(t, accelerator.Options[string, user]{Remote: remote, Area: "corrupt", MaxValueSize: 1024})
			if u, found, err := other.Get(ctx, "k"); err != nil || !found || u.Name != "fresh" {
				t.Fatalf("corrupt value was not overwritten: %+v %v %v", u, found, err)
			}
		})
	}
	t.Run("without loader the corrupt value is dropped", func(t *testing.T) {
		c := newCache(t, accelerator.Options[string, user]{Remote: remote, Area: "corrupt"})
		srv.Do(t, "SET", "corrupt:nl", "\xac\x01garbage")
		if _, found, err := c.Get(ctx, "nl"); found || err != nil {
			t.Fatalf("Get = %v %v, want a miss", found, err)
		}
		if srv.Do(t, "EXISTS", "corrupt:nl") != int64(0) {
			t.Fatal("corrupt value left in Redis")
		}
	})
}

// TestRemoteKeysAreInjectiveAcrossAreas: areas holding ':' must not collide.
func TestRemoteKeysAreInjectiveAcrossAreas(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	remote := newRemote(t, srv.URL())
	ctx := context.Background()
	a := newCache(t, accelerator.Options[string, string]{Remote: remote, Area: "a:b"})
	b := newCache(t, accelerator.Options[string, string]{Remote: remote, Area: "a"})
	must(t, a.Set(ctx, "c", "from a:b"))
	must(t, b.Set(ctx, "b:c", "from a"))
	a2 := newCache(t, accelerator.Options[string, string]{Remote: remote, Area: "a:b"})
	if v, _, _ := a2.Get(ctx, "c"); v != "from a:b" {
		t.Fatalf("area a:b key c = %q: collided with area a key b:c", v)
	}
}

// TestMGetCostsOneRoundTrip pins the batch contract: 100 keys in L2 are one MGET.
func TestMGetCostsOneRoundTrip(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	remote := &countingRemote{Remote: newRemote(t, srv.URL())}
	ctx := context.Background()
	writer := newCache(t, accelerator.Options[int, int]{Remote: remote})
	items := map[int]int{}
	keys := make([]int, 100)
	for i := range keys {
		keys[i] = i
		items[i] = i * i
	}
	before := remote.calls.Load()
	must(t, writer.MSet(ctx, items))
	if n := remote.calls.Load() - before; n != 1 {
		t.Fatalf("MSet of 100 keys made %d remote calls, want 1", n)
	}
	reader := newCache(t, accelerator.Options[int, int]{Remote: remote})
	statsBefore := srv.CommandStats(t)
	before = remote.calls.Load()
	got, err := reader.MGet(ctx, keys)
	must(t, err)
	if len(got) != 100 || got[9] != 81 {
		t.Fatalf("MGet returned %d values", len(got))
	}
	if n := remote.calls.Load() - before; n != 1 {
		t.Fatalf("MGet of 100 keys made %d remote calls, want 1", n)
	}
	statsAfter := srv.CommandStats(t)
	if d := statsAfter["mget"].Calls - statsBefore["mget"].Calls; d != 1 {
		t.Fatalf("Redis saw %d MGET commands, want 1", d)
	}
	if d := statsAfter["get"].Calls - statsBefore["get"].Calls; d != 0 {
		t.Fatalf("Redis saw %d GET commands, want 0", d)
	}
}

// TestRemoteDown: with Redis gone a read falls through to the loader, a read without
// loader and a write report the error, and a failed write leaves no stale L1 copy.
func TestRemoteDown(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	remote := newRemote(t, srv.URL())
	ctx := context.Background()
	ld := &countingLoader[string, string]{data: map[string]string{"k": "from source"}}
	c := newCache(t, accelerator.Options[string, string]{Remote: remote, Loader: ld})
	noLoader := newCache(t, accelerator.Options[string, string]{Remote: remote})
	must(t, noLoader.Set(ctx, "old", "old value"))
	srv.Kill()

	tctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	v, found, err := c.Get(tctx, "k")
	if err != nil || !found || v != "from source" {
		t.Fatalf("Get with Redis down = %q %v %v, want the loaded value", v, found, err)
	}
	if _, _, err := noLoader.Get(tctx, "x"); err == nil {
		t.Fatal("Get without loader and with Redis down returned no error")
	}
	if err := noLoader.Set(tctx, "old", "new value"); err == nil {
		t.Fatal("Set with Redis down returned no error")
	}
	if _, found, _ := noLoader.Get(tctx, "old", accelerator.DisableLoad()); found {
		t.Fatal("L1 kept a value whose L2 write failed")
	}
	if m := c.MetricsSnapshot(); m.RemoteErrors == 0 {
		t.Fatal("remote errors not counted")
	}
	if _, err := c.MGet(tctx, []string{"k", "j"}); err != nil {
		t.Fatalf("MGet with loader and Redis down = %v", err)
	}
	if err := noLoader.MSet(tctx, map[string]string{"a": "b"}); err == nil {
		t.Fatal("MSet with Redis down returned no error")
	}
	if err := noLoader.Del(tctx, "a"); err == nil {
		t.Fatal("Del with Redis down returned no error")
	}
	var pe *accelerator.PanicError
	if errors.As(err, &pe) {
		t.Fatal("unexpected panic error")
	}
}

// TestClusterBatchesNeverCrossSlots runs the batch paths over a real 3-master Redis
// Cluster with keys spread over many slots.
func TestClusterBatchesNeverCrossSlots(t *testing.T) {
	t.Parallel()
	cl := redistest.StartCluster(t, 3)
	addrs := cl.Addrs()
	remote, err := rueidisremote.NewFromURL("redis://" + addrs[0] + "?addr=" + strings.Join(addrs[1:], "&addr="))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(remote.Close)
	ctx := context.Background()
	ld := &countingLoader[int, int]{data: map[int]int{}}
	for i := range 300 {
		ld.data[i] = i + 1000
	}
	c := newCache(t, accelerator.Options[int, int]{Remote: remote, MLoader: ld, Area: "cl"})
	keys := make([]int, 300)
	for i := range keys {
		keys[i] = i
	}
	got, err := c.MGet(ctx, keys)
	must(t, err)
	if len(got) != 300 || ld.mcalls.Load() != 1 {
		t.Fatalf("MGet = %d values with %d MLoad calls", len(got), ld.mcalls.Load())
	}
	other := newCache(t, accelerator.Options[int, int]{Remote: remote, Area: "cl"})
	got, err = other.MGet(ctx, keys)
	must(t, err)
	if len(got) != 300 || got[299] != 1299 {
		t.Fatalf("MGet from L2 over the cluster = %d values", len(got))
	}
	must(t, other.MDel(ctx, keys[:150]))
	fresh := newCache(t, accelerator.Options[int, int]{Remote: remote, Area: "cl"})
	got, err = fresh.MGet(ctx, keys)
	must(t, err)
	if len(got) != 150 {
		t.Fatalf("after MDel of 150 keys, %d remain, want 150", len(got))
	}
	for _, n := range cl.Nodes() {
		if e := n.ErrorStats(t); e["CROSSSLOT"] != 0 {
			t.Fatalf("node %s answered %d CROSSSLOT errors", n.Addr(), e["CROSSSLOT"])
		}
	}
}

// TestStampedeWithRedisSharesTheRemoteRead: 1,000 readers of a key no layer holds cost
// one load and a handful of L2 reads, not one GET per reader.
func TestStampedeWithRedisSharesTheRemoteRead(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	remote := &countingRemote{Remote: newRemote(t, srv.URL())}
	ld := &countingLoader[string, int]{data: map[string]int{"hot": 1}, hold: make(chan struct{})}
	c := newCache(t, accelerator.Options[string, int]{Remote: remote, Loader: ld, Area: "stampede"})
	start := make(chan struct{})
	var wg sync.WaitGroup
	var bad, reading atomic.Int32
	for range 1000 {
		wg.Go(func() {
			<-start
			reading.Add(1)
			if v, found, err := c.Get(context.Background(), "hot"); v != 1 || !found || err != nil {
				bad.Add(1)
			}
		})
	}
	close(start)
	// The load is held at the loader until every reader has started reading.
	waitFor(t, "the load and 1,000 readers", func() bool { return ld.calls.Load() == 1 && reading.Load() == 1000 })
	close(ld.hold)
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d readers got a wrong answer", bad.Load())
	}
	if ld.calls.Load() != 1 {
		t.Fatalf("loader called %d times, want 1", ld.calls.Load())
	}
	// One GET, the compare-and-set write-back, maybe a GET of a reader that came
	// after the first read ended; far from one per reader.
	if n := remote.calls.Load(); n > 10 {
		t.Fatalf("%d remote calls for 1,000 readers of one key", n)
	}
}
