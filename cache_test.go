package accelerator_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/local"
)

// countingLoader is a Loader and MLoader over a map that records its calls.
type countingLoader[K comparable, V any] struct {
	mu      sync.Mutex
	data    map[K]V
	calls   atomic.Int32
	mcalls  atomic.Int32
	batches [][]K
	// hold, when set, makes Load wait until it is closed or its context ends.
	hold chan struct{}
	err  error
}

func (l *countingLoader[K, V]) Load(ctx context.Context, key K) (V, bool, error) {
	l.calls.Add(1)
	if l.hold != nil {
		select {
		case <-l.hold:
		case <-ctx.Done():
			var zero V
			return zero, false, ctx.Err()
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var zero V
	if l.err != nil {
		return zero, false, l.err
	}
	v, ok := l.data[key]
	return v, ok, nil
}

func (l *countingLoader[K, V]) MLoad(ctx context.Context, keys []K) (map[K]V, error) {
	l.mcalls.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.batches = append(l.batches, slices.Clone(keys))
	if l.err != nil {
		return nil, l.err
	}
	out := make(map[K]V)
	for _, k := range keys {
		if v, ok := l.data[k]; ok {
			out[k] = v
		}
	}
	return out, nil
}

func newLocal[K comparable, V any](t testing.TB, opts accelerator.Options[K, V]) *accelerator.Cache[K, V] {
	t.Helper()
	c, err := accelerator.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestNewRejectsBadOptions(t *testing.T) {
	t.Parallel()
	type key struct{ a, b int }
	tests := []struct {
		name string
		new  func() error
		want string
	}{
		{"remote mode without remote", func() error {
			_, err := accelerator.New(accelerator.Options[string, int]{Mode: accelerator.ModeRemote})
			return err
		}, "requires Options.Remote"},
		{"unknown mode", func() error {
			_, err := accelerator.New(accelerator.Options[string, int]{Mode: 42})
			return err
		}, "unknown mode"},
		{"negative ttl", func() error {
			_, err := accelerator.New(accelerator.Options[string, int]{LocalTTL: -time.Second})
			return err
		}, "LocalTTL is negative"},
		{"jitter of one", func() error {
			_, err := accelerator.New(accelerator.Options[string, int]{TTLJitter: 1})
			return err
		}, "TTLJitter must be in [0, 1)"},
		{"null ttl without null caching", func() error {
			_, err := accelerator.New(accelerator.Options[string, int]{NullTTL: time.Second})
			return err
		}, "CacheNullValue is off"},
		{"max entries with own local", func() error {
			l, err := local.New(local.Options[string, int]{})
			if err != nil {
				return nil
			}
			defer l.Close()
			_, err = accelerator.New(accelerator.Options[string, int]{Local: l, LocalMaxEntries: 5})
			return err
		}, "conflicts with Local"},
		{"struct key without encoder in remote mode", func() error {
			_, err := accelerator.New(accelerator.Options[key, int]{Remote: nopRemote{}})
			return err
		}, "no built-in KeyEncoder"},
		{"refresh window as long as the ttl", func() error {
			_, err := accelerator.New(accelerator.Options[string, int]{RefreshAhead: time.Minute, LocalTTL: time.Minute})
			return err
		}, "RefreshAhead (1m0s) must be shorter than LocalTTL"},
		{"beta without probabilistic refresh", func() error {
			_, err := accelerator.New(accelerator.Options[string, int]{RefreshAhead: time.Second, RefreshBeta: 2})
			return err
		}, "RefreshBeta applies to RefreshProbabilistic only"},
		{"broadcast without remote", func() error {
			_, err := accelerator.New(accelerator.Options[string, int]{BroadcastInvalidation: true})
			return err
		}, "BroadcastInvalidation requires ModeBoth"},
		{"broadcast without pubsub", func() error {
			_, err := accelerator.New(accelerator.Options[string, int]{Remote: nopRemote{}, BroadcastInvalidation: true})
			return err
		}, "requires Options.PubSub"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.new()
			if err == nil {
				t.Fatal("New accepted bad options")
			}
			if !strings.HasPrefix(err.Error(), "accelerator: ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q: want prefix %q and %q", err, "accelerator: ", tt.want)
			}
		})
	}
}

func TestNewListsEveryBadOption(t *testing.T) {
	t.Parallel()
	_, err := accelerator.New(accelerator.Options[string, int]{LocalTTL: -1, RemoteTTL: -1, TTLJitter: 2})
	if err == nil {
		t.Fatal("New accepted bad options")
	}
	for _, want := range []string{"LocalTTL", "RemoteTTL", "TTLJitter"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

// nopRemote satisfies backend.Remote for option validation tests; it is never called.
type nopRemote struct{}

func (nopRemote) Get(context.Context, string) ([]byte, error) { return nil, nil }
func (nopRemote) MGet(_ context.Context, k []string) ([][]byte, error) {
	return make([][]byte, len(k)), nil
}
func (nopRemote) Set(context.Context, string, []byte, time.Duration) error { return nil }
func (nopRemote) MSet(context.Context, []backend.Item) error               { return nil }
func (nopRemote) Del(context.Context, ...string) error                     { return nil }

func TestGetLoadsOnceThenHitsLocal(t *testing.T) {
	t.Parallel()
	ld := &countingLoader[string, string]{data: map[string]string{"a": "A"}}
	c := newLocal(t, accelerator.Options[string, string]{Loader: ld})
	ctx := context.Background()
	for i := range 3 {
		v, found, err := c.Get(ctx, "a")
		if err != nil || !found || v != "A" {
			t.Fatalf("Get #%d = %q, %v, %v; want A, true, nil", i, v, found, err)
		}
	}
	if n := ld.calls.Load(); n != 1 {
		t.Fatalf("loader called %d times, want 1", n)
	}
	m := c.MetricsSnapshot()
	if m.LocalHits != 2 || m.LocalMisses != 1 || m.Loads != 1 || m.LoadFound != 1 {
		t.Fatalf("metrics %+v", m)
	}
}

func TestNotFoundIsCachedOnlyWithCacheNullValue(t *testing.T) {
	t.Parallel()
	for _, cacheNull := range []bool{false, true} {
		t.Run(fmt.Sprint("CacheNullValue=", cacheNull), func(t *testing.T) {
			ld := &countingLoader[string, string]{data: map[string]string{}}
			c := newLocal(t, accelerator.Options[string, string]{Loader: ld, CacheNullValue: cacheNull})
			for range 3 {
				_, found, err := c.Get(context.Background(), "nope")
				if err != nil || found {
					t.Fatalf("Get = found %v, err %v; want not found", found, err)
				}
			}
			want := int32(3)
			if cacheNull {
				want = 1
			}
			if n := ld.calls.Load(); n != want {
				t.Fatalf("loader called %d times, want %d", n, want)
			}
			if cacheNull && c.MetricsSnapshot().NullHits != 2 {
				t.Fatalf("NullHits = %d, want 2", c.MetricsSnapshot().NullHits)
			}
		})
	}
}

func TestNullEntryExpiresAfterNullTTL(t *testing.T) {
	t.Parallel()
	ld := &countingLoader[string, string]{data: map[string]string{}}
	clk := newFakeClock()
	c := newLocal(t, accelerator.Options[string, string]{Loader: ld, CacheNullValue: true, NullTTL: 30 * time.Millisecond, Clock: clk})
	ctx := context.Background()
	c.Get(ctx, "k")
	ld.mu.Lock()
	ld.data["k"] = "now here"
	ld.mu.Unlock()
	if _, found, _ := c.Get(ctx, "k"); found {
		t.Fatal("negative entry did not answer within NullTTL")
	}
	clk.Advance(29 * time.Millisecond)
	if _, found, _ := c.Get(ctx, "k"); found {
		t.Fatal("negative entry did not answer within NullTTL")
	}
	clk.Advance(time.Millisecond)
	v, found, err := c.Get(ctx, "k")
	if err != nil || !found || v != "now here" {
		t.Fatalf("after NullTTL Get = %q, %v, %v", v, found, err)
	}
}

func TestLocalEntryExpiresAfterLocalTTL(t *testing.T) {
	t.Parallel()
	ld := &countingLoader[string, int]{data: map[string]int{"k": 1}}
	clk := newFakeClock()
	c := newLocal(t, accelerator.Options[string, int]{Loader: ld, LocalTTL: 30 * time.Millisecond, Clock: clk})
	ctx := context.Background()
	c.Get(ctx, "k")
	clk.Advance(29 * time.Millisecond)
	c.Get(ctx, "k")
	clk.Advance(time.Millisecond)
	c.Get(ctx, "k")
	if n := ld.calls.Load(); n != 2 {
		t.Fatalf("loader called %d times, want 2 (one per TTL period)", n)
	}
}

func TestDisableLoadIsCacheOnly(t *testing.T) {
	t.Parallel()
	ld := &countingLoader[string, int]{data: map[string]int{"k": 1}}
	c := newLocal(t, accelerator.Options[string, int]{Loader: ld, MLoader: ld})
	ctx := context.Background()
	if _, found, err := c.Get(ctx, "k", accelerator.DisableLoad()); found || err != nil {
		t.Fatalf("Get with DisableLoad = %v, %v; want a plain miss", found, err)
	}
	if m, err := c.MGet(ctx, []string{"k"}, accelerator.DisableLoad()); len(m) != 0 || err != nil {
		t.Fatalf("MGet with DisableLoad = %v, %v; want a plain miss", m, err)
	}
	if ld.calls.Load()+ld.mcalls.Load() != 0 {
		t.Fatal("DisableLoad called the loader")
	}
	c.Set(ctx, "k", 5)
	if v, found, _ := c.Get(ctx, "k", accelerator.DisableLoad()); !found || v != 5 {
		t.Fatalf("cached value not returned with DisableLoad: %v %v", v, found)
	}
}

// Regression: a cold key read by many goroutines at once must reach the source once
// (cache stampede / penetration protection). The load is held until every reader has
// arrived, so all of them overlap it.
func TestStampedeOfOneColdKeyLoadsOnce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ld := &countingLoader[string, int]{data: map[string]int{"hot": 9}, hold: make(chan struct{})}
		c := newLocal(t, accelerator.Options[string, int]{Loader: ld, Clock: newFakeClock()})
		const n = 1000
		var wg sync.WaitGroup
		var bad atomic.Int32
		for range n {
			wg.Go(func() {
				v, found, err := c.Get(context.Background(), "hot")
				if err != nil || !found || v != 9 {
					bad.Add(1)
				}
			})
		}
		synctest.Wait() // every reader waits, and so does the load
		close(ld.hold)
		wg.Wait()
		if bad.Load() != 0 {
			t.Fatalf("%d of %d readers got a wrong answer", bad.Load(), n)
		}
		if got := ld.calls.Load(); got != 1 {
			t.Fatalf("loader called %d times for %d concurrent readers, want 1", got, n)
		}
		if m := c.MetricsSnapshot(); m.SharedLoads != n-1 {
			t.Fatalf("SharedLoads = %d, want %d (every reader but the leader): %+v", m.SharedLoads, n-1, m)
		}
	})
}

