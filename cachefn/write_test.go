package cachefn_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/cachefn"
)

func userKey(_ user, u user) int64 { return u.ID }
func idKey(id int64) int64         { return id }
func idsKeys(ids []int64) []int64  { return ids }

func TestCacheableBatch(t *testing.T) {
	ctx := context.Background()
	src := newSource()
	c := newLocal(t, accelerator.Options[int64, user]{CacheNullValue: true})
	must(t, c.Set(ctx, 1, user{1, "cached Ada"}))
	getMany := cachefn.CacheableBatch(c, src.GetMany)

	got, err := getMany(ctx, []int64{1, 2, 3, 404, 2})
	if err != nil || !slices.Equal(sortedKeys(got), []int64{1, 2, 3}) || got[1].Name != "cached Ada" {
		t.Fatalf("= %v, %v", got, err)
	}
	if b := src.lastBatch(); !slices.Equal(slices.Sorted(slices.Values(b)), []int64{2, 3, 404}) {
		t.Fatalf("function asked for %v, want the misses 2, 3, 404 once each", b)
	}
	if v, ok := cached(t, c, 2); !ok || v.Name != "Grace" {
		t.Fatal("loaded values were not cached")
	}
	got, err = getMany(ctx, []int64{2, 3, 404})
	if err != nil || len(got) != 2 || src.calls.Load() != 1 {
		t.Fatalf("second read = %v, %v after %d calls, want 2 values from the cache (404 a negative hit)", got, err, src.calls.Load())
	}
}

// TestCacheableBatchFunctionError: the function's error comes back unchanged with what
// the cache held, and nothing is cached.
func TestCacheableBatchFunctionError(t *testing.T) {
	ctx := context.Background()
	src := newSource()
	src.setFail(errDB)
	c := newLocal(t, accelerator.Options[int64, user]{CacheNullValue: true})
	must(t, c.Set(ctx, 1, user{1, "Ada"}))
	got, err := cachefn.CacheableBatch(c, src.GetMany)(ctx, []int64{1, 2})
	if err != errDB || len(got) != 1 || got[1].Name != "Ada" {
		t.Fatalf("= %v, %v; want the cached value and errDB itself", got, err)
	}
	if _, ok := cached(t, c, 2); ok {
		t.Fatal("a failed load was cached")
	}
}

func TestCacheableBatchCacheError(t *testing.T) {
	ctx := context.Background()
	for _, p := range []cachefn.Policy{cachefn.Ignore, cachefn.Propagate} {
		t.Run(p.String(), func(t *testing.T) {
			src := newSource()
			var rec recorder
			got, err := cachefn.CacheableBatch(closedCache(t), src.GetMany, rec.options(cachefn.OnCacheError(p))...)(ctx, []int64{1, 2})
			if p == cachefn.Ignore {
				if err != nil || len(got) != 2 {
					t.Fatalf("= %v, %v; want both values from the function", got, err)
				}
			} else {
				wantCacheError(t, err, "mget", accelerator.ErrClosed)
			}
			rec.expectReported(t, p, "mget", 1)
		})
	}
}

func TestPut(t *testing.T) {
	ctx := context.Background()
	src := newSource()
	c := newLocal(t, accelerator.Options[int64, user]{})
	must(t, c.Set(ctx, 1, user{1, "Ada"}))
	save := cachefn.Put(c, userKey, src.Save)

	if u, err := save(ctx, user{1, "Ada Lovelace"}); err != nil || u.Name != "Ada Lovelace" {
		t.Fatalf("= %+v, %v", u, err)
	}
	if v, _ := cached(t, c, 1); v.Name != "Ada Lovelace" {
		t.Fatalf("cache holds %+v, want the function's result", v)
	}
	src.setFail(errDB)
	if _, err := save(ctx, user{1, "lost"}); err != errDB {
		t.Fatalf("err = %v, want errDB itself", err)
	}
	if v, _ := cached(t, c, 1); v.Name != "Ada Lovelace" {
		t.Fatalf("cache holds %+v after a failed call, want it untouched", v)
	}
}

