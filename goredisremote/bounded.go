package goredisremote

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

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
		return nil, fmt.Errorf("goredisremote: get: %w", errBadLimit)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("goredisremote: get: %w", err)
	}
	v, err := r.client.GetRange(ctx, key, 0, int64(limit)).Result()
	if err != nil {
		return nil, fmt.Errorf("goredisremote: get: %w", err)
	}
	if len(v) == 0 {
		return nil, nil
	}
	return bytesView(v), nil
}

// MGetBounded returns one slot per key, in order: the value cut as by
// [Remote.GetBounded], or nil when the key is absent, empty or holds no string (as
// MGET answers). It sends one GETRANGE
// per key in one pipeline, which a cluster client or a Ring routes per node; an empty
// keys costs no round trip.
func (r *Remote) MGetBounded(ctx context.Context, keys []string, limit int) ([][]byte, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("goredisremote: mget: %w", errBadLimit)
	}
	if len(keys) == 0 {
		return [][]byte{}, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("goredisremote: mget: %w", err)
	}
	pipe := r.client.Pipeline()
	cmds := make([]*redis.StringCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.GetRange(ctx, k, 0, int64(limit))
	}
	_, _ = pipe.Exec(ctx) // the first error of the commands; each is checked below
	out := make([][]byte, len(keys))
	for i, cmd := range cmds {
		v, err := cmd.Result()
		if wrongType(err) {
			continue // as MGET does: a key that holds no string reads as absent
		}
		if err != nil {
			return nil, fmt.Errorf("goredisremote: mget: %w", err)
		}
		if len(v) > 0 {
			out[i] = bytesView(v)
		}
	}
	return out, nil
}

// wrongType reports whether err is Redis' WRONGTYPE reply: the key holds a list, a
// hash, ... rather than a string.
func wrongType(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && strings.HasPrefix(re.Error(), "WRONGTYPE")
}