// The load is held at the loader while the reader that started it cancels: that
// reader returns at once, and the others get the value once the load is let go.
func TestCancelledReaderDoesNotFailOthers(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ld := &countingLoader[string, int]{data: map[string]int{"k": 3}, hold: make(chan struct{})}
		c := newLocal(t, accelerator.Options[string, int]{Loader: ld, Clock: newFakeClock()})
		ctx, cancel := context.WithCancel(context.Background())
		first := make(chan error, 1)
		go func() {
			_, _, err := c.Get(ctx, "k")
			first <- err
		}()
		synctest.Wait() // the first reader leads the load
		var wg sync.WaitGroup
		var bad atomic.Int32
		for range 50 {
			wg.Go(func() {
				v, found, err := c.Get(context.Background(), "k")
				if err != nil || !found || v != 3 {
					bad.Add(1)
				}
			})
		}
		synctest.Wait()
		cancel()
		synctest.Wait()
		select {
		case err := <-first:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled reader got %v, want context.Canceled", err)
			}
		default:
			t.Fatal("the cancelled reader waits for the load it started")
		}
		close(ld.hold)
		wg.Wait()
		if bad.Load() != 0 {
			t.Fatalf("%d readers failed after another reader's cancel", bad.Load())
		}
		if ld.calls.Load() != 1 {
			t.Fatalf("loader called %d times, want 1", ld.calls.Load())
		}
		if _, found, _ := c.Get(context.Background(), "k", accelerator.DisableLoad()); !found {
			t.Fatal("the load started by the cancelled reader was not cached")
		}
	})
}

