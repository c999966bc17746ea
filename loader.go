package accelerator

import (
	"context"
	"time"
)

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

// Loaded is what an [EntryLoader] or an [EntryMLoader] returns for one key: the value,
// and how the cache keeps it.
type Loaded[V any] struct {
	// Value is the loaded value; ignored when Found is false.
	Value V
	// Found is false when the source has no value for the key (a negative entry, with
	// [Options.CacheNullValue]).
	Found bool
	// TTL, when not zero, is how long this entry stays fresh, in place of
	// [Options.RemoteTTL] ([Options.NullTTL] when Found is false) and, in
	// ModeLocal, of [Options.LocalTTL]; with a remote layer, L1 keeps the entry for
	// the shorter of TTL and LocalTTL, as it keeps what it reads from L2. It is kept
	// within [Options.MinLoaderTTL] and [Options.MaxLoaderTTL] (a negative TTL, a
	// validity already over, is raised to MinLoaderTTL). Jitter and refresh-ahead
	// apply to it as to the configured TTLs. Zero keeps the configured TTLs.
	TTL time.Duration
	// Tags are attached to the entry: [Cache.InvalidateTag] of any of them makes it
	// a miss on every instance.
	Tags []string
}

// EntryLoader is a [Loader] that also says how long each value stays fresh and which
// tags it carries. Set it as [Options.Loader] (or pass it to [Cache.GetOrLoad]): the
// cache calls LoadEntry, never Load, on a miss. Wrap a function with
// [EntryLoaderFunc].
type EntryLoader[K comparable, V any] interface {
	Loader[K, V]
	LoadEntry(ctx context.Context, key K) (Loaded[V], error)
}

// EntryLoaderFunc adapts a function to [EntryLoader].
type EntryLoaderFunc[K comparable, V any] func(ctx context.Context, key K) (Loaded[V], error)

// LoadEntry calls f(ctx, key).
func (f EntryLoaderFunc[K, V]) LoadEntry(ctx context.Context, key K) (Loaded[V], error) {
	return f(ctx, key)
}

// Load calls f(ctx, key) and returns its value, without its TTL and tags.
func (f EntryLoaderFunc[K, V]) Load(ctx context.Context, key K) (V, bool, error) {
	r, err := f(ctx, key)
	return r.Value, r.Found, err
}

// EntryMLoader is an [MLoader] that also says, key by key, how long each value stays
// fresh and which tags it carries. Set it as [Options.MLoader] (or pass it to
// [Cache.MGetOrLoad]): the cache calls MLoadEntries, never MLoad. A key absent from
// the map, or present with Found false, was not found at the source.
type EntryMLoader[K comparable, V any] interface {
	MLoader[K, V]
	MLoadEntries(ctx context.Context, keys []K) (map[K]Loaded[V], error)
}

// EntryMLoaderFunc adapts a function to [EntryMLoader].
type EntryMLoaderFunc[K comparable, V any] func(ctx context.Context, keys []K) (map[K]Loaded[V], error)

// MLoadEntries calls f(ctx, keys).
func (f EntryMLoaderFunc[K, V]) MLoadEntries(ctx context.Context, keys []K) (map[K]Loaded[V], error) {
	return f(ctx, keys)
}

// MLoad calls f(ctx, keys) and returns the values found, without their TTLs and tags.
func (f EntryMLoaderFunc[K, V]) MLoad(ctx context.Context, keys []K) (map[K]V, error) {
	m, err := f(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make(map[K]V, len(m))
	for k, r := range m {
		if r.Found {
			out[k] = r.Value
		}
	}
	return out, nil
}
