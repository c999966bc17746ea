package accelerator

import (
	"context"
	"errors"
	"fmt"
)

var (
	// ErrClosed is returned by every method of a cache after [Cache.Close].
	ErrClosed = errors.New("accelerator: cache is closed")
	// ErrLoaderTimeout is returned when a load from the source of truth did not finish
	// within [Options.LoaderTimeout]. The late result of such a load is discarded.
	ErrLoaderTimeout = errors.New("accelerator: loader timed out")
	// ErrNoLoader is returned by [Cache.Warmup] when the cache has neither a Loader
	// nor an MLoader.
	ErrNoLoader = errors.New("accelerator: cache has no loader")
	// ErrCircuitOpen is the error of a remote call that the circuit breaker rejected
	// without sending it: the remote failed repeatedly and is given a backoff before
	// it is probed again. Reads go on to the loader; writes return it.
	ErrCircuitOpen = errors.New("accelerator: remote circuit breaker is open")
	// ErrRemoteTimeout is wrapped in the error of a remote call that did not finish
	// within [Options.RemoteTimeout].
	ErrRemoteTimeout = errors.New("accelerator: remote call timed out")
	// ErrNilLoader is returned by [Cache.GetOrLoad] and [Cache.MGetOrLoad] when they
	// are given a nil loader.
	ErrNilLoader = errors.New("accelerator: nil loader")
	// ErrValueTooLarge is wrapped in the error of a [Cache.Set] or [Cache.MSet] with a
	// value larger than [Options.MaxValueSize] once encoded: nothing of the write is
	// stored, in either layer.
	ErrValueTooLarge = errors.New("accelerator: value larger than MaxValueSize")
	// ErrTagsUnsupported is returned by [Cache.InvalidateTags], [Cache.Clear] and a
	// write with tags when the cache's L2 backend does not implement
	// [backend.MarkStore], which keeps the invalidation marks (both Redis backends
	// do). A loaded value that carries tags is then returned but not cached.
	ErrTagsUnsupported = errors.New("accelerator: the remote backend cannot keep invalidation marks (backend.MarkStore): no tags, no Clear")
)

// PanicError is the error that callers waiting on a shared load receive when the
// loader panicked. The caller that started the load re-panics with it instead: a
// panicking loader is a bug, and nothing is cached.
type PanicError struct {
	// Value is what the loader panicked with.
	Value any
	// Stack is the loader goroutine's stack at the time of the panic.
	Stack []byte
}

// Error returns the panic value and the loader's stack.
func (e *PanicError) Error() string {
	return fmt.Sprintf("accelerator: loader panicked: %v\n\n%s", e.Value, e.Stack)
}

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// KeyError reports the failure of one key of a batch load without an MLoader, where
// each key is loaded on its own. A [BatchError] joins them.
type KeyError[K comparable] struct {
	// Key is the key that failed.
	Key K
	// Err is why.
	Err error
}

// Error returns the reason, without the key: keys are often e-mail addresses or
// tokens, and error texts end up in logs. Read the key from the Key field.
func (e *KeyError[K]) Error() string {
	return "accelerator: load of one key failed: " + errText(e.Err)
}

// Unwrap returns the reason.
func (e *KeyError[K]) Unwrap() error { return e.Err }

// BatchError is returned by [Cache.MGet] (and [Cache.MGetOrLoad], [Cache.Warmup]) when
// loading some keys failed and no stale copy could stand in for them. The keys that
// were found are still returned.
type BatchError[K comparable] struct {
	// Keys are the keys that got no value because their load failed.
	Keys []K
	// Err is why: the MLoad error, or the [KeyError]s of the failed Loads joined with
	// [errors.Join].
	Err error
}

// Error returns how many keys failed and why, without the keys: read them from the
// Keys field.
func (e *BatchError[K]) Error() string {
	return fmt.Sprintf("accelerator: loading %d key(s) failed: %s", len(e.Keys), errText(e.Err))
}

// errText is err.Error(), or "<nil>" for a nil error.
func errText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// Unwrap returns Err.
func (e *BatchError[K]) Unwrap() error { return e.Err }

