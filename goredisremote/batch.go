package goredisremote

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/internal/slot"
)

// errBadReply reports a reply whose shape does not match the command.
var errBadReply = errors.New("unexpected reply")

// MGet returns one slot per key, in order: the value, or nil when the key is absent.
//
// On a *redis.Client it sends one MGET. On a cluster it sends one MGET per hash slot
// among keys, all in one pipeline that reaches each node once; on a Ring, one GET per
// key in one pipeline. An empty keys costs no round trip. The values are views, as
// for [Remote.Get].
func (r *Remote) MGet(ctx context.Context, keys []string) ([][]byte, error) {
	if len(keys) == 0 {
		return [][]byte{}, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("goredisremote: mget: %w", err)
	}
	out := make([][]byte, len(keys))
	var err error
	switch {
	case r.kind == kindRing:
		err = r.mgetEach(ctx, keys, out)
	case r.kind == kindSingle || len(keys) == 1:
		err = fill(out, r.client.MGet(ctx, keys...), nil)
	default:
		err = r.mgetBySlot(ctx, keys, out)
	}
	if err != nil {
		return nil, fmt.Errorf("goredisremote: mget: %w", err)
	}
	return out, nil
}

// mgetBySlot sends one MGET per hash slot in one pipeline, or a single MGET when
// every key shares a slot.
func (r *Remote) mgetBySlot(ctx context.Context, keys []string, out [][]byte) error {
	g := slot.Group(keys)
	if g.Len() == 1 {
		return fill(out, r.client.MGet(ctx, keys...), nil)
	}
	pipe := r.client.Pipeline()
	cmds := make([]*redis.SliceCmd, g.Len())
	buf := make([]string, 0, len(keys))
	for i := range cmds {
		// MGet copies the keys into its arguments, so buf can be reused.
		buf = g.Keys(keys, i, buf[:0])
		cmds[i] = pipe.MGet(ctx, buf...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	for i, cmd := range cmds {
		if err := fill(out, cmd, g.Indices(i)); err != nil {
			return err
		}
	}
	return nil
}

// mgetEach sends one GET per key in one pipeline, which a Ring routes per shard.
func (r *Remote) mgetEach(ctx context.Context, keys []string, out [][]byte) error {
	pipe := r.client.Pipeline()
	cmds := make([]*redis.StringCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.Get(ctx, k)
	}
	// Exec reports redis.Nil for an absent key; the commands say which.
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	for i, cmd := range cmds {
		v, err := cmd.Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return err
		}
		out[i] = bytesView(v)
	}
	return nil
}

// fill stores the values of an MGET reply into out, at the positions idx, or at the
// positions 0..n when idx is nil.
func fill(out [][]byte, cmd *redis.SliceCmd, idx []int) error {
	vals, err := cmd.Result()
	if err != nil {
		return err
	}
	want := len(out)
	if idx != nil {
		want = len(idx)
	}
	if len(vals) != want {
		return fmt.Errorf("%w: %d values for %d keys", errBadReply, len(vals), want)
	}
	for j, v := range vals {
		pos := j
		if idx != nil {
			pos = idx[j]
		}
		switch v := v.(type) {
		case nil:
			// Absent: out[pos] stays nil.
		case string:
			out[pos] = bytesView(v)
		default:
			return fmt.Errorf("%w: %T in an MGET reply", errBadReply, v)
		}
	}
	return nil
}

// MSet stores every item, each with its own TTL, with one SET ... PX per item sent in
// one pipeline; on a cluster or a Ring, the client routes each SET to its node.
// Errors of single items are joined; an empty items costs no round trip.
func (r *Remote) MSet(ctx context.Context, items []backend.Item) error {
	if len(items) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("goredisremote: mset: %w", err)
	}
	if len(items) == 1 {
		it := items[0]
		if err := r.client.Process(ctx, r.setCmd(ctx, it.Key, it.Value, it.TTL)); err != nil {
			return fmt.Errorf("goredisremote: mset: %w", err)
		}
		return nil
	}
	pipe := r.client.Pipeline()
	cmds := make([]*redis.StatusCmd, len(items))
	for i, it := range items {
		cmds[i] = r.setCmd(ctx, it.Key, it.Value, it.TTL)
		_ = pipe.Process(ctx, cmds[i]) // queues the command; Exec sends it
	}
	_, execErr := pipe.Exec(ctx)
	if execErr == nil {
		return nil
	}
	// A pipeline that failed as a whole (a lost connection) gives every command the
	// same error: report it once instead of once per key.
	var errs []error
	whole := true
	for _, cmd := range cmds {
		err := cmd.Err()
		whole = whole && err != nil && errors.Is(err, execErr)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if whole || errs == nil {
		return fmt.Errorf("goredisremote: mset: %w", execErr)
	}
	return fmt.Errorf("goredisremote: mset: %w", itemErrors(len(items), errs))
}

// Del removes keys; absent keys are not an error. On a *redis.Client it sends one
// DEL; on a cluster, one DEL per hash slot, in one pipeline; on a Ring, one DEL per
// key, in one pipeline. An empty keys costs no round trip.
func (r *Remote) Del(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("goredisremote: del: %w", err)
	}
	var err error
	switch {
	case r.kind == kindRing && len(keys) > 1:
		err = r.delEach(ctx, keys)
	case r.kind == kindSingle || len(keys) == 1:
		err = r.client.Del(ctx, keys...).Err()
	default:
		err = r.delBySlot(ctx, keys)
	}
	if err != nil {
		return fmt.Errorf("goredisremote: del: %w", err)
	}
	return nil
}

// delBySlot sends one DEL per hash slot in one pipeline, or a single DEL when every
// key shares a slot.
func (r *Remote) delBySlot(ctx context.Context, keys []string) error {
	g := slot.Group(keys)
	if g.Len() == 1 {
		return r.client.Del(ctx, keys...).Err()
	}
	pipe := r.client.Pipeline()
	buf := make([]string, 0, len(keys))
	for i := range g.Len() {
		buf = g.Keys(keys, i, buf[:0])
		pipe.Del(ctx, buf...)
	}
	_, err := pipe.Exec(ctx)
	return err
}

// delEach sends one DEL per key in one pipeline, which a Ring routes per shard.
func (r *Remote) delEach(ctx context.Context, keys []string) error {
	pipe := r.client.Pipeline()
	for _, k := range keys {
		pipe.Del(ctx, k)
	}
	_, err := pipe.Exec(ctx)
	return err
}
