package goredisremote_test

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/backendtest"
)

// TestConformance runs the backendtest suites (Remote, PubSub, CompareAndSetter,
// Leaser, MarkStore) against each client type New knows:
// a standalone server, a 3-master Redis Cluster and a Ring of two servers. One
// server (or cluster) is shared by the subtests of each, as the suites allow.
func TestConformance(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		client func(t *testing.T) redis.UniversalClient
	}{
		{"standalone", func(t *testing.T) redis.UniversalClient { _, c := newClient(t); return c }},
		{"standalone RESP2", func(t *testing.T) redis.UniversalClient {
			_, c := newClient(t, func(o *redis.Options) { o.Protocol = 2 })
			return c
		}},
		{"cluster", func(t *testing.T) redis.UniversalClient { _, c := newClusterClient(t); return c }},
		{"ring", func(t *testing.T) redis.UniversalClient { _, c := newRing(t); return c }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := mustNew(t, tt.client(t))
			t.Run("Remote", func(t *testing.T) {
				backendtest.TestRemote(t, func(*testing.T) backend.Remote { return r })
			})
			t.Run("PubSub", func(t *testing.T) {
				backendtest.TestPubSub(t, func(*testing.T) backend.PubSub { return r })
			})
			t.Run("BoundedReader", func(t *testing.T) {
				backendtest.TestBoundedReader(t, func(*testing.T) backend.Remote { return r })
			})
			t.Run("CompareAndSetter", func(t *testing.T) {
				backendtest.TestCompareAndSetter(t, func(*testing.T) (backend.CompareAndSetter, backend.Remote) { return r, r })
			})
			t.Run("Leaser", func(t *testing.T) {
				backendtest.TestLeaser(t, func(*testing.T) (backend.Leaser, backend.Remote) { return r, r })
			})
			t.Run("MarkStore", func(t *testing.T) {
				backendtest.TestMarkStore(t, func(*testing.T) (backend.MarkStore, backend.Remote) { return r, r })
			})
		})
	}
}
