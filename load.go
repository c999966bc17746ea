package accelerator

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/accelerator-go/accelerator/internal/envelope"
	"github.com/accelerator-go/accelerator/internal/singleflight"
)

// loadKey loads key through the load group (or alone, without penetration protection):
// the load runs detached from ctx, bounded by the loader timeout, and its fill is
// written before any reader returns. g is what the fill must not overtake. shared
// reports that the caller joined a load started by another.
func (c *cache[K, V]) loadKey(ctx context.Context, key K, src sources[K, V], g fillGuard) (r loaded[V], err error, shared bool) {
	job := &loadJob[K, V]{c: c, key: key, src: src, g: g, recheck: true}
	if c.cfg.DisablePenetrationProtection {
		r, err = singleflight.Run(ctx, c.loadCfg, job)
		return r, err, false
	}
	r, err, shared = c.loads.Do(ctx, key, job)
	if shared {
		c.metrics.sharedLoads.Add(1)
	}
	return r, err, shared
}

// loadJob is the load of one key, with its fill.
type loadJob[K comparable, V any] struct {
	c   *cache[K, V]
	key K
	src sources[K, V]
	g   fillGuard
	// recheck makes the load look at L1 again first: a reader that missed while
	// another load of the key was in flight, and reached the group just after it
	// ended, finds the value that load installed instead of loading again.
	recheck bool
	// refresh marks a refresh-ahead reload, whose outcome is recorded.
	refresh bool
	began   time.Time
}

func (j *loadJob[K, V]) Load(ctx context.Context) (loaded[V], error) {
	j.began = time.Now()
	c := j.c
	if r, ok := c.recheckLocal(j.key, j.recheck); ok {
		return r, nil
	}
	if c.cas != nil && !j.g.seen.known {
		j.g.seen = c.lookBeforeLoad(ctx, j.key)
	}
	// Stamped before the source is read: an invalidation that comes while it is read
	// makes the result a miss.
	stamp := c.marks.stamp(ctx)
	r, err := c.callLoader(ctx, j.key, j.src)
	r.stamp = stamp
	return r, err
}

func (j *loadJob[K, V]) Commit(ctx context.Context, r loaded[V], err error) (loaded[V], error) {
	c := j.c
	c.loadEnded("load", err, time.Since(j.began))
	if err == nil && !r.cached {
		c.fill(ctx, []fillItem[K, V]{{key: j.key, r: r, g: j.g}})
	}
	if j.refresh {
		c.refreshEnded(j.key, err)
	}
	return r, err
}

func (j *loadJob[K, V]) TimedOut() {
	j.c.loadTimedOut("load")
	if j.refresh {
		j.c.refreshEnded(j.key, ErrLoaderTimeout)
	}
}

// loadEnded counts and logs the end of a load that returned in time.
func (c *cache[K, V]) loadEnded(op string, err error, took time.Duration) {
	if err == nil {
		return
	}
	if errors.Is(err, ErrLoaderTimeout) {
		c.metrics.loadTimeouts.Add(1)
	}
	c.log.failure("load", op, err, took)
}

// loadTimedOut counts and logs a load that outlived the loader timeout.
func (c *cache[K, V]) loadTimedOut(op string) {
	c.metrics.loadTimeouts.Add(1)
	c.log.failure("load", op, ErrLoaderTimeout, c.cfg.LoaderTimeout)
}

// mloadJob is one MLoad call for the missing keys of a batch, with their fill.
type mloadJob[K comparable, V any] struct {
	c      *cache[K, V]
	keys   []K
	guards []fillGuard
	many   MLoader[K, V]
	began  time.Time
	stamp  uint64 // the area's invalidation clock before the source was read
}

func (j *mloadJob[K, V]) Load(ctx context.Context) (map[K]V, error) {
	j.began = time.Now()
	j.stamp = j.c.marks.stamp(ctx)
	return j.c.callMLoader(ctx, j.keys, j.many)
}

