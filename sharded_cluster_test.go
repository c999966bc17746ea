package accelerator_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/internal/redistest"
	"github.com/accelerator-go/accelerator/internal/slot"
	"github.com/accelerator-go/accelerator/rueidisremote"
)

// clusterURL is the rueidisremote URL of the cluster c: the first node as the host and
// the others as addr= parameters.
func clusterURL(c *redistest.Cluster) string {
	addrs := c.Addrs()
	return "redis://" + addrs[0] + "?addr=" + strings.Join(addrs[1:], "&addr=")
}

// newShardedInstances starts n caches over the cluster c, each with its own
// connections and the sharded Pub/Sub transport over them, and waits until their
// subscribers are connected.
func newShardedInstances(t *testing.T, c *redistest.Cluster, area string, n int, src *versionedSource, tweak func(*accelerator.Options[string, string])) []*accelerator.Cache[string, string] {
	t.Helper()
	caches := make([]*accelerator.Cache[string, string], n)
	for i := range caches {
		remote := newRemote(t, clusterURL(c))
		opts := broadcastOptions(remote, src)
		opts.Area = area
		opts.PubSub = rueidisremote.NewShardedPubSub(remote.Client())
		if tweak != nil {
			tweak(&opts)
		}
		caches[i] = newCache(t, opts)
	}
	for _, c := range caches {
		waitConnected(t, c)
	}
	return caches
}

// clusterOwner returns the index of the node of c that owns name's slot, as
// redistest.StartCluster splits the slots evenly in node order.
func clusterOwner(c *redistest.Cluster, name string) int {
	return int(slot.Of(name)) * len(c.Nodes()) / slot.Count
}

func shardSubscribers(t *testing.T, n *redistest.Server, channel string) int64 {
	t.Helper()
	return n.Do(t, "PUBSUB", "SHARDNUMSUB", channel).([]any)[1].(int64)
}

func classicSubscribers(t *testing.T, n *redistest.Server, channel string) int64 {
	t.Helper()
	return n.Do(t, "PUBSUB", "NUMSUB", channel).([]any)[1].(int64)
}

// checkShardedSubscribers checks that the invalidation channel has want sharded
// subscribers on node owner, none anywhere else, and no classic subscriber at all.
func checkShardedSubscribers(t *testing.T, c *redistest.Cluster, channel string, owner int, want int64) {
	t.Helper()
	for i, n := range c.Nodes() {
		w := int64(0)
		if i == owner {
			w = want
		}
		if got := shardSubscribers(t, n, channel); got != w {
			t.Errorf("node %d: PUBSUB SHARDNUMSUB %s = %d, want %d (owner node %d)", i, channel, got, w, owner)
		}
		if got := classicSubscribers(t, n, channel); got != 0 {
			t.Errorf("node %d: PUBSUB NUMSUB %s = %d classic subscribers, want 0", i, channel, got)
		}
	}
}

// pollSince calls cond every 100µs until it holds, and returns how long after start
// that was; it reports false once within has passed since start without it holding.
func pollSince(start time.Time, within time.Duration, cond func() bool) (time.Duration, bool) {
	tick := time.NewTicker(100 * time.Microsecond)
	defer tick.Stop()
	for !cond() {
		if time.Since(start) > within {
			return 0, false
		}
		<-tick.C
	}
	return time.Since(start), true
}

// waitMiss polls c until it misses key, reading L1 and L2 but never loading, and
// returns how long that took; it fails the test after within.
func waitMiss(t *testing.T, c *accelerator.Cache[string, string], key string, start time.Time, within time.Duration) time.Duration {
	t.Helper()
	ctx := context.Background()
	took, ok := pollSince(start, within, func() bool {
		_, found, _ := c.Get(ctx, key, accelerator.DisableLoad())
		return !found
	})
	if !ok {
		t.Fatalf("an instance still serves %s %v after another deleted it", key, within)
	}
	return took
}

