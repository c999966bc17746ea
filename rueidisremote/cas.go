package rueidisremote

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/rueidis"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/internal/casscript"
)

var _ backend.CompareAndSetter = (*Remote)(nil)

// CompareAndSet writes each item whose key still holds the expected value (by its
// SHA-1), all in one pipelined call, and reports which were written. An item that
// expects the key absent is first a SET … PX … NX, which Redis runs in a few
// microseconds; the others, and an absent-expecting item whose SET NX found the key
// taken, run the compare-and-set script (EVAL), which also counts an empty value as
// absent.
func (r *Remote) CompareAndSet(ctx context.Context, items []backend.CASItem) ([]bool, error) {
	if len(items) == 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("rueidisremote: compare-and-set: %w", err)
	}
	done := make([]bool, len(items))
	all := make([]int, len(items))
	for i := range items {
		all[i] = i
	}
	var errs []error
	retry := r.casRound(ctx, items, all, true, done, &errs)
	r.casRound(ctx, items, retry, false, done, &errs)
	if errs != nil {
		return done, fmt.Errorf("rueidisremote: compare-and-set: %w", itemErrors(len(items), errs))
	}
	return done, nil
}

// casRound sends the items of idx in one pipeline, as SET NX where fast and the item
// expects the key absent, as the script otherwise; it records what was written in
// done and returns the SET NX items that found the key taken.
func (r *Remote) casRound(ctx context.Context, items []backend.CASItem, idx []int, fast bool, done []bool, errs *[]error) (retry []int) {
	if len(idx) == 0 {
		return nil
	}
	cmds := make(rueidis.Commands, len(idx))
	for j, i := range idx {
		it := items[i]
		ttl := millis(it.TTL)
		if fast && it.Expect == "" {
			cmds[j] = r.client.B().Set().Key(it.Key).Value(rueidis.BinaryString(it.Value)).Nx().PxMilliseconds(ttl).Build()
			continue
		}
		cmds[j] = r.client.B().Eval().Script(casscript.Source).Numkeys(1).Key(it.Key).
			Arg(it.Expect, rueidis.BinaryString(it.Value), strconv.FormatInt(ttl, 10)).Build()
	}
	for j, resp := range r.client.DoMulti(ctx, cmds...) {
		i := idx[j]
		setNX := fast && items[i].Expect == ""
		written, err := casWritten(resp, setNX)
		switch {
		case err != nil:
			*errs = append(*errs, err)
		case setNX && !written:
			retry = append(retry, i)
		default:
			done[i] = written
		}
	}
	return retry
}

// casWritten reads the reply of one compare-and-set: OK or nil for a SET NX, 1 or 0
// for the script.
func casWritten(resp rueidis.RedisResult, setNX bool) (bool, error) {
	if !setNX {
		n, err := resp.AsInt64()
		return n == 1, err
	}
	if err := resp.Error(); err != nil {
		if rueidis.IsRedisNil(err) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}
