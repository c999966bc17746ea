package backendtest

import (
	"context"
	"sync"
	"testing"

	"github.com/accelerator-go/accelerator/backend"
)

// TestMarkStore runs the conformance suite for [backend.MarkStore]: one subtest per
// property, each with the pair that newBackend returns for that subtest: a MarkStore
// and a [backend.Remote] over the same store, through which the suite writes and
// deletes keys behind the MarkStore's back. Most backends return the same value
// twice.
//
// It checks that a first read creates the clock and raises the reset mark to it, and
// reads absent marks as 0; that reads change nothing; that a raise moves the clock
// above its value and the floor, raises exactly the marks it names, and leaves the
// reset mark alone while the clock exists; that a clock that was lost is created
// again with the reset mark raised to it, by a read or by a raise; that marks written
// by a raise expire after the TTL and the clock does not; that concurrent raises get
// distinct values, the clock ending at the highest; that a mark that is not a number
// fails a read and is overwritten by a raise; and that a call whose context is done
// returns an error.
//
// The keys of each subtest share a Redis Cluster hash tag, as the cache's do.
func TestMarkStore(t *testing.T, newBackend func(t *testing.T) (backend.MarkStore, backend.Remote)) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, ms backend.MarkStore, r backend.Remote, m backend.Marks)
	}{
		{"FirstReadCreatesTheClock", testMarksFirstRead},
		{"ReadChangesNothing", testMarksReadIsPure},
		{"RaiseMovesTheClockAndTheMarks", testMarksRaise},
		{"RaiseAboveTheFloor", testMarksFloor},
		{"LostClockResets", testMarksLostClock},
		{"MarksExpireTheClockDoesNot", testMarksTTL},
		{"ConcurrentRaises", testMarksConcurrent},
		{"NotANumber", testMarksGarbage},
		{"ContextDone", testMarksContextDone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, r := newBackend(t)
			if ms == nil || r == nil {
				t.Fatal("newBackend returned nil")
			}
			p := "{" + prefix(t) + "}"
			tt.run(t, ms, r, backend.Marks{Clock: p + "clock", Reset: p + "clear", TTL: longTTL})
		})
	}
}

// markKeys returns the keys of marks named names, in m's hash slot.
func markKeys(m backend.Marks, names ...string) []string {
	keys := make([]string, len(names))
	for i, n := range names {
		keys[i] = m.Clock[:len(m.Clock)-len("clock")] + "tag:" + n
	}
	return keys
}

func readMarks(t *testing.T, ms backend.MarkStore, m backend.Marks, keys ...string) (uint64, []uint64) {
	t.Helper()
	m.Keys = keys
	clock, marks, err := ms.ReadMarks(testContext(t), m)
	if err != nil {
		t.Fatalf("ReadMarks = %v", err)
	}
	if len(marks) != len(keys) {
		t.Fatalf("ReadMarks of %d marks returned %d", len(keys), len(marks))
	}
	return clock, marks
}

func raiseMarks(t *testing.T, ms backend.MarkStore, m backend.Marks, keys ...string) uint64 {
	t.Helper()
	m.Keys = keys
	g, err := ms.RaiseMarks(testContext(t), m)
	if err != nil {
		t.Fatalf("RaiseMarks = %v", err)
	}
	return g
}

func testMarksFirstRead(t *testing.T, ms backend.MarkStore, _ backend.Remote, m backend.Marks) {
	keys := markKeys(m, "a")
	clock, marks := readMarks(t, ms, m, m.Reset, keys[0])
	if clock == 0 {
		t.Fatal("the clock read 0 after its creation")
	}
	if marks[0] != clock {
		t.Fatalf("the reset mark is %d after the clock was created at %d, want them equal", marks[0], clock)
	}
	if marks[1] != 0 {
		t.Fatalf("an absent mark read %d, want 0", marks[1])
	}
}

func testMarksReadIsPure(t *testing.T, ms backend.MarkStore, _ backend.Remote, m backend.Marks) {
	keys := markKeys(m, "a")
	raiseMarks(t, ms, m, keys...)
	c1, m1 := readMarks(t, ms, m, m.Reset, keys[0])
	c2, m2 := readMarks(t, ms, m, m.Reset, keys[0])
	if c1 != c2 || m1[0] != m2[0] || m1[1] != m2[1] {
		t.Fatalf("two reads differ: %d %v, then %d %v", c1, m1, c2, m2)
	}
}

func testMarksRaise(t *testing.T, ms backend.MarkStore, _ backend.Remote, m backend.Marks) {
	keys := markKeys(m, "a", "b", "c")
	c0, _ := readMarks(t, ms, m)
	g1 := raiseMarks(t, ms, m, keys[0], keys[1])
	if g1 <= c0 {
		t.Fatalf("RaiseMarks returned %d, not above the clock %d", g1, c0)
	}
	clock, marks := readMarks(t, ms, m, append([]string{m.Reset}, keys...)...)
	if clock != g1 || marks[1] != g1 || marks[2] != g1 || marks[3] != 0 {
		t.Fatalf("after a raise of a and b to %d: clock %d, a %d, b %d, c %d", g1, clock, marks[1], marks[2], marks[3])
	}
	if marks[0] != c0 {
		t.Fatalf("the reset mark moved from %d to %d on a raise of other marks", c0, marks[0])
	}
	g2 := raiseMarks(t, ms, m, keys[1])
	clock, marks = readMarks(t, ms, m, keys...)
	if g2 <= g1 || clock != g2 || marks[0] != g1 || marks[1] != g2 || marks[2] != 0 {
		t.Fatalf("after a raise of b to %d (a at %d): clock %d, marks %v", g2, g1, clock, marks)
	}
	// Raising the reset mark itself, as Clear does.
	g3 := raiseMarks(t, ms, m, m.Reset)
	if _, marks := readMarks(t, ms, m, m.Reset); marks[0] != g3 {
		t.Fatalf("the reset mark is %d after a raise of it to %d", marks[0], g3)
	}
}

