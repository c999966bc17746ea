package goredisremote

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/internal/casscript"
)

var _ backend.CompareAndSetter = (*Remote)(nil)

// CompareAndSet writes each item whose key still holds the expected value (by its
// SHA-1), and reports which were written. It sends one EVAL of a short Lua script per
// item, all in one pipeline, which a cluster client or a Ring routes per node by the
// item's key.
//
// It sends EVAL, never EVALSHA, as rueidisremote does: a cache user's ACL then needs
// +eval only, and a script cache flushed by a restart or SCRIPT FLUSH costs nothing.
// Errors of single items are joined; their results are false. An empty items costs no
// round trip.
func (r *Remote) CompareAndSet(ctx context.Context, items []backend.CASItem) ([]bool, error) {
	if len(items) == 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("goredisremote: compare-and-set: %w", err)
	}
	pipe := r.client.Pipeline()
	cmds := make([]*redis.Cmd, len(items))
	for i, it := range items {
		cmds[i] = pipe.Eval(ctx, casscript.Source, []string{it.Key}, it.Expect, r.arg(it.Value), millis(it.TTL))
	}
	_, execErr := pipe.Exec(ctx)
	done := make([]bool, len(items))
	var errs []error
	whole := execErr != nil
	for i, cmd := range cmds {
		n, err := cmd.Int64()
		if err != nil {
			// A pipeline that failed as a whole gives every command the same error:
			// it is reported once, as in MSet.
			whole = whole && errors.Is(err, execErr)
			errs = append(errs, err)
			continue
		}
		whole = false
		done[i] = n == 1
	}
	switch {
	case errs == nil:
		return done, nil
	case whole:
		return done, fmt.Errorf("goredisremote: compare-and-set: %w", execErr)
	}
	return done, fmt.Errorf("goredisremote: compare-and-set: %w", itemErrors(len(items), errs))
}
