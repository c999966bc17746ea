package goredisremote_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/internal/redistest"
)

func pubsubClients(t *testing.T, s *redistest.Server) int {
	t.Helper()
	n := 0
	for line := range strings.SplitSeq(s.Do(t, "CLIENT", "LIST", "TYPE", "pubsub").(string), "\n") {
		if strings.TrimSpace(line) != "" {
			n++
		}
	}
	return n
}

// TestSubscriptionsShareOneConnection pins that every Subscribe call of a Remote over
// a *redis.Client shares one connection, that ending one unsubscribes its channel
// only, and that the last one closes the connection.
func TestSubscriptionsShareOneConnection(t *testing.T) {
	t.Parallel()
	s, c := newClient(t)
	r := mustNew(t, c)
	const n = 20
	cancels := make([]context.CancelFunc, n)
	results := make([]chan error, n)
	got := make([]chan string, n)
	for i := range n {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		cancels[i] = cancel
		subscribed := make(chan struct{})
		results[i] = make(chan error, 1)
		got[i] = make(chan string, 16)
		go func() {
			results[i] <- r.Subscribe(ctx, fmt.Sprint("ch", i), func(ev backend.Event) {
				if ev.Kind == backend.EventSubscribed {
					close(subscribed)
					return
				}
				got[i] <- string(ev.Payload)
			})
		}()
		select {
		case <-subscribed:
		case err := <-results[i]:
			t.Fatalf("subscription %d: %v", i, err)
		case <-time.After(5 * time.Second):
			t.Fatalf("subscription %d not confirmed", i)
		}
	}
	if n := pubsubClients(t, s); n != 1 {
		t.Fatalf("%d pubsub connections for 20 subscriptions, want 1", n)
	}
	cancels[3]()
	if err := <-results[3]; !errors.Is(err, backend.ErrSubscriptionClosed) {
		t.Fatalf("Subscribe = %v", err)
	}
	waitNoSubscriber(t, []*redistest.Server{s}, "ch3")
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
	deadline := time.Now().Add(2 * time.Second)
	for pubsubClients(t, s) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the pubsub connection outlived its last subscription")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