func TestPanickingLoader(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		release := make(chan struct{})
		ld := accelerator.LoaderFunc[string, int](func(ctx context.Context, key string) (int, bool, error) {
			if calls.Add(1) == 1 {
				<-release
				panic("boom")
			}
			return 1, true, nil
		})
		c := newLocal(t, accelerator.Options[string, int]{Loader: ld, Clock: newFakeClock()})
		leader := make(chan any, 1)
		go func() {
			defer func() { leader <- recover() }()
			c.Get(context.Background(), "k")
		}()
		synctest.Wait() // the first reader leads the load
		waiter := make(chan error, 1)
		go func() {
			_, _, err := c.Get(context.Background(), "k")
			waiter <- err
		}()
		synctest.Wait() // the second reader waits for it
		close(release)

		p := <-leader
		pe, ok := p.(*accelerator.PanicError)
		if !ok || pe.Value != "boom" || !strings.Contains(string(pe.Stack), "cache_test.go") {
			t.Fatalf("leader recovered %#v, want *PanicError with the loader's stack", p)
		}
		var wpe *accelerator.PanicError
		if err := <-waiter; !errors.As(err, &wpe) {
			t.Fatalf("waiter got %v, want a *PanicError", err)
		}
		v, found, err := c.Get(context.Background(), "k")
		if err != nil || !found || v != 1 || calls.Load() != 2 {
			t.Fatalf("after the panic Get = %v %v %v with %d calls: the panic's result was cached", v, found, err, calls.Load())
		}
		if m := c.MetricsSnapshot(); m.LoadPanics != 1 {
			t.Fatalf("LoadPanics = %d, want 1", m.LoadPanics)
		}
	})
}

