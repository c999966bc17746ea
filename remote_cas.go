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

func (gc *guardedCAS) compareAndSet(ctx context.Context, items []backend.CASItem) ([]bool, error) {
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
