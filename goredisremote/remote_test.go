package goredisremote_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/internal/redistest"
	"github.com/accelerator-go/accelerator/internal/slot"
)

// keysAndItems returns n keys "p:i" and the items that give a value to each key with
// i%3 != 0; the other keys stay absent.
func keysAndItems(p string, n int) ([]string, []backend.Item) {
	keys := make([]string, n)
	var items []backend.Item
	for i := range keys {
		keys[i] = p + ":" + strconv.Itoa(i)
		if i%3 != 0 {
			items = append(items, backend.Item{Key: keys[i], Value: []byte("v" + strconv.Itoa(i)), TTL: time.Minute})
		}
	}
	return keys, items
}

// checkMGet fails the test unless vals holds the values of items at their keys and
// nil elsewhere.
func checkMGet(t *testing.T, keys []string, items []backend.Item, vals [][]byte) {
	t.Helper()
	want := make(map[string][]byte, len(items))
	for _, it := range items {
		want[it.Key] = it.Value
	}
	if len(vals) != len(keys) {
		t.Fatalf("MGet returned %d values for %d keys", len(vals), len(keys))
	}
	for i, k := range keys {
		w, ok := want[k]
		if !ok && vals[i] != nil {
			t.Errorf("MGet %s = %q, want nil", k, vals[i])
		}
		if ok && !bytes.Equal(vals[i], w) {
			t.Errorf("MGet %s = %q, want %q", k, vals[i], w)
		}
	}
}

// TestStandaloneBatchIsOneCommand pins that a batch on a *redis.Client is one MGET or
// one DEL, never a GET per key.
func TestStandaloneBatchIsOneCommand(t *testing.T) {
	t.Parallel()
	s, c := newClient(t)
	r := mustNew(t, c)
	ctx := context.Background()
	keys, items := keysAndItems("k", 100)
	if err := r.MSet(ctx, items); err != nil {
		t.Fatalf("MSet = %v", err)
	}

	var vals [][]byte
	calls, _ := commandDelta(t, []*redistest.Server{s}, func() {
		var err error
		if vals, err = r.MGet(ctx, keys); err != nil {
			t.Fatalf("MGet = %v", err)
		}
	})
	checkMGet(t, keys, items, vals)
	if calls["mget"] != 1 || calls["get"] != 0 {
		t.Errorf("MGet of 100 keys sent %d MGET and %d GET, want 1 and 0", calls["mget"], calls["get"])
	}

	calls, _ = commandDelta(t, []*redistest.Server{s}, func() {
		if err := r.Del(ctx, keys...); err != nil {
			t.Fatalf("Del = %v", err)
		}
	})
	if calls["del"] != 1 {
		t.Errorf("Del of 100 keys sent %d DEL, want 1", calls["del"])
	}
	if n := s.Do(t, "DBSIZE").(int64); n != 0 {
		t.Errorf("DBSIZE after Del = %d, want 0", n)
	}
}

