package accelerator_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/internal/redistest"
)

// Each test below drives a real scenario (a real redis-server where L2 is involved)
// and checks the whole MetricsSnapshot against the exact counts the scenario must
// produce: a counter that moves when it should not fails as surely as one that does
// not move.

// wantCounters fails unless got equals want in every field (Area excepted), naming
// the fields that differ.
func wantCounters(t *testing.T, got, want accelerator.MetricsSnapshot) {
	t.Helper()
	want.Area = got.Area
	if got == want {
		return
	}
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	var diffs []string
	for i := range gv.NumField() {
		if g, w := gv.Field(i).Interface(), wv.Field(i).Interface(); g != w {
			diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", gv.Type().Field(i).Name, g, w))
		}
	}
	t.Fatalf("counters differ: %s", strings.Join(diffs, "; "))
}

// exercised records the counters that some test below saw move, for
// TestEveryCounterIsDrivenByAScenario.
var exercised sync.Map

func counted(t *testing.T, s accelerator.MetricsSnapshot) accelerator.MetricsSnapshot {
	v := reflect.ValueOf(s)
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.Uint64 && f.Uint() > 0 {
			exercised.Store(v.Type().Field(i).Name, t.Name())
		}
	}
	return s
}

type errLoader struct{ err error }

func (l errLoader) Load(context.Context, string) (string, bool, error) { return "", false, l.err }

func TestCountersOfLocalHitsMissesAndLoads(t *testing.T) {
	ld := &countingLoader[string, string]{data: map[string]string{"a": "A"}}
	c := newLocal(t, accelerator.Options[string, string]{Loader: ld})
	ctx := context.Background()
	c.Get(ctx, "a") // miss, load found
	c.Get(ctx, "a") // hit
	c.Get(ctx, "b") // miss, load not found (not cached)
	c.Get(ctx, "b") // miss again, load not found
	wantCounters(t, counted(t, c.MetricsSnapshot()), accelerator.MetricsSnapshot{
		LocalHits: 1, LocalMisses: 3, Loads: 3, LoadedKeys: 3, LoadFound: 1, LoadNotFound: 2,
	})
}

func TestCountersOfNullHitsInL1(t *testing.T) {
	c := newLocal(t, accelerator.Options[string, string]{
		Loader: &countingLoader[string, string]{}, CacheNullValue: true,
	})
	ctx := context.Background()
	c.Get(ctx, "x") // miss, not found, remembered
	c.Get(ctx, "x") // null hit
	c.Get(ctx, "x") // null hit
	wantCounters(t, counted(t, c.MetricsSnapshot()), accelerator.MetricsSnapshot{
		LocalHits: 2, NullHits: 2, LocalMisses: 1, Loads: 1, LoadedKeys: 1, LoadNotFound: 1,
	})
}

func TestCountersOfRemoteHitsMissesAndNullHits(t *testing.T) {
	srv := redistest.Start(t)
	remote := newRemote(t, srv.URL())
	ctx := context.Background()
	opts := accelerator.Options[string, string]{
		Area: "counters", Remote: remote, CacheNullValue: true,
		Loader: &countingLoader[string, string]{data: map[string]string{"a": "A"}},
	}
	writer := newCache(t, opts)
	must(t, writer.Set(ctx, "s", "S")) // the first write reads the invalidation clock to stamp it
	wantCounters(t, writer.MetricsSnapshot(), accelerator.MetricsSnapshot{MarkReads: 1})

	b := newCache(t, opts)
	b.Get(ctx, "s") // L1 miss, L2 hit checked against the clear mark, read once (fills L1)
	b.Get(ctx, "s") // L1 hit
	b.Get(ctx, "n") // L1 miss, L2 miss, load not found: a negative entry in both layers
	b.Get(ctx, "a") // L1 miss, L2 miss, load found
	wantCounters(t, counted(t, b.MetricsSnapshot()), accelerator.MetricsSnapshot{
		LocalHits: 1, LocalMisses: 3, RemoteHits: 1, RemoteMisses: 2,
		Loads: 2, LoadedKeys: 2, LoadFound: 1, LoadNotFound: 1, MarkReads: 1,
	})

	c := newCache(t, opts)
	c.Get(ctx, "n") // L1 miss, L2 null hit (and the marks read)
	c.Get(ctx, "n") // L1 null hit
	wantCounters(t, counted(t, c.MetricsSnapshot()), accelerator.MetricsSnapshot{
		LocalHits: 1, LocalMisses: 1, RemoteHits: 1, NullHits: 2, MarkReads: 1,
	})
}

