package accelerator

import "context"

// Op names a traced cache operation. The names are stable: they are the span names.
type Op string

// The traced operations.
const (
	OpGet    Op = "cache.get"
	OpMGet   Op = "cache.mget"
	OpSet    Op = "cache.set"
	OpMSet   Op = "cache.mset"
	OpDel    Op = "cache.del"
	OpMDel   Op = "cache.mdel"
	OpLoad   Op = "cache.load"
	OpMLoad  Op = "cache.mload"
	OpWarmup Op = "cache.warmup"
	// OpInvalidateTags is [Cache.InvalidateTags] (and InvalidateTag); its key count is
	// the number of tags.
	OpInvalidateTags Op = "cache.invalidate_tags"
	// OpClear is [Cache.Clear].
	OpClear Op = "cache.clear"
)

// Layer says which layer answered a read.
type Layer string

// The layers.
const (
	LayerNone   Layer = ""
	LayerLocal  Layer = "l1"
	LayerRemote Layer = "l2"
	LayerSource Layer = "source"
	LayerStale  Layer = "stale"
)

// Result says how an operation ended.
type Result string

// The results.
const (
	ResultHit      Result = "hit"
	ResultMiss     Result = "miss"
	ResultLoaded   Result = "loaded"
	ResultNotFound Result = "not_found"
	ResultOK       Result = "ok"
	ResultError    Result = "error"
)

// SpanStart describes an operation when it starts.
type SpanStart struct {
	// Op is the operation.
	Op Op
	// Area is the cache's area.
	Area string
	// Keys is the number of keys the operation was asked for.
	Keys int
}

// SpanEnd describes how an operation ended.
type SpanEnd struct {
	// Layer is the layer that answered a single-key read, or LayerNone.
	Layer Layer
	// Result is how it ended.
	Result Result
	// Found is the number of keys that came back with a value (batch reads and
	// loads).
	Found int
	// Err is the operation's error, if any.
	Err error
}

// Span is one traced operation in progress.
type Span interface {
	// End ends the span with the operation's outcome.
	End(SpanEnd)
}

// Tracer starts a span around each cache operation; the module
// github.com/accelerator-go/accelerator/acceleratorotel implements it over OpenTelemetry. The
// cache calls Start with the caller's context and uses the returned context for the
// rest of the operation, so that the spans of loads started on a miss are children of
// the read's span, and the loader sees it too.
//
// NOTE: reads answered by L1 are counted in the metrics but not traced: a span would
// cost many times the read. A Get is traced from the moment it misses L1. With no
// Tracer, the cost of tracing is one nil check.
//
// Spans carry the area, the operation, the key count, the layer and the result; they
// never carry keys or values.
type Tracer interface {
	Start(ctx context.Context, s SpanStart) (context.Context, Span)
}

// startSpan starts a span when a tracer is set.
func (c *cache[K, V]) startSpan(ctx context.Context, op Op, keys int) (context.Context, Span) {
	if c.cfg.Tracer == nil {
		return ctx, nil
	}
	return c.cfg.Tracer.Start(ctx, SpanStart{Op: op, Area: c.cfg.Area, Keys: keys})
}

// endSpan ends sp, if any.
func endSpan(sp Span, e SpanEnd) {
	if sp == nil {
		return
	}
	if e.Result == "" {
		e.Result = ResultOK
		if e.Err != nil {
			e.Result = ResultError
		}
	}
	sp.End(e)
}

// readEnd describes the end of a single-key read.
func readEnd(layer Layer, found bool, err error) SpanEnd {
	e := SpanEnd{Layer: layer, Err: err}
	switch {
	case err != nil:
		e.Result = ResultError
	case layer == LayerNone:
		e.Result = ResultMiss
	case layer == LayerSource && found:
		e.Result = ResultLoaded
	case layer == LayerSource:
		e.Result = ResultNotFound
	default:
		e.Result = ResultHit
	}
	if found {
		e.Found = 1
	}
	return e
}
