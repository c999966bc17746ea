package goredisremote

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/accelerator-go/accelerator/internal/slot"
)

func TestMillis(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ttl  time.Duration
		want int64
	}{
		{0, 1},
		{time.Nanosecond, 1},
		{time.Microsecond, 1},
		{time.Millisecond - 1, 1},
		{time.Millisecond, 1},
		{time.Millisecond + 1, 2},
		{1500 * time.Millisecond, 1500},
		{time.Second, 1000},
		{time.Hour, 3_600_000},
	}
	for _, tt := range tests {
		t.Run(tt.ttl.String(), func(t *testing.T) {
			if got := millis(tt.ttl); got != tt.want {
				t.Errorf("millis(%v) = %d, want %d", tt.ttl, got, tt.want)
			}
		})
	}
}

func TestGroupBySlot(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		keys       []string
		wantGroups int
	}{
		{"one key", []string{"a"}, 1},
		{"hash tag", []string{"{u}:1", "{u}:2", "x{u}y", "{u}"}, 1},
		{"duplicates", []string{"a", "b", "a", "b"}, 2},
		{"spread", func() []string {
			var keys []string
			for i := range 200 {
				keys = append(keys, "k:"+strconv.Itoa(i))
			}
			return keys
		}(), 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := slot.Group(tt.keys)
			if g.Len() != tt.wantGroups {
				t.Errorf("%d groups, want %d", g.Len(), tt.wantGroups)
			}
			var seen []int
			for i := range g.Len() {
				idx := g.Indices(i)
				keys := g.Keys(tt.keys, i, nil)
				if len(idx) == 0 || len(keys) != len(idx) {
					t.Fatalf("group %d: %d positions, %d keys", i, len(idx), len(keys))
				}
				for j, pos := range idx {
					if keys[j] != tt.keys[pos] {
						t.Errorf("group %d key %d = %q, want %q", i, j, keys[j], tt.keys[pos])
					}
					if slot.Of(keys[j]) != slot.Of(keys[0]) {
						t.Errorf("group %d mixes slots: %q and %q", i, keys[0], keys[j])
					}
				}
				if !slices.IsSorted(idx) {
					t.Errorf("group %d positions %v not in input order", i, idx)
				}
				seen = append(seen, idx...)
			}
			slices.Sort(seen)
			for i, pos := range seen {
				if pos != i {
					t.Fatalf("positions %v do not cover every key exactly once", seen)
				}
			}
		})
	}
}

func TestKindOf(t *testing.T) {
	t.Parallel()
	single := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	cluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}, ContextTimeoutEnabled: true})
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}, ContextTimeoutEnabled: true})
	t.Cleanup(func() {
		_ = single.Close()
		_ = cluster.Close()
		_ = ring.Close()
	})
	tests := []struct {
		name   string
		client redis.UniversalClient
		want   kind
	}{
		{"Client", single, kindSingle},
		{"ClusterClient", cluster, kindCluster},
		{"Ring", ring, kindRing},
		{"wrapper", wrapper{single}, kindOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(tt.client)
			if err != nil {
				t.Fatalf("New = %v", err)
			}
			if got := r.kind; got != tt.want {
				t.Errorf("kind = %d, want %d", got, tt.want)
			}
		})
	}
}

// wrapper is a client of a type New does not know.
type wrapper struct{ redis.UniversalClient }

// TestNewRequiresContextTimeouts: a client that ignores context deadlines is refused,
// since the cache's RemoteTimeout could not bound its calls.
func TestNewRequiresContextTimeouts(t *testing.T) {
	for _, tt := range []struct {
		name   string
		client redis.UniversalClient
	}{
		{"Client", redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})},
		{"ClusterClient", redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})},
		{"Ring", redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			defer tt.client.Close()
			if r, err := New(tt.client); err == nil || !strings.Contains(err.Error(), "ContextTimeoutEnabled") {
				t.Fatalf("New = %v, %v; want an error naming ContextTimeoutEnabled", r, err)
			}
		})
	}
}
