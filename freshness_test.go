package accelerator_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/accelerator-go/accelerator"
)

// switchLoader returns value+version and fails while failing is set.
type switchLoader struct {
	calls   atomic.Int32
	version atomic.Int32
	failing atomic.Bool
	// hold, when set, makes each call wait until release is closed; a call whose
	// context ends first fails with errSource.
	hold    atomic.Bool
	release chan struct{}
}

var errSource = errors.New("source unavailable")

func (l *switchLoader) Load(ctx context.Context, key string) (string, bool, error) {
	l.calls.Add(1)
	if l.hold.Load() {
		select {
		case <-l.release:
		case <-ctx.Done():
			return "", false, errSource
		}
	}
	if l.failing.Load() {
		return "", false, errSource
	}
	return fmt.Sprintf("%s@v%d", key, l.version.Load()), true, nil
}

func (l *switchLoader) MLoad(ctx context.Context, keys []string) (map[string]string, error) {
	l.calls.Add(1)
	if l.failing.Load() {
		return nil, errSource
	}
	out := map[string]string{}
	for _, k := range keys {
		out[k] = fmt.Sprintf("%s@v%d", k, l.version.Load())
	}
	return out, nil
}

func TestStaleOnErrorServesStaleCopyOnlyWithAllowStale(t *testing.T) {
	t.Parallel()
	ld := &switchLoader{}
	clk := newFakeClock()
	c := newLocal(t, accelerator.Options[string, string]{
		Loader: ld, LocalTTL: 30 * time.Millisecond, StaleTTL: 300 * time.Millisecond, Clock: clk,
	})
	ctx := context.Background()
	if v, _, err := c.Get(ctx, "k"); err != nil || v != "k@v0" {
		t.Fatalf("Get = %q %v", v, err)
	}
	ld.failing.Store(true)
	clk.Advance(50 * time.Millisecond) // expired, inside the stale window

	if _, _, err := c.Get(ctx, "k"); !errors.Is(err, errSource) {
		t.Fatalf("Get without AllowStale = %v, want the loader error", err)
	}
	v, found, err := c.Get(ctx, "k", accelerator.AllowStale())
	if err != nil || !found || v != "k@v0" {
		t.Fatalf("Get with AllowStale = %q %v %v, want the stale copy and no error", v, found, err)
	}
	if m := c.MetricsSnapshot(); m.StaleServed != 1 {
		t.Fatalf("StaleServed = %d, want 1", m.StaleServed)
	}

	ld.failing.Store(false)
	ld.version.Store(1)
	if v, _, err := c.Get(ctx, "k", accelerator.AllowStale()); err != nil || v != "k@v1" {
		t.Fatalf("with the source back, Get = %q %v; a stale copy was preferred to a good load", v, err)
	}

	ld.failing.Store(true)
	clk.Advance(350 * time.Millisecond) // past expiry and stale window
	if _, _, err := c.Get(ctx, "k", accelerator.AllowStale()); !errors.Is(err, errSource) {
		t.Fatalf("after the stale window Get = %v, want the loader error: a stale copy outlived its window", err)
	}
}

// The loader timeout is a timer: in the bubble it fires as soon as every goroutine
// waits, at 50ms of the bubble's time, whatever the machine's load.
func TestStaleOnErrorCoversLoaderTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ld := &switchLoader{release: make(chan struct{})}
		defer close(ld.release)
		clk := newFakeClock()
		c := newLocal(t, accelerator.Options[string, string]{
			Loader: ld, LocalTTL: 20 * time.Millisecond, StaleTTL: time.Second, LoaderTimeout: 50 * time.Millisecond, Clock: clk,
		})
		ctx := context.Background()
		c.Get(ctx, "k")
		clk.Advance(30 * time.Millisecond)
		ld.hold.Store(true)
		start := time.Now()
		v, found, err := c.Get(ctx, "k", accelerator.AllowStale())
		if err != nil || !found || v != "k@v0" {
			t.Fatalf("Get with a loader past its timeout = %q %v %v, want the stale copy", v, found, err)
		}
		if d := time.Since(start); d > 50*time.Millisecond {
			t.Fatalf("the stale copy came after %v of the bubble's time, later than the loader timeout (50ms)", d)
		}
		if _, _, err := c.Get(ctx, "k"); !errors.Is(err, accelerator.ErrLoaderTimeout) {
			t.Fatalf("Get without AllowStale = %v, want ErrLoaderTimeout", err)
		}
	})
}

