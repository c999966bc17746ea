package accelerator

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/internal/singleflight"
)

// lookup reads keys from the caches only: L1, then one L2 round trip for the L1
// misses. It puts the values found in into, and returns the keys that no layer
// answered (without duplicates) and the keys whose L2 value was corrupt.
func (c *cache[K, V]) lookup(ctx context.Context, keys []K, into map[K]V) (missing, corrupt []K, err error) {
	seen := make(map[K]struct{}, len(keys))
	now := c.clock.NowNano()
	epoch := c.epoch.Load()
	for _, k := range keys {
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		if c.local == nil {
			missing = append(missing, k)
			continue
		}
		e, ok := c.local.Get(k)
		if !ok || e.ExpireAt <= now || e.Epoch != epoch {
			c.metrics.localMisses.Inc()
			missing = append(missing, k)
			continue
		}
		c.metrics.localHits.Inc()
		if e.Null {
			c.metrics.nullHits.Add(1)
			continue
		}
		into[k] = e.Value
	}
	if c.remote == nil || len(missing) == 0 {
		return missing, nil, nil
	}
	rkeys := make([]string, len(missing))
	for i, k := range missing {
		rkeys[i] = c.remoteKey(k)
	}
	data, err := c.remote.MGet(ctx, rkeys)
	if err == nil && len(data) != len(rkeys) {
		err = fmt.Errorf("remote backend returned %d values for %d keys", len(data), len(rkeys))
	}
	if err != nil {
		c.metrics.remoteErrors.Add(1)
		return missing, nil, fmt.Errorf("accelerator: remote mget: %w", err)
	}
	still := missing[:0]
	for i, k := range missing {
		r, hit, bad := c.decodeRemote(k, data[i], epoch)
		switch {
		case hit && r.found:
			into[k] = r.value
		case hit:
		case bad:
			corrupt = append(corrupt, k)
			still = append(still, k)
		default:
			still = append(still, k)
		}
	}
	return still, corrupt, nil
}

func (c *cache[K, V]) mget(ctx context.Context, keys []K, flags readFlags, src sources[K, V]) (map[K]V, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	out := make(map[K]V, len(keys))
	missing, corrupt, err := c.lookup(ctx, keys, out)
	canLoad := flags&flagDisableLoad == 0 && src.any()
	if err != nil && (ctx.Err() != nil || !canLoad) {
		return out, err
	}
	if !canLoad || len(missing) == 0 {
		c.dropCorruptKeys(ctx, corrupt)
		return out, nil
	}
	return out, c.loadMany(ctx, missing, out, src)
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
	if err := c.remote.Del(ctx, rkeys...); err != nil {
		c.metrics.remoteErrors.Add(1)
	}
}

// loadMany loads keys (no duplicates) from the source, writes them back and adds
// those found to into: with one MLoad call, or with Loads, LoadConcurrency at a time,
// without an MLoader. A panic of the loader is re-raised here when this call started
// the load that panicked.
func (c *cache[K, V]) loadMany(ctx context.Context, keys []K, into map[K]V, src sources[K, V]) error {
	if src.many == nil {
		return c.loadEach(ctx, keys, into, src)
	}
	epoch := c.epoch.Load()
	c.metrics.loadedKeys.Add(uint64(len(keys)))
	spec := loadSpec(c,
		func(lctx context.Context) (map[K]V, error) {
			return c.callMLoader(lctx, keys, src.many)
		},
		func(lctx context.Context, m map[K]V, err error) (map[K]V, error) {
			if err != nil {
				return nil, err
			}
			return c.writeBackMany(lctx, keys, m, epoch), nil
		})
	found, err := singleflight.Run(ctx, spec)
	if pe, ok := err.(*PanicError); ok {
		panic(pe)
	}
	if err != nil {
		return fmt.Errorf("accelerator: mload of %d keys: %w", len(keys), err)
	}
	for k, v := range found {
		into[k] = v
	}
	return nil
}

// writeBackMany keeps the keys of m that were asked for, counts them, writes them
// (and negative entries for the others, with CacheNullValue) back with one L2 round
// trip, and returns what was found.
func (c *cache[K, V]) writeBackMany(ctx context.Context, keys []K, m map[K]V, epoch uint64) map[K]V {
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
	c.storeMany(ctx, keys, results, epoch)
	return found
}