func TestCountersOfBatchReadsAndBatchLoads(t *testing.T) {
	srv := redistest.Start(t)
	ld := &countingLoader[string, string]{data: map[string]string{"a": "A", "b": "B"}}
	c := newCache(t, accelerator.Options[string, string]{
		Area: "batch", Remote: newRemote(t, srv.URL()), Loader: ld, MLoader: ld,
	})
	ctx := context.Background()
	c.MGet(ctx, []string{"a", "b", "c", "a"}) // 3 distinct keys: L1 and L2 misses, one MLoad (stamped: one mark read)
	c.MGet(ctx, []string{"a", "b", "c"})      // a, b from L1; c misses both and is loaded again
	wantCounters(t, counted(t, c.MetricsSnapshot()), accelerator.MetricsSnapshot{
		LocalHits: 2, LocalMisses: 4, RemoteMisses: 4,
		MLoads: 2, LoadedKeys: 4, LoadFound: 2, LoadNotFound: 2, MarkReads: 1,
	})
}

func TestCountersOfDecodeErrors(t *testing.T) {
	srv := redistest.Start(t)
	c := newCache(t, accelerator.Options[string, string]{
		Area: "dec", Remote: newRemote(t, srv.URL()),
		Loader: &countingLoader[string, string]{data: map[string]string{"k": "K"}},
	})
	srv.Do(t, "SET", "dec:k", "\x00\x01garbage")
	c.Get(context.Background(), "k") // L1 miss, L2 undecodable (a miss), load found (stamped), overwritten
	wantCounters(t, counted(t, c.MetricsSnapshot()), accelerator.MetricsSnapshot{
		LocalMisses: 1, RemoteMisses: 1, DecodeErrors: 1, Loads: 1, LoadedKeys: 1, LoadFound: 1, MarkReads: 1,
	})
}

