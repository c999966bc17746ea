package accelerator

import (
	"context"

	"github.com/accelerator-go/accelerator/backend"
)

// get is the single-key read. The L1 hit path is kept small and free of allocations;
// everything past L1 is in readThrough.
func (c *cache[K, V]) get(ctx context.Context, key K, flags readFlags, src sources[K, V]) (V, bool, error) {
	if c.closed.Load() {
		var zero V
		return zero, false, ErrClosed
	}
	if c.local != nil {
		now := c.clock.NowNano()
		var e *backend.Entry[V]
		var state localState
		if c.store != nil {
			e, state = c.readLocal(key, now, nil)
		} else {
			var buf backend.Entry[V] // zeroed only for an L1 of another kind
			e, state = c.readLocal(key, now, &buf)
		}
		switch state {
		case localFresh:
			// Negative entries are never refreshed ahead: they expire after NullTTL
			// and the next read loads.
			if !e.Null && e.ExpireAt-now < c.refreshWindow && flags&flagDisableLoad == 0 {
				c.maybeRefresh(ctx, key, src, e.ExpireAt, now)
			}
			return e.Value, !e.Null, nil
		case localStale:
			return c.readThrough(ctx, key, flags, src, staleCopy[V]{r: loaded[V]{value: e.Value, found: !e.Null}, ok: true})
		}
	}
	// (No stale copy is declared above: zeroing one would cost every hit.)
	return c.readThrough(ctx, key, flags, src, staleCopy[V]{})
}

// localState is what L1 held for a key.
type localState uint8

const (
	localMissing localState = iota
	localFresh
	localStale // past its expiry, inside its stale window
)

// readLocal reads key from L1 and counts the hit or the miss (negative hits included).
// The entry is the default store's own, which must not be modified, or, from another
// L1, a copy in buf; it is nil when L1 has none. A tagged entry whose tag was
// invalidated, or one that cannot be checked now, is a miss, without a stale copy
// (tagsHold).
func (c *cache[K, V]) readLocal(key K, now int64, buf *backend.Entry[V]) (*backend.Entry[V], localState) {
	var e *backend.Entry[V]
	var ok bool
	if c.store != nil {
		e, ok = c.store.Lookup(key)
	} else {
		*buf, ok = c.local.Get(key)
		e = buf
	}
	if !ok || e.Epoch != c.epoch.Load() || e.Tags != nil && !c.tagsHold(e.Tags, e.Deadline(), now) {
		c.metrics.localMisses.Inc()
		return nil, localMissing
	}
	if e.ExpireAt > now {
		c.metrics.localHits.Inc()
		if e.Null {
			c.metrics.nullHits.Add(1)
		}
		return e, localFresh
	}
	c.metrics.localMisses.Inc()
	if e.StaleUntil > now {
		return e, localStale
	}
	return nil, localMissing
}

// tagsHold reports whether a tagged L1 entry may be served (or kept as a stale copy):
// it is still in its stale window, and no invalidation came after it (marks.go). A
// read of its marks, when they are due, is bounded by RemoteTimeout rather than by the
// reader's context, which the L1 hit path does not carry.
func (c *cache[K, V]) tagsHold(t *backend.Tags, deadline, now int64) bool {
	return deadline > now && c.marks.holds(context.Background(), t.Stamp, t.Names, t.Marks, false)
}

// localSet writes e for key into L1, directly into the default store when it is the
// one in use.
func (c *cache[K, V]) localSet(key K, e backend.Entry[V]) {
	if c.store != nil {
		c.store.Set(key, e)
		return
	}
	c.local.Set(key, e)
}

// readThrough reads key past L1: from L2 (a read shared with the other readers of the
// key), else from the loader (a load shared likewise). A reader that finds a load of
// the key in flight joins it without reading L2.
func (c *cache[K, V]) readThrough(ctx context.Context, key K, flags readFlags, src sources[K, V], stale staleCopy[V]) (value V, found bool, err error) {
	ctx, sp := c.startSpan(ctx, OpGet, 1)
	var a answer[V]
	if sp != nil {
		defer func() { endSpan(sp, readEnd(a.layer, a.found, a.err)) }()
	}
	// What the fill of a load started by this read must not overtake: any write of
	// key from now on.
	g := c.guardOf(key)
	canLoad := flags&flagDisableLoad == 0 && src.any()
	if c.remote != nil {
		var done bool
		if a, done = c.fromRemote(ctx, key, flags, src, canLoad, &stale, &g); done {
			return a.value, a.found, a.err
		}
	}
	switch {
	case canLoad:
		r, err, shared := c.loadKey(ctx, key, src, g)
		a = c.loadedResult(ctx, r, err, stale, flags, shared)
	case flags&flagAllowStale != 0 && stale.ok:
		a = c.serveStale(stale)
	}
	return a.value, a.found, a.err
}

