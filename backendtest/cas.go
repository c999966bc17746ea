package backendtest

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator/backend"
)

// digest returns the lowercase hex SHA-1 digest of value: the [backend.CASItem] Expect
// that matches a key holding value.
func digest(value []byte) string {
	h := sha1.Sum(value)
	return hex.EncodeToString(h[:])
}

// TestCompareAndSetter runs the conformance suite for [backend.CompareAndSetter]: one
// subtest per property, each with the pair that newBackend returns for that subtest: a
// CompareAndSetter and a [backend.Remote] over the same store, through which the suite
// prepares keys and reads back what was written. Most backends return the same value
// twice.
//
// It checks that an absent key is written when Expect is "" and not otherwise; that a
// key is written when Expect is the SHA-1 of the value it holds, with the item's TTL,
// and not when the digest differs or when Expect is "" (binary values included);
// that a batch of many keys, spread over every Redis Cluster hash slot range, returns
// one result per item in order; that among concurrent writers that all expect the same
// value, exactly one wins; that the backend does not retain an item's Value; that an
// empty batch succeeds; and that a call whose context is done returns an error
// wrapping the context's error and writes nothing.
//
// The subtests run one after the other. Keys are unique to each subtest, so the pair
// may be shared.
func TestCompareAndSetter(t *testing.T, newBackend func(t *testing.T) (backend.CompareAndSetter, backend.Remote)) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, cas backend.CompareAndSetter, r backend.Remote, p string)
	}{
		{"AbsentExpectEmptyWrites", testCASAbsentWrites},
		{"AbsentExpectValueSkips", testCASAbsentExpectValue},
		{"MatchWritesWithTTL", testCASMatchWrites},
		{"MismatchSkips", testCASMismatch},
		{"PresentExpectEmptySkips", testCASPresentExpectEmpty},
		{"BinaryValues", testCASBinary},
		{"BatchInOrder", testCASBatch},
		{"OneWinner", testCASOneWinner},
		{"ValueNotRetained", testCASValueNotRetained},
		{"Empty", testCASEmpty},
		{"ContextDone", testCASContextDone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cas, r := newBackend(t)
			if cas == nil || r == nil {
				t.Fatal("newBackend returned nil")
			}
			tt.run(t, cas, r, prefix(t))
		})
	}
}

// compareAndSet calls CompareAndSet and checks that it succeeded with one result per
// item.
func compareAndSet(t *testing.T, cas backend.CompareAndSetter, items ...backend.CASItem) []bool {
	t.Helper()
	done, err := cas.CompareAndSet(testContext(t), items)
	if err != nil {
		t.Fatalf("CompareAndSet(%d items) = %v", len(items), err)
	}
	if len(done) != len(items) {
		t.Fatalf("CompareAndSet(%d items) returned %d results", len(items), len(done))
	}
	return done
}

// expectValue checks that key holds want, or is absent when want is nil.
func expectValue(t *testing.T, r backend.Remote, key string, want []byte) {
	t.Helper()
	got := mustGet(t, r, key)
	switch {
	case want == nil && got != nil:
		t.Fatalf("%s holds %s, want it absent", key, show(got))
	case want != nil && !bytes.Equal(got, want):
		t.Fatalf("%s holds %s, want %s", key, show(got), show(want))
	}
}

func testCASAbsentWrites(t *testing.T, cas backend.CompareAndSetter, r backend.Remote, p string) {
	k := p + "k"
	if done := compareAndSet(t, cas, backend.CASItem{Key: k, Expect: "", Value: []byte("v"), TTL: longTTL}); !done[0] {
		t.Fatal("CompareAndSet of an absent key expecting \"\" = false, want true")
	}
	expectValue(t, r, k, []byte("v"))
}

func testCASAbsentExpectValue(t *testing.T, cas backend.CompareAndSetter, r backend.Remote, p string) {
	k := p + "k"
	if done := compareAndSet(t, cas, backend.CASItem{Key: k, Expect: digest([]byte("v")), Value: []byte("w"), TTL: longTTL}); done[0] {
		t.Fatal("CompareAndSet of an absent key expecting a value = true, want false")
	}
	expectValue(t, r, k, nil)
}

