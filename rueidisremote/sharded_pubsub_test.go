package rueidisremote_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/backendtest"
	"github.com/accelerator-go/accelerator/internal/redistest"
	"github.com/accelerator-go/accelerator/internal/slot"
	"github.com/accelerator-go/accelerator/rueidisremote"
)

// newClusterRemote connects to the cluster c and closes the Remote when the test
// ends.
func newClusterRemote(t *testing.T, c *redistest.Cluster) *rueidisremote.Remote {
	t.Helper()
	r, err := rueidisremote.NewFromOptions(rueidis.ClientOption{InitAddress: c.Addrs()})
	if err != nil {
		t.Fatalf("NewFromOptions = %v", err)
	}
	t.Cleanup(r.Close)
	return r
}

func TestShardedConformance(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		remote func(t *testing.T) *rueidisremote.Remote
	}{
		{"standalone", func(t *testing.T) *rueidisremote.Remote { return newRemote(t, redistest.Start(t).URL()) }},
		{"standalone RESP2", func(t *testing.T) *rueidisremote.Remote {
			return newRemote(t, redistest.Start(t).URL()+"?protocol=2")
		}},
		{"cluster", func(t *testing.T) *rueidisremote.Remote { return newClusterRemote(t, redistest.StartCluster(t, 3)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ps := rueidisremote.NewShardedPubSub(tt.remote(t).Client())
			backendtest.TestPubSub(t, func(*testing.T) backend.PubSub { return ps })
		})
	}
}

