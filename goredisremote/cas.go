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
// SHA-1), and reports which were written, in one pipeline, which a cluster client or
// a Ring routes per node by the item's key. An item that expects the key absent is
// first a SET … PX … NX, which Redis runs in a few microseconds; the others, and an
// absent-expecting item whose SET NX found the key taken (a second pipeline), run one
// EVAL of a short Lua script, which also counts an empty value as absent.
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
	done := make([]bool, len(items))
	all := make([]int, len(items))
	for i := range items {
		all[i] = i
	}
	retry, err := r.casRound(ctx, items, all, true, done)
	if err == nil {
		_, err = r.casRound(ctx, items, retry, false, done)
	}
	return done, err
}

// casRound sends the items of idx in one pipeline, as SET NX where fast and the item
// expects the key absent, as the script otherwise; it records what was written in
// done and returns the SET NX items that found the key taken.
func (r *Remote) casRound(ctx context.Context, items []backend.CASItem, idx []int, fast bool, done []bool) (retry []int, _ error) {
	if len(idx) == 0 {
		return nil, nil
	}
	pipe := r.client.Pipeline()
	cmds := make([]casCmd, len(idx))
	for j, i := range idx {
		it := items[i]
		if fast && it.Expect == "" {
			cmds[j] = setNXCmd{pipe.SetNX(ctx, it.Key, r.arg(it.Value), it.TTL)}
			continue
		}
		cmds[j] = evalCmd{pipe.Eval(ctx, casscript.Source, []string{it.Key}, it.Expect, r.arg(it.Value), millis(it.TTL))}
	}
	_, execErr := pipe.Exec(ctx)
	var errs []error
	whole := execErr != nil
	for j, cmd := range cmds {
		i := idx[j]
		written, err := cmd.written()
		if err != nil {
			// A pipeline that failed as a whole gives every command the same error:
			// it is reported once, as in MSet.
			whole = whole && errors.Is(err, execErr)
			errs = append(errs, err)
			continue
		}
		whole = false
		if _, setNX := cmd.(setNXCmd); setNX && !written {
			retry = append(retry, i)
			continue
		}
		done[i] = written
	}
	switch {
	case errs == nil:
		return retry, nil
	case whole:
		return retry, fmt.Errorf("goredisremote: compare-and-set: %w", execErr)
	}
	return retry, fmt.Errorf("goredisremote: compare-and-set: %w", itemErrors(len(items), errs))
}

// casCmd is one pipelined compare-and-set: a SET NX or an EVAL of the script.
type casCmd interface{ written() (bool, error) }

type setNXCmd struct{ *redis.BoolCmd }

func (c setNXCmd) written() (bool, error) { return c.Result() }

type evalCmd struct{ *redis.Cmd }

func (c evalCmd) written() (bool, error) {
	n, err := c.Int64()
	return n == 1, err
}
