package goredisremote_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/goredisremote"
	"github.com/accelerator-go/accelerator/internal/redistest"
)

// prompt bounds how long Subscribe may take to report a broken subscription.
const prompt = 5 * time.Second

// startSubscription runs Subscribe(channel) on its own goroutine, waits for
// EventSubscribed, and returns the channel that receives Subscribe's error and the
// one that receives the payloads of its messages.
func startSubscription(t *testing.T, r *goredisremote.Remote, channel string) (<-chan error, <-chan string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	subscribed := make(chan struct{})
	messages := make(chan string, 100)
	result := make(chan error, 1)
	go func() {
		result <- r.Subscribe(ctx, channel, func(ev backend.Event) {
			if ev.Kind == backend.EventSubscribed {
				close(subscribed)
				return
			}
			messages <- string(ev.Payload)
		})
	}()
	select {
	case <-subscribed:
	case err := <-result:
		t.Fatalf("Subscribe returned %v before confirming", err)
	case <-time.After(prompt):
		t.Fatalf("no EventSubscribed within %v", prompt)
	}
	return result, messages
}

// expectBroken checks that Subscribe returns promptly with an error that is not a
// normal end, and returns it.
func expectBroken(t *testing.T, result <-chan error) error {
	t.Helper()
	select {
	case err := <-result:
		if err == nil || errors.Is(err, backend.ErrSubscriptionClosed) {
			t.Fatalf("Subscribe = %v, want the reason it broke", err)
		}
		t.Logf("Subscribe returned: %v", err)
		return err
	case <-time.After(prompt):
		t.Fatalf("Subscribe did not return within %v of losing its connection", prompt)
		return nil
	}
}

// expectMessage checks that msg arrives within prompt.
func expectMessage(t *testing.T, messages <-chan string, want string) {
	t.Helper()
	select {
	case got := <-messages:
		if got != want {
			t.Fatalf("message = %q, want %q", got, want)
		}
	case <-time.After(prompt):
		t.Fatalf("message %q did not arrive within %v", want, prompt)
	}
}

// numSub returns the number of subscribers of channel over servers.
func numSub(t *testing.T, servers []*redistest.Server, channel string) int64 {
	t.Helper()
	var n int64
	for _, s := range servers {
		n += s.Do(t, "PUBSUB", "NUMSUB", channel).([]any)[1].(int64)
	}
	return n
}

// waitNoSubscriber fails the test unless channel loses every subscriber soon.
func waitNoSubscriber(t *testing.T, servers []*redistest.Server, channel string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		n := numSub(t, servers, channel)
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still has %d subscribers after Subscribe returned, want 0", channel, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSubscribeReturnsWhenConnectionKilled pins that Subscribe does not resubscribe
// on its own: the caller must learn that messages may have been lost. go-redis'
// Receive reconnects and resubscribes before it reports the error, so the test also
// checks that no subscription is left behind.
func TestSubscribeReturnsWhenConnectionKilled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		start func(t *testing.T) ([]*redistest.Server, redis.UniversalClient)
	}{
		{"standalone", func(t *testing.T) ([]*redistest.Server, redis.UniversalClient) {
			s, c := newClient(t)
			return []*redistest.Server{s}, c
		}},
		{"standalone RESP2", func(t *testing.T) ([]*redistest.Server, redis.UniversalClient) {
			s, c := newClient(t, func(o *redis.Options) { o.Protocol = 2 })
			return []*redistest.Server{s}, c
		}},
		{"cluster", func(t *testing.T) ([]*redistest.Server, redis.UniversalClient) {
			cl, c := newClusterClient(t)
			return cl.Nodes(), c
		}},
		{"ring", func(t *testing.T) ([]*redistest.Server, redis.UniversalClient) {
			return newRing(t)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			servers, c := tt.start(t)
			r := mustNew(t, c)
			result, _ := startSubscription(t, r, "ch")

			var killed int64
			for _, s := range servers {
				killed += s.Do(t, "CLIENT", "KILL", "TYPE", "pubsub").(int64)
			}
			if killed != 1 {
				t.Fatalf("CLIENT KILL TYPE pubsub killed %d clients, want 1", killed)
			}
			expectBroken(t, result)
			waitNoSubscriber(t, servers, "ch")

			// The Remote itself still works, and a new subscription gets messages.
			ctx := context.Background()
			if err := r.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
				t.Fatalf("Set after the kill = %v", err)
			}
			_, messages := startSubscription(t, r, "ch")
			if err := r.Publish(ctx, "ch", []byte("x")); err != nil {
				t.Fatalf("Publish = %v", err)
			}
			expectMessage(t, messages, "x")
		})
	}
}

// TestSubscribeReturnsWhenServerKilled pins that a dead server ends the subscription,
// and that nothing resubscribes behind the caller's back once it is back.
func TestSubscribeReturnsWhenServerKilled(t *testing.T) {
	t.Parallel()
	s, c := newClient(t)
	r := mustNew(t, c)
	result, _ := startSubscription(t, r, "ch")
	s.Kill()
	start := time.Now()
	expectBroken(t, result)
	t.Logf("returned %v after the kill", time.Since(start))

	s.Restart(t)
	time.Sleep(200 * time.Millisecond)
	if n := numSub(t, []*redistest.Server{s}, "ch"); n != 0 {
		t.Errorf("PUBSUB NUMSUB ch = %d after restart, want 0", n)
	}
}

