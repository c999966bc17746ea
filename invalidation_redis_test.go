package accelerator_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/internal/redistest"
)

// disabled reports whether the environment variable ACCELERATOR_DISABLE names
// mechanism: the tests then run without it, to show that they fail.
func disabled(mechanism string) bool {
	for m := range strings.SplitSeq(os.Getenv("ACCELERATOR_DISABLE"), ",") {
		if m == mechanism {
			return true
		}
	}
	return false
}

// withSwitch turns the test switch s on for the test when mechanism is disabled.
func withSwitch(t *testing.T, mechanism string, s *atomic.Bool) {
	t.Helper()
	if !disabled(mechanism) {
		return
	}
	t.Logf("running without %s (ACCELERATOR_DISABLE): this test should fail", mechanism)
	s.Store(true)
	t.Cleanup(func() { s.Store(false) })
}

// documentedBound is the staleness bound docs/consistency.md gives for an instance
// that loses messages, from the completion of a write.
func documentedBound(o accelerator.Options[string, string]) time.Duration {
	ping := cmpOr(o.InvalidationPingInterval, accelerator.DefaultInvalidationPingInterval)
	grace := cmpOr(o.InvalidationGrace, accelerator.DefaultInvalidationGrace)
	return grace + 3*ping
}

func cmpOr(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

// schedulingSlack is what the bound checks add for a busy machine, as
// TestStressNoReadOlderThanTheBound does.
const schedulingSlack = 200 * time.Millisecond

// TestPartitionKeepsTheBound black-holes the traffic between one instance and Redis
// (both directions, Redis to the instance only, or, with the test settings, the
// instance to Redis only) through a proxy that drops bytes
// without closing anything, deletes a key on another instance, and reads the key on
// the partitioned one without pause: no read that starts later than the documented
// bound after the Del may return the deleted value. With the test settings and with
// the defaults. ACCELERATOR_DISABLE=watchdog turns the watchdog's silence rule off,
// which leaves the partition to the client library's own detection, and fails.
func TestPartitionKeepsTheBound(t *testing.T) {
	withSwitch(t, "watchdog", accelerator.SwitchNoSilenceRule)
	srv := redistest.Start(t)
	for _, settings := range []string{"test-settings", "defaults"} {
		for _, dir := range []struct {
			name string
			d    redistest.Direction
		}{{"both", redistest.Both}, {"redis-to-instance", redistest.ToClient}, {"instance-to-redis", redistest.ToServer}} {
			if settings == "defaults" && dir.d == redistest.ToServer {
				continue // messages still arrive: the short run says enough
			}
			t.Run(settings+"/"+dir.name, func(t *testing.T) {
				t.Parallel()
				partitionRun(t, srv, settings, dir.d)
			})
		}
	}
}

func partitionRun(t *testing.T, srv *redistest.Server, settings string, d redistest.Direction) {
	src := newVersionedSource()
	tweak := func(o *accelerator.Options[string, string]) {
		o.Area = fmt.Sprintf("partition-%s-%d", settings, d)
		if settings == "defaults" {
			o.InvalidationPingInterval, o.InvalidationGrace, o.RemoteTimeout, o.BreakerBackoff = 0, 0, 0, 0
		}
	}
	opts := broadcastOptions(nil, src)
	tweak(&opts)
	bound := documentedBound(opts)
	proxy := redistest.StartProxy(t, srv.Addr())
	writer := newInstances(t, srv.URL(), 1, src, tweak)[0]
	victim := newInstances(t, proxy.URL(), 1, src, tweak)[0]
	ctx := context.Background()
	const key = "k"
	if v, _, err := victim.Get(ctx, key); v != "k@0" || err != nil {
		t.Fatalf("victim Get = %q, %v", v, err)
	}
	// Let a ping go round, so that the partition starts at an arbitrary point of the
	// ping cycle.
	time.Sleep(opts.InvalidationPingInterval / 3)

	proxy.BlackHole(d)
	src.bump(key)
	must(t, writer.Del(ctx, key))
	deleted := time.Now()

	var lastStale time.Duration
	violations := 0
	for time.Since(deleted) < bound+schedulingSlack+time.Second {
		start := time.Now()
		v, _, _ := victim.Get(ctx, key)
		if v != "k@0" {
			time.Sleep(time.Millisecond)
			continue
		}
		late := start.Sub(deleted)
		lastStale = max(lastStale, late)
		if late > bound+schedulingSlack {
			violations++
		}
		time.Sleep(time.Millisecond)
	}
	proxy.Forward()
	st := victim.SubscriberState()
	t.Logf("%s: bound %v; last read that returned the deleted value started %v after the Del; flushes %v",
		settings, bound, lastStale, st.Flushes)
	if violations > 0 {
		t.Fatalf("%d reads that started more than %v (the bound %v + %v) after the Del returned the deleted value; the last %v after",
			violations, bound+schedulingSlack, bound, schedulingSlack, lastStale)
	}
	// Once the partition heals, the victim resubscribes (checked once: the wait for
	// the client library to give up on the black-holed connection takes seconds).
	if settings == "test-settings" && d == redistest.Both {
		waitConnected(t, victim)
	}
}

// TestConcurrentWritersCauseNoGaps writes distinct keys from 16 goroutines of one
// instance for 5 s and checks that another instance never drops its L1 for a gap:
// every message arrives, so a gap would be false. ACCELERATOR_DISABLE=publisher makes
// every writer number and publish its own message, which fails.
func TestConcurrentWritersCauseNoGaps(t *testing.T) {
	withSwitch(t, "publisher", accelerator.SwitchUnorderedPublish)
	srv := redistest.Start(t)
	src := newVersionedSource()
	caches := newInstances(t, srv.URL(), 2, src, func(o *accelerator.Options[string, string]) {
		// Long enough that no liveness flush can interfere on a busy machine.
		o.InvalidationPingInterval, o.InvalidationGrace = time.Second, time.Second
	})
	writer, reader := caches[0], caches[1]
	ctx := context.Background()
	stop := time.Now().Add(5 * time.Second)
	var writes atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := 0; time.Now().Before(stop); i++ {
				if err := writer.Set(ctx, fmt.Sprintf("g%d-%d", g, i%64), "v"); err != nil {
					t.Errorf("Set = %v", err)
					return
				}
				writes.Add(1)
			}
		})
	}
	wg.Wait()
	published := writer.MetricsSnapshot().InvalidationsPublished
	deadline := time.Now().Add(5 * time.Second)
	for reader.MetricsSnapshot().InvalidationsReceived < published && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	st := reader.SubscriberState()
	t.Logf("%d writes in %d messages; reader received %d; flushes %v",
		writes.Load(), published, reader.MetricsSnapshot().InvalidationsReceived, st.Flushes)
	if writes.Load() < 1000 {
		t.Fatalf("only %d writes: the run means nothing", writes.Load())
	}
	if st.Flushes["gap"] != 0 {
		t.Fatalf("%d gap flushes with no message lost", st.Flushes["gap"])
	}
}

