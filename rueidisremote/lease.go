package rueidisremote

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/rueidis"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/internal/casscript"
)

var _ backend.Leaser = (*Remote)(nil)

// TryLease stores token at key for ttl if key is absent, with one SET key token NX
// PX ttl, and reports whether it did. The TTL is rounded up to a whole millisecond.
func (r *Remote) TryLease(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("rueidisremote: lease: %w", err)
	}
	err := r.client.Do(ctx, r.client.B().Set().Key(key).Value(token).Nx().PxMilliseconds(millis(ttl)).Build()).Error()
	switch {
	case rueidis.IsRedisNil(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("rueidisremote: lease: %w", err)
	}
	return true, nil
}

// ReleaseLease deletes key if it holds token, with one EVAL of a compare-and-delete
// script, and reports whether it did.
func (r *Remote) ReleaseLease(ctx context.Context, key, token string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("rueidisremote: release lease: %w", err)
	}
	n, err := r.client.Do(ctx, r.client.B().Eval().Script(casscript.ReleaseSource).Numkeys(1).Key(key).Arg(token).Build()).AsInt64()
	if err != nil {
		return false, fmt.Errorf("rueidisremote: release lease: %w", err)
	}
	return n == 1, nil
}
