package rueidisremote

import (
	"context"
	"fmt"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/internal/markscript"
)

var _ backend.MarkStore = (*Remote)(nil)

// ReadMarks runs the read script of internal/markscript (EVAL) on the keys of m, which
// share one hash slot, so it is one command on any node of a cluster.
func (r *Remote) ReadMarks(ctx context.Context, m backend.Marks) (uint64, []uint64, error) {
	keys := markscript.Keys(m)
	if err := markscript.SameSlot(keys); err != nil && r.cluster {
		return 0, nil, fmt.Errorf("rueidisremote: read marks: %w", err)
	}
	cmd := r.client.B().Eval().Script(markscript.Read).Numkeys(int64(len(keys))).Key(keys...).
		Arg(markscript.TTLArg(m)).Build()
	vals, err := r.client.Do(ctx, cmd).AsStrSlice()
	if err != nil {
		return 0, nil, fmt.Errorf("rueidisremote: read marks: %w", err)
	}
	clock, marks, err := markscript.ParseRead(vals, len(m.Keys))
	if err != nil {
		return 0, nil, fmt.Errorf("rueidisremote: read marks: %w", err)
	}
	return clock, marks, nil
}

// RaiseMarks runs the raise script of internal/markscript (EVAL) on the keys of m, in
// one command.
func (r *Remote) RaiseMarks(ctx context.Context, m backend.Marks) (uint64, error) {
	keys := markscript.Keys(m)
	if err := markscript.SameSlot(keys); err != nil && r.cluster {
		return 0, fmt.Errorf("rueidisremote: raise marks: %w", err)
	}
	cmd := r.client.B().Eval().Script(markscript.Raise).Numkeys(int64(len(keys))).Key(keys...).
		Arg(markscript.TTLArg(m), markscript.FloorArg(m)).Build()
	s, err := r.client.Do(ctx, cmd).ToString()
	if err != nil {
		return 0, fmt.Errorf("rueidisremote: raise marks: %w", err)
	}
	g, err := markscript.ParseValue(s)
	if err != nil {
		return 0, fmt.Errorf("rueidisremote: raise marks: %w", err)
	}
	return g, nil
}