// The loader timeout is a timer: in the bubble it fires at 30ms of the bubble's time,
// as soon as every goroutine waits.
func TestLoaderTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		var calls atomic.Int32
		ld := accelerator.LoaderFunc[string, int](func(ctx context.Context, key string) (int, bool, error) {
			if calls.Add(1) == 1 {
				<-release // ignores ctx: the cache must not wait for it
			}
			return int(calls.Load()), true, nil
		})
		const timeout = 30 * time.Millisecond
		c := newLocal(t, accelerator.Options[string, int]{Loader: ld, LoaderTimeout: timeout, Clock: newFakeClock()})
		// A reader whose context can be cancelled: the load runs in a goroutine of
		// its own (TestLoaderTimeoutWithAnUncancellableReader for the other kind).
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		start := time.Now()
		_, _, err := c.Get(ctx, "k")
		if !errors.Is(err, accelerator.ErrLoaderTimeout) {
			t.Fatalf("Get = %v, want ErrLoaderTimeout", err)
		}
		if d := time.Since(start); d > timeout {
			t.Fatalf("Get returned after %v, not at the loader timeout", d)
		}
		release <- struct{}{} // the late loader returns 1 now
		synctest.Wait()       // and its goroutine has ended
		v, _, err := c.Get(context.Background(), "k")
		if err != nil || v != 2 {
			t.Fatalf("Get after timeout = %v, %v; want a fresh load (2): the late result was cached", v, err)
		}
		if m := c.MetricsSnapshot(); m.LoadTimeouts != 1 {
			t.Fatalf("LoadTimeouts = %d, want 1", m.LoadTimeouts)
		}
	})
}

