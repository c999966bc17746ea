package accelerator_test

// A linearizability checker over randomised concurrent histories (porcupine), on one
// instance, in every mode, against a versioned source of truth and a real
// redis-server.
//
// The source holds one version per key; a writer bumps the version and then writes
// the cache: Set(k, 2v) with the new version v, or Del(k) to invalidate it (the usual
// cache-aside write). The loader returns 2v+1 for the source's current version v, so
// that a value tells whether it was loaded or written. The sequential specification
// of a key is then (lzState):
//
//   - after Set(2v) the cache holds exactly 2v: a Get returns 2v, or a value loaded
//     from the source at version v or later (a load may read the source after a
//     writer bumped it and before its cache write lands);
//   - after Del(s), and after anything that may take a value away (an L1 eviction in
//     ModeLocal, a Redis restart), a Get returns a version the source held at or after
//     the write: any version ≥ s;
//   - a write that failed may or may not have happened: reads return at least the
//     older of the two floors.
//
// A read that joined a load or an L2 read begun before a write that returned, or an
// L1 that kept another value than Redis after concurrent writes, shows up as a Get
// returning less than the floor, or other than the exact value.

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/internal/redistest"
	"github.com/accelerator-go/accelerator/local"
)

type lzOp uint8

const (
	lzGet lzOp = iota
	lzSet
	lzDel
	lzEvict
	lzRestart
)

type lzInput struct {
	op  lzOp
	key string
	v   int64 // the version a Set wrote, or the source's version a Del followed
}

type lzOutput struct {
	v      int64
	found  bool
	failed bool
}

type lzState struct {
	floor int64
	exact bool
}

// lzModel is the specification above. evictKeepsValue is true where an L1 eviction
// leaves the value in L2 (ModeBoth).
func lzModel(evictKeepsValue bool) porcupine.Model {
	return porcupine.Model{
		Partition: partitionByKey,
		Init:      func() any { return lzState{} },
		Step: func(state, input, output any) (bool, any) {
			s, in, out := state.(lzState), input.(lzInput), output.(lzOutput)
			switch in.op {
			case lzGet:
				if !out.found {
					return false, s
				}
				ver, loadedValue := out.v/2, out.v%2 == 1
				if s.exact && !loadedValue {
					return ver == s.floor, s
				}
				return ver >= s.floor, s
			case lzSet:
				if out.failed {
					return true, lzState{floor: min(s.floor, in.v)}
				}
				return true, lzState{floor: in.v, exact: true}
			case lzDel:
				if out.failed {
					return true, lzState{floor: min(s.floor, in.v)}
				}
				return true, lzState{floor: in.v}
			case lzEvict:
				if evictKeepsValue {
					return true, s
				}
				return true, lzState{floor: s.floor}
			default: // lzRestart
				return true, lzState{floor: s.floor}
			}
		},
		DescribeOperation: func(input, output any) string {
			in, out := input.(lzInput), output.(lzOutput)
			return fmt.Sprintf("%s(%s, %d) -> %+v", [...]string{"get", "set", "del", "evict", "restart"}[in.op], in.key, in.v, out)
		},
	}
}

// partitionByKey checks each key on its own; a restart belongs to every key.
func partitionByKey(h []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string][]porcupine.Operation{}
	var restarts []porcupine.Operation
	for _, op := range h {
		in := op.Input.(lzInput)
		if in.op == lzRestart {
			restarts = append(restarts, op)
			continue
		}
		byKey[in.key] = append(byKey[in.key], op)
	}
	out := make([][]porcupine.Operation, 0, len(byKey))
	for _, ops := range byKey {
		out = append(out, append(ops, restarts...))
	}
	return out
}

// lzSource is the source of truth: one version per key.
type lzSource struct {
	mu       sync.Mutex
	versions map[string]int64
	// slow makes loads yield for a while, so that they overlap the writes.
	slow bool
}

func (s *lzSource) bump(k string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.versions[k]++
	return s.versions[k]
}

func (s *lzSource) read(k string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.versions[k]
}

func (s *lzSource) pause() {
	n := 2
	if s.slow {
		n = 200
	}
	for range rand.IntN(n) {
		runtime.Gosched()
	}
}

func (s *lzSource) Load(_ context.Context, k string) (int64, bool, error) {
	v := s.read(k)
	s.pause()
	return 2*v + 1, true, nil
}

func (s *lzSource) MLoad(_ context.Context, keys []string) (map[string]int64, error) {
	m := make(map[string]int64, len(keys))
	for _, k := range keys {
		m[k] = 2*s.read(k) + 1
	}
	s.pause()
	return m, nil
}

// lzRig runs histories against one cache.
type lzRig struct {
	c     *accelerator.Cache[string, int64]
	store *local.Store[string, int64] // nil in ModeRemote
	src   *lzSource
	start time.Time
}

