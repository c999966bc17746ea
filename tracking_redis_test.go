package accelerator_test

import (
	"context"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/internal/redistest"
)

func trackingTweak(on bool) func(*accelerator.Options[string, string]) {
	return func(o *accelerator.Options[string, string]) {
		o.Area = "tracking"
		o.ServerAssistedInvalidation = on
	}
}

func waitTracking(t *testing.T, c *accelerator.Cache[string, string]) {
	t.Helper()
	waitFor(t, "tracking connected", func() bool { return c.SubscriberState().TrackingConnected })
}

// holdInL1 reads key on c until a read is an L1 hit and remoteKey is in Redis: a fill
// writes L2, whose invalidation comes back to every tracking instance, the filler
// included, and the next read fills L1 from L2 without writing. A fill that could not
// read L2 first (right after a restart) goes to L1 only; the key is then deleted
// through the cache, so that the next load writes it.
func holdInL1(t *testing.T, srv *redistest.Server, c *accelerator.Cache[string, string], key, remoteKey string) {
	t.Helper()
	ctx := context.Background()
	waitFor(t, key+" held in L1 and in Redis", func() bool {
		before := c.MetricsSnapshot().LocalHits
		if _, found, err := c.Get(ctx, key); !found || err != nil {
			return false
		}
		if c.MetricsSnapshot().LocalHits == before {
			return false
		}
		if n, _ := srv.Do(t, "EXISTS", remoteKey).(int64); n == 1 {
			return true
		}
		c.Del(ctx, key)
		return false
	})
}

// outsideDel deletes key with redis-cli, a process of its own that knows nothing of
// the library, or over a connection of its own when redis-cli is missing.
func outsideDel(t *testing.T, srv *redistest.Server, key string) {
	t.Helper()
	if cli, err := exec.LookPath("redis-cli"); err == nil {
		out, err := exec.Command(cli, "-p", strconv.Itoa(srv.Port()), "DEL", key).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "1" {
			t.Fatalf("redis-cli DEL: %v: %s", err, out)
		}
		return
	}
	if n := srv.Do(t, "DEL", key).(int64); n != 1 {
		t.Fatalf("DEL deleted %d keys", n)
	}
}

// TestOutsideDelReachesEveryInstance deletes cached keys with redis-cli: with
// server-assisted invalidation every instance misses within the documented bound,
// measured per key; without it, they keep serving the deleted value from L1, which
// shows that the test can fail.
func TestOutsideDelReachesEveryInstance(t *testing.T) {
	srv := redistest.Start(t)
	for _, on := range []bool{true, false} {
		t.Run("tracking="+strconv.FormatBool(on), func(t *testing.T) {
			src := newVersionedSource()
			caches := newInstances(t, srv.URL(), 3, src, trackingTweak(on))
			if on {
				for _, c := range caches {
					waitTracking(t, c)
				}
			}
			bound := documentedBound(broadcastOptions(nil, src))
			ctx := context.Background()
			var lat []time.Duration
			rounds := 20
			if !on {
				rounds = 1
			}
			for i := range rounds {
				key := "k" + strconv.Itoa(i)
				for _, c := range caches {
					holdInL1(t, srv, c, key, "tracking:"+key)
				}
				start := time.Now()
				outsideDel(t, srv, "tracking:"+key)
				for n, c := range caches {
					for {
						_, found, _ := c.Get(ctx, key, accelerator.DisableLoad())
						if !found {
							lat = append(lat, time.Since(start))
							break
						}
						if time.Since(start) > bound+schedulingSlack {
							if on {
								t.Fatalf("instance %d serves %s %v after redis-cli DEL (bound %v)", n, key, time.Since(start), bound)
							}
							t.Logf("without tracking instance %d serves %s %v after redis-cli DEL, as expected", n, key, time.Since(start))
							return
						}
						time.Sleep(100 * time.Microsecond)
					}
				}
			}
			if !on {
				t.Fatal("without tracking every instance missed: the test cannot tell")
			}
			slices.Sort(lat)
			p := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
			t.Logf("redis-cli DEL -> every instance misses: n=%d p50=%v p99=%v max=%v", len(lat), p(0.5), p(0.99), lat[len(lat)-1])
		})
	}
}

