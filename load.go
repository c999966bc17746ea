package accelerator

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/accelerator-go/accelerator/internal/singleflight"
)

// loadKey loads key through the load group (or alone, without penetration protection):
// the load runs detached from ctx, bounded by the loader timeout, and its fill is
// written before any reader returns. g is what the fill must not overtake. shared
// reports that the caller joined a load started by another.
func (c *cache[K, V]) loadKey(ctx context.Context, key K, src sources[K, V], g fillGuard) (r loaded[V], err error, shared bool) {
	if c.cfg.DisablePenetrationProtection {
		r, err = singleflight.Run(ctx, c.loadCfg, singleflight.Job[loaded[V]](c.newLoadJob(key, src, g)))
		return r, err, false
	}
	// The job is built only by the reader that leads the load.
	r, err, shared = c.loads.DoNew(ctx, key, func() singleflight.Job[loaded[V]] { return c.newLoadJob(key, src, g) })
	if shared {
		c.metrics.sharedLoads.Add(1)
	}
	return r, err, shared
}

func (c *cache[K, V]) newLoadJob(key K, src sources[K, V], g fillGuard) *loadJob[K, V] {
	return &loadJob[K, V]{c: c, key: key, src: src, g: g, recheck: true}
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
	// lease is the load lease the load holds, if any (lease.go).
	lease *leaseHold
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
	// Stamped before the source is read (and before a lease is waited for): an
	// invalidation that comes meanwhile makes the result a miss.
	stamp := c.marks.stamp(ctx)
	var r loaded[V]
	var err error
	if c.lease != nil && !j.refresh {
		r, err = c.loadLeased(ctx, j)
	} else {
		r, err = c.callLoader(ctx, j.key, j.src)
	}
	if !r.cached {
		r.stamp = stamp
	}
	return r, err
}

