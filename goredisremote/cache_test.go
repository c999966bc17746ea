package goredisremote_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/accelerator-go/accelerator"
)

// TestCacheSharesRedis runs two caches, as two replicas of a service would, over one
// Redis through goredisremote: the first loads a key once, the second finds it in
// Redis without loading, on a standalone server and on a cluster.
func TestCacheSharesRedis(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		client func(t *testing.T) redis.UniversalClient
	}{
		{"standalone", func(t *testing.T) redis.UniversalClient { _, c := newClient(t); return c }},
		{"cluster", func(t *testing.T) redis.UniversalClient { _, c := newClusterClient(t); return c }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			remote := mustNew(t, tt.client(t))
			var loads atomic.Int64
			newCache := func() *accelerator.Cache[int64, string] {
				c, err := accelerator.New(accelerator.Options[int64, string]{
					Area:   "users",
					Remote: remote,
					Loader: accelerator.LoaderFunc[int64, string](func(_ context.Context, id int64) (string, bool, error) {
						loads.Add(1)
						return "user", true, nil
					}),
					RemoteTTL: time.Minute,
				})
				if err != nil {
					t.Fatalf("accelerator.New = %v", err)
				}
				t.Cleanup(func() { _ = c.Close() })
				return c
			}
			ctx := context.Background()
			keys := []int64{1, 2, 3, 4, 5, 6, 7, 8}
			a, b := newCache(), newCache()
			if got, err := a.MGet(ctx, keys); err != nil || len(got) != len(keys) {
				t.Fatalf("first cache MGet = %v, %v", got, err)
			}
			if got, err := b.MGet(ctx, keys); err != nil || len(got) != len(keys) {
				t.Fatalf("second cache MGet = %v, %v", got, err)
			}
			if v, found, err := b.Get(ctx, 1); err != nil || !found || v != "user" {
				t.Fatalf("second cache Get = %q, %v, %v", v, found, err)
			}
			if n := loads.Load(); n != int64(len(keys)) {
				t.Errorf("%d loads, want %d: the second cache should read Redis", n, len(keys))
			}
		})
	}
}