// storeMany writes results[i] for keys[i] in the layers of the mode, L2 first with one
// round trip. Not-found results are written as negative entries with CacheNullValue
// and skipped otherwise. It returns the L2 error, already counted.
func (c *cache[K, V]) storeMany(ctx context.Context, keys []K, results []loaded[V], epoch uint64) error {
	expires := make([]int64, len(keys))
	var err error
	if c.remote != nil {
		err = c.putRemoteMany(ctx, keys, results, expires)
	}
	if c.local == nil {
		return err
	}
	for i, k := range keys {
		if !results[i].found && !c.cfg.CacheNullValue {
			continue
		}
		if err != nil {
			c.local.Delete(k)
			continue
		}
		c.local.Set(k, c.localEntry(results[i], expires[i], epoch))
	}
	return err
}

// putRemoteMany encodes every result into one buffer and writes them with one MSet,
// recording in expires when each L2 entry expires.
func (c *cache[K, V]) putRemoteMany(ctx context.Context, keys []K, results []loaded[V], expires []int64) error {
	items := make([]backend.Item, 0, len(keys))
	ends := make([]int, 0, len(keys))
	var buf []byte
	for i, k := range keys {
		if !results[i].found && !c.cfg.CacheNullValue {
			continue
		}
		ttl := c.remoteTTL(!results[i].found)
		expires[i] = c.clock.NowNano() + int64(ttl)
		var err error
		if buf, err = c.appendValue(buf, results[i], ttl); err != nil {
			return err
		}
		items = append(items, backend.Item{Key: c.remoteKey(k), TTL: ttl})
		ends = append(ends, len(buf))
	}
	if len(items) == 0 {
		return nil
	}
	start := 0
	for i := range items {
		items[i].Value = buf[start:ends[i]]
		start = ends[i]
	}
	if err := c.remote.MSet(ctx, items); err != nil {
		c.metrics.remoteErrors.Add(1)
		return fmt.Errorf("accelerator: remote mset: %w", err)
	}
	return nil
}

// loadEach loads keys one by one through the single-key path, LoadConcurrency at a
// time, and joins the failures as *KeyError.
func (c *cache[K, V]) loadEach(ctx context.Context, keys []K, into map[K]V, src sources[K, V]) error {
	type result struct {
		key    K
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
			r, err, shared := c.loadOne(ctx, k, src)
			results[i] = result{key: k, r: r, err: err, shared: shared}
		})
	}
	wg.Wait()
	var errs []error
	for _, res := range results {
		if pe, ok := res.err.(*PanicError); ok && !res.shared {
			panic(pe)
		}
		if res.err != nil {
			errs = append(errs, &KeyError[K]{Key: res.key, Err: res.err})
			continue
		}
		if res.r.found {
			into[res.key] = res.r.value
		}
	}
	return errors.Join(errs...)
}

func (c *cache[K, V]) mset(ctx context.Context, items map[K]V) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if len(items) == 0 {
		return nil
	}
	keys := make([]K, 0, len(items))
	results := make([]loaded[V], 0, len(items))
	for k, v := range items {
		keys = append(keys, k)
		results = append(results, loaded[V]{value: v, found: true})
	}
	return c.storeMany(ctx, keys, results, c.epoch.Load())
}

func (c *cache[K, V]) warmup(ctx context.Context, keys []K) (int, error) {
	if c.closed.Load() {
		return 0, ErrClosed
	}
	if !c.src.any() {
		return 0, ErrNoLoader
	}
	held := make(map[K]V, len(keys))
	missing, _, err := c.lookup(ctx, keys, held)
	if err != nil && ctx.Err() != nil {
		return 0, err
	}
	var errs []error
	loadedN := 0
	for start := 0; start < len(missing); start += c.cfg.WarmupBatchSize {
		batch := missing[start:min(start+c.cfg.WarmupBatchSize, len(missing))]
		got := make(map[K]V, len(batch))
		if err := c.loadMany(ctx, batch, got, c.src); err != nil {
			errs = append(errs, err)
		}
		loadedN += len(got)
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
	}
	return loadedN, errors.Join(errs...)
}
