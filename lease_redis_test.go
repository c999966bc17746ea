package accelerator_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/internal/redistest"
	"github.com/accelerator-go/accelerator/rueidisremote"
)

// roundTripRemote is a rueidisremote.Remote that counts every call it sends (each is
// one round trip on a standalone Redis), the lease and compare-and-set calls
// included, which countingRemote hides.
type roundTripRemote struct {
	*rueidisremote.Remote
	calls atomic.Int64
}

func (r *roundTripRemote) Get(ctx context.Context, key string) ([]byte, error) {
	r.calls.Add(1)
	return r.Remote.Get(ctx, key)
}

func (r *roundTripRemote) GetBounded(ctx context.Context, key string, limit int) ([]byte, error) {
	r.calls.Add(1)
	return r.Remote.GetBounded(ctx, key, limit)
}

func (r *roundTripRemote) MGetBounded(ctx context.Context, keys []string, limit int) ([][]byte, error) {
	r.calls.Add(1)
	return r.Remote.MGetBounded(ctx, keys, limit)
}

func (r *roundTripRemote) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	r.calls.Add(1)
	return r.Remote.Set(ctx, key, v, ttl)
}

func (r *roundTripRemote) MSet(ctx context.Context, items []backend.Item) error {
	r.calls.Add(1)
	return r.Remote.MSet(ctx, items)
}

func (r *roundTripRemote) Del(ctx context.Context, keys ...string) error {
	r.calls.Add(1)
	return r.Remote.Del(ctx, keys...)
}

func (r *roundTripRemote) CompareAndSet(ctx context.Context, items []backend.CASItem) ([]bool, error) {
	r.calls.Add(1)
	return r.Remote.CompareAndSet(ctx, items)
}

func (r *roundTripRemote) TryLease(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	r.calls.Add(1)
	return r.Remote.TryLease(ctx, key, token, ttl)
}

func (r *roundTripRemote) ReleaseLease(ctx context.Context, key, token string) (bool, error) {
	r.calls.Add(1)
	return r.Remote.ReleaseLease(ctx, key, token)
}

// leaseOptions are the options of the lease tests: a lease of two seconds, waits of up
// to five.
func leaseOptions(area string, remote backend.Remote, ld accelerator.Loader[string, string]) accelerator.Options[string, string] {
	return accelerator.Options[string, string]{
		Area: area, Remote: remote, Loader: ld,
		LoadLease: 2 * time.Second, LoadLeaseWait: 5 * time.Second,
		LoaderTimeout: 5 * time.Second, RemoteTimeout: time.Second,
	}
}

// gatedLoader returns key@version; each call signals entered, then waits for
// release when it is set. It records when each call started.
type gatedLoader struct {
	src     *versionedSource
	entered chan string
	release chan struct{}
	calls   atomic.Int32
	mu      sync.Mutex
	started []time.Time
}

func (l *gatedLoader) Load(ctx context.Context, key string) (string, bool, error) {
	l.calls.Add(1)
	l.mu.Lock()
	l.started = append(l.started, time.Now())
	l.mu.Unlock()
	v, found, err := l.src.Load(ctx, key)
	if l.entered != nil {
		l.entered <- key
	}
	if l.release != nil {
		select {
		case <-l.release:
		case <-ctx.Done():
			return "", false, ctx.Err()
		}
	}
	return v, found, err
}

func sumMetrics(caches []*accelerator.Cache[string, string]) (s accelerator.MetricsSnapshot) {
	for _, c := range caches {
		m := c.MetricsSnapshot()
		s.LeasesTaken += m.LeasesTaken
		s.LeaseFailures += m.LeaseFailures
		s.LeaseWaits += m.LeaseWaits
		s.LeaseWaitHits += m.LeaseWaitHits
		s.LeaseWaitTimeouts += m.LeaseWaitTimeouts
		s.Loads += m.Loads
	}
	return s
}

