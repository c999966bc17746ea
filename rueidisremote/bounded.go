package rueidisremote

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/rueidis"

	"github.com/accelerator-go/accelerator/backend"
)

var _ backend.BoundedReader = (*Remote)(nil)

// errBadLimit reports a bounded read with a limit that is not positive.
var errBadLimit = errors.New("limit must be positive")

// GetBounded returns the value stored at key, cut to its first limit+1 bytes, or nil
// and no error when key is absent or holds an empty value. It sends one
// GETRANGE key 0 limit, which the server answers with at most limit+1 bytes, so the
// Remote never receives more than that of a value, however large.
func (r *Remote) GetBounded(ctx context.Context, key string, limit int) ([]byte, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("rueidisremote: get: %w", errBadLimit)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("rueidisremote: get: %w", err)
	}
	v, err := r.client.Do(ctx, r.rangeCmd(key, limit)).AsBytes()
	if err != nil {
		return nil, fmt.Errorf("rueidisremote: get: %w", err)
	}
	if len(v) == 0 {
		return nil, nil
	}
	return v, nil
}

// MGetBounded returns one slot per key, in order: the value cut as by
// [Remote.GetBounded], or nil when the key is absent, empty or holds no string (as
// MGET answers). It sends one GETRANGE
// per key, all in one pipelined call that reaches each node once; an empty keys costs
// no round trip.
func (r *Remote) MGetBounded(ctx context.Context, keys []string, limit int) ([][]byte, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("rueidisremote: mget: %w", errBadLimit)
	}
	if len(keys) == 0 {
		return [][]byte{}, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("rueidisremote: mget: %w", err)
	}
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		cmds[i] = r.rangeCmd(k, limit)
	}
	out := make([][]byte, len(keys))
	for i, resp := range r.client.DoMulti(ctx, cmds...) {
		v, err := resp.AsBytes()
		if wrongType(err) {
			continue // as MGET does: a key that holds no string reads as absent
		}
		if err != nil {
			return nil, fmt.Errorf("rueidisremote: mget: %w", err)
		}
		if len(v) > 0 {
			out[i] = v
		}
	}
	return out, nil
}

// wrongType reports whether err is Redis' WRONGTYPE reply: the key holds a list, a
// hash, ... rather than a string.
func wrongType(err error) bool {
	re, ok := rueidis.IsRedisErr(err)
	return ok && strings.HasPrefix(re.Error(), "WRONGTYPE")
}

// rangeCmd builds GETRANGE key 0 limit: the first limit+1 bytes of the value.
func (r *Remote) rangeCmd(key string, limit int) rueidis.Completed {
	return r.client.B().Getrange().Key(key).Start(0).End(int64(limit)).Build()
}