// TestSubscribeFailsWhenServerDown pins that Subscribe reports a server that cannot
// be reached instead of waiting for it.
func TestSubscribeFailsWhenServerDown(t *testing.T) {
	t.Parallel()
	s, c := newClient(t)
	r := mustNew(t, c)
	s.Kill()
	result := make(chan error, 1)
	go func() {
		result <- r.Subscribe(context.Background(), "ch", func(ev backend.Event) {
			t.Errorf("handler called with %v while the server is down", ev.Kind)
		})
	}()
	expectBroken(t, result)
}

// TestSubscribeDetectsSilentServer pins that a server that keeps the connection open
// but stops answering (frozen here with SIGSTOP, as in a network partition) ends the
// subscription, since nothing else would ever report it.
func TestSubscribeDetectsSilentServer(t *testing.T) {
	t.Parallel()
	s, c := newClient(t)
	r := mustNew(t, c)
	goredisremote.SetPingInterval(r, 100*time.Millisecond)
	result, _ := startSubscription(t, r, "ch")

	// Idle but answering PING: the subscription stays up.
	select {
	case err := <-result:
		t.Fatalf("idle subscription ended: %v", err)
	case <-time.After(500 * time.Millisecond):
	}

	s.Stop(t)
	t.Cleanup(func() { s.Cont(t) })
	start := time.Now()
	expectBroken(t, result)
	if d := time.Since(start); d > time.Second {
		t.Errorf("Subscribe returned %v after the server froze, want within about 3 ping intervals", d)
	}
}

// TestSubscribeSlowHandlerIsNotSilence pins that a handler slower than the ping
// interval does not make the subscription look dead.
func TestSubscribeSlowHandlerIsNotSilence(t *testing.T) {
	t.Parallel()
	_, c := newClient(t)
	r := mustNew(t, c)
	goredisremote.SetPingInterval(r, 50*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	subscribed := make(chan struct{})
	handled := make(chan string, 10)
	result := make(chan error, 1)
	go func() {
		result <- r.Subscribe(ctx, "ch", func(ev backend.Event) {
			if ev.Kind == backend.EventSubscribed {
				close(subscribed)
				return
			}
			time.Sleep(300 * time.Millisecond)
			handled <- string(ev.Payload)
		})
	}()
	<-subscribed
	for i := range 3 {
		if err := r.Publish(ctx, "ch", []byte(strconv.Itoa(i))); err != nil {
			t.Fatalf("Publish = %v", err)
		}
	}
	for i := range 3 {
		select {
		case got := <-handled:
			if got != strconv.Itoa(i) {
				t.Fatalf("message %d = %q", i, got)
			}
		case err := <-result:
			t.Fatalf("Subscribe returned %v during slow handler calls", err)
		}
	}
	cancel()
	if err := <-result; !errors.Is(err, backend.ErrSubscriptionClosed) {
		t.Errorf("Subscribe = %v, want ErrSubscriptionClosed", err)
	}
}

// TestSubscribeLeavesNoSubscriber pins that a subscription ended by its context is
// dropped on the server, promptly, and that the error names both causes.
func TestSubscribeLeavesNoSubscriber(t *testing.T) {
	t.Parallel()
	s, c := newClient(t)
	r := mustNew(t, c)
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
	if n := numSub(t, []*redistest.Server{s}, "ch"); n != 1 {
		t.Fatalf("PUBSUB NUMSUB ch = %d while subscribed, want 1", n)
	}
	cancel()
	select {
	case err := <-result:
		if !errors.Is(err, backend.ErrSubscriptionClosed) || !errors.Is(err, context.Canceled) {
			t.Fatalf("Subscribe = %v, want ErrSubscriptionClosed and context.Canceled", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Subscribe did not return within 1s of its context's end")
	}
	waitNoSubscriber(t, []*redistest.Server{s}, "ch")
}

// TestPublishReachesSubscriberOnEveryNode pins that Publish goes where Subscribe
// listens: go-redis sends PUBLISH to a random Ring shard, whose subscribers are not
// those of the channel's shard, and round-robin over cluster nodes, which reorders
// one publisher's messages.
func TestPublishReachesSubscriberOnEveryNode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		client func(t *testing.T) redis.UniversalClient
	}{
		{"cluster", func(t *testing.T) redis.UniversalClient { _, c := newClusterClient(t); return c }},
		{"ring", func(t *testing.T) redis.UniversalClient { _, c := newRing(t); return c }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := mustNew(t, tt.client(t))
			ctx := context.Background()
			for c := range 8 { // channels on several nodes
				ch := "ch:" + strconv.Itoa(c)
				_, messages := startSubscription(t, r, ch)
				for i := range 20 {
					if err := r.Publish(ctx, ch, []byte(strconv.Itoa(i))); err != nil {
						t.Fatalf("Publish = %v", err)
					}
				}
				for i := range 20 {
					expectMessage(t, messages, strconv.Itoa(i))
				}
			}
		})
	}
}