// readAll runs n readers of key on each cache, all released at once, and returns
// what they read, by value, and the errors.
func readAll(t *testing.T, caches []*accelerator.Cache[string, string], n int, key string) (map[string]int, []error) {
	t.Helper()
	ctx := context.Background()
	start := make(chan struct{})
	var mu sync.Mutex
	got := map[string]int{}
	var errs []error
	var wg sync.WaitGroup
	for _, c := range caches {
		for range n {
			wg.Go(func() {
				<-start
				v, found, err := c.Get(ctx, key)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					errs = append(errs, err)
				case !found:
					errs = append(errs, fmt.Errorf("%s not found", key))
				default:
					got[v]++
				}
			})
		}
	}
	close(start)
	wg.Wait()
	return got, errs
}

// TestLeaseOneLoadPerClusterForAColdKey: four instances, each with its own Redis
// connections, and 250 readers on each, all miss one cold key at once: with the lease
// on, the source is asked once in all; the other instances wait for the value and
// read it from L2.
func TestLeaseOneLoadPerClusterForAColdKey(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	var loads atomic.Int32
	caches := make([]*accelerator.Cache[string, string], 4)
	ld := accelerator.LoaderFunc[string, string](func(ctx context.Context, key string) (string, bool, error) {
		loads.Add(1)
		// The query ends once every other instance waits on the lease, so that all
		// of them miss before the value lands.
		if !waitUntil(waitTimeout, func() bool { return sumMetrics(caches).LeaseWaits >= 3 }) {
			t.Errorf("after %v, %d other instances wait on the lease, want 3", waitTimeout, sumMetrics(caches).LeaseWaits)
		}
		return "value of " + key, true, nil
	})
	for i := range caches {
		caches[i] = newCache(t, leaseOptions("lease-cold", newRemote(t, srv.URL()), ld))
	}
	got, errs := readAll(t, caches, 250, "cold")
	if len(errs) > 0 {
		t.Fatalf("%d reads failed, first: %v", len(errs), errs[0])
	}
	if got["value of cold"] != 1000 {
		t.Fatalf("reads returned %v, want the loaded value 1000 times", got)
	}
	m := sumMetrics(caches)
	if n := loads.Load(); n != 1 {
		t.Fatalf("%d loads of a cold key by 4 instances with the lease on, want 1 (%+v)", n, m)
	}
	if m.LeasesTaken != 1 || m.LeaseWaitTimeouts != 0 || m.LeaseFailures != 0 || m.LeaseWaitHits != m.LeaseWaits {
		t.Fatalf("lease counters: taken %d, waits %d, with a value %d, timed out %d, failures %d",
			m.LeasesTaken, m.LeaseWaits, m.LeaseWaitHits, m.LeaseWaitTimeouts, m.LeaseFailures)
	}
	t.Logf("1 load; %d instances waited for it", m.LeaseWaits)
}

// leaseChildEnv names the Redis URL of the child process of
// TestLeaseHolderKilledMidLoad; leaseChildMark is the line it prints once it holds
// the lease and is loading.
const (
	leaseChildEnv  = "ACCELERATOR_LEASE_CHILD_URL"
	leaseChildMark = "LEASE-CHILD-LOADING"
	leaseChildTTL  = 300 * time.Millisecond
)