// droppingPubSub is a PubSub that can silently drop the next Keys message it is asked
// to publish, as a lossy transport would.
type droppingPubSub struct {
	backend.PubSub
	dropNext atomic.Bool
}

func (p *droppingPubSub) Publish(ctx context.Context, channel string, msg []byte) error {
	// Byte 2 is the kind; 1 is Keys (internal/invmsg).
	if len(msg) > 2 && msg[2] == 1 && p.dropNext.CompareAndSwap(true, false) {
		return nil
	}
	return p.PubSub.Publish(ctx, channel, msg)
}

// TestLostMessageIsAGap drops one message of a writer on its way to Redis: the next
// message shows the gap, and the other instance drops its L1, so that the key whose
// message was lost is not served stale.
func TestLostMessageIsAGap(t *testing.T) {
	srv := redistest.Start(t)
	src := newVersionedSource()
	ps := &droppingPubSub{PubSub: newRemote(t, srv.URL())}
	reader := newInstances(t, srv.URL(), 1, src, nil)[0]
	opts := broadcastOptions(newRemote(t, srv.URL()), src)
	opts.PubSub = ps
	writer := newCache(t, opts)
	waitConnected(t, writer)
	ctx := context.Background()
	for _, k := range []string{"lost", "next"} {
		if _, _, err := reader.Get(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	// A first message sets the reader's count for this writer.
	must(t, writer.Del(ctx, "first"))
	ps.dropNext.Store(true)
	src.bump("lost")
	must(t, writer.Del(ctx, "lost"))
	must(t, writer.Del(ctx, "next"))
	deadline := time.Now().Add(5 * time.Second)
	for reader.SubscriberState().Flushes["gap"] == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no gap flush: %v", reader.SubscriberState().Flushes)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if v, found, _ := reader.Get(ctx, "lost", accelerator.DisableLoad()); found && v == "lost@0" {
		t.Fatalf("the reader serves the value whose invalidation was lost")
	}
}

// pubsubConnections returns the number of pubsub connections of the server.
func pubsubConnections(t *testing.T, srv *redistest.Server) int {
	t.Helper()
	n := 0
	for line := range strings.SplitSeq(srv.Do(t, "CLIENT", "LIST", "TYPE", "pubsub").(string), "\n") {
		if strings.TrimSpace(line) != "" {
			n++
		}
	}
	return n
}

// TestCachesOnOneRemoteShareOneSubscriber builds 20 caches (areas) with broadcast on
// one Remote: Redis sees one subscriber connection, and closing one cache leaves the
// others receiving invalidations.
func TestCachesOnOneRemoteShareOneSubscriber(t *testing.T) {
	srv := redistest.Start(t)
	src := newVersionedSource()
	shared := newRemote(t, srv.URL())
	const n = 20
	readers := make([]*accelerator.Cache[string, string], n)
	writers := make([]*accelerator.Cache[string, string], n)
	for i := range n {
		opts := broadcastOptions(shared, src)
		opts.Area = fmt.Sprint("area", i)
		readers[i] = newCache(t, opts)
	}
	for _, c := range readers {
		waitConnected(t, c)
	}
	if c := pubsubConnections(t, srv); c != 1 {
		t.Fatalf("%d pubsub connections for %d caches on one Remote, want 1", c, n)
	}
	// The writers stand for other instances: a Remote of their own.
	writerRemote := newRemote(t, srv.URL())
	for i := range n {
		opts := broadcastOptions(writerRemote, src)
		opts.Area = fmt.Sprint("area", i)
		writers[i] = newCache(t, opts)
	}
	for _, c := range writers {
		waitConnected(t, c)
	}
	// One for the 20 readers, one for the 20 writers.
	if c := pubsubConnections(t, srv); c != 2 {
		t.Fatalf("%d pubsub connections for 40 caches on 2 Remotes, want 2", c)
	}
	must(t, readers[5].Close())
	ctx := context.Background()
	for i := range n {
		if i == 5 {
			continue
		}
		if _, _, err := readers[i].Get(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		before := readers[i].MetricsSnapshot().InvalidationsReceived
		must(t, writers[i].Del(ctx, "k"))
		deadline := time.Now().Add(5 * time.Second)
		for readers[i].MetricsSnapshot().InvalidationsReceived == before {
			if time.Now().After(deadline) {
				t.Fatalf("cache %d received nothing after cache 5 closed", i)
			}
			time.Sleep(time.Millisecond)
		}
		if v, found, err := readers[i].Get(ctx, "k", accelerator.DisableLoad()); found {
			t.Fatalf("cache %d still serves the deleted key (%q, %v); flushes %v", i, v, err, readers[i].SubscriberState().Flushes)
		}
	}
	if c := pubsubConnections(t, srv); c != 2 {
		t.Fatalf("%d pubsub connections after closing one cache, want 2", c)
	}
}

// TestCloseIsBoundedWhenRedisIsFrozen closes a cache with broadcast (and one with
// server-assisted invalidation too) while Redis is stopped with SIGSTOP: Close
// returns within RemoteTimeout + 200 ms.
func TestCloseIsBoundedWhenRedisIsFrozen(t *testing.T) {
	for _, tracking := range []bool{false, true} {
		t.Run(fmt.Sprint("tracking=", tracking), func(t *testing.T) {
			srv := redistest.Start(t)
			src := newVersionedSource()
			c := newInstances(t, srv.URL(), 1, src, func(o *accelerator.Options[string, string]) {
				o.ServerAssistedInvalidation = tracking
			})[0]
			ctx := context.Background()
			if _, _, err := c.Get(ctx, "k"); err != nil {
				t.Fatal(err)
			}
			srv.Stop(t)
			defer srv.Cont(t)
			// A write in flight, stuck on the frozen server.
			go c.Set(ctx, "w", "v")
			time.Sleep(20 * time.Millisecond)
			start := time.Now()
			must(t, c.Close())
			took := time.Since(start)
			limit := broadcastOptions(nil, src).RemoteTimeout + 200*time.Millisecond
			t.Logf("Close took %v (limit %v)", took, limit)
			if took > limit {
				t.Fatalf("Close took %v with Redis frozen, want at most %v", took, limit)
			}
		})
	}
}