func newLZRig(t *testing.T, mode accelerator.Mode, srv *redistest.Server, area string) *lzRig {
	src := &lzSource{versions: map[string]int64{}}
	opts := accelerator.Options[string, int64]{
		Area: area, Mode: mode, Loader: src, MLoader: src,
		LocalTTL: time.Hour, RemoteTTL: time.Hour, LoaderTimeout: time.Minute,
		// The checker looks at the protocol, not at the breaker: a restart must not
		// leave the remote refused for long.
		DisableCircuitBreaker: true,
	}
	rig := &lzRig{src: src, start: time.Now()}
	if mode != accelerator.ModeRemote {
		st, err := local.New(local.Options[string, int64]{MaximumSize: 1 << 16})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(st.Close)
		opts.Local, rig.store = st, st
	}
	if mode != accelerator.ModeLocal {
		opts.Remote = newRemote(t, srv.URL())
	}
	rig.c = newCache(t, opts)
	return rig
}

func (r *lzRig) now() int64 { return int64(time.Since(r.start)) }

// history runs clients concurrent clients of ops operations each over keys keys named
// after prefix, and returns what they saw.
func (r *lzRig) history(prefix string, clients, ops, keys int, seed uint64) []porcupine.Operation {
	var mu sync.Mutex
	var h []porcupine.Operation
	record := func(client int, in lzInput, out lzOutput, call, ret int64) {
		mu.Lock()
		h = append(h, porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call, Return: ret})
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for cl := range clients {
		rng := rand.New(rand.NewPCG(seed, uint64(cl)))
		wg.Go(func() {
			for range ops {
				r.step(rng, cl, prefix, keys, record)
			}
		})
	}
	wg.Wait()
	return h
}

func (r *lzRig) step(rng *rand.Rand, cl int, prefix string, keys int, record func(int, lzInput, lzOutput, int64, int64)) {
	ctx := context.Background()
	key := func() string { return fmt.Sprintf("%s:%d", prefix, rng.IntN(keys)) }
	two := func() []string {
		a, b := rng.IntN(keys), rng.IntN(keys-1)
		if b >= a {
			b++
		}
		return []string{fmt.Sprintf("%s:%d", prefix, a), fmt.Sprintf("%s:%d", prefix, b)}
	}
	switch n := rng.IntN(10); {
	case n < 3:
		k := key()
		call := r.now()
		v, found, err := r.c.Get(ctx, k)
		if err == nil {
			record(cl, lzInput{op: lzGet, key: k}, lzOutput{v: v, found: found}, call, r.now())
		}
	case n == 3:
		ks := two()
		call := r.now()
		m, err := r.c.MGet(ctx, ks)
		ret := r.now()
		for _, k := range ks {
			if v, ok := m[k]; ok || err == nil {
				record(cl, lzInput{op: lzGet, key: k}, lzOutput{v: v, found: ok}, call, ret)
			}
		}
	case n == 4:
		k := key()
		v := r.src.bump(k)
		call := r.now()
		err := r.c.Set(ctx, k, 2*v)
		record(cl, lzInput{op: lzSet, key: k, v: v}, lzOutput{failed: err != nil}, call, r.now())
	case n == 5:
		ks := two()
		items := map[string]int64{}
		for _, k := range ks {
			items[k] = 2 * r.src.bump(k)
		}
		call := r.now()
		err := r.c.MSet(ctx, items)
		ret := r.now()
		for k, v := range items {
			record(cl, lzInput{op: lzSet, key: k, v: v / 2}, lzOutput{failed: err != nil}, call, ret)
		}
	case n == 6:
		k := key()
		s := r.src.bump(k)
		call := r.now()
		err := r.c.Del(ctx, k)
		record(cl, lzInput{op: lzDel, key: k, v: s}, lzOutput{failed: err != nil}, call, r.now())
	case n == 7:
		ks := two()
		vs := []int64{r.src.bump(ks[0]), r.src.bump(ks[1])}
		call := r.now()
		err := r.c.MDel(ctx, ks)
		ret := r.now()
		for i, k := range ks {
			record(cl, lzInput{op: lzDel, key: k, v: vs[i]}, lzOutput{failed: err != nil}, call, ret)
		}
	default:
		if r.store == nil {
			return
		}
		k := key()
		call := r.now()
		r.store.Delete(k) // an eviction: L1 forgets the key on its own
		record(cl, lzInput{op: lzEvict, key: k}, lzOutput{}, call, r.now())
	}
}

// checkHistories runs n histories and returns how many were not linearizable.
func (r *lzRig) checkHistories(t *testing.T, model porcupine.Model, n int, prefix string) (illegal int) {
	for i := range n {
		h := r.history(fmt.Sprintf("%s%d", prefix, i), 4, 12, 3, uint64(i))
		res := porcupine.CheckOperationsTimeout(model, h, 10*time.Second)
		switch res {
		case porcupine.Illegal:
			if illegal == 0 {
				t.Logf("history %d is not linearizable:\n%s", i, describeIllegal(model, h))
			}
			illegal++
		case porcupine.Unknown:
			t.Fatalf("history %d: the checker timed out", i)
		}
	}
	return illegal
}