// waitValue polls c until it serves want for key without loading.
func waitValue(t *testing.T, c *accelerator.Cache[string, string], key, want string, start time.Time, within time.Duration) time.Duration {
	t.Helper()
	ctx := context.Background()
	var v string
	var found bool
	took, ok := pollSince(start, within, func() bool {
		v, found, _ = c.Get(ctx, key, accelerator.DisableLoad())
		return found && v == want
	})
	if !ok {
		t.Fatalf("an instance serves %q %v for %s %v after another wrote %q", v, found, key, within, want)
	}
	return took
}

// TestShardedInvalidationOnCluster runs three instances over a 3-master cluster with
// the sharded transport: each subscribes on the node that owns the channel's slot and
// nowhere else, and a Del or a Set on one reaches the others within a second, for keys
// on every node.
func TestShardedInvalidationOnCluster(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3)
	src := newVersionedSource()
	caches := newShardedInstances(t, c, "sharded", 3, src, nil)
	channel := caches[0].SubscriberState().Channel
	checkShardedSubscribers(t, c, channel, clusterOwner(c, channel), 3)
	ctx := context.Background()

	var delLat, setLat []time.Duration
	for i := range 30 {
		key := "k" + strconv.Itoa(i)
		for _, c := range caches {
			if v, found, err := c.Get(ctx, key); !found || err != nil || v != key+"@0" {
				t.Fatalf("Get(%s) = %q %v %v", key, v, found, err)
			}
		}
		writer := caches[i%3]
		others := slices.DeleteFunc(slices.Clone(caches), func(c *accelerator.Cache[string, string]) bool { return c == writer })

		src.bump(key)
		start := time.Now()
		must(t, writer.Del(ctx, key))
		for _, o := range others {
			delLat = append(delLat, waitMiss(t, o, key, start, time.Second))
		}
		for _, c := range caches {
			if v, _, err := c.Get(ctx, key); v != key+"@1" || err != nil {
				t.Fatalf("after the Del an instance read %q (%v), want version 1", v, err)
			}
		}

		want := key + "@set"
		start = time.Now()
		must(t, writer.Set(ctx, key, want))
		for _, o := range others {
			setLat = append(setLat, waitValue(t, o, key, want, start, time.Second))
		}
	}
	slices.Sort(delLat)
	slices.Sort(setLat)
	t.Logf("Del -> others miss: p50=%v max=%v; Set -> others serve it: p50=%v max=%v",
		delLat[len(delLat)/2], delLat[len(delLat)-1], setLat[len(setLat)/2], setLat[len(setLat)-1])
	for i, c := range caches {
		st := c.SubscriberState()
		if m := c.MetricsSnapshot(); m.InvalidationsReceived < 40 {
			t.Errorf("instance %d received %d invalidations, want at least 40", i, m.InvalidationsReceived)
		}
		if st.Reconnects != 0 || st.Flushes["gap"] != 0 || st.Flushes["disconnected"] != 0 {
			t.Errorf("instance %d: %+v", i, st)
		}
	}
}

// TestShardedFillLosesToDeleteOnCluster is TestRemoteFillLosesToDelete on a cluster,
// with the sharded transport on, for one key on each node: instance A reads the
// source, instance B deletes the key, then A's fill must not land in Redis. With the
// guard off the same sequence leaves it there, which shows the race was reproduced.
func TestShardedFillLosesToDeleteOnCluster(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3)
	for _, guard := range []bool{true, false} {
		t.Run(fmt.Sprint("guard=", guard), func(t *testing.T) {
			src := newVersionedSource()
			area := fmt.Sprint("race-", guard)
			caches := newShardedInstances(t, c, area, 2, src, func(o *accelerator.Options[string, string]) {
				o.DisableFillGuard = !guard
			})
			a, b := caches[0], caches[1]
			fresh := newCache(t, accelerator.Options[string, string]{Area: area, Remote: newRemote(t, clusterURL(c)), Mode: accelerator.ModeRemote})
			ctx := context.Background()
			for node, key := range keysPerNode(c, area+":", "k") {
				raceOnce(t, a, b, src, key)
				// The remote key is Area + ":" + key; its node holds it (the value or
				// the tombstone), so the race did run on that node.
				if n := c.Nodes()[node].Do(t, "EXISTS", area+":"+key).(int64); n != 1 {
					t.Fatalf("node %d holds no remote key for %s", node, key)
				}
				v, found, _ := fresh.Get(ctx, key)
				if guard && found {
					t.Fatalf("node %d: Redis holds %q: the fill that read the source before the Del won", node, v)
				}
				if !guard && v != key+"@0" {
					t.Fatalf("node %d: with the guard off Redis holds %q %v; the race was not reproduced", node, v, found)
				}
			}
			if lost := a.MetricsSnapshot().FillsLost; guard && lost != uint64(len(c.Nodes())) {
				t.Fatalf("FillsLost = %d, want one per node", lost)
			}
		})
	}
}