func TestMGetWithFailingMLoadServesStaleAndNamesFailedKeys(t *testing.T) {
	t.Parallel()
	ld := &switchLoader{}
	clk := newFakeClock()
	c := newLocal(t, accelerator.Options[string, string]{
		MLoader: ld, LocalTTL: 30 * time.Millisecond, StaleTTL: time.Second, Clock: clk,
	})
	ctx := context.Background()
	if _, err := c.MGet(ctx, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	must(t, c.Set(ctx, "fresh", "f"))
	clk.Advance(40 * time.Millisecond)
	must(t, c.Set(ctx, "fresh", "f"))
	ld.failing.Store(true)

	got, err := c.MGet(ctx, []string{"a", "b", "c", "fresh"}, accelerator.AllowStale())
	if got["a"] != "a@v0" || got["b"] != "b@v0" || got["fresh"] != "f" || len(got) != 3 {
		t.Fatalf("MGet = %v, want stale a, b and the fresh key", got)
	}
	var be *accelerator.BatchError[string]
	if !errors.As(err, &be) || len(be.Keys) != 1 || be.Keys[0] != "c" || !errors.Is(err, errSource) {
		t.Fatalf("MGet error = %v, want a BatchError naming only c and wrapping the MLoad error", err)
	}
	got, err = c.MGet(ctx, []string{"a", "c"})
	if !errors.As(err, &be) || len(be.Keys) != 2 || len(got) != 0 {
		t.Fatalf("MGet without AllowStale = %v, %v; want no values and both keys failed", got, err)
	}
}

// The refresh is held at the loader until the test lets it go: every read inside the
// window must have returned the cached value by then, and only one refresh started.
func TestRefreshAheadReloadsInBackgroundOnce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ld := &switchLoader{release: make(chan struct{})}
		clk := newFakeClock()
		c := newLocal(t, accelerator.Options[string, string]{
			Loader: ld, LocalTTL: 300 * time.Millisecond, RefreshAhead: 250 * time.Millisecond, Clock: clk,
		})
		ctx := context.Background()
		c.Get(ctx, "k")
		ld.version.Store(1)
		ld.hold.Store(true)
		clk.Advance(80 * time.Millisecond) // 220ms left: inside the window

		var returned atomic.Int32
		for range 50 {
			go func() {
				v, _, err := c.Get(ctx, "k")
				if err != nil || v != "k@v0" {
					t.Errorf("read in the window = %q %v, want the cached value", v, err)
				}
				returned.Add(1)
			}()
		}
		synctest.Wait() // every goroutine has returned or is blocked: only the refresh may be
		if n := returned.Load(); n != 50 {
			t.Fatalf("%d of 50 reads waited for the refresh", 50-n)
		}
		if n := ld.calls.Load(); n != 2 {
			t.Fatalf("loader called %d times during the window, want 2 (one load, one refresh)", n)
		}
		close(ld.release)
		synctest.Wait() // the refresh has finished
		if n := ld.calls.Load(); n != 2 {
			t.Fatalf("loader called %d times, want 2 (one load, one refresh)", n)
		}
		if v, _, _ := c.Get(ctx, "k", accelerator.DisableLoad()); v != "k@v1" {
			t.Fatalf("after the refresh Get = %q, want k@v1", v)
		}
		m := c.MetricsSnapshot()
		if m.RefreshAttempts != 1 || m.RefreshSuccesses != 1 {
			t.Fatalf("refresh metrics %+v", m)
		}
	})
}

