package accelerator

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/internal/singleflight"
)

// lookupResult is what the caches hold for a batch of keys.
type lookupResult[K comparable, V any] struct {
	// missing are the keys no layer answered, without duplicates.
	missing []K
	// corrupt are the keys whose L2 value could not be decoded.
	corrupt []K
	// stale holds stale copies of missing keys, collected only for reads that allow
	// them.
	stale map[K]loaded[V]
	// due are the keys found fresh whose refresh is due, with their expiry.
	due map[K]int64
	// seen is what L2 held for each missing key, for compare-and-set fills.
	seen map[K]l2Seen
}

// lookup reads keys from the caches only: L1, then one L2 round trip for the L1
// misses. It puts the values found into into and returns the rest.
func (c *cache[K, V]) lookup(ctx context.Context, keys []K, into map[K]V, flags readFlags) (lookupResult[K, V], error) {
	var res lookupResult[K, V]
	wantStale := flags&flagAllowStale != 0 && c.cfg.StaleTTL > 0
	wantRefresh := c.refreshWindow > 0 && flags&flagDisableLoad == 0
	seen := make(map[K]struct{}, len(keys))
	now := c.clock.NowNano()
	epoch := c.epoch.Load()
	for _, k := range keys {
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		if c.local == nil {
			res.missing = append(res.missing, k)
			continue
		}
		e, ok := c.localGet(k)
		if !ok || e.Epoch != epoch || e.ExpireAt <= now {
			c.metrics.localMisses.Inc()
			res.missing = append(res.missing, k)
			if ok && wantStale && e.Epoch == epoch && e.StaleUntil > now {
				res.addStale(k, loaded[V]{value: e.Value, found: !e.Null})
			}
			continue
		}
		c.metrics.localHits.Inc()
		if wantRefresh && e.ExpireAt-now < c.refreshWindow {
			res.addDue(k, e.ExpireAt)
		}
		if e.Null {
			c.metrics.nullHits.Add(1)
			continue
		}
		into[k] = e.Value
	}
	if c.remote == nil || len(res.missing) == 0 {
		return res, nil
	}
	rkeys := make([]string, len(res.missing))
	gens := make([]uint64, len(res.missing))
	for i, k := range res.missing {
		rkeys[i] = c.remoteKey(k)
		gens[i] = c.generation(k)
	}
	data, err := c.remote.MGet(ctx, rkeys)
	if err != nil {
		return res, err
	}
	still := res.missing[:0]
	for i, k := range res.missing {
		rr := c.decodeRemote(k, data[i], epoch, gens[i])
		if rr.seen.known {
			if res.seen == nil {
				res.seen = make(map[K]l2Seen)
			}
			res.seen[k] = rr.seen
		}
		switch {
		case rr.hit:
			if rr.r.found {
				into[k] = rr.r.value
			}
			if wantRefresh && rr.expireAt-now < c.refreshWindow {
				res.addDue(k, rr.expireAt)
			}
			continue
		case rr.corrupt:
			res.corrupt = append(res.corrupt, k)
		case rr.stale.ok && wantStale:
			if _, have := res.stale[k]; !have {
				res.addStale(k, rr.stale.r)
			}
		}
		still = append(still, k)
	}
	res.missing = still
	return res, nil
}

func (r *lookupResult[K, V]) addStale(k K, v loaded[V]) {
	if r.stale == nil {
		r.stale = make(map[K]loaded[V])
	}
	r.stale[k] = v
}

func (r *lookupResult[K, V]) addDue(k K, expireAt int64) {
	if r.due == nil {
		r.due = make(map[K]int64)
	}
	r.due[k] = expireAt
}

func (c *cache[K, V]) mget(ctx context.Context, keys []K, flags readFlags, src sources[K, V]) (out map[K]V, err error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	ctx, sp := c.startSpan(ctx, OpMGet, len(keys))
	defer func() { endSpan(sp, SpanEnd{Found: len(out), Err: err}) }()
	out = make(map[K]V, len(keys))
	res, err := c.lookup(ctx, keys, out, flags)
	canLoad := flags&flagDisableLoad == 0 && src.any()
	for k, expireAt := range res.due {
		c.maybeRefresh(ctx, k, src, expireAt, c.clock.NowNano())
	}
	if err != nil && ctx.Err() != nil {
		return out, err
	}
	if !canLoad || len(res.missing) == 0 {
		c.dropCorruptKeys(ctx, res.corrupt)
		c.fillStale(res.missing, res.stale, out)
		if err != nil && !c.answeredAll(res.missing, res.stale) {
			return out, err
		}
		return out, nil
	}
	failed, loadErr := c.loadMany(ctx, res.missing, out, src, res.seen)
	if len(failed) == 0 {
		return out, nil
	}
	var lost []K
	for _, k := range failed {
		if s, ok := res.stale[k]; ok {
			c.metrics.staleServed.Add(1)
			if s.found {
				out[k] = s.value
			}
			continue
		}
		lost = append(lost, k)
	}
	if len(lost) == 0 {
		return out, nil
	}
	return out, &BatchError[K]{Keys: lost, Err: loadErr}
}

