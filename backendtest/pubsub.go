package backendtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator/backend"
)

// TestPubSub runs the conformance suite for [backend.PubSub]: one subtest per
// property, each with a PubSub returned by newPubSub for that subtest.
//
// It checks that Subscribe reports [backend.EventSubscribed] once, before anything
// else, and then every message published on its channel, in order, with the exact
// payload (binary and 64 KiB payloads included) and nothing from other channels;
// that several subscriptions to a channel each get every message; that ending the
// subscription of one channel leaves those of other channels receiving (a transport
// that shares one connection between them must unsubscribe the channel only), and
// that the channel can be subscribed again; that handler calls
// never overlap and never happen after Subscribe returned; that Subscribe returns an
// error wrapping [backend.ErrSubscriptionClosed] promptly once its context is done,
// also when it is done from the start; that a channel can be subscribed again after a
// subscription ended; and that Publish succeeds without subscribers and fails instead
// of hanging when its context is done.
//
// The subtests run one after the other. newPubSub may return the same PubSub every
// time: channels are unique to each subtest.
func TestPubSub(t *testing.T, newPubSub func(t *testing.T) backend.PubSub) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, ps backend.PubSub, p string)
	}{
		{"SubscribedThenMessagesInOrder", testSubscribedThenMessages},
		{"Payloads", testPayloads},
		{"OnlyItsChannel", testOnlyItsChannel},
		{"SeveralSubscribers", testSeveralSubscribers},
		{"EndingOneChannelLeavesOthers", testEndingOneChannelLeavesOthers},
		{"ReturnsWhenContextDone", testSubscribeReturnsOnCancel},
		{"ContextDoneBeforeSubscribe", testSubscribeContextDoneBefore},
		{"SubscribeAgain", testSubscribeAgain},
		{"PublishWithoutSubscribers", testPublishWithoutSubscribers},
		{"PublishContextDone", testPublishContextDone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := newPubSub(t)
			if ps == nil {
				t.Fatal("newPubSub returned nil")
			}
			tt.run(t, ps, prefix(t))
		})
	}
}

// subscription runs one Subscribe call on its own goroutine and records what its
// handler sees.
type subscription struct {
	events   chan backend.Event // payloads copied, since they are valid only in the call
	result   chan error         // Subscribe's error, once it returned
	cancel   context.CancelFunc
	returned atomic.Bool
	inCall   atomic.Int32

	mu       sync.Mutex
	problems []string
}

// subscribe starts Subscribe(channel) and arranges for it to end with the test.
func subscribe(t *testing.T, ps backend.PubSub, channel string) *subscription {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &subscription{
		events: make(chan backend.Event, 1024),
		result: make(chan error, 1),
		cancel: cancel,
	}
	go func() {
		err := ps.Subscribe(ctx, channel, s.handle)
		s.returned.Store(true)
		s.result <- err
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-s.result:
			s.result <- err // keep it for a later wait
		case <-time.After(opTimeout):
			t.Errorf("Subscribe(%q) did not return within %v of its context's end", channel, opTimeout)
		}
		s.checkProblems(t)
	})
	return s
}

func (s *subscription) handle(ev backend.Event) {
	if s.returned.Load() {
		s.problem("handler called after Subscribe returned")
	}
	if s.inCall.Add(1) != 1 {
		s.problem("handler calls overlap: they must come from a single goroutine")
	}
	defer s.inCall.Add(-1)
	ev.Payload = bytes.Clone(ev.Payload)
	select {
	case s.events <- ev:
	default:
		s.problem("more than 1024 unread events")
	}
}

func (s *subscription) problem(msg string) {
	s.mu.Lock()
	s.problems = append(s.problems, msg)
	s.mu.Unlock()
}

func (s *subscription) checkProblems(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.problems {
		t.Error(p)
	}
	s.problems = nil
}

// next returns the next event, failing the test if none comes within opTimeout.
func (s *subscription) next(t *testing.T) backend.Event {
	t.Helper()
	select {
	case ev := <-s.events:
		return ev
	case err := <-s.result:
		s.result <- err
		t.Fatalf("Subscribe returned %v while an event was expected", err)
	case <-time.After(opTimeout):
		t.Fatalf("no event within %v", opTimeout)
	}
	return backend.Event{}
}