// TestLoaderTimeoutWithAnUncancellableReader: a reader whose context cannot be
// cancelled runs the load it starts on its own goroutine. The readers that join it
// get the timeout error at the loader timeout as ever; the reader that started it
// returns when the loader does, with the timeout error, and the late result is
// discarded.
func TestLoaderTimeoutWithAnUncancellableReader(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var calls atomic.Int32
		ld := accelerator.LoaderFunc[string, int](func(ctx context.Context, key string) (int, bool, error) {
			if calls.Add(1) == 1 {
				<-release // ignores ctx
			}
			return int(calls.Load()), true, nil
		})
		const timeout = 30 * time.Millisecond
		c := newLocal(t, accelerator.Options[string, int]{Loader: ld, LoaderTimeout: timeout, Clock: newFakeClock()})
		leader := make(chan error)
		go func() { _, _, err := c.Get(context.Background(), "k"); leader <- err }()
		synctest.Wait()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		start := time.Now()
		if _, _, err := c.Get(ctx, "k"); !errors.Is(err, accelerator.ErrLoaderTimeout) || time.Since(start) > timeout {
			t.Fatalf("a reader that joined the load: Get = %v after %v, want ErrLoaderTimeout at the loader timeout", err, time.Since(start))
		}
		close(release)
		if err := <-leader; !errors.Is(err, accelerator.ErrLoaderTimeout) {
			t.Fatalf("the reader that started the load: Get = %v, want ErrLoaderTimeout", err)
		}
		v, _, err := c.Get(context.Background(), "k")
		if err != nil || v != 2 {
			t.Fatalf("Get after timeout = %v, %v; want a fresh load (2): the late result was cached", v, err)
		}
		if m := c.MetricsSnapshot(); m.LoadTimeouts != 1 {
			t.Fatalf("LoadTimeouts = %d, want 1", m.LoadTimeouts)
		}
	})
}

func TestLoaderErrorIsReturnedAndNotCached(t *testing.T) {
	t.Parallel()
	errDB := errors.New("db down")
	ld := &countingLoader[string, int]{data: map[string]int{"k": 1}, err: errDB}
	c := newLocal(t, accelerator.Options[string, int]{Loader: ld, CacheNullValue: true})
	if _, _, err := c.Get(context.Background(), "k"); !errors.Is(err, errDB) {
		t.Fatalf("Get = %v, want the loader's error", err)
	}
	ld.mu.Lock()
	ld.err = nil
	ld.mu.Unlock()
	if v, found, err := c.Get(context.Background(), "k"); err != nil || !found || v != 1 {
		t.Fatalf("Get after recovery = %v %v %v", v, found, err)
	}
}

func TestMGetLoadsOnlyMissesInOneCall(t *testing.T) {
	t.Parallel()
	ld := &countingLoader[int, string]{data: map[int]string{1: "a", 2: "b", 3: "c", 4: "d"}}
	extra := accelerator.MLoaderFunc[int, string](func(ctx context.Context, keys []int) (map[int]string, error) {
		m, err := ld.MLoad(ctx, keys)
		m[99] = "not asked for"
		return m, err
	})
	c := newLocal(t, accelerator.Options[int, string]{MLoader: extra, CacheNullValue: true})
	ctx := context.Background()
	if err := c.Set(ctx, 1, "cached"); err != nil {
		t.Fatal(err)
	}
	got, err := c.MGet(ctx, []int{1, 2, 3, 3, 5})
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]string{1: "cached", 2: "b", 3: "c"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("MGet = %v, want %v", got, want)
	}
	if len(ld.batches) != 1 || !slices.Equal(ld.batches[0], []int{2, 3, 5}) {
		t.Fatalf("MLoad batches %v, want one call with [2 3 5]", ld.batches)
	}
	if _, found, _ := c.Get(ctx, 99, accelerator.DisableLoad()); found {
		t.Fatal("a key MLoad returned without being asked for was cached")
	}
	// 5 was not found and is remembered; 2 and 3 are now cached.
	got, err = c.MGet(ctx, []int{2, 3, 5})
	if err != nil || len(got) != 2 || len(ld.batches) != 1 {
		t.Fatalf("second MGet = %v, %v after %d MLoad calls", got, err, len(ld.batches))
	}
}

