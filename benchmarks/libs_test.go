package benchmarks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
	"unsafe"

	"github.com/dgraph-io/ristretto"
	ristrettov2 "github.com/dgraph-io/ristretto/v2"
	gocache "github.com/eko/gocache/lib/v4/cache"
	"github.com/eko/gocache/lib/v4/marshaler"
	gocachestore "github.com/eko/gocache/lib/v4/store"
	gocacheredis "github.com/eko/gocache/store/redis/v4"
	gocacheristretto "github.com/eko/gocache/store/ristretto/v4"
	redisCache "github.com/go-redis/cache/v9"
	"github.com/maypok86/otter/v2"
	jetcache "github.com/mgtv-tech/jetcache-go"
	"github.com/mgtv-tech/jetcache-go/encoding"
	jetremote "github.com/mgtv-tech/jetcache-go/remote"
	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
	"github.com/viccon/sturdyc"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/codec"
	"github.com/accelerator-go/accelerator/goredisremote"
	"github.com/accelerator-go/accelerator/rueidisremote"
)

// tier says which layers a library is configured with.
type tier int

const (
	// tierLocal is the in-process layer alone.
	tierLocal tier = iota
	// tierRemote is Redis alone: no L1, or, for sturdyc, which cannot run without
	// one, an L1 from which the keys are deleted before every read.
	tierRemote
	// tierBoth is an L1 over Redis.
	tierBoth
)

func (t tier) String() string {
	return [...]string{"local", "remote", "both"}[t]
}

func (t tier) local() bool  { return t != tierRemote }
func (t tier) remote() bool { return t != tierLocal }

// setup is what one library instance is built from.
type setup struct {
	tier     tier
	size     valueSize
	capacity int          // L1 entries
	src      *source      // nil: no loader
	redis    *redisServer // nil in tierLocal
	counts   *counts      // what its Redis client sends
}

// subject is one library under test, behind the three calls the workloads make.
// Every library pays the same interface call.
type subject interface {
	// get reads key through the library's read path: with a loader it reads through
	// (loading on a miss), without one a miss is a miss.
	get(ctx context.Context, key string) (Value, bool, error)
	// set writes key to every layer of the library.
	set(ctx context.Context, key string, v Value) error
	close()
}

// batcher is a subject with a batch read. It returns how many keys were found: the
// libraries key their results differently (some by id), and re-keying them would
// charge some of them for work they do not do.
type batcher interface {
	mget(ctx context.Context, keys []string) (int, error)
}

// lib is one contender: a library, or a raw floor.
type lib struct {
	name string
	// tiers the library runs in; floors run in the one they measure.
	tiers []tier
	// floor marks the raw floors: no loader, no cache logic.
	floor bool
	make  func(r runner, s *setup) subject
}

var (
	localTiers = []tier{tierLocal}
	redisTiers = []tier{tierRemote, tierBoth}
	allTiers   = []tier{tierLocal, tierRemote, tierBoth}
)

// libs are every contender, in the order of the tables. In tierLocal the two
// accelerator entries are one: "accelerator".
var libs = []lib{
	{name: "accelerator", tiers: localTiers, make: newAccelerator(nil)},
	{name: "accelerator-rueidis", tiers: redisTiers, make: newAccelerator(rueidisBackend)},
	{name: "accelerator-goredis", tiers: redisTiers, make: newAccelerator(goRedisBackend)},
	{name: "jetcache", tiers: allTiers, make: newJetcache},
	{name: "gocache", tiers: allTiers, make: newGocache},
	{name: "goredis-cache", tiers: allTiers, make: newGoRedisCache},
	{name: "sturdyc", tiers: allTiers, make: newSturdyc},
	{name: "otter", tiers: localTiers, floor: true, make: newOtterFloor},
	{name: "rueidis", tiers: []tier{tierRemote}, floor: true, make: newRueidisFloor},
	{name: "goredis", tiers: []tier{tierRemote}, floor: true, make: newGoRedisFloor},
}

func (l lib) runs(t tier) bool {
	for _, x := range l.tiers {
		if x == t {
			return true
		}
	}
	return false
}

// --- accelerator ---

