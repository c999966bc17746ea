package rueidisremote_test

import (
	"context"
	"errors"
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

// newRemote connects to url and closes the Remote when the test ends.
func newRemote(t testing.TB, url string) *rueidisremote.Remote {
	t.Helper()
	r, err := rueidisremote.NewFromURL(url)
	if err != nil {
		t.Fatalf("NewFromURL(%q) = %v", url, err)
	}
	t.Cleanup(r.Close)
	return r
}

func runConformance(t *testing.T, r *rueidisremote.Remote) {
	t.Helper()
	backendtest.TestRemote(t, func(*testing.T) backend.Remote { return r })
	backendtest.TestPubSub(t, func(*testing.T) backend.PubSub { return r })
	backendtest.TestBoundedReader(t, func(*testing.T) backend.Remote { return r })
	backendtest.TestLeaser(t, func(*testing.T) (backend.Leaser, backend.Remote) { return r, r })
}

func TestConformanceStandalone(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	r := newRemote(t, s.URL())
	if got := r.Client().Mode(); got != rueidis.ClientModeStandalone {
		t.Fatalf("Mode() = %v, want standalone", got)
	}
	runConformance(t, r)
}

// TestConformanceRESP2 covers servers and proxies without RESP3, where rueidis runs
// pub/sub on a connection of its own.
func TestConformanceRESP2(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t, redistest.WithPassword("pw"))
	runConformance(t, newRemote(t, s.URL()+"?protocol=2"))
}

func TestConformanceSentinel(t *testing.T) {
	t.Parallel()
	master := redistest.Start(t)
	sentinel := redistest.StartSentinel(t, "mymaster", master)
	r := newRemote(t, "redis://"+sentinel.Addr()+"?master_set=mymaster")
	if got := r.Client().Mode(); got != rueidis.ClientModeSentinel {
		t.Fatalf("Mode() = %v, want sentinel", got)
	}
	runConformance(t, r)
	// The data went to the master.
	if got := master.CommandStats(t)["set"].Calls; got == 0 {
		t.Error("no SET reached the master")
	}
}

func TestConformanceCluster(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3)
	r, err := rueidisremote.NewFromOptions(rueidis.ClientOption{InitAddress: c.Addrs()})
	if err != nil {
		t.Fatalf("NewFromOptions = %v", err)
	}
	t.Cleanup(r.Close)
	if got := r.Client().Mode(); got != rueidis.ClientModeCluster {
		t.Fatalf("Mode() = %v, want cluster", got)
	}
	runConformance(t, r)
	checkNoCrossSlot(t, c)

	t.Run("BatchesSplitBySlot", func(t *testing.T) {
		testClusterBatches(t, c, r)
	})
}

// checkNoCrossSlot fails the test if any node ever refused a command as cross-slot.
func checkNoCrossSlot(t *testing.T, c *redistest.Cluster) {
	t.Helper()
	for _, n := range c.Nodes() {
		if got := n.ErrorStats(t)["CROSSSLOT"]; got != 0 {
			t.Errorf("node %s refused %d cross-slot commands", n.Addr(), got)
		}
	}
}

// clusterCalls sums the calls and rejected calls of cmd over the nodes of c.
func clusterCalls(t *testing.T, c *redistest.Cluster, cmd string) (calls, rejected int64) {
	t.Helper()
	for _, n := range c.Nodes() {
		st := n.CommandStats(t)[cmd]
		calls += st.Calls
		rejected += st.RejectedCalls
	}
	return calls, rejected
}

// testClusterBatches checks that a batch over many slots costs exactly one MGET or DEL
// per slot, and no command the server refuses.
func testClusterBatches(t *testing.T, c *redistest.Cluster, r *rueidisremote.Remote) {
	ctx := context.Background()
	var keys []string
	var items []backend.Item
	slots := make(map[uint16]bool)
	for i := range 300 {
		// A third of the keys share one hash tag, hence one slot.
		k := "batch:" + strconv.Itoa(i)
		if i%3 == 0 {
			k = "batch:{tag}:" + strconv.Itoa(i)
		}
		keys = append(keys, k)
		slots[slot.Of(k)] = true
		if i%4 != 0 {
			items = append(items, backend.Item{Key: k, Value: []byte("v" + k), TTL: time.Minute})
		}
	}
	if err := r.MSet(ctx, items); err != nil {
		t.Fatalf("MSet = %v", err)
	}

	mgetBefore, _ := clusterCalls(t, c, "mget")
	vals, err := r.MGet(ctx, keys)
	if err != nil {
		t.Fatalf("MGet = %v", err)
	}
	for i, k := range keys {
		want := ""
		if i%4 != 0 {
			want = "v" + k
		}
		if string(vals[i]) != want || (want == "") != (vals[i] == nil) {
			t.Fatalf("MGet value %d (%s) = %q, want %q", i, k, vals[i], want)
		}
	}
	mgetAfter, mgetRejected := clusterCalls(t, c, "mget")
	if got := mgetAfter - mgetBefore; got != int64(len(slots)) {
		t.Errorf("MGet of %d keys in %d slots sent %d MGETs, want one per slot", len(keys), len(slots), got)
	}

	delBefore, _ := clusterCalls(t, c, "del")
	if err := r.Del(ctx, keys...); err != nil {
		t.Fatalf("Del = %v", err)
	}
	delAfter, delRejected := clusterCalls(t, c, "del")
	if got := delAfter - delBefore; got != int64(len(slots)) {
		t.Errorf("Del of %d keys in %d slots sent %d DELs, want one per slot", len(keys), len(slots), got)
	}
	if mgetRejected != 0 || delRejected != 0 {
		t.Errorf("rejected MGETs %d, DELs %d; want none", mgetRejected, delRejected)
	}
	vals, err = r.MGet(ctx, keys)
	if err != nil {
		t.Fatalf("MGet = %v", err)
	}
	for i, v := range vals {
		if v != nil {
			t.Fatalf("key %s = %q after Del", keys[i], v)
		}
	}
	checkNoCrossSlot(t, c)
}