// errEncodeValue is wrapped in the error of a value the codec could not encode.
var errEncodeValue = errors.New("accelerator: encode value")

var errShortCAS = errors.New("backend returned fewer compare-and-set results than items")

// The error kinds [ErrorKind] returns.
const (
	ErrorKindTimeout     = "timeout"
	ErrorKindCircuitOpen = "circuit_open"
	ErrorKindCanceled    = "canceled"
	ErrorKindClosed      = "closed"
	ErrorKindDecode      = "decode"
	ErrorKindEncode      = "encode"
	ErrorKindPanic       = "panic"
	ErrorKindRemote      = "remote"
	ErrorKindLoader      = "loader"
	// ErrorKindBroadcast is the kind of [ErrNotBroadcast]: the write reached L2 but
	// its invalidation message was not published.
	ErrorKindBroadcast = "broadcast"
	// ErrorKindUsage is the kind of a call the cache refused as a misuse:
	// [ErrNilLoader], [ErrNoLoader], [ErrTagsUnsupported].
	ErrorKindUsage = "usage"
	// ErrorKindTooLarge is the kind of [ErrValueTooLarge]: a write refused because a
	// value is larger than MaxValueSize once encoded.
	ErrorKindTooLarge = "too_large"
)

// ErrorKind returns a short, stable label for an error that a [Cache] returned or
// logged, for log records, span attributes and dashboards:
//
//   - "" for nil;
//   - "panic": a [*PanicError];
//   - "closed": [ErrClosed];
//   - "usage": [ErrNilLoader], [ErrNoLoader], [ErrTagsUnsupported];
//   - "too_large": [ErrValueTooLarge];
//   - "broadcast": [ErrNotBroadcast], whatever made the publish fail;
//   - "circuit_open": [ErrCircuitOpen], or the breaker opening;
//   - "canceled": the caller's context was cancelled;
//   - "timeout": [ErrLoaderTimeout], [ErrRemoteTimeout] or a context deadline;
//   - "decode": a remote value that could not be decoded;
//   - "encode": a value the codec could not encode;
//   - "remote": any other failure of a remote call;
//   - "loader": anything else. A cache passes the errors of its loaders through
//     unchanged, so this is what they get.
//
// The kind of a [*BatchError] or a [*KeyError] is the kind of the error it wraps.
func ErrorKind(err error) string {
	var pe *PanicError
	var re *remoteError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &pe):
		return ErrorKindPanic
	case errors.Is(err, ErrClosed):
		return ErrorKindClosed
	case errors.Is(err, ErrNilLoader), errors.Is(err, ErrNoLoader), errors.Is(err, ErrTagsUnsupported):
		return ErrorKindUsage
	case errors.Is(err, ErrValueTooLarge):
		return ErrorKindTooLarge
	case errors.Is(err, ErrNotBroadcast):
		return ErrorKindBroadcast
	case errors.Is(err, ErrCircuitOpen), errors.Is(err, errBreakerOpened):
		return ErrorKindCircuitOpen
	case errors.Is(err, context.Canceled):
		return ErrorKindCanceled
	case errors.Is(err, ErrLoaderTimeout), errors.Is(err, ErrRemoteTimeout), errors.Is(err, context.DeadlineExceeded):
		return ErrorKindTimeout
	case errors.Is(err, errCorruptValue):
		return ErrorKindDecode
	case errors.Is(err, errEncodeValue):
		return ErrorKindEncode
	case errors.As(err, &re), errors.Is(err, errShortCAS):
		return ErrorKindRemote
	}
	return ErrorKindLoader
}

// logErrorKind is [ErrorKind] for a failure that the logger records under kind:
// only the "load" failures are the loaders'; the failures of the invalidation
// transport are "broadcast", and the others that ErrorKind cannot place are
// failures of the remote backend.
func logErrorKind(kind string, err error) string {
	k := ErrorKind(err)
	switch {
	case k != ErrorKindLoader && k != ErrorKindRemote:
		return k
	case kind == "publish" || kind == "subscribe":
		return ErrorKindBroadcast
	case kind != "load":
		return ErrorKindRemote
	}
	return k
}