// TestClusterBatchesSplitBySlot pins that batches over many slots work on a cluster
// without a single CROSSSLOT, with one MGET or DEL per slot, in one pipeline.
func TestClusterBatchesSplitBySlot(t *testing.T) {
	t.Parallel()
	cl, cc := newClusterClient(t)
	hook := new(counter)
	cc.AddHook(hook)
	r := mustNew(t, cc)
	ctx := context.Background()
	nodes := cl.Nodes()

	keys, items := keysAndItems("k", 500)
	keys = append(keys, keys[7], keys[3], keys[7]) // duplicates, present and absent
	slots := make(map[uint16]bool)
	for _, k := range keys {
		slots[slot.Of(k)] = true
	}
	if len(slots) < 400 {
		t.Fatalf("only %d slots among the keys; the test needs many", len(slots))
	}

	hook.reset()
	calls, rejected := commandDelta(t, nodes, func() {
		if err := r.MSet(ctx, items); err != nil {
			t.Fatalf("MSet = %v", err)
		}
	})
	if calls["set"] != int64(len(items)) || rejected != 0 {
		t.Errorf("MSet of %d items: %d SET, %d rejected", len(items), calls["set"], rejected)
	}
	if hook.pipelines.Load() != 1 || hook.commands.Load() != 0 {
		t.Errorf("MSet: %d pipelines and %d single commands, want 1 and 0", hook.pipelines.Load(), hook.commands.Load())
	}

	hook.reset()
	var vals [][]byte
	calls, rejected = commandDelta(t, nodes, func() {
		var err error
		if vals, err = r.MGet(ctx, keys); err != nil {
			t.Fatalf("MGet = %v", err)
		}
	})
	checkMGet(t, keys, items, vals)
	if calls["mget"] != int64(len(slots)) || calls["get"] != 0 || rejected != 0 {
		t.Errorf("MGet over %d slots: %d MGET, %d GET, %d rejected; want one MGET per slot", len(slots), calls["mget"], calls["get"], rejected)
	}
	if hook.pipelines.Load() != 1 || hook.commands.Load() != 0 {
		t.Errorf("MGet: %d pipelines and %d single commands, want 1 and 0", hook.pipelines.Load(), hook.commands.Load())
	}

	hook.reset()
	calls, rejected = commandDelta(t, nodes, func() {
		if err := r.Del(ctx, keys...); err != nil {
			t.Fatalf("Del = %v", err)
		}
	})
	if calls["del"] != int64(len(slots)) || rejected != 0 {
		t.Errorf("Del over %d slots: %d DEL, %d rejected; want one DEL per slot", len(slots), calls["del"], rejected)
	}
	if hook.pipelines.Load() != 1 || hook.commands.Load() != 0 {
		t.Errorf("Del: %d pipelines and %d single commands, want 1 and 0", hook.pipelines.Load(), hook.commands.Load())
	}

	for _, n := range nodes {
		if got := n.ErrorStats(t); got["CROSSSLOT"] != 0 {
			t.Errorf("node %s sent %d CROSSSLOT errors", n.Addr(), got["CROSSSLOT"])
		}
		if got := n.Do(t, "DBSIZE").(int64); got != 0 {
			t.Errorf("node %s holds %d keys after Del, want 0", n.Addr(), got)
		}
	}
}

// TestClusterOneSlotIsOneCommand pins that keys sharing a hash tag cost a single
// command, without a pipeline.
func TestClusterOneSlotIsOneCommand(t *testing.T) {
	t.Parallel()
	cl, cc := newClusterClient(t)
	hook := new(counter)
	cc.AddHook(hook)
	r := mustNew(t, cc)
	ctx := context.Background()
	keys, items := keysAndItems("{user:42}", 50)
	if err := r.MSet(ctx, items); err != nil {
		t.Fatalf("MSet = %v", err)
	}

	hook.reset()
	var vals [][]byte
	calls, _ := commandDelta(t, cl.Nodes(), func() {
		var err error
		if vals, err = r.MGet(ctx, keys); err != nil {
			t.Fatalf("MGet = %v", err)
		}
		if err := r.Del(ctx, keys...); err != nil {
			t.Fatalf("Del = %v", err)
		}
	})
	checkMGet(t, keys, items, vals)
	if calls["mget"] != 1 || calls["del"] != 1 {
		t.Errorf("MGet and Del in one slot: %d MGET and %d DEL, want 1 and 1", calls["mget"], calls["del"])
	}
	if hook.pipelines.Load() != 0 || hook.commands.Load() != 2 {
		t.Errorf("%d pipelines and %d single commands, want 0 and 2", hook.pipelines.Load(), hook.commands.Load())
	}
}

// TestRingBatchesReachEveryShard pins that a Ring, which shards by key with its own
// hash, gets its batches as single-key commands: one MGET would only ask the shard
// of the first key, and one DEL would leave the other shards' keys behind.
func TestRingBatchesReachEveryShard(t *testing.T) {
	t.Parallel()
	shards, ring := newRing(t)
	hook := new(counter)
	ring.AddHook(hook)
	r := mustNew(t, ring)
	ctx := context.Background()
	keys, items := keysAndItems("k", 100)
	if err := r.MSet(ctx, items); err != nil {
		t.Fatalf("MSet = %v", err)
	}
	for _, s := range shards {
		if n := s.Do(t, "DBSIZE").(int64); n == 0 {
			t.Fatalf("shard %s holds no key: the test needs keys on every shard", s.Addr())
		}
	}

	hook.reset()
	vals, err := r.MGet(ctx, keys)
	if err != nil {
		t.Fatalf("MGet = %v", err)
	}
	checkMGet(t, keys, items, vals)
	if err := r.Del(ctx, keys...); err != nil {
		t.Fatalf("Del = %v", err)
	}
	if hook.pipelines.Load() != 2 || hook.commands.Load() != 0 {
		t.Errorf("MGet and Del: %d pipelines and %d single commands, want 2 and 0", hook.pipelines.Load(), hook.commands.Load())
	}
	for _, s := range shards {
		if n := s.Do(t, "DBSIZE").(int64); n != 0 {
			t.Errorf("shard %s holds %d keys after Del, want 0", s.Addr(), n)
		}
	}
}