func TestCountersOfRemoteErrors(t *testing.T) {
	srv := redistest.Start(t)
	c := newCache(t, accelerator.Options[string, string]{
		Area: "down", Remote: newRemote(t, srv.URL()), DisableCircuitBreaker: true,
		Loader: &countingLoader[string, string]{data: map[string]string{"k": "K"}},
	})
	srv.Kill()
	// L1 miss, failed L2 read, failed read of the invalidation clock (to stamp the
	// load), load, failed L2 write-back, L1 filled.
	if _, _, err := c.Get(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
	c.Get(context.Background(), "k") // L1 hit
	wantCounters(t, counted(t, c.MetricsSnapshot()), accelerator.MetricsSnapshot{
		LocalHits: 1, LocalMisses: 1, RemoteErrors: 3, MarkReads: 1, Loads: 1, LoadedKeys: 1, LoadFound: 1,
	})
}

func TestCountersOfTheCircuitBreaker(t *testing.T) {
	srv := redistest.Start(t)
	c := newCache(t, accelerator.Options[string, string]{
		Area: "breaker", Remote: newRemote(t, srv.URL()), BreakerFailures: 2, BreakerBackoff: time.Minute,
		Loader: &countingLoader[string, string]{data: map[string]string{"a": "A", "b": "B"}},
	})
	srv.Kill()
	ctx := context.Background()
	c.Get(ctx, "a") // L2 read and clock read fail: two failures open the breaker; write-back rejected
	c.Get(ctx, "b") // L2 read, clock read and write-back rejected at once
	wantCounters(t, counted(t, c.MetricsSnapshot()), accelerator.MetricsSnapshot{
		LocalMisses: 2, RemoteErrors: 2, BreakerOpens: 1, RemoteRejected: 4, MarkReads: 2,
		Loads: 2, LoadedKeys: 2, LoadFound: 2,
	})
}

func TestCountersOfLoadErrorsTimeoutsAndPanics(t *testing.T) {
	ctx := context.Background()
	t.Run("error", func(t *testing.T) {
		c := newLocal(t, accelerator.Options[string, string]{Loader: errLoader{errors.New("db down")}})
		c.Get(ctx, "k")
		wantCounters(t, counted(t, c.MetricsSnapshot()), accelerator.MetricsSnapshot{
			LocalMisses: 1, Loads: 1, LoadedKeys: 1, LoadErrors: 1,
		})
	})
	t.Run("timeout", func(t *testing.T) {
		c, err := accelerator.New(accelerator.Options[string, string]{
			LoaderTimeout: 20 * time.Millisecond,
			Loader: accelerator.LoaderFunc[string, string](func(ctx context.Context, _ string) (string, bool, error) {
				<-ctx.Done()
				return "", false, ctx.Err()
			}),
		})
		must(t, err)
		if _, _, err := c.Get(ctx, "k"); !errors.Is(err, accelerator.ErrLoaderTimeout) {
			t.Fatalf("Get = %v, want a timeout", err)
		}
		c.Close() // waits for the load goroutine, which counts the loader's own error
		wantCounters(t, counted(t, c.MetricsSnapshot()), accelerator.MetricsSnapshot{
			LocalMisses: 1, Loads: 1, LoadedKeys: 1, LoadErrors: 1, LoadTimeouts: 1,
		})
	})
	t.Run("panic", func(t *testing.T) {
		c := newLocal(t, accelerator.Options[string, string]{
			Loader: accelerator.LoaderFunc[string, string](func(context.Context, string) (string, bool, error) { panic("boom") }),
		})
		func() {
			defer func() { recover() }()
			c.Get(ctx, "k")
		}()
		wantCounters(t, counted(t, c.MetricsSnapshot()), accelerator.MetricsSnapshot{
			LocalMisses: 1, Loads: 1, LoadedKeys: 1, LoadErrors: 1, LoadPanics: 1,
		})
	})
}

func TestCountersOfSharedLoads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const readers = 10
		release := make(chan struct{})
		var calls atomic.Int32
		c := newLocal(t, accelerator.Options[string, string]{
			Clock: newFakeClock(),
			Loader: accelerator.LoaderFunc[string, string](func(context.Context, string) (string, bool, error) {
				calls.Add(1)
				<-release
				return "v", true, nil
			}),
		})
		var wg sync.WaitGroup
		for range readers {
			wg.Go(func() { c.Get(context.Background(), "hot") })
		}
		synctest.Wait() // every reader but the one that started the load has joined it
		close(release)
		wg.Wait()
		wantCounters(t, counted(t, c.MetricsSnapshot()), accelerator.MetricsSnapshot{
			LocalMisses: readers, SharedLoads: readers - 1, Loads: 1, LoadedKeys: 1, LoadFound: 1,
		})
		if calls.Load() != 1 {
			t.Fatalf("loader called %d times", calls.Load())
		}
	})
}

func TestCountersOfStaleServed(t *testing.T) {
	ld := &switchLoader{}
	clk := newFakeClock()
	c := newLocal(t, accelerator.Options[string, string]{
		Loader: ld, LocalTTL: 30 * time.Millisecond, StaleTTL: time.Minute, Clock: clk,
	})
	ctx := context.Background()
	c.Get(ctx, "k") // miss, load
	clk.Advance(60 * time.Millisecond)
	ld.failing.Store(true)
	if v, _, err := c.Get(ctx, "k", accelerator.AllowStale()); err != nil || v != "k@v0" {
		t.Fatalf("stale read = %q %v", v, err)
	}
	wantCounters(t, counted(t, c.MetricsSnapshot()), accelerator.MetricsSnapshot{
		LocalMisses: 2, Loads: 2, LoadedKeys: 2, LoadFound: 1, LoadErrors: 1, StaleServed: 1,
	})
}

