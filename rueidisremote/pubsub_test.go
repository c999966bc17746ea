package rueidisremote_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/internal/redistest"
	"github.com/accelerator-go/accelerator/internal/slot"
	"github.com/accelerator-go/accelerator/rueidisremote"
)

// startSubscription runs Subscribe(channel) on its own goroutine, waits for
// EventSubscribed, and returns the channel that receives Subscribe's error.
func startSubscription(t *testing.T, r *rueidisremote.Remote, channel string) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	subscribed := make(chan struct{})
	result := make(chan error, 1)
	go func() {
		result <- r.Subscribe(ctx, channel, func(ev backend.Event) {
			if ev.Kind == backend.EventSubscribed {
				close(subscribed)
			}
		})
	}()
	select {
	case <-subscribed:
	case err := <-result:
		t.Fatalf("Subscribe returned %v before confirming", err)
	case <-time.After(5 * time.Second):
		t.Fatal("no EventSubscribed within 5s")
	}
	return result
}

// expectBroken checks that Subscribe returns promptly with an error that is not a
// normal end.
func expectBroken(t *testing.T, result <-chan error) {
	t.Helper()
	select {
	case err := <-result:
		if err == nil || errors.Is(err, backend.ErrSubscriptionClosed) {
			t.Fatalf("Subscribe = %v, want the reason it broke", err)
		}
		t.Logf("Subscribe returned: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("Subscribe did not return within 5s of losing its connection")
	}
}

// TestSubscribeReturnsWhenConnectionKilled pins that Subscribe does not resubscribe
// on its own: the caller must learn that messages may have been lost.
func TestSubscribeReturnsWhenConnectionKilled(t *testing.T) {
	t.Parallel()
	for _, proto := range []string{"", "?protocol=2"} {
		t.Run("url"+proto, func(t *testing.T) {
			s := redistest.Start(t)
			r := newRemote(t, s.URL()+proto)
			result := startSubscription(t, r, "ch")

			if got := s.Do(t, "CLIENT", "KILL", "TYPE", "pubsub").(int64); got != 1 {
				t.Fatalf("CLIENT KILL TYPE pubsub killed %d clients, want 1", got)
			}
			expectBroken(t, result)

			// The Remote itself still works, and a new subscription gets messages.
			if err := r.Set(context.Background(), "k", []byte("v"), time.Minute); err != nil {
				t.Fatalf("Set after the kill = %v", err)
			}
			startSubscription(t, r, "ch")
			if got := s.Do(t, "PUBLISH", "ch", "x").(int64); got != 1 {
				t.Errorf("PUBLISH reached %d subscribers, want 1", got)
			}
		})
	}
}

func TestSubscribeReturnsWhenServerKilled(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	r := newRemote(t, s.URL())
	result := startSubscription(t, r, "ch")
	s.Kill()
	expectBroken(t, result)

	// After a restart, nothing resubscribed behind the caller's back.
	s.Restart(t)
	time.Sleep(100 * time.Millisecond)
	if got := numSub(t, s, "ch"); got != 0 {
		t.Errorf("PUBSUB NUMSUB ch = %d after restart, want 0", got)
	}
}

func TestSubscribeClusterConnectionKilled(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3)
	r := newRemote(t, "redis://"+c.Addrs()[0]+"?addr="+c.Addrs()[1])
	result := startSubscription(t, r, "ch")
	// The subscription sits on the node that owns the channel name's slot, where
	// Publish sends (StartCluster splits the slots evenly, in node order).
	owner := int(slot.Of("ch")) * len(c.Nodes()) / slot.Count
	var killed int64
	for i, n := range c.Nodes() {
		k := n.Do(t, "CLIENT", "KILL", "TYPE", "pubsub").(int64)
		if k != 0 && i != owner {
			t.Errorf("subscription on node %d, want node %d (owner of slot %d)", i, owner, slot.Of("ch"))
		}
		killed += k
	}
	if killed != 1 {
		t.Fatalf("killed %d pub/sub clients, want 1", killed)
	}
	expectBroken(t, result)
}

// TestSubscribeLeavesNoSubscriber pins that a subscription ended by its context is
// dropped on the server, so that the connection pool holds no subscribed connection.
func TestSubscribeLeavesNoSubscriber(t *testing.T) {
	t.Parallel()
	for _, proto := range []string{"", "?protocol=2"} {
		t.Run("url"+proto, func(t *testing.T) {
			s := redistest.Start(t)
			r := newRemote(t, s.URL()+proto)
			ctx, cancel := context.WithCancel(context.Background())
			subscribed := make(chan struct{})
			result := make(chan error, 1)
			go func() {
				result <- r.Subscribe(ctx, "ch", func(ev backend.Event) {
					if ev.Kind == backend.EventSubscribed {
						close(subscribed)
					}
				})
			}()
			<-subscribed
			if got := numSub(t, s, "ch"); got != 1 {
				t.Fatalf("PUBSUB NUMSUB ch = %d while subscribed, want 1", got)
			}
			cancel()
			if err := <-result; !errors.Is(err, backend.ErrSubscriptionClosed) || !errors.Is(err, context.Canceled) {
				t.Fatalf("Subscribe = %v, want ErrSubscriptionClosed and context.Canceled", err)
			}
			deadline := time.Now().Add(2 * time.Second)
			for numSub(t, s, "ch") != 0 {
				if time.Now().After(deadline) {
					t.Fatal("channel still has a subscriber 2s after Subscribe returned")
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

func numSub(t *testing.T, s *redistest.Server, channel string) int64 {
	t.Helper()
	return s.Do(t, "PUBSUB", "NUMSUB", channel).([]any)[1].(int64)
}

// TestSubscribeCancelWhileServerFrozen pins that ending the context ends Subscribe
// even when the server stopped answering.
func TestSubscribeCancelWhileServerFrozen(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	r := newRemote(t, s.URL())
	ctx, cancel := context.WithCancel(context.Background())
	subscribed := make(chan struct{})
	result := make(chan error, 1)
	go func() {
		result <- r.Subscribe(ctx, "ch", func(ev backend.Event) {
			if ev.Kind == backend.EventSubscribed {
				close(subscribed)
			}
		})
	}()
	<-subscribed
	s.Stop(t)
	defer s.Cont(t)
	start := time.Now()
	cancel()
	select {
	case err := <-result:
		if !errors.Is(err, backend.ErrSubscriptionClosed) {
			t.Errorf("Subscribe = %v, want ErrSubscriptionClosed", err)
		}
		t.Logf("returned %v after the cancel", time.Since(start))
	case <-time.After(3 * time.Second):
		t.Fatal("Subscribe did not return within 3s of its context's end")
	}
}

// TestSubscribeDetectsFrozenServer checks the NOTE on Subscribe: rueidis' background
// PING breaks the subscription of a server that stopped answering, after the
// client's write timeout.
func TestSubscribeDetectsFrozenServer(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	opt := rueidis.ClientOption{InitAddress: []string{s.Addr()}, ConnWriteTimeout: 300 * time.Millisecond}
	opt.Dialer.KeepAlive = 200 * time.Millisecond // the PING interval
	r, err := rueidisremote.NewFromOptions(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	result := startSubscription(t, r, "ch")
	s.Stop(t)
	defer s.Cont(t)
	expectBroken(t, result)
}