// startSharded runs Subscribe(channel) on its own goroutine, waits for
// EventSubscribed, and returns the channel that receives the messages and the one
// that receives Subscribe's error.
func startSharded(t *testing.T, ps backend.PubSub, channel string) (<-chan string, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	subscribed := make(chan struct{})
	messages := make(chan string, 16)
	result := make(chan error, 1)
	go func() {
		result <- ps.Subscribe(ctx, channel, func(ev backend.Event) {
			switch ev.Kind {
			case backend.EventSubscribed:
				close(subscribed)
			case backend.EventMessage:
				messages <- string(ev.Payload)
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
	return messages, result
}

func shardNumSub(t *testing.T, s *redistest.Server, channel string) int64 {
	t.Helper()
	return s.Do(t, "PUBSUB", "SHARDNUMSUB", channel).([]any)[1].(int64)
}

// TestShardedSubscribeReturnsWhenConnectionKilled pins that a sharded subscription,
// like a classic one, does not resubscribe on its own; it also pins that Redis counts
// a shard-channel subscriber as TYPE pubsub, which is how operators find it.
func TestShardedSubscribeReturnsWhenConnectionKilled(t *testing.T) {
	t.Parallel()
	for _, proto := range []string{"", "?protocol=2"} {
		t.Run("url"+proto, func(t *testing.T) {
			s := redistest.Start(t)
			r := newRemote(t, s.URL()+proto)
			ps := rueidisremote.NewShardedPubSub(r.Client())
			_, result := startSharded(t, ps, "ch")
			if got := shardNumSub(t, s, "ch"); got != 1 {
				t.Fatalf("PUBSUB SHARDNUMSUB ch = %d, want 1", got)
			}
			if got := numSub(t, s, "ch"); got != 0 {
				t.Fatalf("PUBSUB NUMSUB ch = %d, want 0: the subscription is not sharded", got)
			}

			if got := s.Do(t, "CLIENT", "KILL", "TYPE", "pubsub").(int64); got != 1 {
				t.Fatalf("CLIENT KILL TYPE pubsub killed %d clients, want 1", got)
			}
			expectBroken(t, result)

			// Nothing resubscribed, and a new subscription gets messages.
			time.Sleep(50 * time.Millisecond)
			if got := shardNumSub(t, s, "ch"); got != 0 {
				t.Fatalf("PUBSUB SHARDNUMSUB ch = %d after the kill, want 0", got)
			}
			messages, _ := startSharded(t, ps, "ch")
			if got := s.Do(t, "SPUBLISH", "ch", "x").(int64); got != 1 {
				t.Errorf("SPUBLISH reached %d subscribers, want 1", got)
			}
			expectMessage(t, messages, "x")
		})
	}
}

func expectMessage(t *testing.T, messages <-chan string, want string) {
	t.Helper()
	select {
	case got := <-messages:
		if got != want {
			t.Fatalf("message %q, want %q", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no message %q within 5s", want)
	}
}

// owner returns the index of the node that owns channel's slot in a cluster started
// by redistest.StartCluster, which splits the slots evenly in node order.
func owner(c *redistest.Cluster, channel string) int {
	return int(slot.Of(channel)) * len(c.Nodes()) / slot.Count
}

// TestShardedSubscribeOnSlotOwner pins that SSUBSCRIBE and SPUBLISH go to the node
// that owns the channel's slot: a shard channel exists on that node only, so a
// subscriber or a publisher anywhere else would never meet the other.
func TestShardedSubscribeOnSlotOwner(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3)
	ps := rueidisremote.NewShardedPubSub(newClusterRemote(t, c).Client())
	// Channels whose slots fall on each of the three nodes.
	channels := []string{"a", "b", "c", "d", "e", "f"}
	results := make([]<-chan error, len(channels))
	inbox := make([]<-chan string, len(channels))
	for i, ch := range channels {
		inbox[i], results[i] = startSharded(t, ps, ch)
	}
	onNode := make([]int, len(c.Nodes()))
	for _, ch := range channels {
		o := owner(c, ch)
		onNode[o]++
		for i, n := range c.Nodes() {
			want := int64(0)
			if i == o {
				want = 1
			}
			if got := shardNumSub(t, n, ch); got != want {
				t.Errorf("PUBSUB SHARDNUMSUB %s on node %d = %d, want %d (owner node %d)", ch, i, got, want, o)
			}
		}
	}
	for i, n := range onNode {
		if n == 0 {
			t.Fatalf("no channel on node %d; pick other names", i)
		}
	}
	ctx := context.Background()
	for i, ch := range channels {
		if err := ps.Publish(ctx, ch, []byte("to "+ch)); err != nil {
			t.Fatalf("Publish(%s) = %v", ch, err)
		}
		expectMessage(t, inbox[i], "to "+ch)
	}
	// Killing the pub/sub clients of one node breaks the subscriptions it holds and
	// only those.
	victim := owner(c, "a")
	if got := c.Nodes()[victim].Do(t, "CLIENT", "KILL", "TYPE", "pubsub").(int64); got != int64(onNode[victim]) {
		t.Fatalf("CLIENT KILL TYPE pubsub on node %d killed %d clients, want %d (one connection per Subscribe)", victim, got, onNode[victim])
	}
	for i, ch := range channels {
		if owner(c, ch) == victim {
			expectBroken(t, results[i])
			continue
		}
		select {
		case err := <-results[i]:
			t.Errorf("subscription to %s on node %d returned %v after a kill on node %d", ch, owner(c, ch), err, victim)
		default:
		}
	}
}

// TestShardedSubscribeReturnsWhenSlotMoves pins what happens on a resharding: Redis
// unsubscribes the subscribers of a slot that leaves a node (SUNSUBSCRIBE), Subscribe
// returns, and the next Subscribe listens on the new owner, where Publish now sends,
// at once: without following the MOVED redirect it would fail until rueidis
// refreshed its slot map.
func TestShardedSubscribeReturnsWhenSlotMoves(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3)
	ps := rueidisremote.NewShardedPubSub(newClusterRemote(t, c).Client())
	const ch = "moving"
	_, result := startSharded(t, ps, ch)

	from := owner(c, ch)
	to := (from + 1) % len(c.Nodes())
	moveSlot(t, c, slot.Of(ch), from, to)

	select {
	case err := <-result:
		if err == nil || errors.Is(err, backend.ErrSubscriptionClosed) || !strings.Contains(err.Error(), "unsubscribed") {
			t.Fatalf("Subscribe = %v, want the server's unsubscription", err)
		}
		t.Logf("Subscribe returned: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("Subscribe did not return within 5s of its slot moving")
	}

	// The first new Subscribe reaches the new owner: rueidis still maps the slot to
	// the old one, which answers MOVED, and Subscribe follows the redirect.
	messages, _ := startSharded(t, ps, ch)
	if got := shardNumSub(t, c.Nodes()[to], ch); got != 1 {
		t.Fatalf("PUBSUB SHARDNUMSUB on the new owner = %d, want 1", got)
	}
	if err := ps.Publish(context.Background(), ch, []byte("after")); err != nil {
		t.Fatalf("Publish after the move = %v", err)
	}
	expectMessage(t, messages, "after")
}

// moveSlot moves the empty slot s from node from to node to, as redis-cli --cluster
// reshard does, and waits until every node agrees.
func moveSlot(t *testing.T, c *redistest.Cluster, s uint16, from, to int) {
	t.Helper()
	nodes := c.Nodes()
	src, dst := nodes[from], nodes[to]
	srcID, dstID := src.Do(t, "CLUSTER", "MYID").(string), dst.Do(t, "CLUSTER", "MYID").(string)
	slotArg := strconv.Itoa(int(s))
	dst.Do(t, "CLUSTER", "SETSLOT", slotArg, "IMPORTING", srcID)
	src.Do(t, "CLUSTER", "SETSLOT", slotArg, "MIGRATING", dstID)
	if n := src.Do(t, "CLUSTER", "COUNTKEYSINSLOT", slotArg).(int64); n != 0 {
		t.Fatalf("slot %d holds %d keys; moveSlot moves empty slots only", s, n)
	}
	dst.Do(t, "CLUSTER", "SETSLOT", slotArg, "NODE", dstID)
	src.Do(t, "CLUSTER", "SETSLOT", slotArg, "NODE", dstID)
	for _, n := range nodes {
		if n != src && n != dst {
			n.Do(t, "CLUSTER", "SETSLOT", slotArg, "NODE", dstID)
		}
	}
	c.WaitHealthy(t)
}

// TestShardedSubscribeLeavesNoSubscriber pins that a sharded subscription ended by its
// context is dropped on the server.
func TestShardedSubscribeLeavesNoSubscriber(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	ps := rueidisremote.NewShardedPubSub(newRemote(t, s.URL()).Client())
	ctx, cancel := context.WithCancel(context.Background())
	subscribed := make(chan struct{})
	result := make(chan error, 1)
	go func() {
		result <- ps.Subscribe(ctx, "ch", func(ev backend.Event) {
			if ev.Kind == backend.EventSubscribed {
				close(subscribed)
			}
		})
	}()
	<-subscribed
	cancel()
	if err := <-result; !errors.Is(err, backend.ErrSubscriptionClosed) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe = %v, want ErrSubscriptionClosed and context.Canceled", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for shardNumSub(t, s, "ch") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("shard channel still has a subscriber 2s after Subscribe returned")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestShardedACLCluster proves the ACL rules a sharded transport needs on a cluster:
// those of docs/secure-redis.md with +spublish and +ssubscribe in place of +publish and
// +subscribe; the shard channels fall under the same &prefix* pattern. The whole
// PubSub suite runs as that user, and no node refuses anything.
func TestShardedACLCluster(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3, redistest.WithPassword(adminPassword))
	const prefix = "backendtest:" // the suite's channels
	for _, n := range c.Nodes() {
		rules := slices.DeleteFunc(aclRules(t, n, appPassword, prefix, cluster), func(r string) bool {
			return r == "+publish" || r == "+subscribe"
		})
		setUser(t, n, "app", append(rules, "+spublish", "+ssubscribe"))
	}
	r := newRemoteFromOptions(t, rueidis.ClientOption{InitAddress: c.Addrs(), Username: "app", Password: appPassword})
	ps := rueidisremote.NewShardedPubSub(r.Client())
	backendtest.TestPubSub(t, func(*testing.T) backend.PubSub { return ps })
	for _, n := range c.Nodes() {
		expectACLLogEmpty(t, n)
	}
	// And the classic rules are not enough.
	if err := ps.Publish(context.Background(), prefix+"x", []byte("m")); err != nil {
		t.Fatalf("Publish = %v", err)
	}
	for _, n := range c.Nodes() {
		setUser(t, n, "app", aclRules(t, n, appPassword, prefix, cluster))
	}
	if err := ps.Publish(context.Background(), prefix+"x", []byte("m")); err == nil {
		t.Fatal("Publish as a user without +spublish succeeded")
	}
}
