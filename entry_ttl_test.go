package accelerator_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/internal/envelope"
	"github.com/accelerator-go/accelerator/internal/redistest"
)

// ttlLoader is an EntryLoader that gives each key the TTL of ttls (zero: the
// configured TTLs), counts its calls per key, and answers "not found" for the keys of
// missing.
type ttlLoader struct {
	mu      sync.Mutex
	ttls    map[string]time.Duration
	missing map[string]bool
	calls   map[string]int
	total   atomic.Int32
}

func newTTLLoader(ttls map[string]time.Duration) *ttlLoader {
	return &ttlLoader{ttls: ttls, missing: map[string]bool{}, calls: map[string]int{}}
}

func (l *ttlLoader) LoadEntry(_ context.Context, key string) (accelerator.Loaded[string], error) {
	l.total.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls[key]++
	return accelerator.Loaded[string]{Value: "v:" + key, Found: !l.missing[key], TTL: l.ttls[key]}, nil
}

func (l *ttlLoader) Load(ctx context.Context, key string) (string, bool, error) {
	r, err := l.LoadEntry(ctx, key)
	return r.Value, r.Found, err
}

func (l *ttlLoader) callsOf(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls[key]
}

// TestLoaderTTLExpiresEachEntryOnItsOwnSchedule: against a real Redis, with the
// cache's clock moved by hand, a key its loader gives 100 ms expires after 100 ms in
// both layers, while a key loaded with the configured TTLs (and one written with
// them) stays; a negative entry with a TTL of its own expires by it, not by NullTTL;
// a Set WithTTL lives by its TTL too.
func TestLoaderTTLExpiresEachEntryOnItsOwnSchedule(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	clk := newFakeClock()
	ld := newTTLLoader(map[string]time.Duration{"short": 100 * time.Millisecond, "gone": 100 * time.Millisecond})
	ld.missing["gone"] = true
	opts := accelerator.Options[string, string]{
		Area: "ttl", Remote: newRemote(t, srv.URL()), Loader: ld, Clock: clk,
		LocalTTL: time.Minute, RemoteTTL: 10 * time.Minute, CacheNullValue: true, NullTTL: 30 * time.Second,
		MinLoaderTTL: 10 * time.Millisecond,
		// Redis expires a key on its own clock after the TTL the cache gives it:
		// with a stale window, it keeps the entries long after their (fake-clock)
		// expiry, so that what this test reads depends on the fake clock alone. The
		// reads below do not allow stale copies.
		StaleTTL: time.Minute,
	}
	c := newCache(t, opts)
	ctx := context.Background()
	for _, k := range []string{"short", "default", "gone"} {
		c.Get(ctx, k)
	}
	must(t, c.Set(ctx, "set-short", "s", accelerator.WithTTL(100*time.Millisecond)))
	must(t, c.Set(ctx, "set-default", "s"))

	// In L2, each envelope says when its entry expires.
	now := clk.NowNano() / int64(time.Millisecond)
	for k, want := range map[string]int64{
		"short": 100, "gone": 100, "set-short": 100,
		"default": (10 * time.Minute).Milliseconds(), "set-default": (10 * time.Minute).Milliseconds(),
	} {
		raw, _ := srv.Do(t, "GET", "ttl:"+k).(string)
		h, _, err := envelope.Decode([]byte(raw), 1<<20)
		if err != nil {
			t.Fatalf("L2 value of %s: %v", k, err)
		}
		if got := h.ExpireAt - now; got != want {
			t.Errorf("L2 entry of %s expires in %d ms, want %d", k, got, want)
		}
	}

	// A second instance, on the same clock, reads them all from L2: its L1 copies
	// follow the L2 entries, not LocalTTL.
	other := newCache(t, accelerator.Options[string, string]{Area: "ttl", Remote: newRemote(t, srv.URL()), Clock: clk, CacheNullValue: true, StaleTTL: time.Minute})
	for _, k := range []string{"short", "default", "gone", "set-short", "set-default"} {
		other.Get(ctx, k)
	}

	clk.Advance(99 * time.Millisecond)
	for _, cc := range []*accelerator.Cache[string, string]{c, other} {
		for _, k := range []string{"short", "default", "set-short", "set-default"} {
			if _, found, _ := cc.Get(ctx, k, accelerator.DisableLoad()); !found {
				t.Fatalf("%s expired after 99 ms", k)
			}
		}
	}
	if loads := ld.total.Load(); loads != 3 {
		t.Fatalf("%d loads before any expiry, want 3", loads)
	}

	clk.Advance(2 * time.Millisecond)
	for _, cc := range []*accelerator.Cache[string, string]{c, other} {
		for k, fresh := range map[string]bool{"short": false, "set-short": false, "default": true, "set-default": true} {
			if _, found, _ := cc.Get(ctx, k, accelerator.DisableLoad()); found != fresh {
				t.Fatalf("after 101 ms, %s found = %v, want %v", k, found, fresh)
			}
		}
	}
	// The negative entry expired too: the next read loads again.
	c.Get(ctx, "gone")
	c.Get(ctx, "short")
	c.Get(ctx, "default")
	if ld.callsOf("gone") != 2 || ld.callsOf("short") != 2 || ld.callsOf("default") != 1 {
		t.Fatalf("loads gone %d short %d default %d, want 2 2 1", ld.callsOf("gone"), ld.callsOf("short"), ld.callsOf("default"))
	}
}

