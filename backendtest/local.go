package backendtest

import (
	"math"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator/backend"
)

// TestLocal runs the conformance suite for [backend.Local]: one subtest per
// property, each with a Local returned by newLocal for that subtest. newLocal must
// return a new, empty Local on each call, with room for at least a few hundred
// entries.
//
// It checks that Get of an absent key misses; that Set and Get round-trip every
// [backend.Entry] field; that Set replaces an entry; that an entry is not returned
// once its [backend.Entry.Deadline] passed (polled for up to two seconds, since a
// backend may use a coarse clock), is never returned when its deadline passed long
// ago, and is kept through its stale window after ExpireAt; that Delete and Clear
// remove entries; that Len counts them; and that the Local is safe for concurrent
// use (run with -race) without mixing up entries.
func TestLocal(t *testing.T, newLocal func(t *testing.T) backend.Local[string, string]) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, l backend.Local[string, string])
	}{
		{"GetAbsent", testLocalGetAbsent},
		{"RoundTrip", testLocalRoundTrip},
		{"SetReplaces", testLocalSetReplaces},
		{"ExpiresAfterDeadline", testLocalExpires},
		{"PastDeadlineNeverReturned", testLocalPastDeadline},
		{"StaleWindowKeepsEntry", testLocalStaleWindow},
		{"Delete", testLocalDelete},
		{"Clear", testLocalClear},
		{"Len", testLocalLen},
		{"Concurrent", testLocalConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLocal(t)
			if l == nil {
				t.Fatal("newLocal returned nil")
			}
			tt.run(t, l)
		})
	}
}

// in returns the Unix nanosecond time d from now.
func in(d time.Duration) int64 {
	return time.Now().Add(d).UnixNano()
}

// fresh returns an entry holding value that stays fresh for the whole test. Its
// ExpireAt is read from the clock: keep the entry to compare it.
func fresh(value string) backend.Entry[string] {
	return backend.Entry[string]{Value: value, ExpireAt: in(time.Hour), Epoch: 1}
}

func expectEntry(t *testing.T, l backend.Local[string, string], key string, want backend.Entry[string]) {
	t.Helper()
	got, ok := l.Get(key)
	if !ok {
		t.Fatalf("Get(%q) missed, want %+v", key, want)
	}
	if got != want {
		t.Fatalf("Get(%q) = %+v, want %+v", key, got, want)
	}
}

func expectMiss(t *testing.T, l backend.Local[string, string], key string) {
	t.Helper()
	if got, ok := l.Get(key); ok {
		t.Fatalf("Get(%q) = %+v, want a miss", key, got)
	}
}

func testLocalGetAbsent(t *testing.T, l backend.Local[string, string]) {
	expectMiss(t, l, "absent")
	expectMiss(t, l, "")
}

func testLocalRoundTrip(t *testing.T, l backend.Local[string, string]) {
	now := time.Now().UnixNano()
	hour := int64(time.Hour)
	tests := []struct {
		name  string
		key   string
		entry backend.Entry[string]
	}{
		{"value", "k1", backend.Entry[string]{Value: "v", ExpireAt: now + hour}},
		{"every field", "k2", backend.Entry[string]{Value: "v2", ExpireAt: now + hour, StaleUntil: now + 2*hour, Epoch: 7}},
		{"null", "k3", backend.Entry[string]{ExpireAt: now + hour, Null: true, Epoch: 3}},
		{"max epoch", "k4", backend.Entry[string]{Value: "v4", ExpireAt: now + hour, Epoch: math.MaxUint64}},
		{"empty key and value", "", backend.Entry[string]{ExpireAt: now + hour}},
		{"binary value", "k5", backend.Entry[string]{Value: "a\x00b\xff", ExpireAt: now + hour}},
		{"stale until before expire", "k6", backend.Entry[string]{Value: "v6", ExpireAt: now + 2*hour, StaleUntil: now + hour}},
	}
	for _, tt := range tests {
		l.Set(tt.key, tt.entry)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectEntry(t, l, tt.key, tt.entry)
		})
	}
}

func testLocalSetReplaces(t *testing.T, l backend.Local[string, string]) {
	l.Set("k", backend.Entry[string]{Value: "old", ExpireAt: in(time.Hour), StaleUntil: in(2 * time.Hour), Epoch: 1})
	want := backend.Entry[string]{Value: "new", ExpireAt: in(time.Hour), Epoch: 2}
	l.Set("k", want)
	expectEntry(t, l, "k", want)
}

func testLocalExpires(t *testing.T, l backend.Local[string, string]) {
	short := backend.Entry[string]{Value: "short", ExpireAt: in(100 * time.Millisecond)}
	long := fresh("long")
	l.Set("short", short)
	l.Set("long", long)
	expectEntry(t, l, "short", short)
	if !eventually(func() bool { _, ok := l.Get("short"); return !ok }) {
		t.Fatalf("entry still returned %v after its deadline", pollTimeout)
	}
	expectEntry(t, l, "long", long)
}