func testMarksFloor(t *testing.T, ms backend.MarkStore, _ backend.Remote, m backend.Marks) {
	c0, _ := readMarks(t, ms, m)
	m.Floor = c0 + 1_000_000_000
	g := raiseMarks(t, ms, m, markKeys(m, "a")...)
	if g <= m.Floor {
		t.Fatalf("RaiseMarks with floor %d returned %d", m.Floor, g)
	}
	m.Floor = 0
	if g2 := raiseMarks(t, ms, m); g2 <= g {
		t.Fatalf("the raise after one above the floor returned %d, not above %d", g2, g)
	}
}

func testMarksLostClock(t *testing.T, ms backend.MarkStore, r backend.Remote, m backend.Marks) {
	keys := markKeys(m, "a")
	old := raiseMarks(t, ms, m, keys...)
	mustDel(t, r, m.Clock)
	clock, marks := readMarks(t, ms, m, m.Reset, keys[0])
	if clock == 0 || marks[0] != clock {
		t.Fatalf("after the clock was lost, a read found clock %d and reset mark %d, want them equal and set", clock, marks[0])
	}
	if marks[1] != old {
		t.Fatalf("mark a is %d after the clock was lost, want %d (untouched)", marks[1], old)
	}
	// A raise that finds the clock lost raises the reset mark too.
	mustDel(t, r, m.Clock)
	g := raiseMarks(t, ms, m, keys...)
	if _, marks := readMarks(t, ms, m, m.Reset); marks[0] != g {
		t.Fatalf("after a raise to %d that found the clock lost, the reset mark is %d", g, marks[0])
	}
}

func testMarksTTL(t *testing.T, ms backend.MarkStore, r backend.Remote, m backend.Marks) {
	m.TTL = shortTTL
	keys := markKeys(m, "a")
	raiseMarks(t, ms, m, keys...)
	if !eventually(func() bool { return mustGet(t, r, keys[0]) == nil && mustGet(t, r, m.Reset) == nil }) {
		t.Fatalf("marks written with TTL %v still present after %v", shortTTL, pollTimeout)
	}
	if mustGet(t, r, m.Clock) == nil {
		t.Fatal("the clock expired")
	}
}

func testMarksConcurrent(t *testing.T, ms backend.MarkStore, _ backend.Remote, m backend.Marks) {
	const n = 16
	keys := markKeys(m, "a")
	got := make([]uint64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			mm := m
			mm.Keys = keys
			got[i], errs[i] = ms.RaiseMarks(testContext(t), mm)
		})
	}
	wg.Wait()
	seen := make(map[uint64]bool)
	var highest uint64
	for i, g := range got {
		if errs[i] != nil {
			t.Fatalf("RaiseMarks = %v", errs[i])
		}
		if seen[g] {
			t.Fatalf("two concurrent raises returned %d", g)
		}
		seen[g] = true
		highest = max(highest, g)
	}
	clock, marks := readMarks(t, ms, m, keys...)
	if clock != highest || marks[0] != highest {
		t.Fatalf("after concurrent raises up to %d: clock %d, mark %d", highest, clock, marks[0])
	}
}

func testMarksGarbage(t *testing.T, ms backend.MarkStore, r backend.Remote, m backend.Marks) {
	keys := markKeys(m, "a")
	mustSet(t, r, keys[0], []byte("not a number"), longTTL)
	m.Keys = keys
	if _, _, err := ms.ReadMarks(testContext(t), m); err == nil {
		t.Fatal("ReadMarks of a mark that is not a number succeeded")
	}
	g := raiseMarks(t, ms, m, keys...)
	if _, marks := readMarks(t, ms, m, keys...); marks[0] != g {
		t.Fatalf("a raise to %d left the mark at %d", g, marks[0])
	}
}

func testMarksContextDone(t *testing.T, ms backend.MarkStore, _ backend.Remote, m backend.Marks) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m.Keys = markKeys(m, "a")
	err := bounded(t, "ReadMarks with a done context", func() error {
		_, _, err := ms.ReadMarks(ctx, m)
		return err
	})
	if err == nil {
		t.Fatal("ReadMarks with a done context succeeded")
	}
	err = bounded(t, "RaiseMarks with a done context", func() error {
		_, err := ms.RaiseMarks(ctx, m)
		return err
	})
	if err == nil {
		t.Fatal("RaiseMarks with a done context succeeded")
	}
	if !isCanceled(err) {
		t.Fatalf("RaiseMarks with a done context = %v, want an error wrapping the context's", err)
	}
}

func mustDel(t *testing.T, r backend.Remote, key string) {
	t.Helper()
	if err := r.Del(testContext(t), key); err != nil {
		t.Fatalf("Del(%s) = %v", key, err)
	}
}
