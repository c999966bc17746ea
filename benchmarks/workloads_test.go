package benchmarks

import (
	"context"
	"math/rand"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// instance is one library built for one sub-benchmark.
type instance struct {
	subject
	setup
}

// eachLib runs body as the sub-benchmark "size=<size>/lib=<name>" of r for every
// value size and every library that runs in t and that want accepts. The library
// is built once, by prepare, on an empty Redis, before the first calibration round;
// it outlives the rounds (b.RunParallel calls the body several times) and is
// closed when the sub-benchmark ends.
func eachLib(r runner, t tier, want func(lib) bool, base setup, prepare, body func(r runner, in *instance)) {
	var redis *redisServer
	if t.remote() {
		redis = startRedis(r)
	}
	for _, size := range sizes {
		r.Run("size="+size.name, func(r runner) {
			for _, l := range libs {
				if !l.runs(t) || (want != nil && !want(l)) {
					continue
				}
				runLib(r, l, t, size, redis, base, prepare, body)
			}
		})
	}
}

func runLib(r runner, l lib, t tier, size valueSize, redis *redisServer, base setup, prepare, body func(r runner, in *instance)) {
	var in *instance
	defer func() {
		if in != nil {
			in.close()
		}
	}()
	r.Run("lib="+l.name, func(r runner) {
		if in == nil {
			s := base
			s.tier, s.size, s.redis, s.counts = t, size, redis, new(counts)
			if s.capacity == 0 {
				s.capacity = capacity
			}
			if s.src != nil {
				s.src = &source{size: size, slow: base.src.slow}
			}
			if redis != nil {
				redis.flush(r)
			}
			in = &instance{subject: l.make(r, &s), setup: s}
			if prepare != nil {
				prepare(r, in)
			}
		}
		body(r, in)
	})
}

// withLoader is the base setup of the workloads that load misses.
var withLoader = setup{src: &source{}}

func notFloor(l lib) bool { return !l.floor }

// batchLibs are the contenders with a batch read; the floors only where nothing
// has to be loaded.
var batchLibs = map[string]bool{
	"accelerator-rueidis": true, "accelerator-goredis": true, "jetcache": true, "sturdyc": true,
	"rueidis": true, "goredis": true,
}

// mustHit reads key until the library answers it (some write their L1
// asynchronously), and fails after a second.
func mustHit(r runner, s subject, key string) {
	r.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(time.Second)
	for {
		_, ok, err := s.get(ctx, key)
		if ok && err == nil {
			return
		}
		if time.Now().After(deadline) {
			r.Fatalf("%s never became readable (found=%v, err=%v)", key, ok, err)
		}
		time.Sleep(time.Millisecond)
	}
}

// before is what the counters read when a timed section starts.
type before struct {
	redis  snapshot
	loads  int64
	server serverStats
}

// mark reads the counters of the library's client and loader and, when the
// workload has Redis, the server's figures.
func (in *instance) mark() before {
	b := in.clientMark()
	b.server, _ = in.redis.stats()
	return b
}

func (in *instance) clientMark() before {
	b := before{redis: in.counts.snapshot()}
	if in.src != nil {
		b.loads = in.src.calls.Load()
	}
	return b
}

// settle waits (untimed) until the writes that some libraries make in the
// background are done, so that the figures count them.
func (in *instance) settle() {
	deadline := time.Now().Add(2 * time.Second)
	last := in.clientMark()
	for time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		now := in.clientMark()
		if now == last {
			return
		}
		last = now
	}
}