func lzModes() []accelerator.Mode {
	return []accelerator.Mode{accelerator.ModeLocal, accelerator.ModeRemote, accelerator.ModeBoth}
}

// TestHistoriesAreLinearizable: 500 random concurrent histories of Get, MGet, Set,
// MSet, Del, MDel, loads and L1 evictions per mode, each checked by porcupine.
func TestHistoriesAreLinearizable(t *testing.T) {
	srv := redistest.Start(t)
	for _, mode := range lzModes() {
		t.Run(mode.String(), func(t *testing.T) {
			rig := newLZRig(t, mode, srv, "lz"+mode.String())
			if bad := rig.checkHistories(t, lzModel(mode == accelerator.ModeBoth), 500, "h"); bad > 0 {
				t.Fatalf("%d of 500 histories are not linearizable", bad)
			}
		})
	}
}

// TestCheckerCatchesAWeakenedProtocol: with the detach or the write lock turned off,
// the same checker finds histories that are not linearizable. This is what shows the
// checker can fail, and that each part of the protocol is needed.
func TestCheckerCatchesAWeakenedProtocol(t *testing.T) {
	srv := redistest.Start(t)
	for _, tc := range []struct {
		name                  string
		noDetach, noWriteLock bool
		modes                 []accelerator.Mode
	}{
		{"no detach", true, false, lzModes()},
		{"no write lock", false, true, []accelerator.Mode{accelerator.ModeBoth}},
	} {
		for _, mode := range tc.modes {
			t.Run(tc.name+"/"+mode.String(), func(t *testing.T) {
				rig := newLZRig(t, mode, srv, "lzw"+mode.String()+tc.name)
				rig.src.slow = true
				accelerator.WeakenProtocol(rig.c, tc.noDetach, tc.noWriteLock)
				model := lzModel(mode == accelerator.ModeBoth)
				for round := 0; round < 20; round++ {
					if rig.checkHistories(t, model, 100, fmt.Sprintf("r%d-", round)) > 0 {
						return
					}
				}
				t.Fatal("2,000 histories against a weakened protocol were all linearizable: the checker cannot fail")
			})
		}
	}
}

// TestHistoriesSpanningARedisRestartAreLinearizable: the same checker while Redis is
// killed and restarted in the middle of each history.
func TestHistoriesSpanningARedisRestartAreLinearizable(t *testing.T) {
	srv := redistest.Start(t)
	for _, mode := range []accelerator.Mode{accelerator.ModeRemote, accelerator.ModeBoth} {
		t.Run(mode.String(), func(t *testing.T) {
			rig := newLZRig(t, mode, srv, "lzr"+mode.String())
			model := lzModel(mode == accelerator.ModeBoth)
			for i := range 5 {
				prefix := fmt.Sprintf("r%d", i)
				var restart porcupine.Operation
				var done atomic.Bool
				go func() {
					defer done.Store(true)
					restart.Call = rig.now()
					srv.Restart(t)
					restart.Return = rig.now()
				}()
				var h []porcupine.Operation
				for !done.Load() {
					h = append(h, rig.history(prefix, 4, 12, 3, uint64(i))...)
				}
				h = append(h, rig.history(prefix, 4, 12, 3, uint64(i)+100)...)
				restart.Input, restart.Output = lzInput{op: lzRestart}, lzOutput{}
				restart.ClientId = 99
				h = append(h, restart)
				if res := porcupine.CheckOperationsTimeout(model, h, 20*time.Second); res != porcupine.Ok {
					t.Fatalf("history %d across a restart: %v\n%s", i, res, describeIllegal(model, h))
				}
			}
			if rig.c.MetricsSnapshot().RemoteErrors == 0 {
				t.Fatal("no remote call failed: the histories did not span the restarts")
			}
		})
	}
}

// describeIllegal lists, in call order, the operations of a key whose history is not
// linearizable.
func describeIllegal(model porcupine.Model, h []porcupine.Operation) string {
	for _, part := range partitionByKey(h) {
		if porcupine.CheckOperations(porcupine.Model{Init: model.Init, Step: model.Step}, part) {
			continue
		}
		slices.SortFunc(part, func(a, b porcupine.Operation) int { return cmp.Compare(a.Call, b.Call) })
		var b strings.Builder
		for _, op := range part {
			fmt.Fprintf(&b, "  client %d [%d, %d] %s\n", op.ClientId, op.Call, op.Return, model.DescribeOperation(op.Input, op.Output))
		}
		return b.String()
	}
	return "  (no single key fails)"
}
