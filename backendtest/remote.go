package backendtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator/backend"
)

const (
	// longTTL outlives any test.
	longTTL = time.Minute
	// shortTTL is long enough to read a key back right after writing it, and short
	// enough to wait for its expiry.
	shortTTL = 250 * time.Millisecond
)

// TestRemote runs the conformance suite for [backend.Remote]: one subtest per
// property, each with a Remote returned by newRemote for that subtest.
//
// It checks that Get of an absent key returns nil and no error; that Set and Get
// round-trip values exactly, including binary values and a 1 MiB value; that Set and
// MSet do not retain the caller's buffer; that TTLs are honoured, per item for MSet,
// and that a sub-millisecond TTL still expires; that MGet returns one slot per key in
// order, nil for absent keys, with duplicates and empty key lists; that Del removes
// several keys and ignores absent ones; that the Remote is safe for concurrent use
// (run with -race); and that every method returns an error wrapping the context's
// error, instead of hanging, when its context is already done.
//
// The subtests run one after the other. newRemote may return the same Remote every
// time: keys are unique to each subtest.
func TestRemote(t *testing.T, newRemote func(t *testing.T) backend.Remote) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, r backend.Remote, p string)
	}{
		{"GetAbsent", testGetAbsent},
		{"SetGet", testSetGet},
		{"SetOverwrites", testSetOverwrites},
		{"SetCopiesValue", testSetCopiesValue},
		{"TTL", testTTL},
		{"TTLSubMillisecond", testTTLSubMillisecond},
		{"MGet", testMGet},
		{"MSet", testMSet},
		{"Del", testDel},
		{"Concurrent", testRemoteConcurrent},
		{"ContextDone", testRemoteContextDone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRemote(t)
			if r == nil {
				t.Fatal("newRemote returned nil")
			}
			tt.run(t, r, prefix(t))
		})
	}
}

func mustSet(t *testing.T, r backend.Remote, key string, value []byte, ttl time.Duration) {
	t.Helper()
	if err := r.Set(testContext(t), key, value, ttl); err != nil {
		t.Fatalf("Set(%q, %d bytes, %v) = %v", key, len(value), ttl, err)
	}
}

func mustGet(t *testing.T, r backend.Remote, key string) []byte {
	t.Helper()
	v, err := r.Get(testContext(t), key)
	if err != nil {
		t.Fatalf("Get(%q) error = %v", key, err)
	}
	return v
}

func mustMGet(t *testing.T, r backend.Remote, keys []string) [][]byte {
	t.Helper()
	vals, err := r.MGet(testContext(t), keys)
	if err != nil {
		t.Fatalf("MGet(%d keys) error = %v", len(keys), err)
	}
	if len(vals) != len(keys) {
		t.Fatalf("MGet(%d keys) returned %d values", len(keys), len(vals))
	}
	return vals
}

// checkValue fails the test unless got is want, where a nil want means absent.
func checkValue(t *testing.T, what string, got, want []byte) {
	t.Helper()
	switch {
	case want == nil && got != nil:
		t.Errorf("%s = %s, want nil (absent)", what, show(got))
	case want != nil && got == nil:
		t.Errorf("%s = nil (absent), want %s", what, show(want))
	case !bytes.Equal(got, want):
		t.Errorf("%s = %s, want %s", what, show(got), show(want))
	}
}

// show formats a value for a failure message, eliding long ones.
func show(v []byte) string {
	if len(v) > 64 {
		return fmt.Sprintf("%q... (%d bytes)", v[:64], len(v))
	}
	return fmt.Sprintf("%q", v)
}

func testGetAbsent(t *testing.T, r backend.Remote, p string) {
	checkValue(t, "Get(absent)", mustGet(t, r, p+"absent"), nil)
}