// Every load waits at the loader until no more can start: as many as run at once
// then is the bound.
func TestMGetWithoutMLoaderBoundsParallelLoads(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var inFlight, peak atomic.Int32
		release := make(chan struct{})
		ld := accelerator.LoaderFunc[int, int](func(ctx context.Context, key int) (int, bool, error) {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			<-release
			return key * 10, key%2 == 0, nil
		})
		c := newLocal(t, accelerator.Options[int, int]{Loader: ld, LoadConcurrency: 4, Clock: newFakeClock()})
		keys := make([]int, 40)
		for i := range keys {
			keys[i] = i
		}
		type result struct {
			got map[int]int
			err error
		}
		done := make(chan result, 1)
		go func() {
			got, err := c.MGet(context.Background(), keys)
			done <- result{got, err}
		}()
		synctest.Wait() // as many loads as may run are waiting at the loader
		running := inFlight.Load()
		close(release)
		r := <-done
		if r.err != nil {
			t.Fatal(r.err)
		}
		if len(r.got) != 20 || r.got[38] != 380 {
			t.Fatalf("MGet returned %d values (%v), want the 20 even keys", len(r.got), r.got)
		}
		if p := peak.Load(); p > 4 || p < 2 || running != p {
			t.Fatalf("peak parallel loads %d (%d at once while held), want between 2 and LoadConcurrency=4", p, running)
		}
	})
}

func TestMGetJoinsPerKeyErrors(t *testing.T) {
	t.Parallel()
	errOdd := errors.New("odd key")
	ld := accelerator.LoaderFunc[int, int](func(ctx context.Context, key int) (int, bool, error) {
		if key%2 == 1 {
			return 0, false, errOdd
		}
		return key, true, nil
	})
	c := newLocal(t, accelerator.Options[int, int]{Loader: ld})
	got, err := c.MGet(context.Background(), []int{1, 2, 3, 4})
	if len(got) != 2 || got[2] != 2 || got[4] != 4 {
		t.Fatalf("MGet = %v, want the even keys", got)
	}
	if !errors.Is(err, errOdd) {
		t.Fatalf("MGet err = %v, want it to wrap the loader error", err)
	}
	var ke *accelerator.KeyError[int]
	if !errors.As(err, &ke) || (ke.Key != 1 && ke.Key != 3) {
		t.Fatalf("MGet err = %v, want a *KeyError naming a failed key", err)
	}
}

func TestMGetMLoadErrorKeepsCachedValues(t *testing.T) {
	t.Parallel()
	errDB := errors.New("db down")
	ld := &countingLoader[int, int]{data: map[int]int{}, err: errDB}
	c := newLocal(t, accelerator.Options[int, int]{MLoader: ld})
	c.Set(context.Background(), 1, 100)
	got, err := c.MGet(context.Background(), []int{1, 2})
	if !errors.Is(err, errDB) || len(got) != 1 || got[1] != 100 {
		t.Fatalf("MGet = %v, %v; want the cached key and the MLoad error", got, err)
	}
}

func TestSetDelMSetMDelLocal(t *testing.T) {
	t.Parallel()
	c := newLocal(t, accelerator.Options[string, int]{})
	ctx := context.Background()
	must(t, c.Set(ctx, "a", 1))
	must(t, c.MSet(ctx, map[string]int{"b": 2, "c": 3, "d": 4}))
	got, err := c.MGet(ctx, []string{"a", "b", "c", "d", "e"})
	must(t, err)
	if len(got) != 4 || got["a"] != 1 || got["d"] != 4 {
		t.Fatalf("MGet = %v", got)
	}
	must(t, c.Del(ctx, "a"))
	must(t, c.MDel(ctx, []string{"b", "c"}))
	got, err = c.MGet(ctx, []string{"a", "b", "c", "d"})
	must(t, err)
	if len(got) != 1 || got["d"] != 4 {
		t.Fatalf("after deletes MGet = %v, want only d", got)
	}
}

