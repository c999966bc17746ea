// Package acceleratorotel connects accelerator caches to OpenTelemetry: spans for the
// cache operations ([NewTracer]), metric instruments that read the cache counters
// ([RegisterMetrics]), and a one-call OTLP export setup ([SetupOTLP]).
//
// It is a module of its own so that the core module does not depend on the
// OpenTelemetry SDK:
//
//	go get github.com/accelerator-go/accelerator/acceleratorotel
//
// Spans and metric attributes carry the cache's area, the operation, the number of
// keys, the layer that answered and the result; never keys or values.
package acceleratorotel

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/accelerator-go/accelerator"
)

// ScopeName is the instrumentation scope of the tracer and the meter this package
// creates.
const ScopeName = "github.com/accelerator-go/accelerator/acceleratorotel"

// The span attributes.
const (
	// AttrArea is the cache's area.
	AttrArea = attribute.Key("accelerator.area")
	// AttrOp is the operation: the span name, such as "cache.get".
	AttrOp = attribute.Key("accelerator.op")
	// AttrKeys is the number of keys the operation was asked for.
	AttrKeys = attribute.Key("accelerator.keys")
	// AttrLayer is the layer that answered a single-key read: "l2", "source" or
	// "stale" ("l1" hits are not traced). Absent when no layer answered.
	AttrLayer = attribute.Key("accelerator.layer")
	// AttrResult is how the operation ended: "hit", "miss", "loaded", "not_found",
	// "ok" or "error".
	AttrResult = attribute.Key("accelerator.result")
	// AttrFound is the number of keys that came back with a value (reads and loads).
	AttrFound = attribute.Key("accelerator.found")
	// AttrErrorKind is the [accelerator.ErrorKind] of a failed operation.
	AttrErrorKind = attribute.Key("accelerator.error_kind")
)

// TracerOption configures [NewTracer].
type TracerOption func(*tracerOptions)

type tracerOptions struct {
	errorMessages bool
}

// WithErrorMessages records the text of an operation's error on its span (as the
// status description and an exception event). By default a failed span carries only
// the error's kind ([AttrErrorKind], and as the status description).
//
// WARNING: error texts may hold keys: a [accelerator.BatchError] names the keys that
// failed, and a loader's errors say what the loader put in them.
func WithErrorMessages() TracerOption {
	return func(o *tracerOptions) { o.errorMessages = true }
}

// NewTracer returns an [accelerator.Tracer] that records each traced cache operation
// as a span of tp, named after the operation (cache.get, cache.mget, cache.set,
// cache.mset, cache.del, cache.mdel, cache.load, cache.mload, cache.warmup,
// cache.invalidate_tags, cache.clear), with the attributes above. Loads started by a read are children of its span. Set it as
// [accelerator.Options.Tracer].
//
// Reads answered by L1 are not traced (see [accelerator.Tracer]); they cost nothing
// more with this tracer installed.
func NewTracer(tp trace.TracerProvider, opts ...TracerOption) accelerator.Tracer {
	t := &tracer{t: tp.Tracer(ScopeName)}
	for _, o := range opts {
		o(&t.opts)
	}
	return t
}

type tracer struct {
	t    trace.Tracer
	opts tracerOptions
}

func (t *tracer) Start(ctx context.Context, s accelerator.SpanStart) (context.Context, accelerator.Span) {
	ctx, sp := t.t.Start(ctx, string(s.Op),
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(
			AttrArea.String(s.Area),
			AttrOp.String(string(s.Op)),
			AttrKeys.Int(s.Keys),
		))
	if !sp.IsRecording() {
		// A sampled-out span ends as a no-op; the context still carries it, so that
		// the spans below it are not sampled either.
		return ctx, noSpan{}
	}
	return ctx, &span{sp: sp, opts: &t.opts}
}

type span struct {
	sp   trace.Span
	opts *tracerOptions
}

func (s *span) End(e accelerator.SpanEnd) {
	attrs := make([]attribute.KeyValue, 0, 4)
	attrs = append(attrs, AttrResult.String(string(e.Result)), AttrFound.Int(e.Found))
	if e.Layer != accelerator.LayerNone {
		attrs = append(attrs, AttrLayer.String(string(e.Layer)))
	}
	if e.Err != nil {
		kind := accelerator.ErrorKind(e.Err)
		attrs = append(attrs, AttrErrorKind.String(kind))
		desc := kind
		if s.opts.errorMessages {
			desc = e.Err.Error()
			s.sp.RecordError(e.Err)
		}
		s.sp.SetStatus(codes.Error, desc)
	}
	s.sp.SetAttributes(attrs...)
	s.sp.End()
}

type noSpan struct{}

func (noSpan) End(accelerator.SpanEnd) {}