func testSetGet(t *testing.T, r backend.Remote, p string) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	big := make([]byte, 1<<20)
	_, _ = rand.Read(big)
	tests := []struct {
		name  string
		value []byte
	}{
		{"ascii", []byte("hello, world")},
		{"one byte", []byte{'x'}},
		{"nul", []byte{0}},
		{"nuls inside", []byte("a\x00b\x00\x00c\r\n")},
		{"every byte", all},
		{"invalid utf8", []byte{0xff, 0xfe, 0xc3, 0x28}},
		{"1MiB", big},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := p + tt.name
			mustSet(t, r, key, tt.value, longTTL)
			checkValue(t, "Get after Set", mustGet(t, r, key), tt.value)
			checkValue(t, "MGet after Set", mustMGet(t, r, []string{key})[0], tt.value)
		})
	}
}

func testSetOverwrites(t *testing.T, r backend.Remote, p string) {
	key := p + "k"
	mustSet(t, r, key, []byte("first value, longer"), longTTL)
	mustSet(t, r, key, []byte("second"), longTTL)
	checkValue(t, "Get after overwrite", mustGet(t, r, key), []byte("second"))
}

// testSetCopiesValue pins that a backend does not keep the caller's buffer: the cache
// reuses its encoding buffers as soon as Set or MSet returns.
func testSetCopiesValue(t *testing.T, r backend.Remote, p string) {
	buf := []byte("original")
	mustSet(t, r, p+"set", buf, longTTL)
	copy(buf, "CHANGED!")
	checkValue(t, "Get after the caller reused its buffer", mustGet(t, r, p+"set"), []byte("original"))

	buf = []byte("original")
	if err := r.MSet(testContext(t), []backend.Item{{Key: p + "mset", Value: buf, TTL: longTTL}}); err != nil {
		t.Fatalf("MSet error = %v", err)
	}
	copy(buf, "CHANGED!")
	checkValue(t, "Get after MSet and the caller reused its buffer", mustGet(t, r, p+"mset"), []byte("original"))
}

func testTTL(t *testing.T, r backend.Remote, p string) {
	short, long := p+"short", p+"long"
	mustSet(t, r, short, []byte("s"), shortTTL)
	mustSet(t, r, long, []byte("l"), longTTL)
	checkValue(t, "Get right after Set", mustGet(t, r, short), []byte("s"))

	start := time.Now()
	if !eventually(func() bool { return mustGet(t, r, short) == nil }) {
		t.Fatalf("key with TTL %v still present after %v", shortTTL, time.Since(start))
	}
	checkValue(t, "Get of the key with a long TTL", mustGet(t, r, long), []byte("l"))
}

// testTTLSubMillisecond pins that a TTL below the store's resolution is rounded up,
// not down to zero (an error in Redis) or to "no expiry".
func testTTLSubMillisecond(t *testing.T, r backend.Remote, p string) {
	key := p + "k"
	mustSet(t, r, key, []byte("v"), time.Microsecond)
	if !eventually(func() bool { return mustGet(t, r, key) == nil }) {
		t.Fatal("key with a 1µs TTL never expired")
	}
}

func testMGet(t *testing.T, r backend.Remote, p string) {
	a, b, c := p+"a", p+"b", p+"c"
	mustSet(t, r, a, []byte("va"), longTTL)
	mustSet(t, r, b, []byte("vb"), longTTL)
	mustSet(t, r, c, []byte("vc"), longTTL)

	var many []string
	var manyWant [][]byte
	for i := range 100 {
		key := p + "many:" + strconv.Itoa(i)
		many = append(many, key)
		if i%3 == 0 {
			manyWant = append(manyWant, nil)
			continue
		}
		v := []byte("value-" + strconv.Itoa(i))
		mustSet(t, r, key, v, longTTL)
		manyWant = append(manyWant, v)
	}

	tests := []struct {
		name string
		keys []string
		want [][]byte
	}{
		{"nil list", nil, nil},
		{"empty list", []string{}, nil},
		{"one", []string{a}, [][]byte{[]byte("va")}},
		{"all absent", []string{p + "x", p + "y"}, [][]byte{nil, nil}},
		{"in order", []string{c, a, b}, [][]byte{[]byte("vc"), []byte("va"), []byte("vb")}},
		{"absent in between", []string{a, p + "x", c, p + "y"}, [][]byte{[]byte("va"), nil, []byte("vc"), nil}},
		{"duplicates", []string{a, b, a, p + "x", a, p + "x"}, [][]byte{[]byte("va"), []byte("vb"), []byte("va"), nil, []byte("va"), nil}},
		{"100 keys", many, manyWant},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustMGet(t, r, tt.keys)
			for i := range got {
				checkValue(t, fmt.Sprintf("MGet value %d (%s)", i, tt.keys[i]), got[i], tt.want[i])
			}
		})
	}
}

