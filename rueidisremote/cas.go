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

// casScript is the compare-and-set fill, sent with EVAL (an ACL then needs +eval only,
// and a flushed script cache costs nothing).
var casScript = rueidis.NewLuaScriptNoSha(casscript.Source)

// CompareAndSet writes each item whose key still holds the expected value (by its
// SHA-1), with one script call per item sent in one pipelined call, and reports which
// were written.
func (r *Remote) CompareAndSet(ctx context.Context, items []backend.CASItem) ([]bool, error) {
	if len(items) == 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("rueidisremote: compare-and-set: %w", err)
	}
	execs := make([]rueidis.LuaExec, len(items))
	for i, it := range items {
		execs[i] = rueidis.LuaExec{
			Keys: []string{it.Key},
			Args: []string{it.Expect, string(it.Value), strconv.FormatInt(millis(it.TTL), 10)},
		}
	}
	done := make([]bool, len(items))
	var errs []error
	for i, resp := range casScript.ExecMulti(ctx, r.client, execs...) {
		n, err := resp.AsInt64()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		done[i] = n == 1
	}
	if errs != nil {
		return done, fmt.Errorf("rueidisremote: compare-and-set: %w", itemErrors(len(items), errs))
	}
	return done, nil
}