// report reports the domain figures of the ops operations since b: round trips
// (as the client sends them), loads, and what the server did (commands executed,
// CPU time of the redis-server process).
func (in *instance) report(r runner, b before, ops int) {
	in.settle()
	now := in.mark()
	if in.tier.remote() {
		r.Metric(float64(now.redis.roundTrips-b.redis.roundTrips)/float64(ops), "roundtrips/op")
		if st, ok := in.redis.stats(); ok && b.server != (serverStats{}) {
			r.Metric(float64(st.calls-b.server.calls)/float64(ops), "redis-cmds/op")
			r.Metric((st.cpuMicros-b.server.cpuMicros)/float64(ops), "redis-µs/op")
		}
	}
	if in.src != nil {
		r.Metric(float64(now.loads-b.loads)/float64(ops), "loads/op")
	}
}

// --- L1 hit ---

// l1Hit reads one key that is in L1, again and again.
func l1Hit(r runner) {
	const k = "k:1"
	eachLib(r, tierLocal, nil, setup{},
		func(r runner, in *instance) {
			fatalIf(r, "set", in.set(context.Background(), k, in.size.value(1)))
			mustHit(r, in, k)
		},
		func(r runner, in *instance) {
			ctx := context.Background()
			r.ReportAllocs()
			for r.Loop() {
				if _, ok, err := in.get(ctx, k); !ok || err != nil {
					r.Fatalf("L1 miss: found=%v err=%v", ok, err)
				}
			}
		})
}

// --- L2 hit ---

// l2Hit reads one key that is in Redis, with no L1 (tierRemote), again and again.
func l2Hit(r runner) {
	const k = "k:1"
	eachLib(r, tierRemote, nil, setup{},
		func(r runner, in *instance) {
			fatalIf(r, "set", in.set(context.Background(), k, in.size.value(1)))
			mustHit(r, in, k)
		},
		func(r runner, in *instance) {
			ctx := context.Background()
			r.ReportAllocs()
			b := in.mark()
			for r.Loop() {
				if _, ok, err := in.get(ctx, k); !ok || err != nil {
					r.Fatalf("L2 miss: found=%v err=%v", ok, err)
				}
			}
			in.report(r, b, r.Ops())
		})
}

// concurrentKeys are the keys of the concurrent L2-hit workload: each goroutine
// reads its own, so that no library can merge the reads of two goroutines.
const concurrentKeys = 64

// l2HitConcurrent is l2Hit on goroutines goroutines at GOMAXPROCS=procs: its ns/op
// is the inverse of the throughput. With many more goroutines than CPUs, a client
// that pipelines concurrent requests on one connection (rueidis) shows it.
func l2HitConcurrent(r runner, procs, goroutines int) {
	eachLib(r, tierRemote, nil, setup{},
		func(r runner, in *instance) {
			for i := range int64(concurrentKeys) {
				fatalIf(r, "set", in.set(context.Background(), key(i), in.size.value(i)))
			}
			mustHit(r, in, key(concurrentKeys-1))
		},
		func(r runner, in *instance) {
			ctx := context.Background()
			keys := make([]string, concurrentKeys)
			for i := range keys {
				keys[i] = key(int64(i))
			}
			var next, ops, failures atomic.Int64
			r.ReportAllocs()
			b := in.mark()
			r.Parallel(procs, goroutines, func(more func() bool) {
				i := int(next.Add(1)-1) % len(keys)
				n := 0
				for more() {
					if _, ok, err := in.get(ctx, keys[i]); !ok || err != nil {
						failures.Add(1)
					}
					n++
				}
				ops.Add(int64(n))
			})
			if failures.Load() > 0 {
				r.Fatalf("%d L2 misses", failures.Load())
			}
			in.report(r, b, int(ops.Load()))
		})
}

// --- miss + load ---

// freshKeys hands out keys that no layer holds: every run of a library starts on an
// empty Redis, and ids only grow.
type freshKeys struct{ next atomic.Int64 }

func (f *freshKeys) key() (string, int64) {
	id := 1_000_000 + f.next.Add(1)
	return key(id), id
}