// TestLoaderTTLIsKeptWithinItsBounds: a TTL longer than MaxLoaderTTL is cut to it, a
// shorter one than MinLoaderTTL (or a negative one) raised to it; in ModeLocal the
// TTL replaces LocalTTL, longer or shorter.
func TestLoaderTTLIsKeptWithinItsBounds(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	ld := newTTLLoader(map[string]time.Duration{
		"long": time.Hour, "tiny": time.Nanosecond, "negative": -time.Hour, "mid": 3 * time.Minute,
	})
	c := newLocal(t, accelerator.Options[string, string]{
		Loader: ld, Clock: clk, LocalTTL: time.Minute, MinLoaderTTL: time.Second, MaxLoaderTTL: 5 * time.Minute,
	})
	ctx := context.Background()
	for _, k := range []string{"long", "tiny", "negative", "mid", "plain"} {
		c.Get(ctx, k)
	}
	expect := func(after time.Duration, fresh map[string]bool) {
		t.Helper()
		for k, want := range fresh {
			if _, found, _ := c.Get(ctx, k, accelerator.DisableLoad()); found != want {
				t.Fatalf("at +%v, %s found = %v, want %v", after, k, found, want)
			}
		}
	}
	clk.Advance(time.Second - time.Millisecond)
	expect(time.Second, map[string]bool{"tiny": true, "negative": true})
	clk.Advance(time.Millisecond)
	expect(time.Second, map[string]bool{"tiny": false, "negative": false, "plain": true})
	clk.Advance(time.Minute - time.Second)
	expect(time.Minute, map[string]bool{"plain": false, "mid": true, "long": true})
	clk.Advance(2 * time.Minute)
	expect(3*time.Minute, map[string]bool{"mid": false, "long": true})
	clk.Advance(2*time.Minute - time.Millisecond)
	expect(5*time.Minute, map[string]bool{"long": true})
	clk.Advance(time.Millisecond)
	expect(5*time.Minute, map[string]bool{"long": false})
}