func TestCountersOfRefreshAhead(t *testing.T) {
	for _, failing := range []bool{false, true} {
		t.Run(fmt.Sprintf("failing=%v", failing), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ld := &switchLoader{}
				clk := newFakeClock()
				c := newLocal(t, accelerator.Options[string, string]{
					Loader: ld, LocalTTL: 400 * time.Millisecond, RefreshAhead: 350 * time.Millisecond, Clock: clk,
				})
				ctx := context.Background()
				c.Get(ctx, "k") // miss, load
				ld.failing.Store(failing)
				clk.Advance(60 * time.Millisecond) // inside the window
				c.Get(ctx, "k")                    // hit, starts the refresh
				synctest.Wait()                    // the refresh has ended
				want := accelerator.MetricsSnapshot{
					LocalHits: 1, LocalMisses: 1, Loads: 2, LoadedKeys: 2, LoadFound: 2,
					RefreshAttempts: 1, RefreshSuccesses: 1,
				}
				if failing {
					want.LoadFound, want.LoadErrors = 1, 1
					want.RefreshSuccesses, want.RefreshFailures = 0, 1
				}
				wantCounters(t, counted(t, c.MetricsSnapshot()), want)
			})
		})
	}
}

func TestCountersOfOversizedValues(t *testing.T) {
	srv := redistest.Start(t)
	big := strings.Repeat("x", 200)
	c := newCache(t, accelerator.Options[string, string]{
		Area: "big", Remote: newRemote(t, srv.URL()), MaxValueSize: 100,
		Loader: &countingLoader[string, string]{data: map[string]string{"k": big}},
	})
	ctx := context.Background()
	if err := c.Set(ctx, "w", big); !errors.Is(err, accelerator.ErrValueTooLarge) {
		t.Fatalf("Set of an oversized value = %v, want ErrValueTooLarge", err)
	}
	if v, _, err := c.Get(ctx, "k"); err != nil || v != big {
		t.Fatalf("Get of an oversized load = %d bytes, %v; want the value", len(v), err)
	}
	wantCounters(t, counted(t, c.MetricsSnapshot()), accelerator.MetricsSnapshot{
		LocalMisses: 1, RemoteMisses: 1, Loads: 1, LoadedKeys: 1, LoadFound: 1, OversizedValues: 2, MarkReads: 1,
	})
}

// TestEveryCounterIsDrivenByAScenario: a counter that no test above moves is a
// counter nobody checked. The counters of cross-instance invalidation are driven by
// its own tests.
func TestEveryCounterIsDrivenByAScenario(t *testing.T) {
	t.Run("scenarios", func(t *testing.T) {
		TestCountersOfLocalHitsMissesAndLoads(t)
		TestCountersOfNullHitsInL1(t)
		TestCountersOfRemoteHitsMissesAndNullHits(t)
		TestCountersOfBatchReadsAndBatchLoads(t)
		TestCountersOfDecodeErrors(t)
		TestCountersOfRemoteErrors(t)
		TestCountersOfTheCircuitBreaker(t)
		TestCountersOfLoadErrorsTimeoutsAndPanics(t)
		TestCountersOfSharedLoads(t)
		TestCountersOfStaleServed(t)
		TestCountersOfRefreshAhead(t)
		TestCountersOfOversizedValues(t)
		TestCountersOfTagsAndClear(t)
		TestCountersOfLoadLeases(t)
	})
	invalidation := map[string]bool{
		"InvalidationsPublished": true, "InvalidationsReceived": true, "PublishFailures": true,
		"ReceiveFailures": true, "LocalFlushes": true, "FillsLost": true,
	}
	st := reflect.TypeFor[accelerator.MetricsSnapshot]()
	for i := range st.NumField() {
		f := st.Field(i)
		if f.Type.Kind() != reflect.Uint64 || invalidation[f.Name] {
			continue
		}
		if _, ok := exercised.Load(f.Name); !ok {
			t.Errorf("no scenario moves %s", f.Name)
		}
	}
}

func TestCountersOfTagsAndClear(t *testing.T) {
	c := newLocal(t, accelerator.Options[string, string]{})
	ctx := context.Background()
	must(t, c.Set(ctx, "a", "A", accelerator.WithTags("t")))
	must(t, c.Set(ctx, "b", "B"))
	must(t, c.InvalidateTags(ctx, "t", "u")) // two tags
	c.Get(ctx, "a")                          // found in L1, invalidated: a miss
	c.Get(ctx, "b")                          // untagged: a hit
	must(t, c.Clear(ctx))                    // drops L1
	c.Get(ctx, "b")                          // a miss
	wantCounters(t, counted(t, c.MetricsSnapshot()), accelerator.MetricsSnapshot{
		LocalHits: 1, LocalMisses: 2, TagInvalidations: 2, Clears: 1, InvalidatedReads: 1, LocalFlushes: 1,
	})
}