func TestWarmupLoadsOnlyUncachedKeysInBatches(t *testing.T) {
	t.Parallel()
	data := map[int]int{}
	for i := range 25 {
		data[i] = i
	}
	ld := &countingLoader[int, int]{data: data}
	c := newLocal(t, accelerator.Options[int, int]{MLoader: ld, WarmupBatchSize: 10})
	ctx := context.Background()
	must(t, c.Set(ctx, 0, 0))
	keys := make([]int, 30)
	for i := range keys {
		keys[i] = i
	}
	n, err := c.Warmup(ctx, keys)
	must(t, err)
	if n != 24 {
		t.Fatalf("Warmup loaded %d, want 24 (25 at the source, one already cached)", n)
	}
	var sizes []int
	for _, b := range ld.batches {
		sizes = append(sizes, len(b))
	}
	if !slices.Equal(sizes, []int{10, 10, 9}) {
		t.Fatalf("MLoad batch sizes %v, want [10 10 9]", sizes)
	}
	got, _ := c.MGet(ctx, keys, accelerator.DisableLoad())
	if len(got) != 25 {
		t.Fatalf("after Warmup %d keys cached, want 25", len(got))
	}
	if _, err := newLocal(t, accelerator.Options[int, int]{}).Warmup(ctx, keys); !errors.Is(err, accelerator.ErrNoLoader) {
		t.Fatalf("Warmup without loader = %v, want ErrNoLoader", err)
	}
}

func TestOnlyMLoaderServesGet(t *testing.T) {
	t.Parallel()
	ld := &countingLoader[string, int]{data: map[string]int{"k": 8}}
	c := newLocal(t, accelerator.Options[string, int]{MLoader: ld})
	v, found, err := c.Get(context.Background(), "k")
	if err != nil || !found || v != 8 || ld.mcalls.Load() != 1 {
		t.Fatalf("Get with only an MLoader = %v %v %v (%d MLoad calls)", v, found, err, ld.mcalls.Load())
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	c, err := accelerator.New(accelerator.Options[string, int]{})
	must(t, err)
	must(t, c.Close())
	must(t, c.Close())
	ctx := context.Background()
	if _, _, err := c.Get(ctx, "k"); !errors.Is(err, accelerator.ErrClosed) {
		t.Fatalf("Get after Close = %v", err)
	}
	if _, err := c.MGet(ctx, []string{"k"}); !errors.Is(err, accelerator.ErrClosed) {
		t.Fatalf("MGet after Close = %v", err)
	}
	if err := c.Set(ctx, "k", 1); !errors.Is(err, accelerator.ErrClosed) {
		t.Fatalf("Set after Close = %v", err)
	}
}

// recordingLocal is a backend.Local that keeps every entry written, to check what the
// cache writes.
type recordingLocal struct {
	mu      sync.Mutex
	entries map[string]backend.Entry[int]
}

func (r *recordingLocal) Get(k string) (backend.Entry[int], bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[k]
	return e, ok
}

func (r *recordingLocal) Set(k string, e backend.Entry[int]) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries[k] = e
}
func (r *recordingLocal) Delete(k string) { r.mu.Lock(); delete(r.entries, k); r.mu.Unlock() }
func (r *recordingLocal) Clear()          { r.mu.Lock(); clear(r.entries); r.mu.Unlock() }
func (r *recordingLocal) Len() int        { r.mu.Lock(); defer r.mu.Unlock(); return len(r.entries) }