// TestLoaderTTLIsJitteredAndRefreshedAhead: jitter spreads a loader's TTL as it
// spreads the configured ones, and refresh-ahead opens its window RefreshAhead before
// the entry's own expiry.
func TestLoaderTTLIsJitteredAndRefreshedAhead(t *testing.T) {
	t.Parallel()
	t.Run("jitter", func(t *testing.T) {
		clk := newFakeClock()
		ld := newTTLLoader(map[string]time.Duration{})
		const n = 200
		for i := range n {
			ld.ttls["k"+strconv.Itoa(i)] = 10 * time.Second
		}
		c := newLocal(t, accelerator.Options[string, string]{Loader: ld, Clock: clk, TTLJitter: 0.5, LocalMaxEntries: 1000})
		ctx := context.Background()
		for i := range n {
			c.Get(ctx, "k"+strconv.Itoa(i))
		}
		fresh := func() (count int) {
			for i := range n {
				if _, found, _ := c.Get(ctx, "k"+strconv.Itoa(i), accelerator.DisableLoad()); found {
					count++
				}
			}
			return count
		}
		clk.Advance(5*time.Second - time.Millisecond)
		if got := fresh(); got != n {
			t.Fatalf("%d of %d entries expired before ttl·(1−jitter)", n-got, n)
		}
		clk.Advance(2500 * time.Millisecond)
		if got := fresh(); got == 0 || got == n {
			t.Fatalf("%d of %d entries fresh at 3/4 of the TTL: not spread", got, n)
		}
		clk.Advance(2500*time.Millisecond + time.Millisecond)
		if got := fresh(); got != 0 {
			t.Fatalf("%d entries outlived their TTL", got)
		}
	})
	t.Run("refresh-ahead", func(t *testing.T) {
		clk := newFakeClock()
		ld := newTTLLoader(map[string]time.Duration{"k": 4 * time.Second})
		c := newLocal(t, accelerator.Options[string, string]{
			Loader: ld, Clock: clk, LocalTTL: time.Hour, RefreshAhead: time.Second,
		})
		ctx := context.Background()
		c.Get(ctx, "k")
		clk.Advance(3*time.Second - time.Millisecond)
		c.Get(ctx, "k")
		if m := c.MetricsSnapshot(); m.RefreshAttempts != 0 {
			t.Fatalf("refreshed %v before the entry's window", 3*time.Second)
		}
		clk.Advance(2 * time.Millisecond)
		c.Get(ctx, "k")
		waitFor(t, "the refresh inside the entry's own window", func() bool {
			return c.MetricsSnapshot().RefreshSuccesses == 1
		})
		// The reload gave the entry a new life of its own TTL.
		clk.Advance(3 * time.Second)
		if _, found, _ := c.Get(ctx, "k", accelerator.DisableLoad()); !found {
			t.Fatal("the refreshed entry did not get a new TTL")
		}
	})
}

// TestLoaderTTLOptionsAreChecked: the bounds' defaults, and what New refuses.
func TestLoaderTTLOptionsAreChecked(t *testing.T) {
	t.Parallel()
	type opts = accelerator.Options[string, string]
	for _, tt := range []struct {
		name string
		o    opts
		want string
	}{
		{"min above max", opts{MinLoaderTTL: time.Minute, MaxLoaderTTL: time.Second}, "MinLoaderTTL (1m0s) is longer than MaxLoaderTTL (1s)"},
		{"min inside the refresh window", opts{RefreshAhead: 10 * time.Second, MinLoaderTTL: 5 * time.Second}, "must be longer than RefreshAhead"},
		{"negative min", opts{MinLoaderTTL: -1}, "MinLoaderTTL is negative"},
		{"negative max", opts{MaxLoaderTTL: -1}, "MaxLoaderTTL is negative"},
	} {
		_, err := accelerator.New(tt.o)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: New = %v, want an error with %q", tt.name, err, tt.want)
		}
	}
	for _, tt := range []struct {
		name     string
		o        opts
		min, max time.Duration
	}{
		{"local", opts{}, time.Second, accelerator.DefaultLocalTTL},
		{"both", opts{Remote: nopRemote{}}, time.Second, accelerator.DefaultRemoteTTL},
		{"short TTLs", opts{LocalTTL: 100 * time.Millisecond}, 100 * time.Millisecond, 100 * time.Millisecond},
		{"refresh-ahead", opts{RefreshAhead: 5 * time.Second}, 10 * time.Second, accelerator.DefaultLocalTTL},
	} {
		c, err := accelerator.New(tt.o)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got := map[string]any{}
		for _, s := range c.Status().Config {
			got[s.Name] = s.Value
		}
		c.Close()
		if got["MinLoaderTTL"] != tt.min || got["MaxLoaderTTL"] != tt.max {
			t.Errorf("%s: MinLoaderTTL %v MaxLoaderTTL %v, want %v %v", tt.name, got["MinLoaderTTL"], got["MaxLoaderTTL"], tt.min, tt.max)
		}
	}
}

