package benchmarks

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/backend"
)

// memRemote is a backend.Remote over a map: an L2 with no network, so that what an
// L2 hit costs the cache itself (key, guard, envelope, decode, counters) can be
// measured apart from the round trip, in time and in instructions.
type memRemote struct {
	mu sync.RWMutex
	m  map[string][]byte
}

var _ backend.Remote = (*memRemote)(nil)

func newMemRemote() *memRemote { return &memRemote{m: map[string][]byte{}} }

// Get returns the stored slice itself: the contract lets a backend hand out a view.
func (m *memRemote) Get(_ context.Context, key string) ([]byte, error) {
	m.mu.RLock()
	v := m.m[key]
	m.mu.RUnlock()
	return v, nil
}

func (m *memRemote) MGet(_ context.Context, keys []string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	m.mu.RLock()
	for i, k := range keys {
		out[i] = m.m[k]
	}
	m.mu.RUnlock()
	return out, nil
}

func (m *memRemote) Set(_ context.Context, key string, value []byte, _ time.Duration) error {
	m.mu.Lock()
	m.m[key] = append([]byte(nil), value...)
	m.mu.Unlock()
	return nil
}

func (m *memRemote) MSet(ctx context.Context, items []backend.Item) error {
	for _, it := range items {
		_ = m.Set(ctx, it.Key, it.Value, it.TTL)
	}
	return nil
}

func (m *memRemote) Del(_ context.Context, keys ...string) error {
	m.mu.Lock()
	for _, k := range keys {
		delete(m.m, k)
	}
	m.mu.Unlock()
	return nil
}

// newMemAccelerator is accelerator in ModeRemote over a memRemote.
func newMemAccelerator(r runner, _ *setup) subject {
	c, err := accelerator.New(accelerator.Options[string, Value]{
		Area: "bench", Mode: accelerator.ModeRemote, Remote: newMemRemote(),
		LocalTTL: localTTL, RemoteTTL: remoteTTL,
	})
	fatalIf(r, "accelerator", err)
	return &accSubject{c: c, release: func() {}}
}

// mapFloor is the floor of the in-memory L2 hit: the same map's lookup, then
// accelerator's codec on the bytes.
type mapFloor struct{ r *memRemote }

func newMapFloor(runner, *setup) subject { return &mapFloor{r: newMemRemote()} }

func (f *mapFloor) get(ctx context.Context, k string) (Value, bool, error) {
	var v Value
	b, _ := f.r.Get(ctx, k)
	if b == nil {
		return v, false, nil
	}
	return v, true, floorCodec.Unmarshal(b, &v)
}

func (f *mapFloor) set(ctx context.Context, k string, v Value) error {
	b, err := floorCodec.Append(nil, v)
	if err != nil {
		return err
	}
	return f.r.Set(ctx, k, b, remoteTTL)
}

func (f *mapFloor) close() {}

// memLibs are the contenders of the in-memory L2 hit.
var memLibs = []lib{
	{name: "accelerator", make: newMemAccelerator},
	{name: "map", floor: true, make: newMapFloor},
}

// l2HitMem reads one key that the in-memory remote holds, with no L1.
func l2HitMem(r runner) {
	const k = "k:1"
	for _, size := range sizes {
		r.Run("size="+size.name, func(r runner) {
			for _, l := range memLibs {
				var in *instance
				r.Run("lib="+l.name, func(r runner) {
					if in == nil {
						s := setup{tier: tierRemote, size: size}
						in = &instance{subject: l.make(r, &s), setup: s}
						fatalIf(r, "set", in.set(context.Background(), k, size.value(1)))
						mustHit(r, in, k)
					}
					ctx := context.Background()
					r.ReportAllocs()
					for r.Loop() {
						if _, ok, err := in.get(ctx, k); !ok || err != nil {
							r.Fatalf("L2 miss: found=%v err=%v", ok, err)
						}
					}
				})
				if in != nil {
					in.close()
				}
			}
		})
	}
}

// --- instructions ---

// instrCases are the benchmarks that scripts/bench.sh runs under callgrind to count
// instructions per operation: the L1 hit against a bare otter Get, the in-memory L2
// hit against the map lookup and decode, all with 100 B values.
var instrCases = []struct {
	name string
	libs []lib
}{
	{"L1Hit", []lib{libNamed("accelerator"), libNamed("otter")}},
	{"L2HitMem", memLibs},
}

func libNamed(name string) lib {
	for _, l := range libs {
		if l.name == name {
			return l
		}
	}
	panic("no library " + name)
}

// BenchmarkInstr runs one operation per iteration through instrOp, the function
// whose instructions callgrind collects (--toggle-collect), so that background
// goroutines (the coarse clock, otter's maintenance) and the runtime's threads are
// not counted. Two runs of different iteration counts, subtracted, cancel the
// set-up. It is also an ordinary benchmark.
func BenchmarkInstr(b *testing.B) {
	for _, c := range instrCases {
		b.Run("case="+c.name, func(b *testing.B) {
			for _, l := range c.libs {
				b.Run("lib="+l.name, func(b *testing.B) {
					r := benchRunner{b}
					s := setup{tier: tierLocal, size: sizes[0], capacity: capacity}
					if c.name != "L1Hit" {
						s.tier = tierRemote
					}
					in := &instance{subject: l.make(r, &s), setup: s}
					defer in.close()
					ctx := context.Background()
					fatalIf(r, "set", in.set(ctx, "k:1", s.size.value(1)))
					mustHit(r, in, "k:1")
					b.ReportAllocs()
					for b.Loop() {
						// Yield between operations, outside instrOp: the scheduler then
						// never preempts an operation because it ran for 10 ms of wall
						// time (how many ops that is depends on the machine's load),
						// and its work is never counted inside one.
						runtime.Gosched()
						if !instrOp(ctx, in.subject, "k:1") {
							b.Fatal("miss")
						}
					}
				})
			}
		})
	}
}

// instrOp is one read: the unit that callgrind counts.
//
//go:noinline
func instrOp(ctx context.Context, s subject, k string) bool {
	_, ok, err := s.get(ctx, k)
	return ok && err == nil
}