// missLoad reads a key that no layer holds, so that it is loaded (the loader costs
// a fixed amount of CPU work) and written back.
func missLoad(r runner, t tier) {
	var fresh freshKeys
	eachLib(r, t, notFloor, withLoader, nil,
		func(r runner, in *instance) {
			ctx := context.Background()
			r.ReportAllocs()
			b := in.mark()
			for r.Loop() {
				k, id := fresh.key()
				if v, ok, err := in.get(ctx, k); !ok || err != nil || v.ID != id {
					r.Fatalf("load of %s: found=%v err=%v id=%d", k, ok, err, v.ID)
				}
			}
			in.report(r, b, r.Ops())
		})
}

// --- batches ---

const batchSize = 100

// batchKind says what a batch of batchSize keys finds in Redis.
type batchKind int

const (
	batchAllInL2 batchKind = iota
	batchAllMissing
	batchHalf
)

func (k batchKind) String() string {
	return [...]string{"all-in-L2", "all-missing", "half"}[k]
}

// batch reads batchSize keys in one call, with no L1 (tierRemote): all in Redis,
// none (all loaded with one batch-loader call and written back), or half of each.
func batch(r runner, kind batchKind) {
	present := map[batchKind]int{batchAllInL2: batchSize, batchAllMissing: 0, batchHalf: batchSize / 2}[kind]
	base := withLoader
	want := func(l lib) bool { return batchLibs[l.name] && !l.floor }
	if kind == batchAllInL2 {
		base, want = setup{}, func(l lib) bool { return batchLibs[l.name] }
	}
	var fresh freshKeys
	eachLib(r, tierRemote, want, base,
		func(r runner, in *instance) {
			for i := range int64(present) {
				fatalIf(r, "set", in.set(context.Background(), key(i), in.size.value(i)))
			}
		},
		func(r runner, in *instance) {
			ctx := context.Background()
			bt := in.subject.(batcher)
			keys := make([]string, batchSize)
			for i := range present {
				keys[i] = key(int64(i))
			}
			r.ReportAllocs()
			b := in.mark()
			for r.Loop() {
				for i := present; i < batchSize; i++ {
					keys[i], _ = fresh.key()
				}
				if n, err := bt.mget(ctx, keys); n != batchSize || err != nil {
					r.Fatalf("batch of %d keys found %d: %v", batchSize, n, err)
				}
			}
			in.report(r, b, r.Ops())
		})
}

// --- stampede ---

const stampedeReaders = 1000

// stampedeLoad is how long the loader of the stampede takes: long enough for every
// reader to arrive while the load is in flight.
const stampedeLoad = time.Millisecond

// stampede starts stampedeReaders goroutines on one key that no layer holds; an op
// is the whole stampede, and loads/op counts the loader calls it caused.
func stampede(r runner, t tier) {
	var fresh freshKeys
	base := setup{src: &source{slow: stampedeLoad}}
	eachLib(r, t, notFloor, base, nil,
		func(r runner, in *instance) {
			ctx := context.Background()
			var failures atomic.Int64
			r.ReportAllocs()
			b := in.mark()
			for r.Loop() {
				k, id := fresh.key()
				start := make(chan struct{})
				var wg sync.WaitGroup
				for range stampedeReaders {
					wg.Go(func() {
						<-start
						if v, ok, err := in.get(ctx, k); !ok || err != nil || v.ID != id {
							failures.Add(1)
						}
					})
				}
				close(start)
				wg.Wait()
			}
			if failures.Load() > 0 {
				r.Fatalf("%d readers of the stampede failed", failures.Load())
			}
			in.report(r, b, r.Ops())
		})
}

// --- zipf ---

const (
	// zipfKeys is the key space of the zipf workload, ten times the L1.
	zipfKeys     = 10_000
	zipfCapacity = zipfKeys / 10
	// zipfS is the skew: the 10% most read keys draw about 75% of the reads.
	zipfS = 1.01
	// zipfWriteEvery makes one operation in 20 a write (5%).
	zipfWriteEvery = 20
	// zipfSeqLen is the length of each goroutine's precomputed key sequence.
	zipfSeqLen = 1 << 16
	// zipfWarmup is the number of operations run, untimed, before the first round.
	zipfWarmup = zipfKeys
)