// TestEmptyBatchesCostNothing pins that empty batches return without a round trip.
func TestEmptyBatchesCostNothing(t *testing.T) {
	t.Parallel()
	_, c := newClient(t)
	hook := new(counter)
	c.AddHook(hook)
	r := mustNew(t, c)
	ctx := context.Background()

	for _, keys := range [][]string{nil, {}} {
		vals, err := r.MGet(ctx, keys)
		if err != nil || vals == nil || len(vals) != 0 {
			t.Errorf("MGet(%#v) = %#v, %v; want an empty non-nil slice", keys, vals, err)
		}
	}
	if err := r.MSet(ctx, nil); err != nil {
		t.Errorf("MSet(nil) = %v", err)
	}
	if err := r.Del(ctx); err != nil {
		t.Errorf("Del() = %v", err)
	}
	if hook.commands.Load() != 0 || hook.pipelines.Load() != 0 {
		t.Errorf("empty batches sent %d commands and %d pipelines, want none", hook.commands.Load(), hook.pipelines.Load())
	}
}

// TestSetUsesMilliseconds pins SET ... PX with the TTL rounded up: go-redis' own Set
// would send EX for whole seconds.
func TestSetUsesMilliseconds(t *testing.T) {
	t.Parallel()
	s, c := newClient(t)
	r := mustNew(t, c)
	ctx := context.Background()
	tests := []struct {
		name     string
		ttl      time.Duration
		min, max int64 // bounds of PTTL right after the write
	}{
		{"1500ms", 1500 * time.Millisecond, 1000, 1500},
		{"2s", 2 * time.Second, 1500, 2000},
		{"rounded up", 1200*time.Millisecond + time.Microsecond, 1000, 1201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, write := range []string{"Set", "MSet"} {
				key := tt.name + ":" + write
				var err error
				if write == "Set" {
					err = r.Set(ctx, key, []byte("v"), tt.ttl)
				} else {
					err = r.MSet(ctx, []backend.Item{{Key: key, Value: []byte("v"), TTL: tt.ttl}, {Key: key + ":2", Value: []byte("v"), TTL: tt.ttl}})
				}
				if err != nil {
					t.Fatalf("%s = %v", write, err)
				}
				if got := s.Do(t, "PTTL", key).(int64); got < tt.min || got > tt.max {
					t.Errorf("%s with TTL %v: PTTL = %d, want in [%d, %d]", write, tt.ttl, got, tt.min, tt.max)
				}
			}
		})
	}
}

// TestEmptyValueIsNotAbsent pins that an empty string stored by someone else reads
// as an empty value, not as an absent key.
func TestEmptyValueIsNotAbsent(t *testing.T) {
	t.Parallel()
	s, c := newClient(t)
	r := mustNew(t, c)
	s.Do(t, "SET", "empty", "")
	ctx := context.Background()
	v, err := r.Get(ctx, "empty")
	if err != nil || v == nil || len(v) != 0 {
		t.Errorf("Get(empty) = %#v, %v; want an empty non-nil slice", v, err)
	}
	vals, err := r.MGet(ctx, []string{"empty", "absent"})
	if err != nil || vals[0] == nil || len(vals[0]) != 0 || vals[1] != nil {
		t.Errorf("MGet(empty, absent) = %#v, %v; want [{}, nil]", vals, err)
	}
}