// answer is what a read returns, and which layer gave it.
type answer[V any] struct {
	value V
	found bool
	layer Layer
	err   error
}

// fromRemote is the L2 stage of readThrough: it joins a load of key in flight, or
// reads L2. done reports that a is the read's answer; otherwise a.err is the L2 error
// (if any), and stale and g are updated with what L2 held.
func (c *cache[K, V]) fromRemote(ctx context.Context, key K, flags readFlags, src sources[K, V], canLoad bool, stale *staleCopy[V], g *fillGuard) (a answer[V], done bool) {
	if canLoad && !c.cfg.DisablePenetrationProtection {
		if r, err, ok := c.loads.Join(ctx, key); ok {
			c.metrics.sharedLoads.Add(1)
			return c.loadedResult(ctx, r, err, *stale, flags, true), true
		}
	}
	rr, err := c.readRemote(ctx, key)
	switch {
	case err != nil:
		a.err = err
	case rr.hit:
		if c.refreshWindow > 0 && rr.r.found && flags&flagDisableLoad == 0 {
			if now := c.clock.NowNano(); rr.life.expireAt-now < c.refreshWindow {
				c.maybeRefresh(ctx, key, src, rr.life.expireAt, now)
			}
		}
		return answer[V]{value: rr.r.value, found: rr.r.found, layer: LayerRemote}, true
	case rr.corrupt && !canLoad:
		c.dropCorrupt(ctx, []K{key})
	}
	if rr.stale && !stale.ok {
		*stale = rr.staleCopy()
	}
	g.seen = rr.seen
	return a, err != nil && ctx.Err() != nil
}

// loadedResult is what a read returns after a load: the load's result, or its stale
// copy when the load failed and the read allows it. A loader's panic is re-raised in
// the reader that started the load.
func (c *cache[K, V]) loadedResult(ctx context.Context, r loaded[V], err error, stale staleCopy[V], flags readFlags, shared bool) answer[V] {
	if pe, ok := err.(*PanicError); ok && !shared {
		panic(pe)
	}
	if err != nil && flags&flagAllowStale != 0 && stale.ok && ctx.Err() == nil {
		return c.serveStale(stale)
	}
	return answer[V]{value: r.value, found: r.found, layer: LayerSource, err: err}
}

func (c *cache[K, V]) serveStale(s staleCopy[V]) answer[V] {
	c.metrics.staleServed.Add(1)
	return answer[V]{value: s.r.value, found: s.r.found, layer: LayerStale}
}

// lookupResult is what the caches hold for a batch of keys.
type lookupResult[K comparable, V any] struct {
	// missing are the keys no layer answered, without duplicates, and guards what
	// the fill of each must not overtake.
	missing []K
	guards  []fillGuard
	// corrupt are the keys whose L2 value could not be decoded.
	corrupt []K
	// stale holds stale copies of missing keys, collected only for reads that allow
	// them.
	stale map[K]loaded[V]
	// due are the keys found fresh whose refresh is due, with their expiry.
	due map[K]int64
}

// lookup reads keys from the caches only: L1, then one L2 round trip for the L1
// misses. It puts the values found into into and returns the rest.
func (c *cache[K, V]) lookup(ctx context.Context, keys []K, into map[K]V, flags readFlags) (lookupResult[K, V], error) {
	res := c.lookupLocal(keys, into, flags)
	res.guards = make([]fillGuard, len(res.missing))
	for i, k := range res.missing {
		res.guards[i] = c.guardOf(k)
	}
	if c.remote == nil || len(res.missing) == 0 {
		return res, nil
	}
	return res, c.lookupRemote(ctx, &res, into, flags)
}