// TestEntryMLoaderTTLPerKey: an EntryMLoader gives each key of a batch its own TTL,
// found or not; the keys of an MGet, and a Get through the MLoader alone, expire each
// on its own schedule, in both layers.
func TestEntryMLoaderTTLPerKey(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	clk := newFakeClock()
	var calls atomic.Int32
	ml := accelerator.EntryMLoaderFunc[string, string](func(_ context.Context, keys []string) (map[string]accelerator.Loaded[string], error) {
		calls.Add(1)
		out := map[string]accelerator.Loaded[string]{}
		for _, k := range keys {
			switch {
			case strings.HasPrefix(k, "short"):
				out[k] = accelerator.Loaded[string]{Value: "v:" + k, Found: true, TTL: 100 * time.Millisecond}
			case strings.HasPrefix(k, "gone"):
				out[k] = accelerator.Loaded[string]{TTL: 100 * time.Millisecond}
			case strings.HasPrefix(k, "absent"):
			default:
				out[k] = accelerator.Loaded[string]{Value: "v:" + k, Found: true}
			}
		}
		return out, nil
	})
	c := newCache(t, accelerator.Options[string, string]{
		Area: "mttl", Remote: newRemote(t, srv.URL()), MLoader: ml, Clock: clk,
		CacheNullValue: true, NullTTL: 30 * time.Second, MinLoaderTTL: 10 * time.Millisecond,
		StaleTTL: time.Minute, // Redis keeps the keys past their fake-clock expiry
	})
	ctx := context.Background()
	got, err := c.MGet(ctx, []string{"short", "default", "gone", "absent"})
	if err != nil || len(got) != 2 {
		t.Fatalf("MGet = %v %v", got, err)
	}
	if _, found, _ := c.Get(ctx, "short-single"); !found {
		t.Fatal("Get through the MLoader: not found")
	}
	now := clk.NowNano() / int64(time.Millisecond)
	for k, want := range map[string]int64{
		"short": 100, "gone": 100, "short-single": 100,
		"default": accelerator.DefaultRemoteTTL.Milliseconds(), "absent": accelerator.DefaultNullTTL.Milliseconds(),
	} {
		raw, _ := srv.Do(t, "GET", "mttl:"+k).(string)
		h, _, err := envelope.Decode([]byte(raw), 1<<20)
		if err != nil {
			t.Fatalf("L2 value of %s: %v", k, err)
		}
		if got := h.ExpireAt - now; got != want {
			t.Errorf("L2 entry of %s expires in %d ms, want %d", k, got, want)
		}
	}
	clk.Advance(99 * time.Millisecond)
	if got, _ := c.MGet(ctx, []string{"short", "default", "gone", "absent", "short-single"}, accelerator.DisableLoad()); len(got) != 3 {
		t.Fatalf("after 99 ms: %v, want short, default and short-single", got)
	}
	calls.Store(0)
	clk.Advance(2 * time.Millisecond)
	if got, _ := c.MGet(ctx, []string{"short", "default", "gone", "absent", "short-single"}, accelerator.DisableLoad()); len(got) != 1 || got["default"] == "" {
		t.Fatalf("after 101 ms: %v, want default only", got)
	}
	c.MGet(ctx, []string{"short", "default", "gone", "absent"})
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d MLoad calls for the expired keys, want 1", n)
	}
}