// TestServerDown pins that every method fails, wrapped and without hanging, when
// the server is gone.
func TestServerDown(t *testing.T) {
	t.Parallel()
	s, c := newClient(t, func(o *redis.Options) {
		o.MaxRetries = -1
		o.DialerRetries = 1
	})
	r := mustNew(t, c)
	s.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ops := []struct {
		name string
		call func() error
	}{
		{"get", func() error { _, err := r.Get(ctx, "k"); return err }},
		{"mget", func() error { _, err := r.MGet(ctx, []string{"a", "b"}); return err }},
		{"set", func() error { return r.Set(ctx, "k", []byte("v"), time.Minute) }},
		{"mset", func() error {
			return r.MSet(ctx, []backend.Item{{Key: "a", Value: []byte("v"), TTL: time.Minute}, {Key: "b", Value: []byte("v"), TTL: time.Minute}})
		}},
		{"del", func() error { return r.Del(ctx, "a", "b") }},
		{"publish", func() error { return r.Publish(ctx, "ch", []byte("m")) }},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			err := op.call()
			var opErr interface{ Timeout() bool } // net.Error, wrapped
			if err == nil || !errors.As(err, &opErr) {
				t.Errorf("%s with the server down = %v, want a wrapped network error", op.name, err)
			}
			if want := fmt.Sprintf("goredisremote: %s: ", op.name); err != nil && !strings.HasPrefix(err.Error(), want) {
				t.Errorf("%s error %q does not start with %q", op.name, err, want)
			}
		})
	}
}

// TestBoundedReadOfHugeValue: a 100 MB value costs a bounded read about its limit of
// memory, not 100 MB.
func TestBoundedReadOfHugeValue(t *testing.T) {
	s, c := newClient(t)
	r := mustNew(t, c)
	// SETRANGE grows the value on the server: the test never holds it.
	s.Do(t, "SETRANGE", "huge", strconv.Itoa(100<<20-1), "x")
	ctx := context.Background()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	v, err := r.GetBounded(ctx, "huge", 1<<20)
	vs, merr := r.MGetBounded(ctx, []string{"huge", "absent"}, 1<<20)
	runtime.ReadMemStats(&after)
	if err != nil || len(v) != 1<<20+1 {
		t.Errorf("GetBounded = %d bytes, %v; want 1 MiB + 1", len(v), err)
	}
	if merr != nil || len(vs) != 2 || len(vs[0]) != 1<<20+1 || vs[1] != nil {
		t.Errorf("MGetBounded = %d values, %v", len(vs), merr)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 16<<20 {
		t.Errorf("two bounded reads of a 100 MB value allocated %d MiB", n>>20)
	}
}

// TestHugeSetToFrozenRedisEndsAtTheDeadline: with ContextTimeoutEnabled, which New
// requires, a 100 MiB SET to a frozen Redis returns at its context's deadline, not
// after go-redis' own timeouts.
func TestHugeSetToFrozenRedisEndsAtTheDeadline(t *testing.T) {
	s, c := newClient(t)
	r := mustNew(t, c)
	value := make([]byte, 100<<20)
	s.Stop(t)
	defer s.Cont(t)
	for _, op := range []struct {
		name string
		f    func(ctx context.Context) error
	}{
		{"Set", func(ctx context.Context) error { return r.Set(ctx, "big", value, time.Minute) }},
		{"GetBounded", func(ctx context.Context) error { _, err := r.GetBounded(ctx, "big", 10); return err }},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		start := time.Now()
		err := op.f(ctx)
		took := time.Since(start)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(fmt.Sprint(err), "timeout") {
			t.Errorf("%s to a frozen Redis = %v, want a timeout", op.name, err)
		}
		if took > 2*time.Second {
			t.Errorf("%s to a frozen Redis took %v with a 300ms deadline", op.name, took)
		}
	}
}

// TestMGetBoundedReadsNonStringsAsAbsent: as MGET, a bounded batch read answers a key
// that holds a list with nil, and the other keys with their values.
func TestMGetBoundedReadsNonStringsAsAbsent(t *testing.T) {
	s, c := newClient(t)
	r := mustNew(t, c)
	s.Do(t, "SET", "str", "v")
	s.Do(t, "RPUSH", "list", "x")
	got, err := r.MGetBounded(context.Background(), []string{"list", "str"}, 10)
	if err != nil || len(got) != 2 || got[0] != nil || string(got[1]) != "v" {
		t.Fatalf("MGetBounded = %q, %v; want [nil v]", got, err)
	}
	got, err = r.MGetBounded(context.Background(), []string{"list"}, 10)
	if err != nil || len(got) != 1 || got[0] != nil {
		t.Fatalf("MGetBounded(list) = %q, %v; want [nil]", got, err)
	}
}
