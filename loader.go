package accelerator

import "context"

// Loader loads one key from the source of truth on a cache miss.
//
// Load returns found = false, with a nil error, when the source has no value for key:
// "not found" is an answer, which the cache can remember (see
// [Options.CacheNullValue]), not a failure. An error is a failure: nothing is cached.
//
// ctx carries the values of the caller that started the load but not its
// cancellation, and ends after [Options.LoaderTimeout]; Load should honour it.
type Loader[K comparable, V any] interface {
	Load(ctx context.Context, key K) (value V, found bool, err error)
}

// LoaderFunc adapts a function to [Loader].
type LoaderFunc[K comparable, V any] func(ctx context.Context, key K) (V, bool, error)

// Load calls f(ctx, key).
func (f LoaderFunc[K, V]) Load(ctx context.Context, key K) (V, bool, error) { return f(ctx, key) }

// MLoader loads many keys from the source of truth in one call, such as one query with
// WHERE id = ANY($1).
//
// MLoad returns the values it found. A key absent from the map was not found at the
// source; keys in the map that were not asked for are ignored. An error fails every
// key of the call, and nothing is cached.
type MLoader[K comparable, V any] interface {
	MLoad(ctx context.Context, keys []K) (map[K]V, error)
}

// MLoaderFunc adapts a function to [MLoader].
type MLoaderFunc[K comparable, V any] func(ctx context.Context, keys []K) (map[K]V, error)

// MLoad calls f(ctx, keys).
func (f MLoaderFunc[K, V]) MLoad(ctx context.Context, keys []K) (map[K]V, error) {
	return f(ctx, keys)
}
