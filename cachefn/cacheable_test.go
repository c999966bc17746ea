package cachefn_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/cachefn"
)

func TestCacheableHitAndMiss(t *testing.T) {
	ctx := context.Background()
	src := newSource()
	c := newLocal(t, accelerator.Options[int64, user]{})
	get := cachefn.Cacheable(c, src.Get)

	u, err := get(ctx, 1)
	if err != nil || u.Name != "Ada" || src.calls.Load() != 1 {
		t.Fatalf("miss = %+v, %v after %d calls, want Ada from one call", u, err, src.calls.Load())
	}
	if v, ok := cached(t, c, 1); !ok || v.Name != "Ada" {
		t.Fatalf("cache holds %+v %v after the miss, want Ada", v, ok)
	}
	u, err = get(ctx, 1)
	if err != nil || u.Name != "Ada" || src.calls.Load() != 1 {
		t.Fatalf("hit = %+v, %v after %d calls, want Ada without a call", u, err, src.calls.Load())
	}
}

// TestCacheableNotFound: ErrNotFound from the function is "not found" to the cache, which
// remembers it with CacheNullValue only; the caller gets ErrNotFound either way.
func TestCacheableNotFound(t *testing.T) {
	ctx := context.Background()
	for _, null := range []bool{true, false} {
		src := newSource()
		c := newLocal(t, accelerator.Options[int64, user]{CacheNullValue: null})
		get := cachefn.Cacheable(c, src.Get)
		for range 3 {
			if _, err := get(ctx, 404); !errors.Is(err, cachefn.ErrNotFound) {
				t.Fatalf("null=%v: err = %v, want ErrNotFound", null, err)
			}
		}
		want := int64(3)
		if null {
			want = 1
		}
		if src.calls.Load() != want {
			t.Fatalf("null=%v: %d calls for 3 reads of a missing key, want %d", null, src.calls.Load(), want)
		}
	}
}

// TestCacheableNotFoundTarget: NotFound makes a domain error mean "not found", and
// that error is what callers get, from the function and from the negative entry.
func TestCacheableNotFoundTarget(t *testing.T) {
	ctx := context.Background()
	errNoUser := errors.New("no such user")
	calls := 0
	c := newLocal(t, accelerator.Options[int64, user]{CacheNullValue: true})
	get := cachefn.Cacheable(c, func(context.Context, int64) (user, error) {
		calls++
		return user{}, errNoUser
	}, cachefn.NotFound(errNoUser))
	for range 2 {
		if _, err := get(ctx, 7); err != errNoUser {
			t.Fatalf("err = %v, want errNoUser itself", err)
		}
	}
	if calls != 1 {
		t.Fatalf("%d calls, want 1: the second read is a negative hit", calls)
	}
}

// TestCacheableFunctionError: an error of the function reaches the caller as the
// function returned it, and nothing is cached.
func TestCacheableFunctionError(t *testing.T) {
	ctx := context.Background()
	src := newSource()
	src.setFail(errDB)
	c := newLocal(t, accelerator.Options[int64, user]{CacheNullValue: true})
	var rec recorder
	get := cachefn.Cacheable(c, src.Get, rec.options()...)
	if _, err := get(ctx, 1); err != errDB {
		t.Fatalf("err = %v, want errDB itself", err)
	}
	if _, ok := cached(t, c, 1); ok {
		t.Fatal("a failed call was cached")
	}
	src.setFail(nil)
	if u, err := get(ctx, 1); err != nil || u.Name != "Ada" {
		t.Fatalf("after recovery = %+v, %v", u, err)
	}
	if src.calls.Load() != 2 {
		t.Fatalf("%d calls, want 2: the failure must not be cached", src.calls.Load())
	}
	rec.expectReported(t, cachefn.Ignore, "get", 0)
}

// TestCacheableSharesConcurrentMisses: concurrent misses of one key run the function
// once (the cache's singleflight).
func TestCacheableSharesConcurrentMisses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		release := make(chan struct{})
		var calls sync.WaitGroup
		n := 0
		c := newLocal(t, accelerator.Options[int64, user]{Clock: newManualClock()})
		get := cachefn.Cacheable(c, func(context.Context, int64) (user, error) {
			n++
			<-release
			return user{ID: 1, Name: "Ada"}, nil
		})
		for range 50 {
			calls.Go(func() {
				if u, err := get(ctx, 1); err != nil || u.Name != "Ada" {
					t.Errorf("get = %+v, %v", u, err)
				}
			})
		}
		synctest.Wait() // every call has missed and waits on the one load
		close(release)
		calls.Wait()
		if n != 1 {
			t.Fatalf("%d calls for 50 concurrent misses, want 1", n)
		}
	})
}