func testMSet(t *testing.T, r backend.Remote, p string) {
	t.Run("empty", func(t *testing.T) {
		if err := r.MSet(testContext(t), nil); err != nil {
			t.Errorf("MSet(nil) = %v", err)
		}
		if err := r.MSet(testContext(t), []backend.Item{}); err != nil {
			t.Errorf("MSet(empty) = %v", err)
		}
	})
	t.Run("100 items", func(t *testing.T) {
		items := make([]backend.Item, 100)
		keys := make([]string, len(items))
		for i := range items {
			keys[i] = p + "many:" + strconv.Itoa(i)
			items[i] = backend.Item{Key: keys[i], Value: []byte("v" + strconv.Itoa(i) + "\x00"), TTL: longTTL}
		}
		if err := r.MSet(testContext(t), items); err != nil {
			t.Fatalf("MSet error = %v", err)
		}
		for i, v := range mustMGet(t, r, keys) {
			checkValue(t, "MGet "+keys[i], v, items[i].Value)
		}
	})
	t.Run("per-item TTL", func(t *testing.T) {
		short, long := p+"short", p+"long"
		err := r.MSet(testContext(t), []backend.Item{
			{Key: short, Value: []byte("s"), TTL: shortTTL},
			{Key: long, Value: []byte("l"), TTL: longTTL},
		})
		if err != nil {
			t.Fatalf("MSet error = %v", err)
		}
		checkValue(t, "Get short right after MSet", mustGet(t, r, short), []byte("s"))
		if !eventually(func() bool { return mustGet(t, r, short) == nil }) {
			t.Fatalf("item with TTL %v never expired", shortTTL)
		}
		checkValue(t, "Get of the item with a long TTL", mustGet(t, r, long), []byte("l"))
	})
}

