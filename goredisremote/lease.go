package goredisremote

import (
	"context"
	"fmt"
	"time"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/internal/casscript"
)

var _ backend.Leaser = (*Remote)(nil)

// TryLease stores token at key for ttl if key is absent, with one SET key token NX
// PX ttl, and reports whether it did.
func (r *Remote) TryLease(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("goredisremote: lease: %w", err)
	}
	ok, err := r.client.SetNX(ctx, key, token, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("goredisremote: lease: %w", err)
	}
	return ok, nil
}

// ReleaseLease deletes key if it holds token, with one EVAL of a compare-and-delete
// script (EVAL, never EVALSHA, as for the compare-and-set fills), and reports whether
// it did.
func (r *Remote) ReleaseLease(ctx context.Context, key, token string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("goredisremote: release lease: %w", err)
	}
	n, err := r.client.Eval(ctx, casscript.ReleaseSource, []string{key}, token).Int64()
	if err != nil {
		return false, fmt.Errorf("goredisremote: release lease: %w", err)
	}
	return n == 1, nil
}