// TestCacheableCacheError: a failing cache (here closed) does not fail the call under
// Ignore, and is returned as a *CacheError, without calling the function, under
// Propagate. Both report it.
func TestCacheableCacheError(t *testing.T) {
	ctx := context.Background()
	for _, p := range []cachefn.Policy{cachefn.Ignore, cachefn.Propagate} {
		t.Run(p.String(), func(t *testing.T) {
			src := newSource()
			var rec recorder
			get := cachefn.Cacheable(closedCache(t), src.Get, rec.options(cachefn.OnCacheError(p))...)
			u, err := get(ctx, 1)
			switch p {
			case cachefn.Ignore:
				if err != nil || u.Name != "Ada" || src.calls.Load() != 1 {
					t.Fatalf("= %+v, %v after %d calls, want Ada from the function", u, err, src.calls.Load())
				}
				if _, err := get(ctx, 404); !errors.Is(err, cachefn.ErrNotFound) {
					t.Fatalf("not found without the cache: %v", err)
				}
				rec.expectReported(t, p, "get", 2)
			case cachefn.Propagate:
				wantCacheError(t, err, "get", accelerator.ErrClosed)
				if src.calls.Load() != 0 {
					t.Fatal("the function ran although the cache error is returned")
				}
				rec.expectReported(t, p, "get", 1)
			}
		})
	}
}

func TestCacheableBy(t *testing.T) {
	ctx := context.Background()
	type req struct {
		Tenant string
		ID     int64
	}
	src := newSource()
	var seen []req
	c := newLocal(t, accelerator.Options[int64, user]{CacheNullValue: true})
	get := cachefn.CacheableBy(c, func(r req) int64 { return r.ID }, func(ctx context.Context, r req) (user, error) {
		seen = append(seen, r)
		return src.Get(ctx, r.ID)
	})
	for range 2 {
		if u, err := get(ctx, req{"acme", 2}); err != nil || u.Name != "Grace" {
			t.Fatalf("= %+v, %v", u, err)
		}
		if _, err := get(ctx, req{"acme", 404}); !errors.Is(err, cachefn.ErrNotFound) {
			t.Fatalf("not found: %v", err)
		}
	}
	if !slices.Equal(seen, []req{{"acme", 2}, {"acme", 404}}) {
		t.Fatalf("function saw %v, want one call per key, with the argument", seen)
	}
	src.setFail(errDB)
	if _, err := get(ctx, req{"acme", 3}); err != errDB {
		t.Fatalf("function error = %v, want errDB", err)
	}
	if _, ok := cached(t, c, 3); ok {
		t.Fatal("a failed call was cached")
	}
}

func TestCacheableByCacheError(t *testing.T) {
	ctx := context.Background()
	for _, p := range []cachefn.Policy{cachefn.Ignore, cachefn.Propagate} {
		t.Run(p.String(), func(t *testing.T) {
			src := newSource()
			var rec recorder
			get := cachefn.CacheableBy(closedCache(t), func(id int64) int64 { return id }, src.Get, rec.options(cachefn.OnCacheError(p))...)
			u, err := get(ctx, 1)
			if p == cachefn.Ignore {
				if err != nil || u.Name != "Ada" {
					t.Fatalf("= %+v, %v, want Ada from the function", u, err)
				}
			} else {
				wantCacheError(t, err, "get", accelerator.ErrClosed)
			}
			rec.expectReported(t, p, "get", 1)
		})
	}
}