func TestTTLJitterSpreadsExpiry(t *testing.T) {
	t.Parallel()
	rec := &recordingLocal{entries: map[string]backend.Entry[int]{}}
	const ttl = 100 * time.Second
	clk := newFakeClock()
	c := newLocal(t, accelerator.Options[string, int]{Local: rec, LocalTTL: ttl, TTLJitter: 0.2, Clock: clk})
	items := map[string]int{}
	for i := range 1000 {
		items[fmt.Sprint(i)] = i
	}
	now := clk.NowNano()
	must(t, c.MSet(context.Background(), items))
	lo, hi := int64(1<<62), int64(0)
	for _, e := range rec.entries {
		lo, hi = min(lo, e.ExpireAt), max(hi, e.ExpireAt)
	}
	if hi > now+int64(ttl) {
		t.Fatalf("an entry expires after the configured TTL")
	}
	if lo < now+int64(0.8*float64(ttl)) {
		t.Fatalf("an entry expires before ttl·(1−jitter)")
	}
	if spread := time.Duration(hi - lo); spread < ttl*15/100 {
		t.Fatalf("1000 expiries spread over %v, want at least 15%% of %v", spread, ttl)
	}
}

func TestL1HitDoesNotAllocate(t *testing.T) {
	ctx := context.Background()
	t.Run("string key", func(t *testing.T) {
		c := newLocal(t, accelerator.Options[string, string]{})
		must(t, c.Set(ctx, "key", "value"))
		allocs := testing.AllocsPerRun(1000, func() {
			if _, found, _ := c.Get(ctx, "key"); !found {
				t.Fatal("miss")
			}
		})
		if allocs != 0 {
			t.Fatalf("L1 hit allocates %v times, want 0", allocs)
		}
	})
	t.Run("int key", func(t *testing.T) {
		c := newLocal(t, accelerator.Options[int64, []byte]{})
		must(t, c.Set(ctx, 42, []byte("value")))
		allocs := testing.AllocsPerRun(1000, func() {
			if _, found, _ := c.Get(ctx, 42); !found {
				t.Fatal("miss")
			}
		})
		if allocs != 0 {
			t.Fatalf("L1 hit allocates %v times, want 0", allocs)
		}
	})
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestGetOrLoadUsesTheLoaderOfTheCall(t *testing.T) {
	own := &countingLoader[string, int]{data: map[string]int{"k": 1}}
	call := &countingLoader[string, int]{data: map[string]int{"k": 2, "j": 3}}
	c := newLocal(t, accelerator.Options[string, int]{Loader: own, CacheNullValue: true})
	ctx := context.Background()
	v, found, err := c.GetOrLoad(ctx, "k", call)
	if err != nil || !found || v != 2 {
		t.Fatalf("GetOrLoad = %v %v %v, want the call's loader result 2", v, found, err)
	}
	if v, _, _ := c.Get(ctx, "k"); v != 2 || own.calls.Load() != 0 {
		t.Fatalf("the value GetOrLoad loaded was not cached (Get = %v, own loader calls %d)", v, own.calls.Load())
	}
	got, err := c.MGetOrLoad(ctx, []string{"k", "j", "x"}, call)
	if err != nil || len(got) != 2 || got["j"] != 3 || call.mcalls.Load() != 1 || !slices.Equal(call.batches[0], []string{"j", "x"}) {
		t.Fatalf("MGetOrLoad = %v, %v with batches %v", got, err, call.batches)
	}
	if _, _, err := c.GetOrLoad(ctx, "k", nil); !errors.Is(err, accelerator.ErrNilLoader) {
		t.Fatalf("GetOrLoad(nil) = %v, want ErrNilLoader", err)
	}
	if _, err := c.MGetOrLoad(ctx, nil, nil); !errors.Is(err, accelerator.ErrNilLoader) {
		t.Fatalf("MGetOrLoad(nil) = %v, want ErrNilLoader", err)
	}
	allocs := testing.AllocsPerRun(1000, func() { c.GetOrLoad(ctx, "k", call) })
	if allocs != 0 {
		t.Fatalf("GetOrLoad L1 hit allocates %v times, want 0", allocs)
	}
}