func rueidisBackend(r runner, s *setup) (accelerator.Options[string, Value], func()) {
	client, err := s.redis.rueidisClient(r, s.counts)
	if err != nil {
		r.Fatalf("rueidis: %v", err)
	}
	remote, err := rueidisremote.New(client)
	if err != nil {
		r.Fatalf("rueidisremote: %v", err)
	}
	return accelerator.Options[string, Value]{Remote: remote}, client.Close
}

func goRedisBackend(r runner, s *setup) (accelerator.Options[string, Value], func()) {
	client := s.redis.goRedisClient(s.counts)
	remote, err := goredisremote.New(client)
	if err != nil {
		r.Fatalf("goredisremote: %v", err)
	}
	return accelerator.Options[string, Value]{Remote: remote}, func() { _ = client.Close() }
}

type accSubject struct {
	c       *accelerator.Cache[string, Value]
	release func()
}

func newAccelerator(backend func(runner, *setup) (accelerator.Options[string, Value], func())) func(runner, *setup) subject {
	return func(r runner, s *setup) subject {
		opts, release := accelerator.Options[string, Value]{}, func() {}
		if s.tier.remote() {
			opts, release = backend(r, s)
		}
		opts.Area = "bench"
		opts.LocalTTL, opts.RemoteTTL = localTTL, remoteTTL
		switch s.tier {
		case tierLocal:
			opts.Mode = accelerator.ModeLocal
		case tierRemote:
			opts.Mode = accelerator.ModeRemote
		case tierBoth:
			opts.Mode = accelerator.ModeBoth
		}
		if s.tier.local() {
			opts.LocalMaxEntries = s.capacity
		}
		if _, gate := r.(gateRunner); gate {
			// The gate counts round trips per operation exactly. The re-read of the
			// invalidation marks (one EVAL per instance every InvalidationMarkMaxAge,
			// in the background) is not a cost of an operation, and would land in the
			// count or not depending on how long the run takes on a loaded machine.
			opts.InvalidationMarkMaxAge = time.Hour
		}
		if src := s.src; src != nil {
			opts.Loader = accelerator.LoaderFunc[string, Value](func(_ context.Context, k string) (Value, bool, error) {
				return src.load(k), true, nil
			})
			opts.MLoader = accelerator.MLoaderFunc[string, Value](func(_ context.Context, keys []string) (map[string]Value, error) {
				return src.mload(keys), nil
			})
		}
		c, err := accelerator.New(opts)
		if err != nil {
			r.Fatal(err)
		}
		return &accSubject{c: c, release: release}
	}
}

func (a *accSubject) get(ctx context.Context, k string) (Value, bool, error) {
	return a.c.Get(ctx, k)
}

func (a *accSubject) set(ctx context.Context, k string, v Value) error { return a.c.Set(ctx, k, v) }

func (a *accSubject) mget(ctx context.Context, keys []string) (int, error) {
	m, err := a.c.MGet(ctx, keys)
	return len(m), err
}

func (a *accSubject) close() {
	_ = a.c.Close()
	a.release()
}

// --- peers' codec ---

// peerCodec is the codec the peers that let us choose get: MessagePack by the same
// library as accelerator's default codec, without the compression that jetcache and
// go-redis/cache apply by default (accelerator does not compress either).
const peerCodec = "bench-msgpack"

type msgpackCodec struct{}

func (msgpackCodec) Name() string                       { return peerCodec }
func (msgpackCodec) Marshal(v any) ([]byte, error)      { return msgpack.Marshal(v) }
func (msgpackCodec) Unmarshal(data []byte, v any) error { return msgpack.Unmarshal(data, v) }

func init() { encoding.RegisterCodec(msgpackCodec{}) }

func peerMarshal(v any) ([]byte, error)      { return msgpack.Marshal(v) }
func peerUnmarshal(data []byte, v any) error { return msgpack.Unmarshal(data, v) }

// stripKey returns the id of a logical key, for the batch APIs that take ids.
func stripKey(k string) string { return strings.TrimPrefix(k, "k:") }