func testCASMatchWrites(t *testing.T, cas backend.CompareAndSetter, r backend.Remote, p string) {
	k := p + "k"
	mustSet(t, r, k, []byte("old"), longTTL)
	if done := compareAndSet(t, cas, backend.CASItem{Key: k, Expect: digest([]byte("old")), Value: []byte("new"), TTL: shortTTL}); !done[0] {
		t.Fatal("CompareAndSet expecting the held value = false, want true")
	}
	expectValue(t, r, k, []byte("new"))
	// The item's TTL replaced the old one.
	if !eventually(func() bool { return mustGet(t, r, k) == nil }) {
		t.Fatalf("%s still present %v after a compare-and-set with TTL %v", k, pollTimeout, shortTTL)
	}

	// A TTL below a millisecond still expires, and the write still happens.
	k2 := p + "sub-ms"
	if done := compareAndSet(t, cas, backend.CASItem{Key: k2, Value: []byte("v"), TTL: 100 * time.Microsecond}); !done[0] {
		t.Fatal("CompareAndSet with a sub-millisecond TTL = false, want true")
	}
	if !eventually(func() bool { return mustGet(t, r, k2) == nil }) {
		t.Fatalf("%s still present %v after a compare-and-set with TTL 100µs", k2, pollTimeout)
	}
}

func testCASMismatch(t *testing.T, cas backend.CompareAndSetter, r backend.Remote, p string) {
	k := p + "k"
	mustSet(t, r, k, []byte("current"), longTTL)
	for _, expect := range []string{digest([]byte("other")), digest([]byte("current "))} {
		if done := compareAndSet(t, cas, backend.CASItem{Key: k, Expect: expect, Value: []byte("stale"), TTL: shortTTL}); done[0] {
			t.Fatalf("CompareAndSet expecting %s over %q = true, want false", expect, "current")
		}
	}
	expectValue(t, r, k, []byte("current"))
	// Nor did it touch the TTL.
	time.Sleep(2 * shortTTL)
	expectValue(t, r, k, []byte("current"))
}

func testCASPresentExpectEmpty(t *testing.T, cas backend.CompareAndSetter, r backend.Remote, p string) {
	k := p + "k"
	mustSet(t, r, k, []byte("current"), longTTL)
	if done := compareAndSet(t, cas, backend.CASItem{Key: k, Expect: "", Value: []byte("stale"), TTL: longTTL}); done[0] {
		t.Fatal("CompareAndSet of a present key expecting \"\" = true, want false")
	}
	expectValue(t, r, k, []byte("current"))
}

func testCASBinary(t *testing.T, cas backend.CompareAndSetter, r backend.Remote, p string) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	values := [][]byte{{0}, []byte("a\x00b\r\nc"), all, bytes.Repeat([]byte{0xff, 0}, 32<<10)}
	k := p + "k"
	var held []byte
	for i, v := range values {
		expect := ""
		if held != nil {
			expect = digest(held)
		}
		if done := compareAndSet(t, cas, backend.CASItem{Key: k, Expect: expect, Value: v, TTL: longTTL}); !done[0] {
			t.Fatalf("step %d: CompareAndSet expecting the held binary value = false, want true", i)
		}
		expectValue(t, r, k, v)
		held = v
	}
	// A digest of the held value with one byte changed does not match.
	changed := bytes.Clone(held)
	changed[len(changed)-1] ^= 1
	if done := compareAndSet(t, cas, backend.CASItem{Key: k, Expect: digest(changed), Value: []byte("x"), TTL: longTTL}); done[0] {
		t.Fatal("CompareAndSet expecting a value one bit off = true, want false")
	}
	expectValue(t, r, k, held)
}

// casBatchKeys is large enough that the keys cover every node of a cluster many times
// over.
const casBatchKeys = 300

