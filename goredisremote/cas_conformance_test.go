package goredisremote_test

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/backendtest"
	"github.com/accelerator-go/accelerator/goredisremote"
)

// TestCompareAndSetterConformance runs the backendtest suite for
// backend.CompareAndSetter against each client type New knows.
func TestCompareAndSetterConformance(t *testing.T) {
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
			r := goredisremote.New(tt.client(t))
			backendtest.TestCompareAndSetter(t, func(*testing.T) (backend.CompareAndSetter, backend.Remote) { return r, r })
		})
	}
}