// bytesView returns the bytes of s without copying them.
func bytesView(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

func noLoader(k string) error {
	return fmt.Errorf("bench: %s missed, and this workload has no loader", k)
}

func fatalIf(r runner, what string, err error) {
	r.Helper()
	if err != nil {
		r.Fatalf("%s: %v", what, err)
	}
}

// --- jetcache ---

type jetSubject struct {
	c     jetcache.Cache
	t     *jetcache.T[string, Value]
	local *jetLocal
	src   *source
	rdb   *redis.Client
}

func newJetcache(_ runner, s *setup) subject {
	j := &jetSubject{src: s.src}
	opts := []jetcache.Option{
		jetcache.WithName("bench"),
		jetcache.WithCodec(peerCodec),
		jetcache.WithStatsDisabled(true),
		jetcache.WithRemoteExpiry(remoteTTL),
		jetcache.WithErrNotFound(errNotFound),
	}
	if s.tier.local() {
		j.local = newJetLocal(s.capacity, localTTL)
		opts = append(opts, jetcache.WithLocal(j.local))
	}
	if s.tier.remote() {
		j.rdb = s.redis.goRedisClient(s.counts)
		opts = append(opts, jetcache.WithRemote(jetremote.NewGoRedisV9Adapter(j.rdb)))
	}
	j.c = jetcache.New(opts...)
	j.t = jetcache.NewT[string, Value](j.c)
	return j
}

func (j *jetSubject) get(ctx context.Context, k string) (Value, bool, error) {
	var v Value
	var err error
	if j.src == nil {
		err = j.c.Get(ctx, k, &v)
	} else {
		err = j.c.Once(ctx, k, jetcache.Value(&v), jetcache.Do(func(context.Context) (any, error) {
			return j.src.load(k), nil
		}))
	}
	if errors.Is(err, jetcache.ErrCacheMiss) || errors.Is(err, errNotFound) {
		return v, false, nil
	}
	return v, err == nil, err
}

func (j *jetSubject) set(ctx context.Context, k string, v Value) error {
	return j.c.Set(ctx, k, jetcache.Value(v))
}

// mget reads through jetcache's generic MGet: it takes ids and joins them to "k"
// with its separator, which gives back our keys.
func (j *jetSubject) mget(ctx context.Context, keys []string) (int, error) {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = stripKey(k)
	}
	var fn func(context.Context, []string) (map[string]Value, error)
	if j.src != nil {
		fn = func(_ context.Context, ids []string) (map[string]Value, error) { return j.src.mload(ids), nil }
	}
	m, err := j.t.MGetWithErr(ctx, "k", ids, fn)
	return len(m), err
}

func (j *jetSubject) close() {
	j.c.Close()
	if j.local != nil {
		j.local.close()
	}
	if j.rdb != nil {
		_ = j.rdb.Close()
	}
}

// jetLocal is jetcache's local.TinyLFU (ristretto v2, TTL plus a random offset of
// up to a tenth, a Wait after every Set) with three changes, all in its favour or
// neutral: it holds as many entries as asked (the library's leaves ristretto's
// IgnoreInternalCost off, so every entry also costs ristretto's ~60-byte item size
// and a TinyLFU of size n holds about n/60 entries); it tracks 10 counters per entry,
// ristretto's advice, instead of a fixed 10 million (30 MB per instance); and it can
// be closed (the library's leaks ristretto's goroutines).
type jetLocal struct {
	cache  *ristrettov2.Cache[string, []byte]
	ttl    time.Duration
	offset time.Duration
}

var _ interface {
	Set(string, []byte)
	Get(string) ([]byte, bool)
	Del(string)
} = (*jetLocal)(nil)