func testDel(t *testing.T, r backend.Remote, p string) {
	ctx := testContext(t)
	t.Run("several", func(t *testing.T) {
		a, b, c := p+"a", p+"b", p+"c"
		for _, k := range []string{a, b, c} {
			mustSet(t, r, k, []byte("v"), longTTL)
		}
		if err := r.Del(ctx, a, b); err != nil {
			t.Fatalf("Del(a, b) = %v", err)
		}
		got := mustMGet(t, r, []string{a, b, c})
		checkValue(t, "a after Del", got[0], nil)
		checkValue(t, "b after Del", got[1], nil)
		checkValue(t, "c, not deleted", got[2], []byte("v"))
	})
	t.Run("absent keys", func(t *testing.T) {
		if err := r.Del(ctx, p+"absent1", p+"absent2"); err != nil {
			t.Errorf("Del(absent keys) = %v", err)
		}
		if err := r.Del(ctx, p+"absent3"); err != nil {
			t.Errorf("Del(absent key) = %v", err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		if err := r.Del(ctx); err != nil {
			t.Errorf("Del() = %v", err)
		}
	})
	t.Run("duplicates and absent", func(t *testing.T) {
		k := p + "dup"
		mustSet(t, r, k, []byte("v"), longTTL)
		if err := r.Del(ctx, k, p+"absent", k); err != nil {
			t.Fatalf("Del(k, absent, k) = %v", err)
		}
		checkValue(t, "Get after Del", mustGet(t, r, k), nil)
	})
	t.Run("100 keys", func(t *testing.T) {
		keys := make([]string, 100)
		for i := range keys {
			keys[i] = p + "many:" + strconv.Itoa(i)
			mustSet(t, r, keys[i], []byte("v"), longTTL)
		}
		if err := r.Del(ctx, keys...); err != nil {
			t.Fatalf("Del(100 keys) = %v", err)
		}
		for i, v := range mustMGet(t, r, keys) {
			checkValue(t, "MGet "+keys[i]+" after Del", v, nil)
		}
	})
}

func testRemoteConcurrent(t *testing.T, r backend.Remote, p string) {
	const (
		goroutines = 16
		iterations = 50
	)
	ctx := testContext(t)
	shared := p + "shared"
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			own := p + "own:" + strconv.Itoa(g)
			for i := range iterations {
				if err := concurrentStep(ctx, r, own, shared, g, i); err != nil {
					t.Errorf("goroutine %d, iteration %d: %v", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// concurrentStep does one round of writes and reads; only goroutine g writes own, and
// every goroutine writes shared with values that start with "shared-".
func concurrentStep(ctx context.Context, r backend.Remote, own, shared string, g, i int) error {
	want := []byte(fmt.Sprintf("own-%d-%d", g, i))
	if err := r.Set(ctx, own, want, longTTL); err != nil {
		return fmt.Errorf("Set: %w", err)
	}
	if err := r.Set(ctx, shared, []byte(fmt.Sprintf("shared-%d-%d", g, i)), longTTL); err != nil {
		return fmt.Errorf("Set shared: %w", err)
	}
	got, err := r.Get(ctx, own)
	if err != nil || !bytes.Equal(got, want) {
		return fmt.Errorf("Get = %q, %v; want %q", got, err, want)
	}
	vals, err := r.MGet(ctx, []string{shared, own, own + ":absent"})
	if err != nil || len(vals) != 3 {
		return fmt.Errorf("MGet = %d values, %v", len(vals), err)
	}
	if !strings.HasPrefix(string(vals[0]), "shared-") || !bytes.Equal(vals[1], want) || vals[2] != nil {
		return fmt.Errorf("MGet = %q, want [shared-*, %q, nil]", vals, want)
	}
	if i%5 != 4 {
		return nil
	}
	if err := r.MSet(ctx, []backend.Item{{Key: own, Value: want, TTL: longTTL}}); err != nil {
		return fmt.Errorf("MSet: %w", err)
	}
	if err := r.Del(ctx, own); err != nil {
		return fmt.Errorf("Del: %w", err)
	}
	if got, err := r.Get(ctx, own); err != nil || got != nil {
		return fmt.Errorf("Get after Del = %q, %v; want nil", got, err)
	}
	return nil
}

func testRemoteContextDone(t *testing.T, r backend.Remote, p string) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()

	key := p + "k"
	ops := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Get", func(ctx context.Context) error { _, err := r.Get(ctx, key); return err }},
		{"MGet", func(ctx context.Context) error { _, err := r.MGet(ctx, []string{key, key + "2"}); return err }},
		{"Set", func(ctx context.Context) error { return r.Set(ctx, key, []byte("v"), longTTL) }},
		{"MSet", func(ctx context.Context) error {
			return r.MSet(ctx, []backend.Item{{Key: key, Value: []byte("v"), TTL: longTTL}})
		}},
		{"Del", func(ctx context.Context) error { return r.Del(ctx, key, key+"2") }},
	}
	for _, ctx := range []struct {
		name string
		ctx  context.Context
	}{{"cancelled", cancelled}, {"deadline passed", expired}} {
		for _, op := range ops {
			t.Run(ctx.name+"/"+op.name, func(t *testing.T) {
				err := bounded(t, op.name, func() error { return op.call(ctx.ctx) })
				if !isCanceled(err) {
					t.Errorf("%s with a done context = %v, want an error wrapping the context's error", op.name, err)
				}
			})
		}
	}
}
