package accelerator_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/internal/redistest"
	"github.com/accelerator-go/accelerator/local"
)

// versionedSource is a source of truth whose values carry a version, written
// source-first: a writer bumps the version, then invalidates the cache.
type versionedSource struct {
	mu       sync.Mutex
	versions map[string]int
	// gate, when set for a key, blocks a load of it after it read the source, until
	// the channel is closed: it forces a load to race with a write.
	gate  map[string]chan struct{}
	reads chan string // receives the key of each load that read the source, if set
}

func newVersionedSource() *versionedSource {
	return &versionedSource{versions: map[string]int{}, gate: map[string]chan struct{}{}}
}

func (s *versionedSource) Load(ctx context.Context, key string) (string, bool, error) {
	s.mu.Lock()
	v := s.versions[key]
	gate := s.gate[key]
	reads := s.reads
	s.mu.Unlock()
	if reads != nil {
		reads <- key
	}
	if gate != nil {
		<-gate
	}
	return key + "@" + strconv.Itoa(v), true, nil
}

func (s *versionedSource) bump(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.versions[key]++
	return s.versions[key]
}

func broadcastOptions(remote backend.Remote, src *versionedSource) accelerator.Options[string, string] {
	return accelerator.Options[string, string]{
		Area:                     "consistency",
		Remote:                   remote,
		Loader:                   src,
		BroadcastInvalidation:    true,
		LocalTTL:                 time.Minute,
		RemoteTTL:                time.Minute,
		InvalidationPingInterval: 100 * time.Millisecond,
		InvalidationGrace:        300 * time.Millisecond,
		RemoteTimeout:            300 * time.Millisecond,
		BreakerBackoff:           100 * time.Millisecond,
		LoaderTimeout:            2 * time.Second,
	}
}

