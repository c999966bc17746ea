package backendtest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator/backend"
)

// TestTracker runs the conformance suite for [backend.Tracker]: one subtest per
// property, each with the Tracker and the Remote (over the same server, used to write
// keys) that newTracker returns for that subtest.
//
// It checks that Track reports [backend.TrackStarted] once, before anything else; then
// a [backend.TrackInvalidate] with the full key for each write (Set, Del) under the
// prefix and nothing for keys outside it; [backend.TrackAlive] about every probe
// interval; that handler calls never overlap; and that Track returns an error
// wrapping [backend.ErrSubscriptionClosed] promptly once its context is done, also
// when it is done from the start.
func TestTracker(t *testing.T, newTracker func(t *testing.T) (backend.Tracker, backend.Remote)) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, tr backend.Tracker, r backend.Remote, p string)
	}{
		{"StartedThenWritesUnderThePrefix", testTrackWrites},
		{"Alive", testTrackAlive},
		{"ReturnsWhenContextDone", testTrackReturnsOnCancel},
		{"ContextDoneBeforeTrack", testTrackContextDoneBefore},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, r := newTracker(t)
			if tr == nil || r == nil {
				t.Fatal("newTracker returned nil")
			}
			tt.run(t, tr, r, prefix(t))
		})
	}
}

// tracking runs one Track call on its own goroutine and records its events.
type tracking struct {
	events chan backend.TrackEvent // keys copied
	result chan error
	cancel context.CancelFunc
	inCall chan struct{} // holds a token while the handler runs
}

func track(t *testing.T, tr backend.Tracker, p string, probe time.Duration) *tracking {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	k := &tracking{
		events: make(chan backend.TrackEvent, 1024),
		result: make(chan error, 1),
		cancel: cancel,
		inCall: make(chan struct{}, 1),
	}
	go func() {
		k.result <- tr.Track(ctx, p, probe, func(ev backend.TrackEvent) {
			select {
			case k.inCall <- struct{}{}:
			default:
				t.Error("handler calls overlap: they must come from a single goroutine")
			}
			defer func() { <-k.inCall }()
			keys := make([][]byte, len(ev.Keys))
			for i, key := range ev.Keys {
				keys[i] = bytes.Clone(key)
			}
			ev.Keys = keys
			select {
			case k.events <- ev:
			default:
				t.Error("more than 1024 unread events")
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-k.result:
			k.result <- err
		case <-time.After(opTimeout):
			t.Errorf("Track did not return within %v of its context's end", opTimeout)
		}
	})
	return k
}

// next returns the next event that is not TrackAlive.
func (k *tracking) next(t *testing.T) backend.TrackEvent {
	t.Helper()
	timeout := time.After(opTimeout)
	for {
		select {
		case ev := <-k.events:
			if ev.Kind != backend.TrackAlive {
				return ev
			}
		case err := <-k.result:
			k.result <- err
			t.Fatalf("Track returned %v while an event was expected", err)
		case <-timeout:
			t.Fatalf("no event within %v", opTimeout)
		}
	}
}

func testTrackWrites(t *testing.T, tr backend.Tracker, r backend.Remote, p string) {
	k := track(t, tr, p, time.Second)
	if ev := k.next(t); ev.Kind != backend.TrackStarted {
		t.Fatalf("first event %+v, want TrackStarted", ev)
	}
	ctx := testContext(t)
	if err := r.Set(ctx, "x"+p+"outside", []byte("v"), time.Minute); err != nil {
		t.Fatalf("Set = %v", err)
	}
	for _, write := range []struct {
		name string
		do   func(key string) error
	}{
		{"Set", func(key string) error { return r.Set(ctx, key, []byte("v"), time.Minute) }},
		{"Del", func(key string) error { return r.Del(ctx, key) }},
	} {
		key := p + "k"
		if err := write.do(key); err != nil {
			t.Fatalf("%s = %v", write.name, err)
		}
		ev := k.next(t)
		if ev.Kind != backend.TrackInvalidate || ev.All || len(ev.Keys) != 1 || string(ev.Keys[0]) != key {
			t.Fatalf("after %s of a key under the prefix: event %+v, want the invalidation of that key alone", write.name, ev)
		}
	}
}

func testTrackAlive(t *testing.T, tr backend.Tracker, _ backend.Remote, p string) {
	k := track(t, tr, p, 20*time.Millisecond)
	alive := 0
	timeout := time.After(opTimeout)
	for alive < 5 {
		select {
		case ev := <-k.events:
			if ev.Kind == backend.TrackAlive {
				alive++
			}
		case err := <-k.result:
			k.result <- err
			t.Fatalf("Track returned %v", err)
		case <-timeout:
			t.Fatalf("%d TrackAlive events in %v with a 20ms probe interval", alive, opTimeout)
		}
	}
}

func testTrackReturnsOnCancel(t *testing.T, tr backend.Tracker, _ backend.Remote, p string) {
	k := track(t, tr, p, time.Second)
	if ev := k.next(t); ev.Kind != backend.TrackStarted {
		t.Fatalf("first event %+v, want TrackStarted", ev)
	}
	k.cancel()
	select {
	case err := <-k.result:
		k.result <- err
		if !errors.Is(err, backend.ErrSubscriptionClosed) {
			t.Fatalf("Track after its context ended = %v, want an error wrapping backend.ErrSubscriptionClosed", err)
		}
	case <-time.After(opTimeout):
		t.Fatalf("Track did not return within %v", opTimeout)
	}
}

func testTrackContextDoneBefore(t *testing.T, tr backend.Tracker, _ backend.Remote, p string) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := bounded(t, "Track with a cancelled context", func() error {
		return tr.Track(ctx, p, time.Second, func(backend.TrackEvent) {})
	})
	if !errors.Is(err, backend.ErrSubscriptionClosed) {
		t.Errorf("Track with a cancelled context = %v, want an error wrapping backend.ErrSubscriptionClosed", err)
	}
}