// TestMGetIsOneCommand pins that a standalone MGet costs one MGET, not a GET per key.
func TestMGetIsOneCommand(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	r := newRemote(t, s.URL())
	ctx := context.Background()
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = "k" + strconv.Itoa(i)
		if i%2 == 0 {
			s.Do(t, "SET", keys[i], "v"+strconv.Itoa(i))
		}
	}
	before := s.CommandStats(t)
	vals, err := r.MGet(ctx, keys)
	if err != nil {
		t.Fatalf("MGet = %v", err)
	}
	after := s.CommandStats(t)
	for i, v := range vals {
		if i%2 == 0 && string(v) != "v"+strconv.Itoa(i) || i%2 == 1 && v != nil {
			t.Errorf("value %d = %q", i, v)
		}
	}
	if got := after["mget"].Calls - before["mget"].Calls; got != 1 {
		t.Errorf("MGET calls = %d, want 1", got)
	}
	if got := after["get"].Calls - before["get"].Calls; got != 0 {
		t.Errorf("GET calls = %d, want 0", got)
	}

	before = s.CommandStats(t)
	if err := r.Del(ctx, keys...); err != nil {
		t.Fatalf("Del = %v", err)
	}
	after = s.CommandStats(t)
	if got := after["del"].Calls - before["del"].Calls; got != 1 {
		t.Errorf("DEL calls = %d, want 1", got)
	}
}

// TestEmptyBatchesCostNothing pins that empty batches send no command.
func TestEmptyBatchesCostNothing(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	r := newRemote(t, s.URL())
	ctx := context.Background()
	before := s.CommandStats(t)
	if vals, err := r.MGet(ctx, nil); err != nil || len(vals) != 0 {
		t.Errorf("MGet(nil) = %v, %v", vals, err)
	}
	if err := r.MSet(ctx, nil); err != nil {
		t.Errorf("MSet(nil) = %v", err)
	}
	if err := r.Del(ctx); err != nil {
		t.Errorf("Del() = %v", err)
	}
	after := s.CommandStats(t)
	for _, cmd := range []string{"mget", "set", "del"} {
		if after[cmd] != before[cmd] {
			t.Errorf("%s stats changed: %+v -> %+v", cmd, before[cmd], after[cmd])
		}
	}
}

// TestSetTTLRoundsUp pins the PX argument: whole milliseconds, rounded up, at least 1.
func TestSetTTLRoundsUp(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	r := newRemote(t, s.URL())
	tests := []struct {
		ttl     time.Duration
		atLeast int64 // PTTL right after SET, allowing for a little time passing
		atMost  int64
	}{
		{time.Hour, time.Hour.Milliseconds() - 1000, time.Hour.Milliseconds()},
		{1500*time.Millisecond + time.Nanosecond, 1000, 1501},
		{-time.Second, -2, 1}, // a non-positive TTL still expires
	}
	for _, tt := range tests {
		t.Run(tt.ttl.String(), func(t *testing.T) {
			key := "ttl:" + tt.ttl.String()
			if err := r.Set(context.Background(), key, []byte("v"), tt.ttl); err != nil {
				t.Fatalf("Set = %v", err)
			}
			got := s.Do(t, "PTTL", key).(int64)
			if got < tt.atLeast || got > tt.atMost || got == -1 { // -1: no expiry
				t.Errorf("PTTL = %d, want in [%d, %d]", got, tt.atLeast, tt.atMost)
			}
		})
	}
}

func TestGetErrorsAreWrapped(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	r := newRemote(t, s.URL())
	s.Do(t, "RPUSH", "list", "x")
	_, err := r.Get(context.Background(), "list")
	var re *rueidis.RedisError
	if !errors.As(err, &re) {
		t.Fatalf("Get(list) error = %v, want a *rueidis.RedisError", err)
	}
	if _, err := r.MGet(context.Background(), []string{"list", "absent"}); err != nil {
		t.Errorf("MGet with a list key = %v, want nil (MGET reads it as absent)", err)
	}
}