// keysPerNode returns, for each node of c, a key name+i whose remote key prefix+key
// lives on that node.
func keysPerNode(c *redistest.Cluster, prefix, name string) []string {
	keys := make([]string, len(c.Nodes()))
	left := len(keys)
	for i := 0; left > 0; i++ {
		key := name + strconv.Itoa(i)
		if n := clusterOwner(c, prefix+key); keys[n] == "" {
			keys[n] = key
			left--
		}
	}
	return keys
}

// TestShardedSubscribersFollowSlotMove moves the slot of the invalidation channel to
// another node, as a resharding does: Redis unsubscribes the channel's subscribers,
// every instance notices (and drops its L1, since messages may have been lost),
// resubscribes on the new owner, and invalidations flow again.
func TestShardedSubscribersFollowSlotMove(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3)
	src := newVersionedSource()
	caches := newShardedInstances(t, c, "follow", 3, src, nil)
	channel := caches[0].SubscriberState().Channel
	from := clusterOwner(c, channel)
	to := (from + 1) % len(c.Nodes())
	ctx := context.Background()

	moveEmptySlot(t, c, slot.Of(channel), from, to)
	for i, c := range caches {
		waitFor(t, fmt.Sprintf("instance %d to resubscribe after the move", i), func() bool {
			st := c.SubscriberState()
			return st.Reconnects > 0 && st.Connected
		})
		st := c.SubscriberState()
		t.Logf("instance %d: %d reconnects, flushes %v", i, st.Reconnects, st.Flushes)
		// The loss is seen either as the broken subscription or, when the watchdog
		// notices the silence first (a loaded machine), as silence: both drop L1.
		if st.Flushes["disconnected"]+st.Flushes["silent"] == 0 {
			t.Errorf("instance %d: flushes %v, want a disconnected or silent flush", i, st.Flushes)
		}
	}
	checkShardedSubscribers(t, c, channel, to, 3)

	for _, c := range caches {
		c.Get(ctx, "j")
	}
	src.bump("j")
	start := time.Now()
	must(t, caches[0].Del(ctx, "j"))
	for _, o := range caches[1:] {
		t.Logf("Del after the move -> miss in %v", waitMiss(t, o, "j", start, time.Second))
	}
}

// moveEmptySlot moves slot s, which must hold no key, from node from to node to of c,
// as redis-cli --cluster reshard does, and waits until the cluster is healthy.
func moveEmptySlot(t *testing.T, c *redistest.Cluster, s uint16, from, to int) {
	t.Helper()
	nodes := c.Nodes()
	src, dst := nodes[from], nodes[to]
	srcID, dstID := src.Do(t, "CLUSTER", "MYID").(string), dst.Do(t, "CLUSTER", "MYID").(string)
	slotArg := strconv.Itoa(int(s))
	dst.Do(t, "CLUSTER", "SETSLOT", slotArg, "IMPORTING", srcID)
	src.Do(t, "CLUSTER", "SETSLOT", slotArg, "MIGRATING", dstID)
	if n := src.Do(t, "CLUSTER", "COUNTKEYSINSLOT", slotArg).(int64); n != 0 {
		t.Fatalf("slot %d holds %d keys; moveEmptySlot moves empty slots only", s, n)
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