// TestCacheableL1HitDoesNotAllocate pins the promise of the package: a wrapped call
// answered by L1 allocates nothing, like the cache's own Get.
func TestCacheableL1HitDoesNotAllocate(t *testing.T) {
	ctx := context.Background()
	src := newSource()
	for _, p := range []cachefn.Policy{cachefn.Ignore, cachefn.Propagate} {
		c := newLocal(t, accelerator.Options[int64, user]{})
		get := cachefn.Cacheable(c, src.Get, cachefn.OnCacheError(p))
		by := cachefn.CacheableBy(c, func(id int64) int64 { return id }, src.Get, cachefn.OnCacheError(p))
		if _, err := get(ctx, 1); err != nil {
			t.Fatal(err)
		}
		for name, f := range map[string]func(context.Context, int64) (user, error){"Cacheable": get, "CacheableBy": by} {
			allocs := testing.AllocsPerRun(1000, func() {
				if u, err := f(ctx, 1); err != nil || u.ID != 1 {
					t.Fatal("miss", err)
				}
			})
			if allocs != 0 {
				t.Errorf("%s (%v) L1 hit allocates %v times, want 0", name, p, allocs)
			}
		}
	}
}

// TestCacheableFunctionRunsOnLoadContext: the function runs as the cache's loader, on
// a context that keeps the caller's values but not its cancellation.
func TestCacheableFunctionRunsOnLoadContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type ctxKey struct{}
		ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
		callerLeft := make(chan struct{})
		c := newLocal(t, accelerator.Options[int64, user]{Clock: newManualClock()})
		get := cachefn.Cacheable(c, func(lctx context.Context, id int64) (user, error) {
			cancel()
			if lctx.Value(ctxKey{}) != "v" {
				return user{}, errors.New("lost the caller's values")
			}
			<-callerLeft
			return user{ID: id}, lctx.Err()
		})
		if _, err := get(ctx, 1); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want the caller's own cancellation", err)
		}
		close(callerLeft)
		synctest.Wait() // the load has finished and filled the cache
		if v, ok := cached(t, c, 1); !ok || v.ID != 1 {
			t.Fatal("the load did not finish for the cache after the caller left")
		}
	})
}

// TestCacheableReadOptions: read options reach the cache, so that AllowStale answers
// with the stale copy when the function fails after the entry expired.
func TestCacheableReadOptions(t *testing.T) {
	ctx := context.Background()
	src := newSource()
	clk := newManualClock()
	c := newLocal(t, accelerator.Options[int64, user]{LocalTTL: 20 * time.Millisecond, StaleTTL: time.Minute, Clock: clk})
	get := cachefn.Cacheable(c, src.Get, cachefn.ReadOptions(accelerator.AllowStale()))
	strict := cachefn.Cacheable(c, src.Get)
	if _, err := get(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(100 * time.Millisecond)
	src.setFail(errDB)
	if _, err := strict(ctx, 1); err != errDB {
		t.Fatalf("without AllowStale: err = %v, want errDB", err)
	}
	if u, err := get(ctx, 1); err != nil || u.Name != "Ada" {
		t.Fatalf("with AllowStale = %+v, %v, want the stale copy", u, err)
	}
}

// TestCacheableTimeoutAndPanicAreNotCacheFailures: a function that outlives the
// loader timeout or panics fails the call as the cache reports it, and is not taken
// for a cache failure (which, under Ignore, would run the function again).
func TestCacheableTimeoutAndPanicAreNotCacheFailures(t *testing.T) {
	ctx := context.Background()
	var rec recorder
	c := newLocal(t, accelerator.Options[int64, user]{LoaderTimeout: 20 * time.Millisecond})
	var calls atomic.Int32
	slow := cachefn.Cacheable(c, func(ctx context.Context, id int64) (user, error) {
		calls.Add(1)
		<-ctx.Done()
		return user{}, ctx.Err()
	}, rec.options()...)
	if _, err := slow(ctx, 1); !errors.Is(err, accelerator.ErrLoaderTimeout) {
		t.Fatalf("err = %v, want ErrLoaderTimeout", err)
	}
	panicky := cachefn.Cacheable(c, func(context.Context, int64) (user, error) {
		calls.Add(1)
		panic("boom")
	}, rec.options()...)
	func() {
		defer func() {
			if _, ok := recover().(*accelerator.PanicError); !ok {
				t.Fatal("the call did not panic with the cache's *PanicError")
			}
		}()
		panicky(ctx, 2)
	}()
	if calls.Load() != 2 {
		t.Fatalf("%d calls, want 2: neither failure may be retried as a cache failure", calls.Load())
	}
	rec.expectReported(t, cachefn.Ignore, "get", 0)
}