// TestRemoteRecoversAfterRestart checks that the rueidis client reconnects by itself
// for plain commands once the server is back.
func TestRemoteRecoversAfterRestart(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	r := newRemote(t, s.URL())
	ctx := context.Background()
	if err := r.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatalf("Set = %v", err)
	}
	s.Kill()
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := r.Set(short, "k", []byte("v"), time.Minute); err == nil {
		t.Fatal("Set succeeded while the server was down")
	}
	s.Restart(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := r.Set(ctx, "k", []byte("v2"), time.Minute)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Set still fails after the restart: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if v, err := r.Get(ctx, "k"); err != nil || string(v) != "v2" {
		t.Errorf("Get = %q, %v; want v2", v, err)
	}
}

func TestNewFromURLErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		url  string
	}{
		{"bad scheme", "http://127.0.0.1:1"},
		{"bad url", "redis://%zz"},
		{"nobody listens", "redis://127.0.0.1:1?dial_timeout=200ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := rueidisremote.NewFromURL(tt.url)
			if err == nil {
				r.Close()
				t.Fatalf("NewFromURL(%q) succeeded", tt.url)
			}
		})
	}
}

// TestNewNilClient: a nil client is an error at New, not a panic at the first call.
func TestNewNilClient(t *testing.T) {
	t.Parallel()
	r, err := rueidisremote.New(nil)
	if err == nil || r != nil {
		t.Fatalf("New(nil) = %v, %v; want an error", r, err)
	}
	if !strings.HasPrefix(err.Error(), "rueidisremote: ") {
		t.Errorf("New(nil) error %q lacks the package prefix", err)
	}
}

// TestNewFromURLHidesPassword: a malformed URL is reported without the URL or any
// piece of its password, which would otherwise reach logs.
func TestNewFromURLHidesPassword(t *testing.T) {
	t.Parallel()
	const secret = "PWMARK"
	for i, url := range []string{
		"redis://:" + secret + "@127.0.0.1:notaport",
		"redis://user:" + secret + "%zz@127.0.0.1:1",
		"redis://:" + secret + "@127.0.0.1:1/" + secret,
		"redis:/:" + secret + "@127.0.0.1:1",
		"redis://:" + secret + "@127.0.0.1:1?dial_timeout=" + secret,
		"redis://:" + secret + "@127.0.0.1:1?db=" + secret,
		"redis://:" + secret + "@127.0.0.1:1?write_timeout=" + secret,
		"rediss://:" + secret + "@127.0.0.1:1?skip_verify=" + secret,
		"redis://:" + secret + "@127.0.0.1 :6379",
		"http://:" + secret + "@127.0.0.1:1",
		secret + "://:" + secret + "@127.0.0.1:1",
	} {
		r, err := rueidisremote.NewFromURL(url)
		if err == nil {
			r.Close()
			t.Errorf("NewFromURL(malformed URL %d) succeeded", i)
			continue
		}
		for e := error(err); e != nil; e = errors.Unwrap(e) {
			if strings.Contains(e.Error(), "MARK") {
				t.Errorf("NewFromURL error shows the password: %q", e)
			}
		}
	}
}

func TestNewKeepsCallerClientOpen(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{s.Addr()}, DisableCache: true})
	if err != nil {
		t.Fatalf("NewClient = %v", err)
	}
	defer client.Close()
	r, err := rueidisremote.New(client)
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	ctx := context.Background()
	if err := r.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatalf("Set = %v", err)
	}
	r.Close()
	if err := client.Do(ctx, client.B().Ping().Build()).Error(); err != nil {
		t.Errorf("caller's client after Remote.Close: %v", err)
	}
	if v, err := r.Get(ctx, "k"); err != nil || string(v) != "v" {
		t.Errorf("Get after Close of a borrowed client = %q, %v", v, err)
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	r, err := rueidisremote.NewFromURL(s.URL())
	if err != nil {
		t.Fatalf("NewFromURL = %v", err)
	}
	r.Close()
	r.Close()
	if _, err := r.Get(context.Background(), "k"); err == nil {
		t.Error("Get after Close succeeded")
	}
	err = r.Subscribe(context.Background(), "ch", func(backend.Event) {})
	if err == nil || errors.Is(err, backend.ErrSubscriptionClosed) {
		t.Errorf("Subscribe after Close = %v, want a connection error", err)
	}
}

// TestMGetBoundedReadsNonStringsAsAbsent: as MGET, a bounded batch read answers a key
// that holds a list with nil, and the other keys with their values.
func TestMGetBoundedReadsNonStringsAsAbsent(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	r := newRemote(t, s.URL())
	s.Do(t, "SET", "str", "v")
	s.Do(t, "RPUSH", "list", "x")
	got, err := r.MGetBounded(context.Background(), []string{"list", "str"}, 10)
	if err != nil || len(got) != 2 || got[0] != nil || string(got[1]) != "v" {
		t.Fatalf("MGetBounded = %q, %v; want [nil v]", got, err)
	}
}
