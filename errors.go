package accelerator

import (
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

// Error returns the key and the reason.
func (e *KeyError[K]) Error() string {
	return fmt.Sprintf("accelerator: key %v: %v", e.Key, e.Err)
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

// Error returns how many keys failed and why.
func (e *BatchError[K]) Error() string {
	return fmt.Sprintf("accelerator: loading %d key(s) failed: %v", len(e.Keys), e.Err)
}

// Unwrap returns Err.
func (e *BatchError[K]) Unwrap() error { return e.Err }

// errEncodeValue is wrapped in the error of a value the codec could not encode.
var errEncodeValue = errors.New("accelerator: encode value")

var errShortCAS = errors.New("backend returned fewer compare-and-set results than items")