var zipfKeyNames = func() []string {
	keys := make([]string, zipfKeys)
	for i := range keys {
		keys[i] = key(int64(i))
	}
	return keys
}()

// zipfSeq returns a sequence of key indexes drawn with seed.
func zipfSeq(seed int64) []int32 {
	z := rand.NewZipf(rand.New(rand.NewSource(seed)), zipfS, 1, zipfKeys-1)
	seq := make([]int32, zipfSeqLen)
	for i := range seq {
		seq[i] = int32(z.Uint64())
	}
	return seq
}

// zipfSeqs are the sequences of the goroutines (goroutine g walks zipfSeqs[g%8],
// from a place that depends on g/8)
// and, last, of the warm-up, drawn once so that no timed section pays for them.
var zipfSeqs = sync.OnceValue(func() [][]int32 {
	seqs := make([][]int32, 9)
	for i := range seqs {
		seqs[i] = zipfSeq(int64(i + 1))
	}
	return seqs
})

// zipfOps runs operations of the mix while more says so, walking seq from position
// from: a read (through the loader on a miss) or, one time in zipfWriteEvery, a
// write.
func zipfOps(ctx context.Context, in *instance, seq []int32, from int, more func() bool) (ops, reads, failures int64) {
	for i := from; more(); i++ {
		ops++
		idx := seq[i%len(seq)]
		k := zipfKeyNames[idx]
		if i%zipfWriteEvery == 0 {
			if err := in.set(ctx, k, in.size.value(int64(idx))); err != nil {
				failures++
			}
			continue
		}
		reads++
		if _, ok, err := in.get(ctx, k); !ok || err != nil {
			failures++
		}
	}
	return ops, reads, failures
}

// zipf runs a read-mostly mix over zipfKeys keys drawn from a zipf distribution, on
// goroutines goroutines at GOMAXPROCS=procs, with an L1 of a tenth of the keys. Besides
// the usual figures it reports hit-ratio, the share of reads that L1 answered: one
// minus the reads that reached Redis (GET commands) or, without Redis, the loader.
func zipf(r runner, t tier, procs, goroutines int) {
	base := withLoader
	base.capacity = zipfCapacity
	eachLib(r, t, notFloor, base,
		func(r runner, in *instance) {
			seq := zipfSeqs()[8]
			n := zipfWarmup
			if r.Smoke() {
				n = 10
			}
			_, _, failures := zipfOps(context.Background(), in, seq, 0, func() bool { n--; return n >= 0 })
			if failures > 0 {
				r.Fatalf("%d warm-up operations failed", failures)
			}
			in.settle()
		},
		func(r runner, in *instance) {
			ctx := context.Background()
			var seeds, ops, reads, failures atomic.Int64
			r.ReportAllocs()
			b := in.mark()
			r.Parallel(procs, goroutines, func(more func() bool) {
				// Goroutines that share a sequence start at different places of it.
				g := int(seeds.Add(1) - 1)
				seq := zipfSeqs()[g%8]
				n, rd, f := zipfOps(ctx, in, seq, 1+(g/8)*(zipfSeqLen/8), more)
				ops.Add(n)
				reads.Add(rd)
				failures.Add(f)
			})
			if failures.Load() > 0 {
				r.Fatalf("%d operations failed", failures.Load())
			}
			in.report(r, b, int(max(ops.Load(), 1)))
			now := in.mark()
			missed := now.loads - b.loads
			if t.remote() {
				missed = now.redis.gets - b.redis.gets
			}
			r.Metric(1-float64(missed)/float64(max(reads.Load(), 1)), "hit-ratio")
		})
}

func goroutinesName(n int) string { return "goroutines=" + strconv.Itoa(n) }