// TestLeaseHolderKilledMidLoad: a process takes the lease of a cold key and is killed
// (SIGKILL) in the middle of its load. The instances waiting for its value do not
// wait for the bound: once the dead holder's lease expires in Redis, one of them
// takes it and loads, once, and the others get that value.
func TestLeaseHolderKilledMidLoad(t *testing.T) {
	if url := os.Getenv(leaseChildEnv); url != "" {
		leaseHolderChild(t, url)
		return
	}
	t.Parallel()
	srv := redistest.Start(t)
	// The survivors are connected before the child starts, so that they miss the
	// key well within the child's lease.
	var loads atomic.Int32
	ld := accelerator.LoaderFunc[string, string](func(ctx context.Context, key string) (string, bool, error) {
		loads.Add(1)
		return "survivor's " + key, true, nil
	})
	survivors := []*accelerator.Cache[string, string]{
		newCache(t, leaseOptions("lease-kill", newRemote(t, srv.URL()), ld)),
		newCache(t, leaseOptions("lease-kill", newRemote(t, srv.URL()), ld)),
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestLeaseHolderKilledMidLoad$", "-test.v")
	cmd.Env = append(os.Environ(), leaseChildEnv+"="+srv.URL())
	out, err := cmd.StdoutPipe()
	must(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	must(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	marked := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == leaseChildMark {
				marked <- true
				break
			}
		}
		marked <- false
		for sc.Scan() {
		}
	}()
	select {
	case ok := <-marked:
		if !ok {
			t.Fatalf("the child ended without taking the lease:\n%s", stderr.String())
		}
	case <-time.After(waitTimeout):
		t.Fatalf("the child did not start loading in %v:\n%s", waitTimeout, stderr.String())
	}

	// The child holds the lease and is loading. Two more instances miss the key,
	// wait, and the holder dies.
	type result struct {
		got  map[string]int
		errs []error
		took time.Duration
	}
	done := make(chan result, 1)
	go func() {
		start := time.Now()
		got, errs := readAll(t, survivors, 50, "cold")
		done <- result{got, errs, time.Since(start)}
	}()
	waitFor(t, "the survivors to wait for the lease", func() bool { return sumMetrics(survivors).LeaseWaits > 0 })
	must(t, cmd.Process.Kill())
	cmd.Wait()

	var res result
	select {
	case res = <-done:
	case <-time.After(waitTimeout):
		t.Fatalf("the survivors' reads did not end in %v", waitTimeout)
	}
	if len(res.errs) > 0 {
		t.Fatalf("%d reads failed, first: %v", len(res.errs), res.errs[0])
	}
	if res.got["survivor's cold"] != 100 {
		t.Fatalf("reads returned %v", res.got)
	}
	m := sumMetrics(survivors)
	if n := loads.Load(); n != 1 {
		t.Fatalf("%d loads by the survivors, want 1 (%+v)", n, m)
	}
	if m.LeasesTaken != 1 || m.LeaseWaitTimeouts != 0 || m.LeaseFailures != 0 {
		t.Fatalf("lease counters: taken %d, waits %d, with a value %d, timed out %d, failures %d",
			m.LeasesTaken, m.LeaseWaits, m.LeaseWaitHits, m.LeaseWaitTimeouts, m.LeaseFailures)
	}
	if res.took >= 5*time.Second {
		t.Fatalf("the reads took %v: they waited for the bound, not for the lease to expire", res.took)
	}
	t.Logf("the survivors read the key in %v (lease %v)", res.took, leaseChildTTL)
}

// leaseHolderChild is the child process: it takes the lease of the cold key, says
// so, and blocks in its loader until it is killed.
func leaseHolderChild(t *testing.T, url string) {
	time.AfterFunc(waitTimeout, func() { os.Exit(3) }) // never outlive a parent that died
	opts := leaseOptions("lease-kill", newRemote(t, url), accelerator.LoaderFunc[string, string](
		func(ctx context.Context, key string) (string, bool, error) {
			fmt.Println(leaseChildMark)
			<-ctx.Done()
			return "", false, ctx.Err()
		}))
	opts.LoadLease = leaseChildTTL
	opts.LoaderTimeout = time.Minute
	c := newCache(t, opts)
	c.Get(context.Background(), "cold")
	t.Fatal("the child's load returned")
}

// TestLeaseDelDuringLoadNeverHandsWaitersTheOldValue: an instance takes the lease and
// reads the source; the source changes and the key is deleted (by a third instance,
// or by the waiting instance itself) while the waiters wait: they never get the value
// read before the Del, and neither does anyone after.
func TestLeaseDelDuringLoadNeverHandsWaitersTheOldValue(t *testing.T) {
	t.Parallel()
	for _, by := range []string{"another instance", "the waiting instance"} {
		t.Run(by, func(t *testing.T) {
			srv := redistest.Start(t)
			src := newVersionedSource()
			holderLd := &gatedLoader{src: src, entered: make(chan string, 1), release: make(chan struct{})}
			holder := newCache(t, leaseOptions("lease-del", newRemote(t, srv.URL()), holderLd))
			waiter := newCache(t, leaseOptions("lease-del", newRemote(t, srv.URL()), src))
			writer := newCache(t, leaseOptions("lease-del", newRemote(t, srv.URL()), src))
			if by != "another instance" {
				writer = waiter
			}
			ctx := context.Background()
			holderDone := make(chan string, 1)
			go func() {
				v, _, _ := holder.Get(ctx, "k")
				holderDone <- v
			}()
			<-holderLd.entered // the holder read k@0 and is loading

			type result struct {
				got  map[string]int
				errs []error
			}
			done := make(chan result, 1)
			go func() {
				got, errs := readAll(t, []*accelerator.Cache[string, string]{waiter}, 20, "k")
				done <- result{got, errs}
			}()
			waitFor(t, "the readers to wait for the lease", func() bool { return waiter.MetricsSnapshot().LeaseWaits == 1 })
			src.bump("k")
			must(t, writer.Del(ctx, "k"))
			close(holderLd.release)
			old := <-holderDone

			res := <-done
			if len(res.errs) > 0 {
				t.Fatalf("%d reads failed, first: %v", len(res.errs), res.errs[0])
			}
			if res.got["k@1"] != 20 {
				t.Fatalf("the waiting readers got %v, want k@1 only (the holder loaded %s before the Del)", res.got, old)
			}
			if m := holder.MetricsSnapshot(); m.FillsLost != 1 {
				t.Fatalf("the holder's fill was not lost: FillsLost %d", m.FillsLost)
			}
			fresh := newCache(t, leaseOptions("lease-del", newRemote(t, srv.URL()), src))
			if v, _, err := fresh.Get(ctx, "k"); v != "k@1" || err != nil {
				t.Fatalf("a later read got %q %v, want k@1", v, err)
			}
		})
	}
}

// TestLeaseWriteEndsTheLease: a Set or a Del of a key whose lease another instance
// holds ends that lease in the same round trip as its write, so that the next miss
// after the write does not wait for a load that started before it.
func TestLeaseWriteEndsTheLease(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	src := newVersionedSource()
	holderLd := &gatedLoader{src: src, entered: make(chan string, 2), release: make(chan struct{})}
	holder := newCache(t, leaseOptions("lease-void", newRemote(t, srv.URL()), holderLd))
	remote := &roundTripRemote{Remote: newRemote(t, srv.URL())}
	writer := newCache(t, leaseOptions("lease-void", remote, src))
	ctx := context.Background()
	for _, write := range []string{"Set", "Del"} {
		key := "k-" + write
		go holder.Get(ctx, key)
		<-holderLd.entered
		if srv.Do(t, "GET", `lease-void\#lease:`+key) == nil {
			t.Fatalf("%s: no lease in Redis while the holder loads", write)
		}
		before := remote.calls.Load()
		if write == "Set" {
			must(t, writer.Set(ctx, key, "written"))
		} else {
			must(t, writer.Del(ctx, key))
		}
		if n := remote.calls.Load() - before; n != 1 {
			t.Fatalf("%s with the lease on took %d round trips, want 1", write, n)
		}
		waitFor(t, "the lease to end", func() bool { return srv.Do(t, "GET", `lease-void\#lease:`+key) == nil })
	}
	close(holderLd.release)
}

// TestLeaseRedisDownLoadsWithoutIt: with Redis down there is no lease to take: the
// read loads at once, without an error, and the failure is counted.
func TestLeaseRedisDownLoadsWithoutIt(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	c := newCache(t, leaseOptions("lease-down", newRemote(t, srv.URL()), newVersionedSource()))
	srv.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if v, found, err := c.Get(ctx, "k"); err != nil || !found || v != "k@0" {
		t.Fatalf("Get with Redis down = %q %v %v, want the loaded value", v, found, err)
	}
	if m := c.MetricsSnapshot(); m.LeaseFailures != 1 || m.LeasesTaken != 0 || m.Loads != 1 {
		t.Fatalf("LeaseFailures %d LeasesTaken %d Loads %d, want 1 0 1", m.LeaseFailures, m.LeasesTaken, m.Loads)
	}
}

// TestLeaseOptionsAreChecked: what New refuses, and the default wait.
func TestLeaseOptionsAreChecked(t *testing.T) {
	t.Parallel()
	type opts = accelerator.Options[string, string]
	for _, tt := range []struct {
		name string
		o    opts
		want string
	}{
		{"local", opts{LoadLease: time.Second}, "LoadLease requires a mode with a remote layer"},
		{"not a Leaser", opts{Remote: nopRemote{}, LoadLease: time.Second}, "requires a Remote that implements backend.Leaser"},
		{"no penetration protection", opts{Remote: &rueidisremote.Remote{}, LoadLease: time.Second, DisablePenetrationProtection: true}, "LoadLease requires penetration protection"},
		{"longer than the loader timeout", opts{Remote: &rueidisremote.Remote{}, LoadLease: time.Minute}, "LoadLease (1m0s) must not be longer than LoaderTimeout (5s)"},
		{"wait without lease", opts{LoadLeaseWait: time.Second}, "LoadLeaseWait is set but LoadLease is off"},
		{"negative", opts{Remote: &rueidisremote.Remote{}, LoadLease: -1}, "LoadLease is negative"},
	} {
		_, err := accelerator.New(tt.o)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: New = %v, want an error with %q", tt.name, err, tt.want)
		}
	}
	c, err := accelerator.New(opts{Remote: &rueidisremote.Remote{}, LoadLease: 300 * time.Millisecond})
	must(t, err)
	defer c.Close()
	for _, s := range c.Status().Config {
		if s.Name == "LoadLeaseWait" && s.Value != 600*time.Millisecond {
			t.Fatalf("default LoadLeaseWait %v, want twice the lease", s.Value)
		}
	}
}