// newInstances starts n caches, each with its own Redis connections, and waits until
// their subscribers are connected.
func newInstances(t *testing.T, url string, n int, src *versionedSource, tweak func(*accelerator.Options[string, string])) []*accelerator.Cache[string, string] {
	t.Helper()
	caches := make([]*accelerator.Cache[string, string], n)
	for i := range caches {
		opts := broadcastOptions(newRemote(t, url), src)
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

func waitConnected(t *testing.T, c *accelerator.Cache[string, string]) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !c.SubscriberState().Connected {
		if time.Now().After(deadline) {
			t.Fatalf("subscriber not connected: %+v", c.SubscriberState())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestDelReachesOtherInstances measures how long after a Del on one instance the
// others stop serving the key from L1 (docs/consistency.md reports the figures).
func TestDelReachesOtherInstances(t *testing.T) {
	srv := redistest.Start(t)
	src := newVersionedSource()
	caches := newInstances(t, srv.URL(), 3, src, nil)
	ctx := context.Background()
	var lat []time.Duration
	for i := range 100 {
		key := "k" + strconv.Itoa(i)
		for _, c := range caches {
			if _, found, err := c.Get(ctx, key); !found || err != nil {
				t.Fatalf("Get = %v %v", found, err)
			}
		}
		src.bump(key)
		start := time.Now()
		must(t, caches[0].Del(ctx, key))
		for _, c := range caches[1:] {
			for {
				if _, found, _ := c.Get(ctx, key, accelerator.DisableLoad()); !found {
					lat = append(lat, time.Since(start))
					break
				}
				if time.Since(start) > 2*time.Second {
					t.Fatalf("instance still serves %s 2s after its Del", key)
				}
				time.Sleep(20 * time.Microsecond)
			}
		}
		for _, c := range caches {
			if v, _, _ := c.Get(ctx, key); v != fmt.Sprintf("%s@1", key) {
				t.Fatalf("after the Del an instance read %q, want version 1", v)
			}
		}
	}
	slices.Sort(lat)
	p := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
	t.Logf("Del -> other instances miss: n=%d p50=%v p99=%v max=%v", len(lat), p(0.5), p(0.99), lat[len(lat)-1])
	if m := caches[1].MetricsSnapshot(); m.InvalidationsReceived < 100 {
		t.Fatalf("InvalidationsReceived = %d", m.InvalidationsReceived)
	}
	if m := caches[0].MetricsSnapshot(); m.InvalidationsPublished < 100 {
		t.Fatalf("InvalidationsPublished = %d", m.InvalidationsPublished)
	}
}

// TestKilledSubscriberServesNewValueAfterReconnect: a write whose message the victim
// missed, because its subscription was killed, is not served stale after it
// reconnects.
func TestKilledSubscriberServesNewValueAfterReconnect(t *testing.T) {
	srv := redistest.Start(t)
	src := newVersionedSource()
	caches := newInstances(t, srv.URL(), 2, src, nil)
	writer, victim := caches[0], caches[1]
	ctx := context.Background()
	victim.Get(ctx, "k")
	before := victim.SubscriberState().Reconnects
	srv.Do(t, "CLIENT", "KILL", "TYPE", "pubsub")
	src.bump("k")
	must(t, writer.Set(ctx, "k", "k@1"))
	deadline := time.Now().Add(5 * time.Second)
	for victim.SubscriberState().Reconnects == before || !victim.SubscriberState().Connected {
		if time.Now().After(deadline) {
			t.Fatalf("victim did not resubscribe: %+v", victim.SubscriberState())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if v, _, err := victim.Get(ctx, "k"); v != "k@1" || err != nil {
		t.Fatalf("after reconnecting the victim read %q (%v), want the new value", v, err)
	}
	st := victim.SubscriberState()
	if st.Flushes["disconnected"]+st.Flushes["silent"] == 0 || st.Flushes["subscribed"] < 2 {
		t.Fatalf("flushes %v: the lost subscription did not drop L1", st.Flushes)
	}
}

// slowLocal is an L1 whose Delete can be slowed down, to make a subscriber fall behind.
type slowLocal struct {
	backend.Local[string, string]
	slow atomic.Bool
}

func (s *slowLocal) Delete(k string) {
	if s.slow.Load() {
		time.Sleep(time.Millisecond)
	}
	s.Local.Delete(k)
}

// TestSlowSubscriberKilledByOutputBufferLimitIsDetected: Redis disconnects a
// subscriber that cannot keep up; the cache notices, drops L1 and resubscribes.
func TestSlowSubscriberKilledByOutputBufferLimitIsDetected(t *testing.T) {
	srv := redistest.Start(t)
	srv.Do(t, "CONFIG", "SET", "client-output-buffer-limit", "pubsub 64kb 32kb 1")
	src := newVersionedSource()
	st, err := local.New(local.Options[string, string]{})
	must(t, err)
	t.Cleanup(st.Close)
	slow := &slowLocal{Local: st}
	caches := newInstances(t, srv.URL(), 2, src, nil)
	opts := broadcastOptions(newRemote(t, srv.URL()), src)
	opts.Local = slow
	victim := newCache(t, opts)
	waitConnected(t, victim)
	ctx := context.Background()

	slow.slow.Store(true)
	keys := make([]string, 500)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-with-some-length-%06d", i)
	}
	for range 100 {
		must(t, caches[0].MDel(ctx, keys))
	}
	deadline := time.Now().Add(10 * time.Second)
	for victim.MetricsSnapshot().ReceiveFailures == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("Redis never dropped the slow subscriber: %+v", victim.SubscriberState())
		}
		time.Sleep(10 * time.Millisecond)
	}
	slow.slow.Store(false)
	waitConnected(t, victim)
	// Redis dropping it, or the watchdog seeing it fall silent for longer than the
	// liveness window (a handler busy for 0.5 s per message), both drop L1.
	if f := victim.SubscriberState().Flushes; f["disconnected"]+f["silent"] == 0 {
		t.Fatalf("flushes %v", f)
	}
	t.Logf("victim resubscribed after being dropped; %d flushes", victim.MetricsSnapshot().LocalFlushes)
}

// raceOnce forces the race on key: a's load reads the source, b deletes the key, then
// a's load returns.
func raceOnce(t *testing.T, a, b *accelerator.Cache[string, string], src *versionedSource, key string) {
	t.Helper()
	ctx := context.Background()
	gate := make(chan struct{})
	src.mu.Lock()
	src.reads = make(chan string, 1)
	src.gate[key] = gate
	src.mu.Unlock()
	done := make(chan struct{})
	go func() {
		a.Get(ctx, key)
		close(done)
	}()
	<-src.reads
	src.mu.Lock()
	src.reads = nil
	delete(src.gate, key)
	src.mu.Unlock()
	src.bump(key)
	must(t, b.Del(ctx, key))
	close(gate)
	<-done
}

// TestLocalFillLosesToInvalidation forces a load to read the source, then an
// invalidation of the key, then the load's return: its older value must not be
// installed in L1. Run with the guard off, the same sequence installs it, which shows
// the test can catch the race.
func TestLocalFillLosesToInvalidation(t *testing.T) {
	for _, guard := range []bool{true, false} {
		t.Run(fmt.Sprint("guard=", guard), func(t *testing.T) {
			src := newVersionedSource()
			c := newLocal(t, accelerator.Options[string, string]{Loader: src, DisableFillGuard: !guard})
			ctx := context.Background()
			raceOnce(t, c, c, src, "k")
			v, found, _ := c.Get(ctx, "k", accelerator.DisableLoad())
			if guard && found {
				t.Fatalf("L1 serves %q: the fill that started before the Del won", v)
			}
			if !guard && (!found || v != "k@0") {
				t.Fatalf("with the guard off L1 serves %q %v; the race was not reproduced", v, found)
			}
		})
	}
}

// TestRemoteFillLosesToDelete forces instance A to read the source, instance B to
// delete the key, then A's fill: A's older value must not land in Redis. With the
// guard off the same sequence leaves it there.
func TestRemoteFillLosesToDelete(t *testing.T) {
	srv := redistest.Start(t)
	for _, guard := range []bool{true, false} {
		t.Run(fmt.Sprint("guard=", guard), func(t *testing.T) {
			src := newVersionedSource()
			area := fmt.Sprint("race-", guard)
			opts := accelerator.Options[string, string]{Area: area, Remote: newRemote(t, srv.URL()), Loader: src, DisableFillGuard: !guard}
			a := newCache(t, opts)
			b := newCache(t, opts)
			ctx := context.Background()
			raceOnce(t, a, b, src, "k")
			fresh := newCache(t, accelerator.Options[string, string]{Area: area, Remote: newRemote(t, srv.URL()), Mode: accelerator.ModeRemote})
			v, found, _ := fresh.Get(ctx, "k")
			if guard && found {
				t.Fatalf("Redis holds %q: the fill that read the source before the Del won", v)
			}
			if !guard && v != "k@0" {
				t.Fatalf("with the guard off Redis holds %q %v; the race was not reproduced", v, found)
			}
			if guard && a.MetricsSnapshot().FillsLost != 1 {
				t.Fatalf("FillsLost = %d, want 1", a.MetricsSnapshot().FillsLost)
			}
		})
	}
}

// TestStressNoReadOlderThanTheBound runs several instances over one Redis with mixed
// reads and writes against a versioned source of truth, kills and restarts Redis
// several times, and checks every read: none that started later than the documented
// bound after a write completed may return the version that write superseded. It
// runs for ACCELERATOR_STRESS_DURATION (default 4s).
func TestStressNoReadOlderThanTheBound(t *testing.T) {
	duration := 4 * time.Second
	if d, err := time.ParseDuration(os.Getenv("ACCELERATOR_STRESS_DURATION")); err == nil {
		duration = d
	}
	srv := redistest.Start(t)
	src := newVersionedSource()
	caches := newInstances(t, srv.URL(), 3, src, nil)
	opts := broadcastOptions(nil, src)
	bound := opts.InvalidationGrace + 3*opts.InvalidationPingInterval + 200*time.Millisecond
	const keys = 32
	ctx := context.Background()

	type read struct {
		key     int
		version int
		start   time.Time
	}
	var mu sync.Mutex
	written := make([]map[int]time.Time, keys) // key -> version -> when its write completed
	for i := range written {
		written[i] = map[int]time.Time{}
	}
	var reads []read
	var readErrs, writeRetries atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				k := r.IntN(keys)
				key := "s" + strconv.Itoa(k)
				v := src.bump(key)
				for {
					err := caches[r.IntN(len(caches))].Del(ctx, key)
					if err == nil {
						break
					}
					writeRetries.Add(1)
					time.Sleep(5 * time.Millisecond)
				}
				mu.Lock()
				written[k][v] = time.Now()
				mu.Unlock()
				time.Sleep(10*time.Millisecond + time.Duration(r.IntN(20_000))*time.Microsecond)
			}
		})
	}
	for g := range 6 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 2))
			for {
				select {
				case <-stop:
					return
				default:
				}
				k := r.IntN(keys)
				start := time.Now()
				v, found, err := caches[r.IntN(len(caches))].Get(ctx, "s"+strconv.Itoa(k))
				if err != nil || !found {
					readErrs.Add(1)
					continue
				}
				var version int
				fmt.Sscanf(v[len("s"+strconv.Itoa(k))+1:], "%d", &version)
				mu.Lock()
				reads = append(reads, read{key: k, version: version, start: start})
				mu.Unlock()
				time.Sleep(200 * time.Microsecond)
			}
		})
	}
	kills := 0
	for end := time.Now().Add(duration); time.Now().Before(end); {
		time.Sleep(700 * time.Millisecond)
		srv.Kill()
		time.Sleep(200 * time.Millisecond)
		srv.Restart(t)
		kills++
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	violations := 0
	var worst time.Duration
	for _, r := range reads {
		superseded, ok := written[r.key][r.version+1]
		if !ok || !r.start.After(superseded) {
			continue
		}
		if late := r.start.Sub(superseded); late > bound {
			violations++
			worst = max(worst, late)
		}
	}
	// After the last restart, once the bound has passed, every instance serves the
	// last version of every key.
	time.Sleep(bound)
	for k := range keys {
		key := "s" + strconv.Itoa(k)
		want := key + "@" + strconv.Itoa(len(written[k]))
		for i, c := range caches {
			if v, _, err := c.Get(ctx, key); v != want {
				t.Errorf("after the run instance %d serves %q (%v), want the last write %q", i, v, err, want)
			}
		}
	}
	t.Logf("%d reads, %d read errors, %d write retries, %d Redis kills; bound %v", len(reads), readErrs.Load(), writeRetries.Load(), kills, bound)
	if len(reads) < 1000 || kills < 2 {
		t.Fatalf("the run was too small to mean anything: %d reads, %d kills", len(reads), kills)
	}
	if violations > 0 {
		t.Fatalf("%d reads returned a version superseded more than %v earlier (worst %v late)", violations, bound, worst)
	}
}