// Commit keeps the values of the keys asked for, counts them, and fills them (and
// negative entries for the others, with CacheNullValue) with one L2 round trip.
func (j *mloadJob[K, V]) Commit(ctx context.Context, m map[K]V, err error) (map[K]V, error) {
	c := j.c
	c.loadEnded("mload", err, time.Since(j.began))
	if err != nil {
		return nil, err
	}
	found := make(map[K]V, len(m))
	items := make([]fillItem[K, V], len(j.keys))
	for i, k := range j.keys {
		v, ok := m[k]
		items[i] = fillItem[K, V]{key: k, r: loaded[V]{value: v, found: ok, stamp: j.stamp}, g: j.guards[i]}
		c.countFound(ok)
		if ok {
			found[k] = v
		}
	}
	c.fill(ctx, items)
	return found, nil
}

func (j *mloadJob[K, V]) TimedOut() { j.c.loadTimedOut("mload") }

// loadMany loads keys (no duplicates; guards[i] goes with keys[i]) from the source,
// fills them and adds those found to into: with one MLoad call, or with Loads,
// LoadConcurrency at a time, without an MLoader. It returns the keys whose load failed
// and why. A panic of the loader is re-raised here when this call started the load
// that panicked.
func (c *cache[K, V]) loadMany(ctx context.Context, keys []K, guards []fillGuard, into map[K]V, src sources[K, V]) (failed []K, err error) {
	if src.many == nil {
		return c.loadEach(ctx, keys, guards, into, src)
	}
	c.metrics.loadedKeys.Add(uint64(len(keys)))
	found, err := singleflight.Run(ctx, c.loadCfg, &mloadJob[K, V]{c: c, keys: keys, guards: guards, many: src.many})
	if pe, ok := err.(*PanicError); ok {
		panic(pe)
	}
	if err != nil {
		return keys, err
	}
	for k, v := range found {
		into[k] = v
	}
	return nil, nil
}

// loadEach loads keys one by one through the single-key path, LoadConcurrency at a
// time, and joins the failures as *KeyError.
func (c *cache[K, V]) loadEach(ctx context.Context, keys []K, guards []fillGuard, into map[K]V, src sources[K, V]) ([]K, error) {
	type result struct {
		r      loaded[V]
		err    error
		shared bool
	}
	results := make([]result, len(keys))
	sem := make(chan struct{}, c.cfg.LoadConcurrency)
	var wg sync.WaitGroup
	for i, k := range keys {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r, err, shared := c.loadKey(ctx, k, src, guards[i])
			results[i] = result{r: r, err: err, shared: shared}
		})
	}
	wg.Wait()
	var failed []K
	var errs []error
	for i, res := range results {
		if pe, ok := res.err.(*PanicError); ok && !res.shared {
			panic(pe)
		}
		if res.err != nil {
			failed = append(failed, keys[i])
			errs = append(errs, &KeyError[K]{Key: keys[i], Err: res.err})
			continue
		}
		if res.r.found {
			into[keys[i]] = res.r.value
		}
	}
	return failed, errors.Join(errs...)
}

// callLoader runs the single-key loader (or the batch loader with one key), turning a
// panic into a *PanicError and a timeout into an error wrapping ErrLoaderTimeout.
func (c *cache[K, V]) callLoader(ctx context.Context, key K, src sources[K, V]) (r loaded[V], err error) {
	c.metrics.loadedKeys.Add(1)
	defer c.recoverLoad(&err)
	if src.one == nil {
		m, err := c.callMLoader(ctx, []K{key}, src.many)
		if err != nil {
			return r, err
		}
		r.value, r.found = m[key]
		c.countFound(r.found)
		return r, nil
	}
	var sp Span
	ctx, sp = c.startSpan(ctx, OpLoad, 1)
	defer func() { endSpan(sp, readEnd(LayerSource, r.found, err)) }()
	c.metrics.loads.Add(1)
	start := time.Now()
	if el, ok := src.one.(EntryLoader[K, V]); ok {
		var res Loaded[V]
		res, err = el.LoadEntry(ctx, key)
		r = loaded[V]{value: res.Value, found: res.Found, ttl: res.TTL, tags: envelope.NormalizeTags(res.Tags)}
	} else {
		r.value, r.found, err = src.one.Load(ctx, key)
	}
	c.recordLoadCost(time.Since(start))
	if err != nil {
		return loaded[V]{}, c.loadFailed(ctx, err)
	}
	c.countFound(r.found)
	if !r.found {
		r.value = *new(V)
	}
	return r, nil
}

