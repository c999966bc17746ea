package goredisremote

import (
	"context"
	"fmt"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/internal/markscript"
)

var _ backend.MarkStore = (*Remote)(nil)

// ReadMarks runs the read script of internal/markscript (EVAL, as CompareAndSet does)
// on the keys of m, which share one hash slot: one command, which a cluster client or
// a Ring routes by its first key.
func (r *Remote) ReadMarks(ctx context.Context, m backend.Marks) (uint64, []uint64, error) {
	keys := markscript.Keys(m)
	if err := r.sameSlot(keys); err != nil {
		return 0, nil, fmt.Errorf("goredisremote: read marks: %w", err)
	}
	vals, err := r.client.Eval(ctx, markscript.Read, keys, markscript.TTLArg(m)).StringSlice()
	if err != nil {
		return 0, nil, fmt.Errorf("goredisremote: read marks: %w", err)
	}
	clock, marks, err := markscript.ParseRead(vals, len(m.Keys))
	if err != nil {
		return 0, nil, fmt.Errorf("goredisremote: read marks: %w", err)
	}
	return clock, marks, nil
}

// RaiseMarks runs the raise script of internal/markscript on the keys of m, in one
// command.
func (r *Remote) RaiseMarks(ctx context.Context, m backend.Marks) (uint64, error) {
	keys := markscript.Keys(m)
	if err := r.sameSlot(keys); err != nil {
		return 0, fmt.Errorf("goredisremote: raise marks: %w", err)
	}
	s, err := r.client.Eval(ctx, markscript.Raise, keys, markscript.TTLArg(m), markscript.FloorArg(m)).Text()
	if err != nil {
		return 0, fmt.Errorf("goredisremote: raise marks: %w", err)
	}
	g, err := markscript.ParseValue(s)
	if err != nil {
		return 0, fmt.Errorf("goredisremote: raise marks: %w", err)
	}
	return g, nil
}

// sameSlot refuses keys of several hash slots on a client that routes by slot (a
// Ring hashes hash tags alike, so the keys still meet on one shard).
func (r *Remote) sameSlot(keys []string) error {
	if r.kind == kindSingle {
		return nil
	}
	return markscript.SameSlot(keys)
}