func newJetLocal(size int, ttl time.Duration) *jetLocal {
	c, err := ristrettov2.NewCache(&ristrettov2.Config[string, []byte]{
		NumCounters:        int64(10 * size),
		MaxCost:            int64(size),
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
	if err != nil {
		panic(err)
	}
	return &jetLocal{cache: c, ttl: ttl, offset: min(ttl/10, 10*time.Second)}
}

func (l *jetLocal) Set(key string, b []byte) {
	ttl := l.ttl
	if l.offset > 0 {
		ttl += rand.N(l.offset)
	}
	l.cache.SetWithTTL(key, b, 1, ttl)
	l.cache.Wait()
}

func (l *jetLocal) Get(key string) ([]byte, bool) { return l.cache.Get(key) }
func (l *jetLocal) Del(key string)                { l.cache.Del(key) }
func (l *jetLocal) close()                        { l.cache.Close() }

// --- gocache ---

// gocacheSubject is eko/gocache as its README builds a two-level cache: a chain of
// a ristretto store and a Redis store under the msgpack marshaler, so both layers
// hold bytes; a LoadableCache around the chain when there is a loader.
type gocacheSubject struct {
	m       *marshaler.Marshaler
	closers []func()
}

func newGocache(r runner, s *setup) subject {
	g := &gocacheSubject{}
	var layers []gocache.SetterCacheInterface[any]
	if s.tier.local() {
		// Entries cost 1 and ristretto's own overhead is ignored, so that MaxCost is
		// an entry count.
		rc, err := ristretto.NewCache(&ristretto.Config{
			NumCounters: int64(10 * s.capacity), MaxCost: int64(s.capacity), BufferItems: 64, IgnoreInternalCost: true,
		})
		fatalIf(r, "ristretto", err)
		g.closers = append(g.closers, rc.Close)
		st := gocacheristretto.NewRistretto(rc, gocachestore.WithExpiration(localTTL), gocachestore.WithCost(1))
		layers = append(layers, gocache.New[any](st))
	}
	if s.tier.remote() {
		rdb := s.redis.goRedisClient(s.counts)
		g.closers = append(g.closers, func() { _ = rdb.Close() })
		layers = append(layers, gocache.New[any](gocacheredis.NewRedis(rdb, gocachestore.WithExpiration(remoteTTL))))
	}
	// Redis alone is a plain cache (one GET per read); a chain reads GET and TTL.
	var c gocache.CacheInterface[any] = layers[0]
	if len(layers) > 1 || s.tier == tierLocal {
		chain := gocache.NewChain[any](layers...)
		g.closers = append(g.closers, func() { _ = chain.Close() })
		c = chain
	}
	if src := s.src; src != nil {
		loadable := gocache.NewLoadable[any](func(_ context.Context, key any) (any, []gocachestore.Option, error) {
			b, err := msgpack.Marshal(src.load(key.(string)))
			return b, nil, err
		}, c)
		// Close the loadable first: it flushes its pending writes into the chain.
		g.closers = append([]func(){func() { _ = loadable.Close() }}, g.closers...)
		c = loadable
	}
	g.m = marshaler.New(c)
	return g
}

func (g *gocacheSubject) get(ctx context.Context, k string) (Value, bool, error) {
	var v Value
	_, err := g.m.Get(ctx, k, &v)
	if errors.Is(err, gocachestore.NotFound{}) {
		return v, false, nil
	}
	return v, err == nil, err
}

func (g *gocacheSubject) set(ctx context.Context, k string, v Value) error {
	return g.m.Set(ctx, k, v)
}

func (g *gocacheSubject) close() {
	for _, c := range g.closers {
		c()
	}
}

// --- go-redis/cache ---

type goRedisCacheSubject struct {
	c   *redisCache.Cache
	src *source
	rdb *redis.Client
}

func newGoRedisCache(_ runner, s *setup) subject {
	g := &goRedisCacheSubject{src: s.src}
	o := &redisCache.Options{Marshal: peerMarshal, Unmarshal: peerUnmarshal}
	if s.tier.local() {
		o.LocalCache = redisCache.NewTinyLFU(s.capacity, localTTL)
	}
	if s.tier.remote() {
		g.rdb = s.redis.goRedisClient(s.counts)
		o.Redis = g.rdb
	}
	g.c = redisCache.New(o)
	return g
}

func (g *goRedisCacheSubject) get(ctx context.Context, k string) (Value, bool, error) {
	var v Value
	var err error
	if g.src == nil {
		err = g.c.Get(ctx, k, &v)
	} else {
		err = g.c.Once(&redisCache.Item{Ctx: ctx, Key: k, Value: &v, TTL: remoteTTL, Do: func(*redisCache.Item) (any, error) {
			return g.src.load(k), nil
		}})
	}
	if errors.Is(err, redisCache.ErrCacheMiss) {
		return v, false, nil
	}
	return v, err == nil, err
}

func (g *goRedisCacheSubject) set(ctx context.Context, k string, v Value) error {
	return g.c.Set(&redisCache.Item{Ctx: ctx, Key: k, Value: v, TTL: remoteTTL})
}

func (g *goRedisCacheSubject) close() {
	if g.rdb != nil {
		_ = g.rdb.Close()
	}
}

// --- sturdyc ---

// sturdycSubject is sturdyc with, for the tiers with Redis, a distributed storage
// over go-redis (sturdyc leaves writing one to the user). sturdyc always has an
// in-memory layer: in tierRemote its keys are deleted before every read.
type sturdycSubject struct {
	c       *sturdyc.Client[Value]
	src     *source
	storage *sturdyStorage
	cold    bool
}

func newSturdyc(_ runner, s *setup) subject {
	x := &sturdycSubject{src: s.src, cold: s.tier == tierRemote}
	opts := []sturdyc.Option{sturdyc.WithNoContinuousEvictions(), sturdyc.WithLog(&sturdyc.NoopLogger{})}
	if s.tier.remote() {
		x.storage = &sturdyStorage{rdb: s.redis.goRedisClient(s.counts)}
		opts = append(opts, sturdyc.WithDistributedStorage(x.storage))
	}
	x.c = sturdyc.New[Value](s.capacity, 10, localTTL, 10, opts...)
	return x
}

func (x *sturdycSubject) get(ctx context.Context, k string) (Value, bool, error) {
	if x.cold {
		x.c.Delete(k)
	}
	v, err := x.c.GetOrFetch(ctx, k, func(context.Context) (Value, error) {
		if x.src == nil {
			return Value{}, noLoader(k)
		}
		return x.src.load(k), nil
	})
	if errors.Is(err, sturdyc.ErrNotFound) || errors.Is(err, sturdyc.ErrMissingRecord) {
		return v, false, nil
	}
	return v, err == nil, err
}

// set writes the in-memory layer and, as a user of sturdyc would, the distributed
// storage in sturdyc's own record format.
func (x *sturdycSubject) set(ctx context.Context, k string, v Value) error {
	x.c.Set(k, v)
	if x.storage == nil {
		return nil
	}
	b, err := json.Marshal(sturdyRecord{CreatedAt: time.Now(), Value: v})
	if err != nil {
		return err
	}
	return x.storage.rdb.Set(ctx, k, b, remoteTTL).Err()
}

func (x *sturdycSubject) mget(ctx context.Context, keys []string) (int, error) {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = stripKey(k)
		if x.cold {
			x.c.Delete(k)
		}
	}
	m, err := x.c.GetOrFetchBatch(ctx, ids, func(id string) string { return "k:" + id }, func(_ context.Context, ids []string) (map[string]Value, error) {
		if x.src == nil {
			return nil, noLoader(strings.Join(ids, ","))
		}
		return x.src.mload(ids), nil
	})
	return len(m), err
}

func (x *sturdycSubject) close() {
	if x.storage != nil {
		_ = x.storage.rdb.Close()
	}
}

// sturdyRecord is the shape of sturdyc's distributed records (distributedRecord).
type sturdyRecord struct {
	CreatedAt       time.Time `json:"created_at"`
	Value           Value     `json:"value"`
	IsMissingRecord bool      `json:"is_missing_record"`
}

// sturdyStorage is a sturdyc.DistributedStorage over go-redis: GET, SET with the
// remote TTL, one MGET per batch read, one pipeline of SETs per batch write.
type sturdyStorage struct{ rdb *redis.Client }

var _ sturdyc.DistributedStorage = (*sturdyStorage)(nil)

func (s *sturdyStorage) Get(ctx context.Context, key string) ([]byte, bool) {
	b, err := s.rdb.Get(ctx, key).Bytes()
	return b, err == nil
}

func (s *sturdyStorage) Set(ctx context.Context, key string, value []byte) {
	s.rdb.Set(ctx, key, value, remoteTTL)
}

func (s *sturdyStorage) GetBatch(ctx context.Context, keys []string) map[string][]byte {
	vals, err := s.rdb.MGet(ctx, keys...).Result()
	out := make(map[string][]byte, len(keys))
	if err != nil {
		return out
	}
	for i, v := range vals {
		if str, ok := v.(string); ok {
			out[keys[i]] = []byte(str)
		}
	}
	return out
}

func (s *sturdyStorage) SetBatch(ctx context.Context, records map[string][]byte) {
	pipe := s.rdb.Pipeline()
	for k, v := range records {
		pipe.Set(ctx, k, v, remoteTTL)
	}
	_, _ = pipe.Exec(ctx)
}

// --- raw floors ---

// otterFloor is a bare otter v2 cache of the same capacity: Get is GetIfPresent.
type otterFloor struct{ c *otter.Cache[string, Value] }

func newOtterFloor(r runner, s *setup) subject {
	c, err := otter.New(&otter.Options[string, Value]{MaximumSize: s.capacity})
	fatalIf(r, "otter", err)
	return &otterFloor{c: c}
}

func (o *otterFloor) get(_ context.Context, k string) (Value, bool, error) {
	v, ok := o.c.GetIfPresent(k)
	return v, ok, nil
}

func (o *otterFloor) set(_ context.Context, k string, v Value) error {
	o.c.Set(k, v)
	return nil
}

func (o *otterFloor) close() { o.c.StopAllGoroutines() }

// floorCodec is the codec of the Redis floors: accelerator's default, so that the
// floor differs from accelerator by the cache's own work alone.
var floorCodec = codec.Msgpack[Value]{}

// rueidisFloor is a bare rueidis client: GET or MGET, then decode.
type rueidisFloor struct{ c rueidis.Client }

func newRueidisFloor(r runner, s *setup) subject {
	c, err := s.redis.rueidisClient(r, s.counts)
	fatalIf(r, "rueidis", err)
	return &rueidisFloor{c: c}
}

func (f *rueidisFloor) get(ctx context.Context, k string) (Value, bool, error) {
	var v Value
	b, err := f.c.Do(ctx, f.c.B().Get().Key(k).Build()).AsBytes()
	if rueidis.IsRedisNil(err) {
		return v, false, nil
	}
	if err != nil {
		return v, false, err
	}
	return v, true, floorCodec.Unmarshal(b, &v)
}

func (f *rueidisFloor) set(ctx context.Context, k string, v Value) error {
	b, err := floorCodec.Append(nil, v)
	if err != nil {
		return err
	}
	return f.c.Do(ctx, f.c.B().Set().Key(k).Value(rueidis.BinaryString(b)).Px(remoteTTL).Build()).Error()
}

func (f *rueidisFloor) mget(ctx context.Context, keys []string) (int, error) {
	vals, err := f.c.Do(ctx, f.c.B().Mget().Key(keys...).Build()).ToArray()
	if err != nil {
		return 0, err
	}
	out := make(map[string]Value, len(keys))
	for i, m := range vals {
		if m.IsNil() {
			continue
		}
		b, err := m.AsBytes()
		if err != nil {
			return 0, err
		}
		var v Value
		if err := floorCodec.Unmarshal(b, &v); err != nil {
			return 0, err
		}
		out[keys[i]] = v
	}
	return len(out), nil
}

func (f *rueidisFloor) close() { f.c.Close() }

// goRedisFloor is a bare go-redis client: GET or MGET, then decode a view of the
// reply (no copy), the fastest a hand-written caller can do.
type goRedisFloor struct{ c *redis.Client }

func newGoRedisFloor(_ runner, s *setup) subject {
	return &goRedisFloor{c: s.redis.goRedisClient(s.counts)}
}

func (f *goRedisFloor) get(ctx context.Context, k string) (Value, bool, error) {
	var v Value
	s, err := f.c.Get(ctx, k).Result()
	if errors.Is(err, redis.Nil) {
		return v, false, nil
	}
	if err != nil {
		return v, false, err
	}
	return v, true, floorCodec.Unmarshal(bytesView(s), &v)
}

func (f *goRedisFloor) set(ctx context.Context, k string, v Value) error {
	b, err := floorCodec.Append(nil, v)
	if err != nil {
		return err
	}
	return f.c.Set(ctx, k, b, remoteTTL).Err()
}

func (f *goRedisFloor) mget(ctx context.Context, keys []string) (int, error) {
	vals, err := f.c.MGet(ctx, keys...).Result()
	if err != nil {
		return 0, err
	}
	out := make(map[string]Value, len(keys))
	for i, x := range vals {
		s, ok := x.(string)
		if !ok {
			continue
		}
		var v Value
		if err := floorCodec.Unmarshal(bytesView(s), &v); err != nil {
			return 0, err
		}
		out[keys[i]] = v
	}
	return len(out), nil
}

func (f *goRedisFloor) close() { _ = f.c.Close() }