// fillStale answers keys that were not loaded with their stale copies, if any.
func (c *cache[K, V]) fillStale(keys []K, stale map[K]loaded[V], out map[K]V) {
	for _, k := range keys {
		s, ok := stale[k]
		if !ok {
			continue
		}
		c.metrics.staleServed.Add(1)
		if s.found {
			out[k] = s.value
		}
	}
}

func (c *cache[K, V]) answeredAll(keys []K, stale map[K]loaded[V]) bool {
	for _, k := range keys {
		if _, ok := stale[k]; !ok {
			return false
		}
	}
	return true
}

// dropCorruptKeys deletes remote values that could not be decoded; best effort.
func (c *cache[K, V]) dropCorruptKeys(ctx context.Context, keys []K) {
	if len(keys) == 0 {
		return
	}
	rkeys := make([]string, len(keys))
	for i, k := range keys {
		rkeys[i] = c.remoteKey(k)
	}
	c.remote.Del(ctx, rkeys...)
}

// loadMany loads keys (no duplicates) from the source, writes them back and adds
// those found to into: with one MLoad call, or with Loads, LoadConcurrency at a time,
// without an MLoader. It returns the keys whose load failed and why. A panic of the
// loader is re-raised here when this call started the load that panicked.
func (c *cache[K, V]) loadMany(ctx context.Context, keys []K, into map[K]V, src sources[K, V], seen map[K]l2Seen) (failed []K, err error) {
	if src.many == nil {
		return c.loadEach(ctx, keys, into, src, seen)
	}
	guards := make([]fillGuard, len(keys))
	for i, k := range keys {
		guards[i] = fillGuard{epoch: c.epoch.Load(), gen: c.generation(k), seen: seen[k]}
	}
	c.metrics.loadedKeys.Add(uint64(len(keys)))
	spec := loadSpec(c, "mload",
		func(lctx context.Context) (map[K]V, error) {
			return c.callMLoader(lctx, keys, src.many)
		},
		func(lctx context.Context, m map[K]V, err error) (map[K]V, error) {
			if err != nil {
				return nil, err
			}
			return c.writeBackMany(lctx, keys, m, guards), nil
		}, nil)
	found, err := singleflight.Run(ctx, spec)
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

// writeBackMany keeps the keys of m that were asked for, counts them, writes them
// (and negative entries for the others, with CacheNullValue) back with one L2 round
// trip, and returns what was found.
func (c *cache[K, V]) writeBackMany(ctx context.Context, keys []K, m map[K]V, guards []fillGuard) map[K]V {
	found := make(map[K]V, len(m))
	results := make([]loaded[V], len(keys))
	for i, k := range keys {
		v, ok := m[k]
		results[i] = loaded[V]{value: v, found: ok}
		c.countFound(ok)
		if ok {
			found[k] = v
		}
	}
	c.fillMany(ctx, keys, results, guards)
	return found
}

// fillMany writes the results of a batch load back, L2 first with one round trip,
// each key guarded like a single fill: with compare-and-set against what L2 held when
// the batch was read (keys whose L2 value is unknown go to L1 only), and into L1 only
// if the key was not invalidated since the load started. It publishes the keys it
// wrote to L2.
func (c *cache[K, V]) fillMany(ctx context.Context, keys []K, results []loaded[V], guards []fillGuard) {
	remote := make([]deadline, len(keys))
	lost := make([]bool, len(keys))
	var err error
	if c.remote != nil {
		err = c.fillRemoteMany(ctx, keys, results, guards, remote, lost)
	}
	var written []K
	for i, k := range keys {
		if (!results[i].found && !c.cfg.CacheNullValue) || lost[i] {
			continue
		}
		if c.local != nil {
			c.installLocal(k, c.localEntry(results[i], remote[i], guards[i].epoch), guards[i].gen)
		}
		if remote[i].expireAt != 0 {
			written = append(written, k)
		}
	}
	if c.inv != nil && err == nil && len(written) > 0 {
		c.inv.publish(ctx, written)
	}
}

// fillRemoteMany writes a batch of loaded values to L2 in one round trip: a
// compare-and-set per key when the backend can, one MSet otherwise. It records the
// deadline of each value written and which keys lost their compare-and-set.
func (c *cache[K, V]) fillRemoteMany(ctx context.Context, keys []K, results []loaded[V], guards []fillGuard, remote []deadline, lost []bool) error {
	if c.cas == nil {
		return c.putRemoteMany(ctx, keys, results, remote)
	}
	var idx []int
	for i := range keys {
		if (!results[i].found && !c.cfg.CacheNullValue) || !guards[i].seen.known {
			continue
		}
		if c.epoch.Load() != guards[i].epoch {
			lost[i] = true
			c.metrics.fillsLost.Add(1)
			continue
		}
		idx = append(idx, i)
	}
	if len(idx) == 0 {
		return nil
	}
	values, err := c.encodeAll(results, idx, remote)
	if err != nil {
		return err
	}
	items := make([]backend.CASItem, len(idx))
	for j, i := range idx {
		items[j] = backend.CASItem{Key: c.remoteKey(keys[i]), Expect: guards[i].seen.sum, Value: values[j], TTL: c.remoteLife(remote[i])}
	}
	done, err := c.cas.compareAndSet(ctx, items)
	if err != nil {
		for _, i := range idx {
			remote[i] = deadline{}
		}
		return err
	}
	for j, i := range idx {
		if !done[j] {
			lost[i] = true
			remote[i] = deadline{}
			c.metrics.fillsLost.Add(1)
		}
	}
	return nil
}

// storeMany writes values explicitly (MSet) in the layers of the mode, L2 first with
// one round trip. A write is an invalidation too: it bumps the keys' generations
// first. On an L2 error the keys are dropped from L1 and the error returned; otherwise
// the keys are broadcast.
func (c *cache[K, V]) storeMany(ctx context.Context, keys []K, results []loaded[V]) error {
	epoch := c.epoch.Load()
	gens := make([]uint64, len(keys))
	for i, k := range keys {
		gens[i] = slotOf(c.gens, k).Add(1)
	}
	remote := make([]deadline, len(keys))
	if c.remote != nil {
		if err := c.putRemoteMany(ctx, keys, results, remote); err != nil {
			for _, k := range keys {
				c.invalidateLocal(k)
			}
			return err
		}
	}
	if c.local != nil {
		for i, k := range keys {
			c.installLocal(k, c.localEntry(results[i], remote[i], epoch), gens[i])
		}
	}
	if c.inv != nil {
		return c.inv.publish(ctx, keys)
	}
	return nil
}

// putRemoteMany encodes every result into one buffer and writes them with one MSet,
// recording in deadlines when each L2 entry expires.
func (c *cache[K, V]) putRemoteMany(ctx context.Context, keys []K, results []loaded[V], deadlines []deadline) error {
	var idx []int
	for i := range keys {
		if results[i].found || c.cfg.CacheNullValue {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil
	}
	values, err := c.encodeAll(results, idx, deadlines)
	if err != nil {
		return err
	}
	items := make([]backend.Item, len(idx))
	for j, i := range idx {
		items[j] = backend.Item{Key: c.remoteKey(keys[i]), Value: values[j], TTL: c.remoteLife(deadlines[i])}
	}
	return c.remote.MSet(ctx, items)
}

// encodeAll encodes results[i], for each i of idx, with a fresh deadline (recorded in
// deadlines[i]) into one buffer sized from the first value, and returns the
// encodings in the order of idx.
func (c *cache[K, V]) encodeAll(results []loaded[V], idx []int, deadlines []deadline) ([][]byte, error) {
	ends := make([]int, len(idx))
	var buf []byte
	for j, i := range idx {
		d := c.deadlineIn(c.remoteTTL(!results[i].found))
		deadlines[i] = d
		var err error
		if buf, err = c.appendValue(buf, results[i], d); err != nil {
			return nil, err
		}
		ends[j] = len(buf)
		if j == 0 {
			// Growing the buffer step by step is a large part of a batch of big
			// values; the first one tells the size of the others.
			buf = slices.Grow(buf, len(buf)*(len(idx)-1)+len(buf)/4)
		}
	}
	values := make([][]byte, len(idx))
	start := 0
	for j, end := range ends {
		values[j] = buf[start:end:end]
		start = end
	}
	return values, nil
}

// loadEach loads keys one by one through the single-key path, LoadConcurrency at a
// time, and joins the failures as *KeyError.
func (c *cache[K, V]) loadEach(ctx context.Context, keys []K, into map[K]V, src sources[K, V], seen map[K]l2Seen) ([]K, error) {
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
			r, err, shared := c.loadOne(ctx, k, src, seen[k])
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

func (c *cache[K, V]) mset(ctx context.Context, items map[K]V) (err error) {
	if c.closed.Load() {
		return ErrClosed
	}
	ctx, sp := c.startSpan(ctx, OpMSet, len(items))
	defer func() { endSpan(sp, SpanEnd{Err: err}) }()
	if len(items) == 0 {
		return nil
	}
	keys := make([]K, 0, len(items))
	results := make([]loaded[V], 0, len(items))
	for k, v := range items {
		keys = append(keys, k)
		results = append(results, loaded[V]{value: v, found: true})
	}
	return c.storeMany(ctx, keys, results)
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
		batch := res.missing[start:min(start+c.cfg.WarmupBatchSize, len(res.missing))]
		got := make(map[K]V, len(batch))
		failed, err := c.loadMany(ctx, batch, got, c.src, res.seen)
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
