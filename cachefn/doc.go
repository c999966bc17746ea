// Package cachefn wraps functions with cache behaviour: the Go counterpart of the
// cacheable, cacheable-batch, cache-put and cache-evict annotations of other
// languages, as typed higher-order functions over an [accelerator.Cache].
//
// Each wrapper is built once and returns a function of the wrapped function's own
// shape, which callers use in its place:
//
//	getUser := cachefn.Cacheable(users, db.GetUser)         // func(ctx, int64) (User, error)
//	getUsers := cachefn.CacheableBatch(users, db.GetUsers)  // func(ctx, []int64) (map[int64]User, error)
//	saveUser := cachefn.Put(users, userKey, db.SaveUser)    // func(ctx, User) (User, error)
//	deleteUser := cachefn.Evict(users, idKey, db.DeleteUser) // func(ctx, int64) error
//
// The wrappers:
//
//   - [Cacheable], [CacheableBy]: read through the cache; on a miss run the function
//     (once per key, however many callers miss it at the same moment) and cache its
//     result. A "not found" answer (an error matching [ErrNotFound], or the target of
//     [NotFound]) is cached as a negative entry when the cache has
//     [accelerator.Options.CacheNullValue].
//   - [CacheableBatch]: one MGet; the function runs once, for the keys that missed; what
//     it returns is cached, and the keys it leaves out are "not found".
//   - [Put]: run the function; on success write its result to the cache.
//   - [Evict], [EvictBatch] (and [EvictResult], [EvictBatchResult] for functions that
//     return a value too): run the function; on success delete the key(s). With
//     [EvictBefore] the key(s) are deleted before the function runs, whatever it returns.
//
// Keys are derived from arguments by key functions given at wrap time, never by
// reflection. There is no reflection anywhere, and a wrapped call allocates nothing
// beyond what the cache does: a [Cacheable] call answered by L1 allocates nothing at
// all.
//
// # Function errors and cache errors
//
// An error of the wrapped function is always returned to the caller, unchanged, and
// nothing is cached. A failure of the cache itself (a closed cache, Redis down) follows
// the wrapper's [Policy], set with [OnCacheError]:
//
//   - [Ignore] (the default): the cache failure never fails the call. The wrapper
//     reports it (counted in a [Stats], logged with [log/slog], passed to an [OnError]
//     hook) and goes on without the cache: a read runs the function, a write or a delete
//     is given up.
//   - [Propagate]: the wrapper reports it and returns it as a [*CacheError], so that the
//     caller can tell it from a function error with [errors.As]. Put and the evicts
//     return it after the function succeeded: the function's effect happened.
//
// NOTE: on the read-through path the cache itself absorbs L2 failures: a [Cacheable]
// whose L2 read fails loads from the function, and a failed write-back of a loaded
// value is counted in [accelerator.MetricsSnapshot.RemoteErrors] but not returned. The
// wrapper sees only what the cache returns; under [Propagate] the read wrappers look
// up the cache once without loading first, so that a failing L2 read is returned.
//
// # The function's context
//
// [Cacheable], [CacheableBy] and [CacheableBatch] run the function as the cache's
// loader: on a context that keeps the caller's values but not its cancellation,
// bounded by [accelerator.Options.LoaderTimeout], and shared by every caller of the
// key. Put and the evicts run the function on the caller's ctx, and write to the cache
// after it on a context that is not cancelled with the caller's: an effect that
// happened is reflected in the cache even if the caller has gone.
package cachefn
