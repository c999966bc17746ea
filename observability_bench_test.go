package accelerator_test

import (
	"context"
	"testing"

	"github.com/accelerator-go/accelerator"
)

// The cost of reading a cache's state: what a scrape or an admin page pays, never a
// request. The L1 hit itself, with and without the OpenTelemetry hook, is measured in
// the acceleratorotel module (BenchmarkGetLocalHit).

func benchObservedCache(b *testing.B) *accelerator.Cache[int64, benchUser] {
	c := newLocal(b, accelerator.Options[int64, benchUser]{Loader: benchLoader})
	ctx := context.Background()
	for id := range int64(1000) {
		c.Get(ctx, id)
		c.Get(ctx, id)
	}
	return c
}

func BenchmarkMetricsSnapshot(b *testing.B) {
	c := benchObservedCache(b)
	b.ReportAllocs()
	for b.Loop() {
		c.MetricsSnapshot()
	}
}

func BenchmarkStatus(b *testing.B) {
	c := benchObservedCache(b)
	b.ReportAllocs()
	for b.Loop() {
		c.Status()
	}
}
