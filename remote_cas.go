package accelerator

import (
	"context"

	"github.com/accelerator-go/accelerator/backend"
)

// guardedCAS sends compare-and-set fills through the same timeout, circuit breaker
// and accounting as every other remote call.
type guardedCAS struct {
	g   *guardedRemote
	cas backend.CompareAndSetter
}

// compareAndSet sends items in calls of at most MaxBatchKeys items, each bounded by
// the timeout, and stops at the first that fails: done reports the items written
// until then.
func (gc *guardedCAS) compareAndSet(ctx context.Context, items []backend.CASItem) ([]bool, error) {
	if len(items) <= gc.g.batch {
		return gc.compareAndSetChunk(ctx, items)
	}
	done := make([]bool, len(items))
	for start := 0; start < len(items); start += gc.g.batch {
		part, err := gc.compareAndSetChunk(ctx, items[start:min(start+gc.g.batch, len(items))])
		copy(done[start:], part)
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

func (gc *guardedCAS) compareAndSetChunk(ctx context.Context, items []backend.CASItem) ([]bool, error) {
	cctx, cancel, start, err := gc.g.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	done, err := gc.cas.CompareAndSet(cctx, items)
	if err == nil && len(done) != len(items) {
		done, err = nil, errShortCAS
	}
	return done, gc.g.end(ctx, cctx, "compare-and-set", start, err)
}