// callMLoader runs the batch loader; it counts the call but not the keys.
func (c *cache[K, V]) callMLoader(ctx context.Context, keys []K, ml MLoader[K, V]) (m map[K]V, err error) {
	ctx, sp := c.startSpan(ctx, OpMLoad, len(keys))
	defer func() { endSpan(sp, SpanEnd{Layer: LayerSource, Found: len(m), Err: err}) }()
	defer c.recoverLoad(&err)
	c.metrics.mloads.Add(1)
	start := time.Now()
	m, err = ml.MLoad(ctx, keys)
	c.recordLoadCost(time.Since(start))
	if err != nil {
		return nil, c.loadFailed(ctx, err)
	}
	return m, nil
}

func (c *cache[K, V]) countFound(found bool) {
	if found {
		c.metrics.loadFound.Add(1)
		return
	}
	c.metrics.loadNotFound.Add(1)
}

func (c *cache[K, V]) loadFailed(ctx context.Context, err error) error {
	c.metrics.loadErrors.Add(1)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, ErrLoaderTimeout) {
		return fmt.Errorf("%w: %w", ErrLoaderTimeout, err)
	}
	return err
}

// recoverLoad turns a panic of the loader into a *PanicError, and counts it.
func (c *cache[K, V]) recoverLoad(errp *error) {
	v := recover()
	if v == nil {
		return
	}
	c.metrics.loadErrors.Add(1)
	c.metrics.loadPanics.Add(1)
	*errp = &PanicError{Value: v, Stack: debug.Stack()}
}

// recheckLocal returns key's fresh L1 entry, if there is one now.
func (c *cache[K, V]) recheckLocal(key K, recheck bool) (loaded[V], bool) {
	if !recheck || c.local == nil {
		return loaded[V]{}, false
	}
	e, ok := c.local.Get(key)
	// A tagged entry is left to the load: checking its marks is the reader's work.
	if !ok || e.Epoch != c.epoch.Load() || e.ExpireAt <= c.clock.NowNano() || e.Tags != nil {
		return loaded[V]{}, false
	}
	return loaded[V]{value: e.Value, found: !e.Null, cached: true}, true
}

// lookBeforeLoad reads key's L2 value before a load that did not read it (a refresh),
// so that the fill can compare-and-set against it.
func (c *cache[K, V]) lookBeforeLoad(ctx context.Context, key K) l2Seen {
	data, err := c.remote.Get(ctx, c.remoteKey(key))
	if err != nil {
		return l2Seen{}
	}
	if data == nil {
		return l2Seen{known: true}
	}
	return l2Seen{known: true, sum: sha1Hex(data)}
}

func (c *cache[K, V]) warmup(ctx context.Context, keys []K) (loadedN int, err error) {
	if c.closed.Load() {
		return 0, ErrClosed
	}
	ctx, sp := c.startSpan(ctx, OpWarmup, len(keys))
	defer func() { endSpan(sp, SpanEnd{Found: loadedN, Err: err}) }()
	if !c.src.any() {
		return 0, ErrNoLoader
	}
	held := make(map[K]V, len(keys))
	res, err := c.lookup(ctx, keys, held, flagDisableLoad)
	if err != nil && ctx.Err() != nil {
		return 0, err
	}
	var lost []K
	var errs []error
	for start := 0; start < len(res.missing); start += c.cfg.WarmupBatchSize {
		end := min(start+c.cfg.WarmupBatchSize, len(res.missing))
		got := make(map[K]V, end-start)
		failed, err := c.loadMany(ctx, res.missing[start:end], res.guards[start:end], got, c.src)
		if len(failed) > 0 {
			lost = append(lost, failed...)
			errs = append(errs, err)
		}
		loadedN += len(got)
		if ctx.Err() != nil {
			return loadedN, ctx.Err()
		}
	}
	if len(lost) > 0 {
		return loadedN, &BatchError[K]{Keys: lost, Err: errors.Join(errs...)}
	}
	return loadedN, nil
}