func testCASBatch(t *testing.T, cas backend.CompareAndSetter, r backend.Remote, p string) {
	// Four kinds of item, interleaved, so that a backend that returns results grouped
	// by node or slot instead of in order fails: absent and expecting "" (written),
	// absent and expecting a value (skipped), held and matching (written), held and
	// not matching (skipped).
	items := make([]backend.CASItem, casBatchKeys)
	want := make([]bool, casBatchKeys)
	held := make(map[string][]byte)
	for i := range items {
		k := p + "k" + strconv.Itoa(i)
		v := []byte("new-" + strconv.Itoa(i))
		old := []byte("old-" + strconv.Itoa(i))
		switch i % 4 {
		case 0:
			items[i] = backend.CASItem{Key: k, Expect: "", Value: v, TTL: longTTL}
			want[i] = true
		case 1:
			items[i] = backend.CASItem{Key: k, Expect: digest(old), Value: v, TTL: longTTL}
		case 2:
			held[k] = old
			items[i] = backend.CASItem{Key: k, Expect: digest(old), Value: v, TTL: longTTL}
			want[i] = true
		case 3:
			held[k] = old
			items[i] = backend.CASItem{Key: k, Expect: digest([]byte("other")), Value: v, TTL: longTTL}
		}
	}
	for k, v := range held {
		mustSet(t, r, k, v, longTTL)
	}
	done := compareAndSet(t, cas, items...)
	keys := make([]string, len(items))
	for i, it := range items {
		keys[i] = it.Key
	}
	got, err := r.MGet(testContext(t), keys)
	if err != nil {
		t.Fatalf("MGet = %v", err)
	}
	for i, it := range items {
		if done[i] != want[i] {
			t.Errorf("item %d (%s, kind %d): result %v, want %v", i, it.Key, i%4, done[i], want[i])
		}
		wantValue := held[it.Key]
		if want[i] {
			wantValue = it.Value
		}
		if !bytes.Equal(got[i], wantValue) {
			t.Errorf("item %d (%s, kind %d): key holds %s, want %s", i, it.Key, i%4, show(got[i]), show(wantValue))
		}
	}
}

func testCASOneWinner(t *testing.T, cas backend.CompareAndSetter, r backend.Remote, p string) {
	const writers, rounds = 8, 20
	for round := range rounds {
		k := p + "k" + strconv.Itoa(round)
		start := make(chan struct{})
		results := make([]bool, writers)
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				<-start
				item := backend.CASItem{Key: k, Expect: "", Value: []byte("writer-" + strconv.Itoa(w)), TTL: longTTL}
				done, err := cas.CompareAndSet(testContext(t), []backend.CASItem{item})
				if err == nil && len(done) != 1 {
					err = fmt.Errorf("%d results for 1 item", len(done))
				}
				if err == nil {
					results[w] = done[0]
				}
				errs[w] = err
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for w := range writers {
			if errs[w] != nil {
				t.Fatalf("round %d: writer %d: CompareAndSet = %v", round, w, errs[w])
			}
			if !results[w] {
				continue
			}
			if winner >= 0 {
				t.Fatalf("round %d: writers %d and %d both wrote an absent key expecting \"\"", round, winner, w)
			}
			winner = w
		}
		if winner < 0 {
			t.Fatalf("round %d: no writer wrote the absent key", round)
		}
		expectValue(t, r, k, []byte("writer-"+strconv.Itoa(winner)))
	}
}

func testCASValueNotRetained(t *testing.T, cas backend.CompareAndSetter, r backend.Remote, p string) {
	k := p + "k"
	v := []byte("original")
	compareAndSet(t, cas, backend.CASItem{Key: k, Value: v, TTL: longTTL})
	copy(v, "CHANGED!")
	expectValue(t, r, k, []byte("original"))
}

func testCASEmpty(t *testing.T, cas backend.CompareAndSetter, _ backend.Remote, _ string) {
	for _, items := range [][]backend.CASItem{nil, {}} {
		done, err := cas.CompareAndSet(testContext(t), items)
		if err != nil || len(done) != 0 {
			t.Fatalf("CompareAndSet(%#v) = %v, %v; want no results and no error", items, done, err)
		}
	}
}

func testCASContextDone(t *testing.T, cas backend.CompareAndSetter, r backend.Remote, p string) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	k := p + "k"
	err := bounded(t, "CompareAndSet with a cancelled context", func() error {
		_, err := cas.CompareAndSet(ctx, []backend.CASItem{{Key: k, Value: []byte("v"), TTL: longTTL}})
		return err
	})
	if !isCanceled(err) {
		t.Errorf("CompareAndSet with a cancelled context = %v, want an error wrapping context.Canceled", err)
	}
	expectValue(t, r, k, nil)
}