func TestFailedRefreshKeepsOldValueAndBacksOff(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ld := &switchLoader{}
		clk := newFakeClock()
		c := newLocal(t, accelerator.Options[string, string]{
			Loader: ld, LocalTTL: 400 * time.Millisecond, RefreshAhead: 350 * time.Millisecond, Clock: clk,
		})
		ctx := context.Background()
		c.Get(ctx, "k")
		ld.failing.Store(true)
		clk.Advance(60 * time.Millisecond)
		// Each read comes after the refresh it may have started has failed, 5ms apart,
		// all within the backoff (1s) and before the entry expires.
		for range 20 {
			if v, _, err := c.Get(ctx, "k"); err != nil || v != "k@v0" {
				t.Fatalf("read during failing refresh = %q %v, want the old value", v, err)
			}
			synctest.Wait()
			clk.Advance(5 * time.Millisecond)
		}
		if n := ld.calls.Load(); n != 2 {
			t.Fatalf("loader called %d times, want 2: a failed refresh must back off", n)
		}
		if m := c.MetricsSnapshot(); m.RefreshFailures != 1 {
			t.Fatalf("RefreshFailures = %d, want 1", m.RefreshFailures)
		}
	})
}

// Time passes through k's refresh window and past its expiry, and every goroutine
// the cache may have started gets to run, but nobody reads k: it is never reloaded.
func TestUnreadEntriesAreNotRefreshed(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ld := &switchLoader{}
		clk := newFakeClock()
		c := newLocal(t, accelerator.Options[string, string]{
			Loader: ld, LocalTTL: 50 * time.Millisecond, RefreshAhead: 40 * time.Millisecond, Clock: clk,
		})
		c.Get(context.Background(), "k")
		for range 20 {
			clk.Advance(10 * time.Millisecond)
			synctest.Wait()
		}
		if n := ld.calls.Load(); n != 1 {
			t.Fatalf("loader called %d times for a key nobody read, want 1", n)
		}
	})
}

// In the bubble a load takes no time, so the moving load cost after one load is 7/8
// of the initial 1ms: with beta 40 a read with left to live refreshes with
// probability exp(−left/35ms). One read per millisecond from the start of the window
// (200ms left) to 20ms left refreshes with a probability above 1 − 1e-9.
func TestProbabilisticRefreshReloadsBeforeExpiry(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ld := &switchLoader{}
		clk := newFakeClock()
		c := newLocal(t, accelerator.Options[string, string]{
			Loader: ld, LocalTTL: 300 * time.Millisecond, RefreshAhead: 200 * time.Millisecond,
			RefreshPolicy: accelerator.RefreshProbabilistic, RefreshBeta: 40, Clock: clk,
		})
		ctx := context.Background()
		c.Get(ctx, "k")
		ld.version.Store(1)
		for i := 0; i < 280 && c.MetricsSnapshot().RefreshAttempts == 0; i++ {
			clk.Advance(time.Millisecond)
			c.Get(ctx, "k")
		}
		synctest.Wait() // the refresh, if any, has finished
		if c.MetricsSnapshot().RefreshAttempts != 1 {
			t.Fatalf("no probabilistic refresh before expiry: %+v", c.MetricsSnapshot())
		}
		if m := c.MetricsSnapshot(); m.LocalMisses != 1 || m.RefreshSuccesses != 1 {
			t.Fatalf("a read missed while the entry was refreshed ahead: %+v", m)
		}
		if v, _, _ := c.Get(ctx, "k", accelerator.DisableLoad()); v != "k@v1" {
			t.Fatalf("after the refresh Get = %q, want k@v1", v)
		}
	})
}

func TestL1HitWithRefreshAheadDoesNotAllocate(t *testing.T) {
	for _, policy := range []accelerator.RefreshPolicy{accelerator.RefreshFixedWindow, accelerator.RefreshProbabilistic} {
		c := newLocal(t, accelerator.Options[int, int]{
			Loader:        accelerator.LoaderFunc[int, int](func(context.Context, int) (int, bool, error) { return 1, true, nil }),
			LocalTTL:      time.Hour,
			RefreshAhead:  time.Minute,
			RefreshPolicy: policy,
		})
		ctx := context.Background()
		c.Get(ctx, 1)
		if a := testing.AllocsPerRun(1000, func() { c.Get(ctx, 1) }); a != 0 {
			t.Fatalf("policy %d: L1 hit with refresh-ahead allocates %v times", policy, a)
		}
	}
}