func (j *loadJob[K, V]) Commit(ctx context.Context, r loaded[V], err error) (loaded[V], error) {
	c := j.c
	c.loadEnded("load", err, time.Since(j.began))
	var l2Until int64
	if err == nil && !r.cached {
		l2Until = c.fill(ctx, []fillItem[K, V]{{key: j.key, r: r, g: j.g}})
	}
	if j.lease != nil {
		c.endLease(ctx, j.lease, l2Until)
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

// mloadJob is one MLoad call for the keys a batch leads, with their fill.
type mloadJob[K comparable, V any] struct {
	c      *cache[K, V]
	keys   []K
	guards []fillGuard
	many   MLoader[K, V]
	began  time.Time
	// results holds, for each key, what L1 held when the load started (cached), and
	// then what was loaded.
	results []loaded[V]
	// asked are the positions of the keys passed to MLoad.
	asked []int
	// stamp is the area's invalidation clock before the source was read.
	stamp uint64
}

// Load looks at L1 again first (a key whose load ended between the batch's reads and
// its registration is answered from there, not loaded again), then calls MLoad once
// for the others.
func (j *mloadJob[K, V]) Load(ctx context.Context) ([]loaded[V], error) {
	j.began = time.Now()
	c := j.c
	j.results = make([]loaded[V], len(j.keys))
	ask := j.keys
	if c.local != nil {
		ask = make([]K, 0, len(j.keys))
		for i, k := range j.keys {
			if r, ok := c.recheckLocal(k, true); ok {
				j.results[i] = r
				continue
			}
			ask = append(ask, k)
			j.asked = append(j.asked, i)
		}
	} else {
		j.asked = make([]int, len(j.keys))
		for i := range j.asked {
			j.asked[i] = i
		}
	}
	if len(ask) == 0 {
		return j.results, nil
	}
	c.metrics.loadedKeys.Add(uint64(len(ask)))
	j.stamp = c.marks.stamp(ctx)
	m, err := c.callMLoader(ctx, ask, j.many)
	if err != nil {
		return nil, err
	}
	for _, i := range j.asked {
		j.results[i] = m.of(j.keys[i])
		j.results[i].stamp = j.stamp
	}
	return j.results, nil
}

// Commit counts the keys loaded and fills them (and negative entries for the keys not
// found, with CacheNullValue) with one L2 round trip.
func (j *mloadJob[K, V]) Commit(ctx context.Context, rs []loaded[V], err error) ([]loaded[V], error) {
	c := j.c
	c.loadEnded("mload", err, time.Since(j.began))
	if err != nil {
		return nil, err
	}
	items := make([]fillItem[K, V], 0, len(j.asked))
	for _, i := range j.asked {
		c.countFound(rs[i].found)
		items = append(items, fillItem[K, V]{key: j.keys[i], r: rs[i], g: j.guards[i]})
	}
	c.fill(ctx, items)
	return rs, nil
}

func (j *mloadJob[K, V]) TimedOut() { j.c.loadTimedOut("mload") }

// loadMany loads keys (no duplicates; guards[i] goes with keys[i]) from the source,
// fills them and adds those found to into: with one MLoad call, or with Loads,
// LoadConcurrency at a time, without an MLoader. A key whose load is in flight (a
// Get's, another batch's) joins it; the call leads the loads of the others, with one
// MLoad call. It returns the keys whose load failed and why. A panic of the loader is
// re-raised here when this call started the load that panicked.
func (c *cache[K, V]) loadMany(ctx context.Context, keys []K, guards []fillGuard, into map[K]V, src sources[K, V]) (failed []K, err error) {
	if src.many == nil {
		return c.loadEach(ctx, keys, guards, into, src)
	}
	if c.cfg.DisablePenetrationProtection {
		rs, err := singleflight.Run(ctx, c.loadCfg, singleflight.Job[[]loaded[V]](&mloadJob[K, V]{c: c, keys: keys, guards: guards, many: src.many}))
		if pe, ok := err.(*PanicError); ok {
			panic(pe)
		}
		if err != nil {
			return keys, err
		}
		for i, r := range rs {
			if r.found {
				into[keys[i]] = r.value
			}
		}
		return nil, nil
	}
	res := c.loads.DoBatch(ctx, keys, func(led []int) singleflight.Job[[]loaded[V]] {
		j := &mloadJob[K, V]{c: c, keys: make([]K, len(led)), guards: make([]fillGuard, len(led)), many: src.many}
		for n, i := range led {
			j.keys[n], j.guards[n] = keys[i], guards[i]
		}
		return j
	}, func(n int) { c.metrics.sharedLoads.Add(uint64(n)) })
	var batchErr error
	var errs []error
	for i, r := range res {
		if pe, ok := r.Err.(*PanicError); ok && !r.Shared {
			panic(pe)
		}
		switch {
		case r.Err == nil:
			if r.R.found {
				into[keys[i]] = r.R.value
			}
			continue
		case !r.Shared:
			batchErr = r.Err
		default:
			errs = append(errs, &KeyError[K]{Key: keys[i], Err: r.Err})
		}
		failed = append(failed, keys[i])
	}
	switch {
	case len(failed) == 0:
		return nil, nil
	case ctx.Err() != nil:
		return failed, ctx.Err()
	case len(errs) == 0:
		return failed, batchErr
	}
	if batchErr != nil {
		errs = append([]error{batchErr}, errs...)
	}
	return failed, errors.Join(errs...)
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
	ctx, cancel := c.boundLoader(ctx)
	defer cancel()
	if src.one == nil {
		m, err := c.callMLoader(ctx, []K{key}, src.many)
		if err != nil {
			return r, err
		}
		r = m.of(key)
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
		r = loaded[V]{value: res.Value, found: res.Found, ttl: res.TTL, tags: res.Tags}
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

// callMLoader runs the batch loader (MLoadEntries of an EntryMLoader); it counts the
// call but not the keys.
func (c *cache[K, V]) callMLoader(ctx context.Context, keys []K, ml MLoader[K, V]) (m mloaded[K, V], err error) {
	ctx, sp := c.startSpan(ctx, OpMLoad, len(keys))
	defer func() { endSpan(sp, SpanEnd{Layer: LayerSource, Found: m.found(), Err: err}) }()
	defer c.recoverLoad(&err)
	ctx, cancel := c.boundLoader(ctx)
	defer cancel()
	c.metrics.mloads.Add(1)
	start := time.Now()
	if em, ok := ml.(EntryMLoader[K, V]); ok {
		m.entries, err = em.MLoadEntries(ctx, keys)
	} else {
		m.values, err = ml.MLoad(ctx, keys)
	}
	c.recordLoadCost(time.Since(start))
	if err != nil {
		return mloaded[K, V]{}, c.loadFailed(ctx, err)
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
