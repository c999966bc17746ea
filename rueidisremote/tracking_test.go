package rueidisremote_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/backendtest"
	"github.com/accelerator-go/accelerator/internal/redistest"
)

// startTrack runs Track(prefix) on its own goroutine and returns its events and the
// channel that receives Track's error.
func startTrack(t *testing.T, ctx context.Context, r interface {
	Track(context.Context, string, time.Duration, func(backend.TrackEvent)) error
}, prefix string) (<-chan backend.TrackEvent, <-chan error) {
	t.Helper()
	events := make(chan backend.TrackEvent, 1024)
	result := make(chan error, 1)
	go func() {
		result <- r.Track(ctx, prefix, 20*time.Millisecond, func(ev backend.TrackEvent) {
			keys := make([][]byte, len(ev.Keys))
			for i, k := range ev.Keys {
				keys[i] = append([]byte(nil), k...)
			}
			ev.Keys = keys
			events <- ev
		})
	}()
	return events, result
}

// nextEvent returns the next event other than TrackAlive.
func nextEvent(t *testing.T, events <-chan backend.TrackEvent, result <-chan error) backend.TrackEvent {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.Kind != backend.TrackAlive {
				return ev
			}
		case err := <-result:
			t.Fatalf("Track returned %v while an event was expected", err)
		case <-timeout:
			t.Fatal("no event within 5s")
		}
	}
}

// TestTrackReportsWritesUnderThePrefix pins the events of Track: started first, then
// the keys written under the prefix by another client (and nothing outside it), a
// FLUSHALL as All, TrackAlive answers, and a prompt return when ctx ends, also with
// the server frozen.
func TestTrackReportsWritesUnderThePrefix(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	r := newRemote(t, s.URL())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, result := startTrack(t, ctx, r, "p:")
	if ev := nextEvent(t, events, result); ev.Kind != backend.TrackStarted {
		t.Fatalf("first event %+v, want TrackStarted", ev)
	}
	s.Do(t, "SET", "other:1", "x")
	s.Do(t, "SET", "p:1", "x")
	ev := nextEvent(t, events, result)
	if ev.Kind != backend.TrackInvalidate || len(ev.Keys) != 1 || string(ev.Keys[0]) != "p:1" {
		t.Fatalf("event %+v, want the invalidation of p:1", ev)
	}
	s.Do(t, "FLUSHALL")
	if ev := nextEvent(t, events, result); ev.Kind != backend.TrackInvalidate || !ev.All {
		t.Fatalf("event %+v after FLUSHALL, want All", ev)
	}
	alive := 0
	for deadline := time.Now().Add(5 * time.Second); alive < 3 && time.Now().Before(deadline); {
		select {
		case ev := <-events:
			if ev.Kind == backend.TrackAlive {
				alive++
			}
		case <-time.After(10 * time.Millisecond):
		}
	}
	if alive < 3 {
		t.Fatalf("%d TrackAlive events, want a steady stream", alive)
	}
	s.Stop(t)
	defer s.Cont(t)
	start := time.Now()
	cancel()
	select {
	case err := <-result:
		if !errors.Is(err, backend.ErrSubscriptionClosed) {
			t.Fatalf("Track = %v, want ErrSubscriptionClosed", err)
		}
		if took := time.Since(start); took > 100*time.Millisecond {
			t.Fatalf("Track took %v to return on a frozen server", took)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Track did not return after its context ended")
	}
}

// TestTrackRefusesRESP2 pins that Track fails instead of tracking without ever
// receiving an invalidation: RESP2 delivers none on the tracking connection.
func TestTrackRefusesRESP2(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	r := newRemote(t, s.URL()+"?protocol=2")
	_, result := startTrack(t, context.Background(), r, "p:")
	select {
	case err := <-result:
		if err == nil || errors.Is(err, backend.ErrSubscriptionClosed) {
			t.Fatalf("Track over RESP2 = %v, want an error", err)
		}
		t.Logf("Track over RESP2: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("Track over RESP2 did not fail")
	}
}

// TestTrackerConformance runs the backendtest suite for backend.Tracker.
func TestTrackerConformance(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	r := newRemote(t, s.URL())
	backendtest.TestTracker(t, func(*testing.T) (backend.Tracker, backend.Remote) { return r, r })
}
