package rueidisremote_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/internal/redistest"
)

// pubsubClients returns the number of pubsub connections of the server.
func pubsubClients(t *testing.T, s *redistest.Server) int {
	t.Helper()
	list := s.Do(t, "CLIENT", "LIST", "TYPE", "pubsub").(string)
	n := 0
	for _, line := range splitLines(list) {
		if line != "" {
			n++
		}
	}
	return n
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := range len(s) {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// TestSubscriptionsShareOneConnection pins that every Subscribe call of a Remote,
// on any channel, shares one connection, that ending one unsubscribes its channel
// only, and that the last one closes the connection.
func TestSubscriptionsShareOneConnection(t *testing.T) {
	t.Parallel()
	for _, proto := range []string{"", "?protocol=2"} {
		t.Run("url"+proto, func(t *testing.T) {
			s := redistest.Start(t)
			r := newRemote(t, s.URL()+proto)
			const n = 20
			cancels := make([]context.CancelFunc, n)
			results := make([]<-chan error, n)
			got := make([]chan string, n)
			for i := range n {
				ctx, cancel := context.WithCancel(context.Background())
				t.Cleanup(cancel)
				cancels[i] = cancel
				subscribed := make(chan struct{})
				result := make(chan error, 1)
				got[i] = make(chan string, 16)
				go func() {
					result <- r.Subscribe(ctx, fmt.Sprint("ch", i), func(ev backend.Event) {
						if ev.Kind == backend.EventSubscribed {
							close(subscribed)
							return
						}
						got[i] <- string(ev.Payload)
					})
				}()
				select {
				case <-subscribed:
				case <-time.After(5 * time.Second):
					t.Fatalf("subscription %d not confirmed", i)
				}
				results[i] = result
			}
			if c := pubsubClients(t, s); c != 1 {
				t.Fatalf("%d pubsub connections for %d subscriptions, want 1", c, n)
			}
			cancels[3]()
			if err := <-results[3]; !errors.Is(err, backend.ErrSubscriptionClosed) {
				t.Fatalf("Subscribe = %v", err)
			}
			deadline := time.Now().Add(2 * time.Second)
			for numSub(t, s, "ch3") != 0 {
				if time.Now().After(deadline) {
					t.Fatal("ch3 still subscribed")
				}
				time.Sleep(5 * time.Millisecond)
			}
			for i := range n {
				if i == 3 {
					continue
				}
				if err := r.Publish(context.Background(), fmt.Sprint("ch", i), []byte("m")); err != nil {
					t.Fatal(err)
				}
				select {
				case <-got[i]:
				case <-time.After(5 * time.Second):
					t.Fatalf("subscription %d got nothing after another ended", i)
				}
			}
			for i := range n {
				cancels[i]()
			}
			deadline = time.Now().Add(2 * time.Second)
			for pubsubClients(t, s) != 0 {
				if time.Now().After(deadline) {
					t.Fatal("the pubsub connection outlived its last subscription")
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}

// TestSlowSubscriptionEndsAlone pins that a handler that stops reading ends its own
// subscription once its buffer is full, while another subscription on the shared
// connection keeps receiving.
func TestSlowSubscriptionEndsAlone(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	r := newRemote(t, s.URL())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	block := make(chan struct{})
	slowSubscribed, fastSubscribed := make(chan struct{}), make(chan struct{})
	slow, fast := make(chan error, 1), make(chan error, 1)
	got := make(chan struct{}, 1)
	go func() {
		slow <- r.Subscribe(ctx, "slow", func(ev backend.Event) {
			if ev.Kind == backend.EventSubscribed {
				close(slowSubscribed)
				return
			}
			<-block
		})
	}()
	go func() {
		fast <- r.Subscribe(ctx, "fast", func(ev backend.Event) {
			if ev.Kind == backend.EventSubscribed {
				close(fastSubscribed)
				return
			}
			select {
			case got <- struct{}{}:
			default:
			}
		})
	}()
	<-slowSubscribed
	<-fastSubscribed
	c := r.Client()
	for range 5000 {
		if err := c.Do(ctx, c.B().Publish().Channel("slow").Message("m").Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
	close(block) // the handler is slow, not stuck: it returns, and learns
	select {
	case err := <-slow:
		if err == nil || errors.Is(err, backend.ErrSubscriptionClosed) {
			t.Fatalf("slow Subscribe = %v, want the reason it broke", err)
		}
		t.Logf("slow subscription: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("the slow subscription did not end")
	}
	if err := r.Publish(ctx, "fast", []byte("m")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case err := <-fast:
		t.Fatalf("fast Subscribe returned %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("the other subscription stopped receiving")
	}
}