// TestPutKeyFromResult: the key may come from the result, such as an ID the source
// assigned.
func TestPutKeyFromResult(t *testing.T) {
	ctx := context.Background()
	c := newLocal(t, accelerator.Options[int64, user]{})
	create := cachefn.Put(c, func(name string, u user) int64 { return u.ID },
		func(_ context.Context, name string) (user, error) { return user{ID: 99, Name: name}, nil })
	if _, err := create(ctx, "Barbara"); err != nil {
		t.Fatal(err)
	}
	if v, ok := cached(t, c, 99); !ok || v.Name != "Barbara" {
		t.Fatalf("cache holds %+v %v under the result's ID", v, ok)
	}
}

// TestPutWritesAfterCallerLeft: the write after a successful call is not cancelled
// with the caller's ctx, so the cache reflects what the function committed.
func TestPutWritesAfterCallerLeft(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	c := newLocal(t, accelerator.Options[int64, user]{})
	save := cachefn.Put(c, userKey, func(_ context.Context, u user) (user, error) {
		cancel() // the caller gives up while the function commits
		return u, nil
	})
	if _, err := save(ctx, user{5, "Edsger"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := cached(t, c, 5); !ok {
		t.Fatal("the committed result did not reach the cache")
	}
}

func TestPutCacheError(t *testing.T) {
	ctx := context.Background()
	for _, p := range []cachefn.Policy{cachefn.Ignore, cachefn.Propagate} {
		t.Run(p.String(), func(t *testing.T) {
			src := newSource()
			var rec recorder
			u, err := cachefn.Put(closedCache(t), userKey, src.Save, rec.options(cachefn.OnCacheError(p))...)(ctx, user{7, "Alan"})
			if u.Name != "Alan" || src.rows[7].Name != "Alan" {
				t.Fatalf("result %+v, source %+v: the function must have run and its result be returned", u, src.rows[7])
			}
			if p == cachefn.Ignore && err != nil {
				t.Fatalf("err = %v under Ignore", err)
			}
			if p == cachefn.Propagate {
				wantCacheError(t, err, "set", accelerator.ErrClosed)
			}
			rec.expectReported(t, p, "set", 1)
		})
	}
}

func TestEvict(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		opts       []cachefn.Option
		fail       error
		wantCached bool
	}{
		{"after, success: deleted", nil, nil, false},
		{"after, function error: kept", nil, errDB, true},
		{"before, success: deleted", []cachefn.Option{cachefn.EvictBefore()}, nil, false},
		{"before, function error: deleted all the same", []cachefn.Option{cachefn.EvictBefore()}, errDB, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newSource()
			src.setFail(tt.fail)
			c := newLocal(t, accelerator.Options[int64, user]{})
			must(t, c.Set(ctx, 1, user{1, "Ada"}))
			var inCacheDuringCall bool
			del := cachefn.Evict(c, idKey, func(ctx context.Context, id int64) error {
				_, inCacheDuringCall = cached(t, c, id)
				return src.Delete(ctx, id)
			}, tt.opts...)
			if err := del(ctx, 1); err != tt.fail {
				t.Fatalf("err = %v, want %v", err, tt.fail)
			}
			if _, ok := cached(t, c, 1); ok != tt.wantCached {
				t.Fatalf("cached after the call = %v, want %v", ok, tt.wantCached)
			}
			if before := len(tt.opts) > 0; inCacheDuringCall == before {
				t.Fatalf("key in the cache while the function ran = %v with before=%v", inCacheDuringCall, before)
			}
		})
	}
}

func TestEvictCacheError(t *testing.T) {
	ctx := context.Background()
	for _, before := range []bool{false, true} {
		for _, p := range []cachefn.Policy{cachefn.Ignore, cachefn.Propagate} {
			opts := []cachefn.Option{cachefn.OnCacheError(p)}
			if before {
				opts = append(opts, cachefn.EvictBefore())
			}
			src := newSource()
			var rec recorder
			err := cachefn.Evict(closedCache(t), idKey, src.Delete, rec.options(opts...)...)(ctx, 1)
			_, stillThere := src.rows[1]
			switch {
			case p == cachefn.Ignore:
				if err != nil || stillThere {
					t.Fatalf("before=%v ignore: err = %v, row kept = %v; want the function to run and succeed", before, err, stillThere)
				}
			case before:
				wantCacheError(t, err, "del", accelerator.ErrClosed)
				if !stillThere {
					t.Fatal("before=true propagate: the function ran although the delete before it failed")
				}
			default:
				wantCacheError(t, err, "del", accelerator.ErrClosed)
				if stillThere {
					t.Fatal("before=false propagate: the function did not run")
				}
			}
			rec.expectReported(t, p, "del", 1)
		}
	}
}