// waitSubscribed checks that the first event is EventSubscribed.
func (s *subscription) waitSubscribed(t *testing.T) {
	t.Helper()
	if ev := s.next(t); ev.Kind != backend.EventSubscribed {
		t.Fatalf("first event = %s, want EventSubscribed", showEvent(ev))
	}
}

// expectMessage checks that the next event is the message want.
func (s *subscription) expectMessage(t *testing.T, want []byte) {
	t.Helper()
	ev := s.next(t)
	if ev.Kind != backend.EventMessage || !bytes.Equal(ev.Payload, want) {
		t.Fatalf("event = %s, want message %s", showEvent(ev), show(want))
	}
}

// stop cancels the subscription and returns Subscribe's error.
func (s *subscription) stop(t *testing.T) error {
	t.Helper()
	s.cancel()
	return s.wait(t)
}

// wait returns Subscribe's error, failing the test if it does not return within
// opTimeout.
func (s *subscription) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-s.result:
		s.result <- err
		return err
	case <-time.After(opTimeout):
		t.Fatalf("Subscribe did not return within %v", opTimeout)
		return nil
	}
}

func showEvent(ev backend.Event) string {
	switch ev.Kind {
	case backend.EventSubscribed:
		return "EventSubscribed"
	case backend.EventMessage:
		return "EventMessage " + show(ev.Payload)
	}
	return fmt.Sprintf("Event{Kind: %d}", ev.Kind)
}

func mustPublish(t *testing.T, ps backend.PubSub, channel string, msg []byte) {
	t.Helper()
	if err := ps.Publish(testContext(t), channel, msg); err != nil {
		t.Fatalf("Publish(%q) = %v", channel, err)
	}
}

func checkClosed(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, backend.ErrSubscriptionClosed) {
		t.Errorf("Subscribe after its context ended = %v, want an error wrapping backend.ErrSubscriptionClosed", err)
	}
}

func testSubscribedThenMessages(t *testing.T, ps backend.PubSub, p string) {
	ch := p + "ch"
	s := subscribe(t, ps, ch)
	s.waitSubscribed(t)
	const n = 50
	for i := range n {
		mustPublish(t, ps, ch, []byte("msg-"+strconv.Itoa(i)))
	}
	for i := range n {
		s.expectMessage(t, []byte("msg-"+strconv.Itoa(i)))
	}
	checkClosed(t, s.stop(t))

	// Nothing reaches the handler once Subscribe returned.
	mustPublish(t, ps, ch, []byte("late"))
	time.Sleep(50 * time.Millisecond)
	select {
	case ev := <-s.events:
		t.Errorf("event %s after Subscribe returned", showEvent(ev))
	default:
	}
	s.checkProblems(t)
}

func testPayloads(t *testing.T, ps backend.PubSub, p string) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	big := make([]byte, 64<<10)
	_, _ = rand.Read(big)
	payloads := [][]byte{[]byte("x"), {0}, []byte("a\x00b\r\nc"), all, big}

	ch := p + "ch"
	s := subscribe(t, ps, ch)
	s.waitSubscribed(t)
	for _, m := range payloads {
		mustPublish(t, ps, ch, m)
	}
	for _, m := range payloads {
		s.expectMessage(t, m)
	}
}

func testOnlyItsChannel(t *testing.T, ps backend.PubSub, p string) {
	ch := p + "ch"
	s := subscribe(t, ps, ch)
	s.waitSubscribed(t)
	mustPublish(t, ps, p+"other", []byte("other"))
	mustPublish(t, ps, ch+"x", []byte("longer name"))
	mustPublish(t, ps, ch, []byte("mine"))
	s.expectMessage(t, []byte("mine"))
}

