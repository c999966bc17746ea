package backendtest

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator/backend"
)

// TestLeaser runs the conformance suite for [backend.Leaser]: one subtest per
// property, each with the pair that newBackend returns for that subtest: a Leaser and
// a [backend.Remote] over the same store, through which the suite reads the lease keys
// and writes them as a cache's writes do. Most backends return the same value twice.
//
// It checks that a lease is taken on an absent key and holds the token, and not on a
// key that holds anything; that among concurrent takers exactly one wins; that a
// lease expires after its TTL and can then be taken again; that a release deletes the
// lease only with its token; that a key overwritten by a write is left alone by the
// release of the token it replaced; and that a call whose context is done returns an
// error wrapping the context's error and takes nothing.
func TestLeaser(t *testing.T, newBackend func(t *testing.T) (backend.Leaser, backend.Remote)) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, l backend.Leaser, r backend.Remote, p string)
	}{
		{"TakesAbsentKey", testLeaseTakesAbsent},
		{"RefusesHeldKey", testLeaseRefusesHeld},
		{"OneWinner", testLeaseOneWinner},
		{"Expires", testLeaseExpires},
		{"ReleaseNeedsToken", testLeaseReleaseNeedsToken},
		{"ReleaseLeavesOverwrittenKey", testLeaseReleaseLeavesOverwritten},
		{"ContextDone", testLeaseContextDone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, r := newBackend(t)
			if l == nil || r == nil {
				t.Fatal("newBackend returned nil")
			}
			tt.run(t, l, r, prefix(t))
		})
	}
}

func tryLease(t *testing.T, l backend.Leaser, key, token string, ttl time.Duration) bool {
	t.Helper()
	ok, err := l.TryLease(testContext(t), key, token, ttl)
	if err != nil {
		t.Fatalf("TryLease(%s) = %v", key, err)
	}
	return ok
}

func releaseLease(t *testing.T, l backend.Leaser, key, token string) bool {
	t.Helper()
	ok, err := l.ReleaseLease(testContext(t), key, token)
	if err != nil {
		t.Fatalf("ReleaseLease(%s) = %v", key, err)
	}
	return ok
}

func testLeaseTakesAbsent(t *testing.T, l backend.Leaser, r backend.Remote, p string) {
	k := p + "lease"
	if !tryLease(t, l, k, "token-1", longTTL) {
		t.Fatal("TryLease of an absent key = false, want true")
	}
	expectValue(t, r, k, []byte("token-1"))
}

func testLeaseRefusesHeld(t *testing.T, l backend.Leaser, r backend.Remote, p string) {
	k := p + "lease"
	if !tryLease(t, l, k, "first", longTTL) {
		t.Fatal("TryLease of an absent key = false, want true")
	}
	if tryLease(t, l, k, "second", longTTL) {
		t.Fatal("TryLease of a held key = true, want false")
	}
	expectValue(t, r, k, []byte("first"))
	v := p + "value"
	mustSet(t, r, v, []byte("data"), longTTL)
	if tryLease(t, l, v, "token", longTTL) {
		t.Fatal("TryLease of a key holding a value = true, want false")
	}
	expectValue(t, r, v, []byte("data"))
}

func testLeaseOneWinner(t *testing.T, l backend.Leaser, r backend.Remote, p string) {
	k := p + "lease"
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			ok, err := l.TryLease(testContext(t), k, "token-"+strconv.Itoa(i), longTTL)
			if err != nil {
				t.Errorf("TryLease = %v", err)
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Fatalf("%d of 32 concurrent TryLease calls won, want 1", n)
	}
}

func testLeaseExpires(t *testing.T, l backend.Leaser, r backend.Remote, p string) {
	k := p + "lease"
	if !tryLease(t, l, k, "short", shortTTL) {
		t.Fatal("TryLease of an absent key = false, want true")
	}
	if !eventually(func() bool { return mustGet(t, r, k) == nil }) {
		t.Fatalf("%s still held %v after a lease of %v", k, pollTimeout, shortTTL)
	}
	if !tryLease(t, l, k, "next", longTTL) {
		t.Fatal("TryLease after the lease expired = false, want true")
	}
}

func testLeaseReleaseNeedsToken(t *testing.T, l backend.Leaser, r backend.Remote, p string) {
	k := p + "lease"
	tryLease(t, l, k, "mine", longTTL)
	if releaseLease(t, l, k, "not mine") {
		t.Fatal("ReleaseLease with another token = true, want false")
	}
	expectValue(t, r, k, []byte("mine"))
	if !releaseLease(t, l, k, "mine") {
		t.Fatal("ReleaseLease with the holder's token = false, want true")
	}
	expectValue(t, r, k, nil)
	if releaseLease(t, l, k, "mine") {
		t.Fatal("ReleaseLease of an absent key = true, want false")
	}
	if !tryLease(t, l, k, "again", longTTL) {
		t.Fatal("TryLease after a release = false, want true")
	}
}

func testLeaseReleaseLeavesOverwritten(t *testing.T, l backend.Leaser, r backend.Remote, p string) {
	k := p + "lease"
	tryLease(t, l, k, "holder", longTTL)
	mustSet(t, r, k, []byte("void"), longTTL)
	if releaseLease(t, l, k, "holder") {
		t.Fatal("ReleaseLease of a key a write replaced = true, want false")
	}
	expectValue(t, r, k, []byte("void"))
}

func testLeaseContextDone(t *testing.T, l backend.Leaser, r backend.Remote, p string) {
	k := p + "lease"
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := bounded(t, "TryLease with a done context", func() error {
		_, err := l.TryLease(ctx, k, "token", longTTL)
		return err
	})
	if !isCanceled(err) {
		t.Fatalf("TryLease with a done context = %v, want a context error", err)
	}
	expectValue(t, r, k, nil)
	err = bounded(t, "ReleaseLease with a done context", func() error {
		_, err := l.ReleaseLease(ctx, k, "token")
		return err
	})
	if !isCanceled(err) {
		t.Fatalf("ReleaseLease with a done context = %v, want a context error", err)
	}
}