// testLocalPastDeadline pins that even a coarse clock never serves an entry whose
// deadline passed an hour ago.
func testLocalPastDeadline(t *testing.T, l backend.Local[string, string]) {
	l.Set("past", backend.Entry[string]{Value: "v", ExpireAt: in(-time.Hour)})
	expectMiss(t, l, "past")
	l.Set("stale past", backend.Entry[string]{Value: "v", ExpireAt: in(-2 * time.Hour), StaleUntil: in(-time.Hour)})
	expectMiss(t, l, "stale past")
}

// testLocalStaleWindow pins that the deadline is the later of ExpireAt and
// StaleUntil: the cache serves stale entries when its loader fails.
func testLocalStaleWindow(t *testing.T, l backend.Local[string, string]) {
	e := backend.Entry[string]{Value: "stale", ExpireAt: in(-time.Second), StaleUntil: in(time.Hour)}
	l.Set("k", e)
	expectEntry(t, l, "k", e)

	short := backend.Entry[string]{Value: "short stale", ExpireAt: in(20 * time.Millisecond), StaleUntil: in(200 * time.Millisecond)}
	l.Set("short", short)
	time.Sleep(60 * time.Millisecond) // past ExpireAt, within StaleUntil
	expectEntry(t, l, "short", short)
	if !eventually(func() bool { _, ok := l.Get("short"); return !ok }) {
		t.Fatalf("entry still returned %v after its StaleUntil", pollTimeout)
	}
}

func testLocalDelete(t *testing.T, l backend.Local[string, string]) {
	a, b, again := fresh("a"), fresh("b"), fresh("again")
	l.Set("a", a)
	l.Set("b", b)
	l.Delete("a")
	expectMiss(t, l, "a")
	expectEntry(t, l, "b", b)
	l.Delete("a")
	l.Delete("never set")
	expectEntry(t, l, "b", b)
	l.Set("a", again)
	expectEntry(t, l, "a", again)
}

func testLocalClear(t *testing.T, l backend.Local[string, string]) {
	for i := range 20 {
		l.Set("k"+strconv.Itoa(i), fresh("v"))
	}
	l.Clear()
	for i := range 20 {
		expectMiss(t, l, "k"+strconv.Itoa(i))
	}
	if !eventually(func() bool { return l.Len() == 0 }) {
		t.Errorf("Len() = %d after Clear, want 0", l.Len())
	}
	after := fresh("after")
	l.Set("after", after)
	expectEntry(t, l, "after", after)
	l.Clear()
	l.Clear() // clearing an empty Local is fine
}

func testLocalLen(t *testing.T, l backend.Local[string, string]) {
	if n := l.Len(); n != 0 {
		t.Fatalf("Len() of a new Local = %d, want 0", n)
	}
	for i := range 10 {
		l.Set("k"+strconv.Itoa(i), fresh("v"))
	}
	l.Set("k0", fresh("replaced")) // a replaced key counts once
	if !eventually(func() bool { return l.Len() == 10 }) {
		t.Errorf("Len() = %d after 10 keys, want 10", l.Len())
	}
	l.Delete("k0")
	l.Delete("k1")
	if !eventually(func() bool { return l.Len() == 8 }) {
		t.Errorf("Len() = %d after deleting 2 of 10 keys, want 8", l.Len())
	}
}

func testLocalConcurrent(t *testing.T, l backend.Local[string, string]) {
	const (
		goroutines = 16
		iterations = 500
	)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			own := "own:" + strconv.Itoa(g)
			for i := range iterations {
				// Only this goroutine writes own: it reads back what it wrote.
				want := backend.Entry[string]{Value: own + ":" + strconv.Itoa(i), ExpireAt: in(time.Hour), Epoch: uint64(i)}
				l.Set(own, want)
				if got, ok := l.Get(own); !ok || got != want {
					t.Errorf("goroutine %d: Get(%q) = %+v, %v; want %+v", g, own, got, ok, want)
					return
				}
				// Every goroutine writes shared: an entry read must be one written
				// whole, whose Value matches its Epoch.
				epoch := uint64(g*iterations + i)
				l.Set("shared", backend.Entry[string]{Value: strconv.FormatUint(epoch, 10), ExpireAt: in(time.Hour), Epoch: epoch})
				if got, ok := l.Get("shared"); ok && got.Value != strconv.FormatUint(got.Epoch, 10) {
					t.Errorf("goroutine %d: Get(shared) = %+v, a torn entry", g, got)
					return
				}
				if i%50 == 0 {
					l.Delete(own)
					_ = l.Len()
				}
			}
		})
	}
	wg.Wait()
	l.Clear()
	expectMiss(t, l, "shared")
}
