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
	// ErrNilLoader is returned by [Cache.GetOrLoad] and [Cache.MGetOrLoad] when they
	// are given a nil loader.
	ErrNilLoader = errors.New("accelerator: nil loader")
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

// KeyError reports the failure of one key of a batch operation. Batch methods join
// one KeyError per failed key with [errors.Join].
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