func TestEvictBatch(t *testing.T) {
	ctx := context.Background()
	src := newSource()
	c := newLocal(t, accelerator.Options[int64, user]{})
	must(t, c.MSet(ctx, map[int64]user{1: {1, "Ada"}, 2: {2, "Grace"}, 3: {3, "Linus"}}))
	del := cachefn.EvictBatch(c, idsKeys, src.DeleteMany)
	if err := del(ctx, []int64{1, 2}); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[int64]bool{1: false, 2: false, 3: true} {
		if _, ok := cached(t, c, id); ok != want {
			t.Fatalf("key %d cached = %v, want %v", id, ok, want)
		}
	}
	src.setFail(errDB)
	if err := del(ctx, []int64{3}); err != errDB {
		t.Fatalf("err = %v, want errDB", err)
	}
	if _, ok := cached(t, c, 3); !ok {
		t.Fatal("a failed call evicted its keys")
	}
	var rec recorder
	empty := cachefn.EvictBatch(closedCache(t), idsKeys, newSource().DeleteMany, rec.options(cachefn.OnCacheError(cachefn.Propagate))...)
	if err := empty(ctx, nil); err != nil {
		t.Fatalf("empty key list: err = %v, want no cache call", err)
	}
	rec.expectReported(t, cachefn.Propagate, "mdel", 0)
}

func TestEvictBatchCacheError(t *testing.T) {
	ctx := context.Background()
	for _, p := range []cachefn.Policy{cachefn.Ignore, cachefn.Propagate} {
		src := newSource()
		var rec recorder
		err := cachefn.EvictBatch(closedCache(t), idsKeys, src.DeleteMany, rec.options(cachefn.OnCacheError(p))...)(ctx, []int64{1, 2})
		if p == cachefn.Ignore && err != nil {
			t.Fatalf("ignore: %v", err)
		}
		if p == cachefn.Propagate {
			wantCacheError(t, err, "mdel", accelerator.ErrClosed)
		}
		if len(src.rows) != 1 {
			t.Fatalf("%v: the function did not run", p)
		}
		rec.expectReported(t, p, "mdel", 1)
	}
}

// TestEvictResult: the value-returning forms return the function's result with the
// same eviction rules.
func TestEvictResult(t *testing.T) {
	ctx := context.Background()
	c := newLocal(t, accelerator.Options[int64, user]{})
	must(t, c.MSet(ctx, map[int64]user{1: {1, "Ada"}, 2: {2, "Grace"}, 3: {3, "Linus"}}))
	one := cachefn.EvictResult(c, idKey, func(_ context.Context, id int64) (bool, error) { return true, nil })
	if ok, err := one(ctx, 1); !ok || err != nil {
		t.Fatalf("= %v, %v", ok, err)
	}
	many := cachefn.EvictBatchResult(c, idsKeys, func(_ context.Context, ids []int64) (int, error) { return len(ids), nil })
	if n, err := many(ctx, []int64{2}); n != 1 || err != nil {
		t.Fatalf("= %v, %v", n, err)
	}
	failing := cachefn.EvictResult(c, idKey, func(_ context.Context, id int64) (bool, error) { return false, errDB })
	if _, err := failing(ctx, 3); err != errDB {
		t.Fatalf("err = %v", err)
	}
	for id, want := range map[int64]bool{1: false, 2: false, 3: true} {
		if _, ok := cached(t, c, id); ok != want {
			t.Fatalf("key %d cached = %v, want %v", id, ok, want)
		}
	}
}

// TestDefaultStatsAndPolicyString: a wrapper without WithStats counts into
// DefaultStats.
func TestDefaultStatsAndPolicyString(t *testing.T) {
	before := cachefn.DefaultStats.Ignored()
	_ = cachefn.Evict(closedCache(t), idKey, newSource().Delete, cachefn.Logger(nil))(context.Background(), 1)
	if cachefn.DefaultStats.Ignored() != before+1 {
		t.Fatal("DefaultStats did not count the ignored failure")
	}
	if cachefn.Policy(9).String() != "Policy(9)" {
		t.Fatal(cachefn.Policy(9).String())
	}
	err := &cachefn.CacheError{Op: "get", Err: errors.New("boom")}
	if err.Error() != "cachefn: cache get: boom" {
		t.Fatal(err.Error())
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