// TestCountersOfLoadLeases: a wait that ends with the holder's value, a wait that
// runs out, and a lease that cannot be asked for with Redis down, counted on the
// holder and on the waiter.
func TestCountersOfLoadLeases(t *testing.T) {
	srv := redistest.Start(t)
	src := newVersionedSource()
	holderLd := &gatedLoader{src: src, entered: make(chan string, 1)}
	opts := leaseOptions("lease-counters", newRemote(t, srv.URL()), holderLd)
	opts.LoadLeaseWait = 300 * time.Millisecond
	holder := newCache(t, opts)
	opts.Remote, opts.Loader = newRemote(t, srv.URL()), src
	waiter := newCache(t, opts)
	ctx := context.Background()

	for _, key := range []string{"value", "timeout"} {
		holderLd.release = make(chan struct{})
		holderDone := make(chan struct{})
		go func() { holder.Get(ctx, key); close(holderDone) }()
		<-holderLd.entered
		if key == "value" {
			// The waiter waits; the holder's value ends the wait.
			waiterDone := make(chan struct{})
			go func() { waiter.Get(ctx, key); close(waiterDone) }()
			waitFor(t, "the waiter to wait", func() bool { return waiter.MetricsSnapshot().LeaseWaits == 1 })
			close(holderLd.release)
			<-waiterDone
		} else {
			// The holder outlasts LoadLeaseWait: the waiter loads, and the holder's
			// fill, which comes after, loses.
			waiter.Get(ctx, key)
			close(holderLd.release)
		}
		<-holderDone
	}
	srv.Kill()
	waiter.Get(ctx, "down")

	// MarkReads: each instance reads the invalidation clock once, to stamp its first
	// load or check its first L2 value (docs/tags.md).
	wantCounters(t, counted(t, holder.MetricsSnapshot()), accelerator.MetricsSnapshot{
		LocalMisses: 2, RemoteMisses: 2, Loads: 2, LoadedKeys: 2, LoadFound: 2,
		LeasesTaken: 2, FillsLost: 1, MarkReads: 1,
	})
	wantCounters(t, counted(t, waiter.MetricsSnapshot()), accelerator.MetricsSnapshot{
		LocalMisses: 3, RemoteMisses: 2, RemoteErrors: 3, Loads: 2, LoadedKeys: 2, LoadFound: 2,
		LeaseWaits: 2, LeaseWaitHits: 1, LeaseWaitTimeouts: 1, LeaseFailures: 1, MarkReads: 1,
	})
}
