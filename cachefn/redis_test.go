package cachefn_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/cachefn"
	"github.com/accelerator-go/accelerator/internal/redistest"
	"github.com/accelerator-go/accelerator/rueidisremote"
)

// quiet keeps the cache's own failure log out of the test output.
var quiet = slog.New(slog.DiscardHandler)

func newRemote(t testing.TB, url string) *rueidisremote.Remote {
	t.Helper()
	r, err := rueidisremote.NewFromURL(url)
	if err != nil {
		t.Fatalf("rueidisremote: %v", err)
	}
	t.Cleanup(r.Close)
	return r
}

// twoLevel returns a cache in ModeBoth over remote, and a remote-only view of the same
// area that sees what Redis holds (no L1 of its own to hide it).
func twoLevel(t testing.TB, remote *rueidisremote.Remote) (both, redisView *accelerator.Cache[int64, user]) {
	opts := accelerator.Options[int64, user]{Area: "users", Remote: remote, CacheNullValue: true}
	both = newLocal(t, opts)
	opts.Mode = accelerator.ModeRemote
	return both, newLocal(t, opts)
}

// TestRedisWrappersWriteThroughL2: what the wrappers cache, put and evict is what Redis
// holds, so that another instance sees it.
func TestRedisWrappersWriteThroughL2(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	remote := newRemote(t, srv.URL())
	c, redisView := twoLevel(t, remote)
	other, _ := twoLevel(t, remote) // a second instance of the service
	src := newSource()

	if _, err := cachefn.Cacheable(c, src.Get)(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := cachefn.Cacheable(c, src.Get)(ctx, 404); !errors.Is(err, cachefn.ErrNotFound) {
		t.Fatal(err)
	}
	if u, err := cachefn.Cacheable(other, src.Get)(ctx, 1); err != nil || u.Name != "Ada" {
		t.Fatalf("other instance = %+v, %v", u, err)
	}
	if _, err := cachefn.Cacheable(other, src.Get)(ctx, 404); !errors.Is(err, cachefn.ErrNotFound) {
		t.Fatalf("other instance, missing key: %v", err)
	}
	if src.calls.Load() != 2 {
		t.Fatalf("%d calls, want 2: the other instance reads value and negative entry from Redis", src.calls.Load())
	}

	got, err := cachefn.CacheableBatch(c, src.GetMany)(ctx, []int64{1, 2, 3})
	if err != nil || len(got) != 3 || !slicesEqual(src.lastBatch(), []int64{2, 3}) {
		t.Fatalf("batch = %v, %v; function asked for %v, want [2 3]", got, err, src.lastBatch())
	}
	if v, ok := cached(t, redisView, 3); !ok || v.Name != "Linus" {
		t.Fatal("the batch's loads are not in Redis")
	}

	if _, err := cachefn.Put(c, userKey, src.Save)(ctx, user{2, "Grace Hopper"}); err != nil {
		t.Fatal(err)
	}
	if v, _ := cached(t, redisView, 2); v.Name != "Grace Hopper" {
		t.Fatalf("Redis holds %+v after Put", v)
	}
	if err := cachefn.Evict(c, idKey, src.Delete)(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := cachefn.EvictBatch(c, idsKeys, src.DeleteMany)(ctx, []int64{1, 3}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{1, 2, 3} {
		if _, ok := cached(t, redisView, id); ok {
			t.Fatalf("key %d still in Redis after the evictions", id)
		}
	}
}

// TestRedisDown: with Redis killed, no wrapper fails a call under Ignore, and under
// Propagate each returns a *CacheError for the operation that failed. The read
// wrappers under Ignore report nothing: the cache absorbs the L2 failure itself and
// loads from the function (counted in its RemoteErrors).
func TestRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	remote := newRemote(t, srv.URL())
	srv.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	type call func(ctx context.Context, c *accelerator.Cache[int64, user], src *source, opts []cachefn.Option) (ok bool, err error)
	wrappers := []struct {
		name, op string
		// reportedIgnored is the number of failures reported under Ignore.
		reportedIgnored int
		call            call
	}{
		{"Cacheable", "get", 0, func(ctx context.Context, c *accelerator.Cache[int64, user], src *source, opts []cachefn.Option) (bool, error) {
			u, err := cachefn.Cacheable(c, src.Get, opts...)(ctx, 1)
			return u.Name == "Ada", err
		}},
		{"CacheableBy", "get", 0, func(ctx context.Context, c *accelerator.Cache[int64, user], src *source, opts []cachefn.Option) (bool, error) {
			u, err := cachefn.CacheableBy(c, idKey, src.Get, opts...)(ctx, 2)
			return u.Name == "Grace", err
		}},
		{"CacheableBatch", "mget", 0, func(ctx context.Context, c *accelerator.Cache[int64, user], src *source, opts []cachefn.Option) (bool, error) {
			m, err := cachefn.CacheableBatch(c, src.GetMany, opts...)(ctx, []int64{1, 2, 3})
			return len(m) == 3, err
		}},
		{"Put", "set", 1, func(ctx context.Context, c *accelerator.Cache[int64, user], src *source, opts []cachefn.Option) (bool, error) {
			u, err := cachefn.Put(c, userKey, src.Save, opts...)(ctx, user{4, "Ken"})
			return u.Name == "Ken" && src.rows[4].Name == "Ken", err
		}},
		{"Evict", "del", 1, func(ctx context.Context, c *accelerator.Cache[int64, user], src *source, opts []cachefn.Option) (bool, error) {
			err := cachefn.Evict(c, idKey, src.Delete, opts...)(ctx, 1)
			_, kept := src.rows[1]
			return !kept, err
		}},
		{"EvictBatch", "mdel", 1, func(ctx context.Context, c *accelerator.Cache[int64, user], src *source, opts []cachefn.Option) (bool, error) {
			err := cachefn.EvictBatch(c, idsKeys, src.DeleteMany, opts...)(ctx, []int64{1, 2})
			return len(src.rows) == 1, err
		}},
	}
	for _, w := range wrappers {
		t.Run(w.name+"/ignore", func(t *testing.T) {
			src := newSource()
			var rec recorder
			c, _ := twoLevel(t, remote)
			ok, err := w.call(ctx, c, src, rec.options())
			if err != nil || !ok {
				t.Fatalf("ok=%v err=%v: a dead Redis must not fail the call", ok, err)
			}
			rec.expectReported(t, cachefn.Ignore, w.op, w.reportedIgnored)
			if m := c.MetricsSnapshot(); m.RemoteErrors == 0 {
				t.Fatal("the cache did not count the L2 failure")
			}
		})
		t.Run(w.name+"/propagate", func(t *testing.T) {
			src := newSource()
			var rec recorder
			c, _ := twoLevel(t, remote)
			_, err := w.call(ctx, c, src, rec.options(cachefn.OnCacheError(cachefn.Propagate)))
			var ce *cachefn.CacheError
			if !errors.As(err, &ce) || ce.Op != w.op {
				t.Fatalf("err = %v, want a *CacheError of op %s", err, w.op)
			}
			if w.op == "get" || w.op == "mget" {
				if src.calls.Load() != 0 {
					t.Fatal("the function ran although the read's cache error is returned")
				}
			} else if src.calls.Load() != 1 {
				t.Fatal("the function did not run before the failed write")
			}
			rec.expectReported(t, cachefn.Propagate, w.op, 1)
		})
	}
	t.Run("EvictBefore/propagate", func(t *testing.T) {
		src := newSource()
		c, _ := twoLevel(t, remote)
		err := cachefn.Evict(c, idKey, src.Delete, cachefn.EvictBefore(), cachefn.OnCacheError(cachefn.Propagate), cachefn.Logger(nil))(ctx, 1)
		if !errors.As(err, new(*cachefn.CacheError)) || src.calls.Load() != 0 {
			t.Fatalf("err = %v after %d calls; want the delete's error and no call", err, src.calls.Load())
		}
	})
}

func slicesEqual(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[int64]int{}
	for _, x := range a {
		seen[x]++
	}
	for _, x := range b {
		seen[x]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}
