// Package backendtest is a conformance suite for implementations of the contracts in
// package backend. A backend author calls it from a test of their own package:
//
//	func TestConformance(t *testing.T) {
//		backendtest.TestRemote(t, func(t *testing.T) backend.Remote {
//			r := mybackend.New(...) // connected to a server started for this test
//			t.Cleanup(r.Close)
//			return r
//		})
//	}
//
// Each function runs one subtest per property of the contract, so a failure names
// the property that broke (for example TestRemote/MGet/duplicates). The factory is
// called once per subtest, with that subtest's *testing.T: it may start a fresh server
// or reuse a shared one, and should register its cleanup with t.Cleanup. The suite
// uses keys and channels unique to each subtest, so a shared server is fine, and it
// does not flush anything.
//
// The suite checks observable behaviour only: values, absence, expiry, ordering,
// cancellation and safety under concurrent use (run it with -race). Properties such
// as "one round trip per batch" depend on the server and are left to the
// implementation's own tests.
package backendtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

// Timing bounds. The suite keeps its sleeps short; expiry is polled for up to
// pollTimeout, since a backend may use a coarse clock or expire keys lazily.
const (
	pollTimeout  = 2 * time.Second
	pollInterval = 5 * time.Millisecond
	// opTimeout bounds one call that must not hang, such as a call with an already
	// cancelled context.
	opTimeout = 5 * time.Second
)

// prefix returns a key or channel prefix unique to t and to this run, so that tests
// sharing a server, or repeated with -count, never see each other's data.
func prefix(t *testing.T) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := strings.NewReplacer(" ", "_", "/", ":").Replace(t.Name())
	return "backendtest:" + name + ":" + hex.EncodeToString(b[:]) + ":"
}

// testContext returns a context that ends with the test, bounded by opTimeout times
// a margin, so that a hanging backend fails the test instead of the whole binary.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 6*opTimeout)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds or pollTimeout passes, and reports whether it
// held.
func eventually(cond func() bool) bool {
	deadline := time.Now().Add(pollTimeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pollInterval)
	}
}

// bounded runs f on its own goroutine and fails the test if it does not return
// within opTimeout. It returns f's error.
func bounded(t *testing.T, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(opTimeout):
		t.Fatalf("%s did not return within %v", what, opTimeout)
		return nil
	}
}

// isCanceled reports whether err says that the context was cancelled or timed out.
func isCanceled(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