func testSeveralSubscribers(t *testing.T, ps backend.PubSub, p string) {
	ch, other := p+"ch", p+"other"
	s1 := subscribe(t, ps, ch)
	s2 := subscribe(t, ps, ch)
	s3 := subscribe(t, ps, other)
	for _, s := range []*subscription{s1, s2, s3} {
		s.waitSubscribed(t)
	}
	mustPublish(t, ps, ch, []byte("one"))
	mustPublish(t, ps, other, []byte("two"))
	s1.expectMessage(t, []byte("one"))
	s2.expectMessage(t, []byte("one"))
	s3.expectMessage(t, []byte("two"))

	// Ending one subscription leaves the others running.
	checkClosed(t, s1.stop(t))
	mustPublish(t, ps, ch, []byte("three"))
	s2.expectMessage(t, []byte("three"))
}

func testSubscribeReturnsOnCancel(t *testing.T, ps backend.PubSub, p string) {
	t.Run("after confirmation", func(t *testing.T) {
		s := subscribe(t, ps, p+"a")
		s.waitSubscribed(t)
		checkClosed(t, s.stop(t))
	})
	t.Run("right away", func(t *testing.T) {
		// Cancelled while the subscription may still be in flight.
		s := subscribe(t, ps, p+"b")
		checkClosed(t, s.stop(t))
	})
	t.Run("handler blocked", func(t *testing.T) {
		// A slow handler delays the end, but does not prevent it.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch := p + "c"
		subscribed := make(chan struct{})
		result := make(chan error, 1)
		go func() {
			result <- ps.Subscribe(ctx, ch, func(ev backend.Event) {
				if ev.Kind == backend.EventSubscribed {
					close(subscribed)
					return
				}
				time.Sleep(20 * time.Millisecond)
			})
		}()
		select {
		case <-subscribed:
		case err := <-result:
			t.Fatalf("Subscribe returned %v before confirming", err)
		case <-time.After(opTimeout):
			t.Fatal("no EventSubscribed")
		}
		for range 5 {
			mustPublish(t, ps, ch, []byte("m"))
		}
		cancel()
		select {
		case err := <-result:
			checkClosed(t, err)
		case <-time.After(opTimeout):
			t.Fatal("Subscribe did not return after its context ended")
		}
	})
}

func testSubscribeContextDoneBefore(t *testing.T, ps backend.PubSub, p string) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := bounded(t, "Subscribe with a cancelled context", func() error {
		return ps.Subscribe(ctx, p+"ch", func(backend.Event) {})
	})
	checkClosed(t, err)
	if !errors.Is(err, context.Canceled) {
		t.Logf("note: the error does not wrap context.Canceled: %v", err)
	}
}

func testSubscribeAgain(t *testing.T, ps backend.PubSub, p string) {
	ch := p + "ch"
	for i := range 3 {
		s := subscribe(t, ps, ch)
		s.waitSubscribed(t)
		msg := []byte("round-" + strconv.Itoa(i))
		mustPublish(t, ps, ch, msg)
		s.expectMessage(t, msg)
		checkClosed(t, s.stop(t))
	}
}

func testPublishWithoutSubscribers(t *testing.T, ps backend.PubSub, p string) {
	mustPublish(t, ps, p+"nobody", []byte("hello"))
}

func testPublishContextDone(t *testing.T, ps backend.PubSub, p string) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := bounded(t, "Publish with a cancelled context", func() error {
		return ps.Publish(ctx, p+"ch", []byte("x"))
	})
	if !isCanceled(err) {
		t.Errorf("Publish with a cancelled context = %v, want an error wrapping context.Canceled", err)
	}
}

func testEndingOneChannelLeavesOthers(t *testing.T, ps backend.PubSub, p string) {
	a, b := p+"a", p+"b"
	sa := subscribe(t, ps, a)
	sb := subscribe(t, ps, b)
	sa.waitSubscribed(t)
	sb.waitSubscribed(t)
	checkClosed(t, sa.stop(t))
	mustPublish(t, ps, a, []byte("to nobody"))
	mustPublish(t, ps, b, []byte("still here"))
	sb.expectMessage(t, []byte("still here"))

	again := subscribe(t, ps, a)
	again.waitSubscribed(t)
	mustPublish(t, ps, a, []byte("back"))
	again.expectMessage(t, []byte("back"))
	mustPublish(t, ps, b, []byte("and here"))
	sb.expectMessage(t, []byte("and here"))
}
