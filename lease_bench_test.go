package accelerator_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/internal/redistest"
)

// BenchmarkGetMissLease measures a miss of both layers that loads (a new key every
// time, one instance, so the lease is always free), with the load lease off and on,
// on a real Redis. roundtrips/op counts every call to Redis: the lease adds one (its
// SET NX); the holder's value outlives its lease, so the release is not sent.
func BenchmarkGetMissLease(b *testing.B) {
	srv := redistest.Start(b)
	ctx := context.Background()
	for _, lease := range []time.Duration{0, time.Second} {
		name := "off"
		if lease > 0 {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			remote := &roundTripRemote{Remote: newRemote(b, srv.URL())}
			c := newCache(b, accelerator.Options[int64, benchUser]{
				// An area of its own for every run, so that -count does not read
				// the keys of the run before.
				Area: "bench-lease-" + name + strconv.FormatInt(time.Now().UnixNano(), 36), Remote: remote, Loader: benchLoader, LocalMaxEntries: 1 << 20,
				LoadLease: lease,
			})
			before := remote.calls.Load()
			b.ReportAllocs()
			var id int64
			for b.Loop() {
				id++
				if _, found, err := c.Get(ctx, id); !found || err != nil {
					b.Fatal("not loaded", err)
				}
			}
			b.ReportMetric(float64(remote.calls.Load()-before)/float64(b.N), "roundtrips/op")
			if m := c.MetricsSnapshot(); lease > 0 && m.LeasesTaken != m.Loads {
				b.Fatalf("%d leases for %d loads", m.LeasesTaken, m.Loads)
			}
		})
	}
}