// trackingClientIDs returns the ids of the server's clients with tracking on.
func trackingClientIDs(t *testing.T, srv *redistest.Server) []string {
	t.Helper()
	var ids []string
	for line := range strings.SplitSeq(srv.Do(t, "CLIENT", "LIST").(string), "\n") {
		var id, flags string
		for f := range strings.FieldsSeq(line) {
			if v, ok := strings.CutPrefix(f, "id="); ok {
				id = v
			}
			if v, ok := strings.CutPrefix(f, "flags="); ok {
				flags = v
			}
		}
		if strings.Contains(flags, "t") {
			ids = append(ids, id)
		}
	}
	return ids
}

// TestKilledTrackingDropsL1 kills the tracking connection with CLIENT KILL: the
// instance drops its L1, as for a lost subscription, and tracks again.
// ACCELERATOR_DISABLE=tracking-loss keeps L1 through it, which fails.
func TestKilledTrackingDropsL1(t *testing.T) {
	withSwitch(t, "tracking-loss", accelerator.SwitchTrackingKeepsL1)
	srv := redistest.Start(t)
	src := newVersionedSource()
	c := newInstances(t, srv.URL(), 1, src, trackingTweak(true))[0]
	waitTracking(t, c)
	holdInL1(t, srv, c, "k", "tracking:k")
	ids := trackingClientIDs(t, srv)
	if len(ids) != 1 {
		t.Fatalf("%d tracking clients, want 1", len(ids))
	}
	before := c.SubscriberState().TrackingReconnects
	srv.Do(t, "CLIENT", "KILL", "ID", ids[0])
	waitFor(t, "tracking restarted after CLIENT KILL", func() bool {
		st := c.SubscriberState()
		return st.TrackingReconnects != before && st.TrackingConnected
	})
	hits := c.MetricsSnapshot().LocalHits
	if _, _, err := c.Get(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
	if c.MetricsSnapshot().LocalHits != hits {
		t.Fatalf("L1 still served the key after its tracking was killed; flushes %v", c.SubscriberState().Flushes)
	}
	if f := c.SubscriberState().Flushes; f["tracking-lost"] == 0 {
		t.Fatalf("flushes %v, want tracking-lost", f)
	}
}

// TestTrackingCostsOneRemoteReadPerOwnWrite measures what broadcast tracking costs:
// every write under the prefix comes back to every tracking instance, its writer
// included, so the writer's next read of a key it wrote goes to L2 once. Readers
// pay nothing more than without tracking. docs/consistency.md reports the figures.
func TestTrackingCostsOneRemoteReadPerOwnWrite(t *testing.T) {
	srv := redistest.Start(t)
	const keys, reads = 100, 5
	for _, on := range []bool{false, true} {
		t.Run("tracking="+strconv.FormatBool(on), func(t *testing.T) {
			src := newVersionedSource()
			caches := newInstances(t, srv.URL(), 2, src, func(o *accelerator.Options[string, string]) {
				trackingTweak(on)(o)
				o.Area = "cost-" + strconv.FormatBool(on)
			})
			if on {
				waitTracking(t, caches[0])
				waitTracking(t, caches[1])
			}
			writer, reader := caches[0], caches[1]
			ctx := context.Background()
			for i := range keys {
				must(t, writer.Set(ctx, "k"+strconv.Itoa(i), "v"))
			}
			if on {
				// Invalidations arrive in order: once that of a last write reached
				// the writer, so did all the others.
				must(t, writer.Set(ctx, "marker", "v"))
				waitFor(t, "the writer's own write to come back", func() bool {
					hits := writer.MetricsSnapshot().LocalHits
					writer.Get(ctx, "marker")
					return writer.MetricsSnapshot().LocalHits == hits
				})
			}
			count := func() int64 {
				st := srv.CommandStats(t)
				return st["get"].Calls + st["mget"].Calls
			}
			readAll := func(c *accelerator.Cache[string, string]) int64 {
				before := count()
				for range reads {
					for i := range keys {
						if _, found, err := c.Get(ctx, "k"+strconv.Itoa(i)); !found || err != nil {
							t.Fatalf("Get = %v, %v", found, err)
						}
					}
				}
				return count() - before
			}
			w, r := readAll(writer), readAll(reader)
			t.Logf("tracking=%v: %d writes, then %d reads of each key: writer %d L2 reads, reader %d", on, keys, reads, w, r)
			if w > keys+keys/10 || r > keys+keys/10 {
				t.Fatalf("more than one L2 read per key: writer %d, reader %d", w, r)
			}
		})
	}
}

// TestTrackingPartitionKeepsTheBound black-holes the tracking connection (and the L2
// connections) of an instance whose Pub/Sub goes straight to Redis, then deletes a
// cached key with redis-cli, which only tracking reports: no read that starts later
// than the documented bound after the DEL returns the deleted value.
// ACCELERATOR_DISABLE=watchdog turns the silence rule off, which fails.
func TestTrackingPartitionKeepsTheBound(t *testing.T) {
	withSwitch(t, "watchdog", accelerator.SwitchNoSilenceRule)
	srv := redistest.Start(t)
	for _, dir := range []struct {
		name string
		d    redistest.Direction
	}{{"both", redistest.Both}, {"redis-to-instance", redistest.ToClient}} {
		t.Run(dir.name, func(t *testing.T) {
			t.Parallel()
			src := newVersionedSource()
			proxy := redistest.StartProxy(t, srv.Addr())
			opts := broadcastOptions(newRemote(t, proxy.URL()), src)
			trackingTweak(true)(&opts)
			opts.Area = "tracking-partition-" + dir.name
			opts.PubSub = newRemote(t, srv.URL())
			victim := newCache(t, opts)
			waitConnected(t, victim)
			waitTracking(t, victim)
			bound := documentedBound(opts)
			ctx := context.Background()
			holdInL1(t, srv, victim, "k", opts.Area+":k")

			proxy.BlackHole(dir.d)
			src.bump("k")
			outsideDel(t, srv, opts.Area+":k")
			deleted := time.Now()
			var lastStale time.Duration
			violations := 0
			for time.Since(deleted) < bound+schedulingSlack+time.Second {
				start := time.Now()
				if v, _, _ := victim.Get(ctx, "k"); v == "k@0" {
					lastStale = max(lastStale, start.Sub(deleted))
					if start.Sub(deleted) > bound+schedulingSlack {
						violations++
					}
				}
				time.Sleep(time.Millisecond)
			}
			proxy.Forward()
			t.Logf("bound %v; last read of the deleted value started %v after the DEL; flushes %v",
				bound, lastStale, victim.SubscriberState().Flushes)
			if violations > 0 {
				t.Fatalf("%d reads that started more than %v after the DEL returned the deleted value; the last %v after",
					violations, bound+schedulingSlack, lastStale)
			}
		})
	}
}

// TestTrackingFollowsARedisRestart kills and restarts Redis: the tracking is lost,
// which drops L1, and comes back, and an outside DEL reaches the instance again.
func TestTrackingFollowsARedisRestart(t *testing.T) {
	srv := redistest.Start(t)
	src := newVersionedSource()
	c := newInstances(t, srv.URL(), 1, src, trackingTweak(true))[0]
	waitTracking(t, c)
	srv.Kill()
	srv.Restart(t)
	waitFor(t, "tracking to come back after the restart", func() bool {
		st := c.SubscriberState()
		return st.TrackingReconnects != 0 && st.TrackingConnected
	})
	if f := c.SubscriberState().Flushes; f["tracking-lost"]+f["tracking-silent"] == 0 {
		t.Fatalf("flushes %v: losing the tracking did not drop L1", f)
	}
	holdInL1(t, srv, c, "k", "tracking:k")
	outsideDel(t, srv, "tracking:k")
	waitFor(t, "the outside DEL to reach the instance after the restart", func() bool {
		_, found, _ := c.Get(context.Background(), "k", accelerator.DisableLoad())
		return !found
	})
}