// lookupLocal is the L1 stage of lookup: every key (once) that L1 does not answer
// is missing.
func (c *cache[K, V]) lookupLocal(keys []K, into map[K]V, flags readFlags) lookupResult[K, V] {
	var res lookupResult[K, V]
	wantStale := flags&flagAllowStale != 0 && c.cfg.StaleTTL > 0
	wantRefresh := c.refreshWindow > 0 && flags&flagDisableLoad == 0
	dup := make(map[K]struct{}, len(keys))
	now := c.clock.NowNano()
	for _, k := range keys {
		if _, ok := dup[k]; ok {
			continue
		}
		dup[k] = struct{}{}
		if c.local == nil {
			res.missing = append(res.missing, k)
			continue
		}
		var buf backend.Entry[V]
		e, state := c.readLocal(k, now, &buf)
		switch {
		case state == localFresh && e.Null:
			continue
		case state == localFresh:
			if wantRefresh && e.ExpireAt-now < c.refreshWindow {
				res.addDue(k, e.ExpireAt)
			}
			into[k] = e.Value
			continue
		case state == localStale && wantStale:
			res.addStale(k, loaded[V]{value: e.Value, found: !e.Null})
		}
		res.missing = append(res.missing, k)
	}
	return res
}

// lookupRemote is the L2 stage of lookup: one MGet of the missing keys; the fresh
// values found are filled into L1 and into, and the others stay missing.
func (c *cache[K, V]) lookupRemote(ctx context.Context, res *lookupResult[K, V], into map[K]V, flags readFlags) error {
	wantStale := flags&flagAllowStale != 0 && c.cfg.StaleTTL > 0
	wantRefresh := c.refreshWindow > 0 && flags&flagDisableLoad == 0
	data, err := c.remote.MGet(ctx, c.remoteKeys(res.missing))
	if err != nil {
		return err
	}
	marksRead := c.prefetchMarks(ctx, data)
	now := c.clock.NowNano()
	still, guards := res.missing[:0], res.guards[:0]
	for i, k := range res.missing {
		g := res.guards[i]
		var rr remoteRead[V]
		c.received(data[i], &rr)
		c.checkMarksAfter(ctx, &rr, data[i], marksRead)
		c.countRemote(&rr)
		g.seen = rr.seen
		switch {
		case rr.hit:
			c.installFill(k, c.localEntry(rr.r, rr.life, g.epoch), g)
			if rr.r.found {
				into[k] = rr.r.value
			}
			if rr.r.found && wantRefresh && rr.life.expireAt-now < c.refreshWindow {
				res.addDue(k, rr.life.expireAt)
			}
			continue
		case rr.corrupt:
			res.corrupt = append(res.corrupt, k)
		case rr.stale && wantStale && !res.hasStale(k):
			res.addStale(k, rr.r)
		}
		still, guards = append(still, k), append(guards, g)
	}
	res.missing, res.guards = still, guards
	return nil
}

func (r *lookupResult[K, V]) hasStale(k K) bool {
	_, ok := r.stale[k]
	return ok
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
		c.dropCorrupt(ctx, res.corrupt)
		c.serveStaleKeys(res.missing, res.stale, out)
		if err != nil && !answeredAll(res.missing, res.stale) {
			return out, err
		}
		return out, nil
	}
	failed, loadErr := c.loadMany(ctx, res.missing, res.guards, out, src)
	if len(failed) == 0 {
		return out, nil
	}
	lost := c.serveStaleKeys(failed, res.stale, out)
	if len(lost) == 0 {
		return out, nil
	}
	return out, &BatchError[K]{Keys: lost, Err: loadErr}
}

// serveStaleKeys answers keys that were not loaded with their stale copies, if any,
// and returns the keys left without one.
func (c *cache[K, V]) serveStaleKeys(keys []K, stale map[K]loaded[V], out map[K]V) (lost []K) {
	for _, k := range keys {
		s, ok := stale[k]
		if !ok {
			lost = append(lost, k)
			continue
		}
		c.metrics.staleServed.Add(1)
		if s.found {
			out[k] = s.value
		}
	}
	return lost
}

func answeredAll[K comparable, V any](keys []K, stale map[K]loaded[V]) bool {
	for _, k := range keys {
		if _, ok := stale[k]; !ok {
			return false
		}
	}
	return true
}
