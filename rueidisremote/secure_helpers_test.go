package rueidisremote_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/internal/redistest"
	"github.com/accelerator-go/accelerator/rueidisremote"
)

// Topologies for which aclRules adds the commands rueidis needs beyond the
// standalone set.
const (
	standalone = iota
	sentinel
	cluster
)

// aclRules returns the ACL SETUSER rules of docs/secure-redis.md for a user with
// password that may touch the keys and channels under prefix only, on server s, as
// the cache needs them on the given topology. Keep the two in sync.
func aclRules(t *testing.T, s *redistest.Server, password, prefix string, topology int) []string {
	t.Helper()
	rules := []string{
		"reset", "on", ">" + password, "~" + prefix + "*", "&" + prefix + "*", "-@all",
		// the backend's commands; EVAL runs the compare-and-set script of the cache's
		// fill guard and the scripts of the invalidation marks (GET, SET and TIME
		// inside them are checked against the rules too), and GETRANGE is the cache's
		// bounded read
		"+get", "+mget", "+getrange", "+set", "+del", "+eval", "+time", "+publish", "+subscribe", "+unsubscribe",
		// rueidis: its keep-alive, and the probe that tells a cluster from a single
		// server on connect (SLOTS before Redis 8, SHARDS from 8 on)
		"+ping", "+cluster|slots", "+cluster|shards",
	}
	// rueidis announces itself with CLIENT SETINFO, which Redis 7.2 introduced; Redis
	// 7.0 rejects the rule. rueidis ignores a refusal, but the ACL LOG would fill up.
	if versionAtLeast(t, s, 7, 2) {
		rules = append(rules, "+client|setinfo")
	}
	switch topology {
	case sentinel:
		rules = append(rules, "+role") // rueidis checks that the node Sentinel names is the master
	case cluster:
		rules = append(rules, "+asking") // follows an ASK redirect while a slot migrates
	}
	return rules
}

// setUser creates or replaces the ACL user name on s with rules.
func setUser(t *testing.T, s *redistest.Server, name string, rules []string) {
	t.Helper()
	s.Do(t, append([]string{"ACL", "SETUSER", name}, rules...)...)
}

// versionAtLeast reports whether s runs Redis major.minor or later.
func versionAtLeast(t *testing.T, s *redistest.Server, major, minor int) bool {
	t.Helper()
	v := strings.SplitN(s.Info(t, "server")["redis_version"], ".", 3)
	if len(v) < 2 {
		t.Fatalf("redis_version %q: want major.minor.patch", strings.Join(v, "."))
	}
	gotMajor, _ := strconv.Atoi(v[0])
	gotMinor, _ := strconv.Atoi(v[1])
	return gotMajor > major || gotMajor == major && gotMinor >= minor
}

// expectACLLogEmpty fails the test if s refused anything to an ACL user: no command
// the cache or rueidis sent was denied, not even one whose error rueidis ignores.
func expectACLLogEmpty(t *testing.T, s *redistest.Server) {
	t.Helper()
	if log := s.ACLLog(t); len(log) != 0 {
		t.Errorf("%s refused commands to an ACL user: %v", s.Addr(), log)
	}
}

// expectRedisError checks that err is an error reply from Redis starting with kind,
// such as "NOAUTH" or "WRONGPASS".
func expectRedisError(t *testing.T, what string, err error, kind string) {
	t.Helper()
	var re *rueidis.RedisError
	if !errors.As(err, &re) || !strings.HasPrefix(re.Error(), kind) {
		t.Errorf("%s: error = %v, want a %s reply", what, err, kind)
	}
}

// expectNoPerm checks that err is the server's NOPERM refusal.
func expectNoPerm(t *testing.T, what string, err error) {
	t.Helper()
	expectRedisError(t, what, err, "NOPERM")
}

// newRemoteFromOptions connects with opt and closes the Remote when the test ends.
func newRemoteFromOptions(t *testing.T, opt rueidis.ClientOption) *rueidisremote.Remote {
	t.Helper()
	r, err := rueidisremote.NewFromOptions(opt)
	if err != nil {
		t.Fatalf("NewFromOptions = %v", err)
	}
	t.Cleanup(r.Close)
	return r
}

// sourceOfTruth is a loader over a fixed map that counts its calls.
type sourceOfTruth struct {
	loads, mloads atomic.Int64
}

func (s *sourceOfTruth) value(id int64) (string, bool) {
	if id >= 1000 {
		return "", false
	}
	return "user-" + strconv.FormatInt(id, 10), true
}

func (s *sourceOfTruth) options(remote backend.Remote, prefix string, mode accelerator.Mode) accelerator.Options[int64, string] {
	return accelerator.Options[int64, string]{
		Area:      "users",
		KeyPrefix: prefix,
		Mode:      mode,
		Remote:    remote,
		// Cross-instance invalidation, on the area's channel under the prefix.
		BroadcastInvalidation: mode == accelerator.ModeBoth,
		CacheNullValue:        true,
		// The load lease: its SET NX and release script on lease keys under the
		// prefix, and the writes that end leases, are within the rules too.
		LoadLease: time.Second,
		Loader: accelerator.LoaderFunc[int64, string](func(_ context.Context, id int64) (string, bool, error) {
			s.loads.Add(1)
			v, ok := s.value(id)
			return v, ok, nil
		}),
		MLoader: accelerator.MLoaderFunc[int64, string](func(_ context.Context, ids []int64) (map[int64]string, error) {
			s.mloads.Add(1)
			out := make(map[int64]string, len(ids))
			for _, id := range ids {
				if v, ok := s.value(id); ok {
					out[id] = v
				}
			}
			return out, nil
		}),
	}
}

func newTestCache(t *testing.T, opts accelerator.Options[int64, string]) *accelerator.Cache[int64, string] {
	t.Helper()
	c, err := accelerator.New(opts)
	if err != nil {
		t.Fatalf("accelerator.New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// exerciseCache runs every path of the cache that touches Redis through remote, with
// keys under prefix: loads written back (Get, MGet), L2 reads by a second instance,
// negative entries, Set, MSet, Del and MDel, and cross-instance invalidation. It
// fails the test on any error and checks that no remote call failed.
func exerciseCache(t *testing.T, remote backend.Remote, prefix string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var src sourceOfTruth
	// a and c are replicas with both layers, which invalidate each other's L1; b
	// reads Redis only, so that every read of b proves what Redis holds.
	a := newTestCache(t, src.options(remote, prefix, accelerator.ModeBoth))
	b := newTestCache(t, src.options(remote, prefix, accelerator.ModeRemote))
	c := newTestCache(t, src.options(remote, prefix, accelerator.ModeBoth))
	waitSubscribed(t, a, c)

	get := func(c *accelerator.Cache[int64, string], id int64, opts ...accelerator.ReadOption) (string, bool) {
		t.Helper()
		v, found, err := c.Get(ctx, id, opts...)
		if err != nil {
			t.Fatalf("Get(%d) = %v", id, err)
		}
		return v, found
	}

	if v, found := get(a, 1); !found || v != "user-1" {
		t.Fatalf("a.Get(1) = %q, %v; want user-1 loaded", v, found)
	}
	if v, found := get(b, 1, accelerator.DisableLoad()); !found || v != "user-1" {
		t.Fatalf("b.Get(1) without loading = %q, %v; want user-1 from Redis", v, found)
	}

	ids := []int64{1, 2, 3, 4, 5, 1001}
	got, err := a.MGet(ctx, ids)
	if err != nil {
		t.Fatalf("a.MGet = %v", err)
	}
	want := map[int64]string{1: "user-1", 2: "user-2", 3: "user-3", 4: "user-4", 5: "user-5"}
	if !maps.Equal(got, want) {
		t.Fatalf("a.MGet = %v, want %v", got, want)
	}
	if got, err := b.MGet(ctx, ids, accelerator.DisableLoad()); err != nil || !maps.Equal(got, want) {
		t.Fatalf("b.MGet without loading = %v, %v; want %v from Redis", got, err, want)
	}
	// 1001 is not at the source: the negative entry a wrote answers b.
	if _, found := get(b, 1001); found {
		t.Fatal("b.Get(1001) found a value the source does not have")
	}
	if n, m := src.loads.Load(), src.mloads.Load(); n != 1 || m != 1 {
		t.Fatalf("loader calls = %d Load, %d MLoad; want 1 and 1 (everything else from Redis)", n, m)
	}

	if err := a.Set(ctx, 10, "ten"); err != nil {
		t.Fatalf("a.Set = %v", err)
	}
	if err := a.MSet(ctx, map[int64]string{11: "eleven", 12: "twelve"}); err != nil {
		t.Fatalf("a.MSet = %v", err)
	}
	got, err = b.MGet(ctx, []int64{10, 11, 12}, accelerator.DisableLoad())
	if err != nil || !maps.Equal(got, map[int64]string{10: "ten", 11: "eleven", 12: "twelve"}) {
		t.Fatalf("b.MGet after Set and MSet = %v, %v", got, err)
	}
	if err := a.Del(ctx, 10); err != nil {
		t.Fatalf("a.Del = %v", err)
	}
	if err := a.MDel(ctx, []int64{11, 12}); err != nil {
		t.Fatalf("a.MDel = %v", err)
	}
	got, err = b.MGet(ctx, []int64{10, 11, 12}, accelerator.DisableLoad())
	if err != nil || len(got) != 0 {
		t.Fatalf("b.MGet after Del and MDel = %v, %v; want nothing", got, err)
	}

	// c holds user 2 in its L1; a's write reaches it through the invalidation
	// channel, not through an expiry (LocalTTL is a minute).
	if v, found := get(c, 2); !found || v != "user-2" {
		t.Fatalf("c.Get(2) = %q, %v", v, found)
	}
	if err := a.Set(ctx, 2, "renamed"); err != nil {
		t.Fatalf("a.Set(2) = %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, _ := get(c, 2, accelerator.DisableLoad())
		if v == "renamed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("c still reads %q 5s after a wrote user 2: no invalidation arrived", v)
		}
		time.Sleep(5 * time.Millisecond)
	}

	for name, c := range map[string]*accelerator.Cache[int64, string]{"a": a, "b": b, "c": c} {
		if m := c.MetricsSnapshot(); m.RemoteErrors != 0 || m.DecodeErrors != 0 {
			t.Errorf("cache %s: %d remote errors, %d decode errors; want none", name, m.RemoteErrors, m.DecodeErrors)
		}
	}
}

// waitSubscribed waits until the invalidation subscriber of every cache is
// connected: the first subscription drops L1, which would turn an L1 hit into a miss.
func waitSubscribed(t *testing.T, caches ...*accelerator.Cache[int64, string]) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, c := range caches {
		for !c.SubscriberState().Connected {
			if time.Now().After(deadline) {
				t.Fatalf("invalidation subscriber not connected after 5s: %+v", c.SubscriberState())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// expectKeysUnder checks that s holds some keys and that every one starts with one
// of prefixes.
func expectKeysUnder(t *testing.T, s *redistest.Server, prefixes ...string) {
	t.Helper()
	reply, _ := s.Do(t, "KEYS", "*").([]any)
	if len(reply) == 0 {
		t.Fatalf("no keys in %s after the cache ran", s.Addr())
	}
	var outside []string
	for _, k := range reply {
		key, _ := k.(string)
		if !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(key, p) }) {
			outside = append(outside, key)
		}
	}
	if len(outside) != 0 {
		t.Errorf("%d of %d keys are not under %q, such as %q", len(outside), len(reply), prefixes, outside[0])
	}
}

// pubSubRoundTrip subscribes to channel through r, publishes one message and waits
// for it.
func pubSubRoundTrip(t *testing.T, r *rueidisremote.Remote, channel string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	events := make(chan backend.Event, 4)
	done := make(chan error, 1)
	go func() {
		done <- r.Subscribe(ctx, channel, func(ev backend.Event) {
			ev.Payload = slices.Clone(ev.Payload)
			events <- ev
		})
	}()
	for {
		select {
		case ev := <-events:
			switch ev.Kind {
			case backend.EventSubscribed:
				if err := r.Publish(ctx, channel, []byte("invalidate 1")); err != nil {
					t.Fatalf("Publish(%q) = %v", channel, err)
				}
				continue
			case backend.EventMessage:
				if string(ev.Payload) != "invalidate 1" {
					t.Fatalf("message = %q, want %q", ev.Payload, "invalidate 1")
				}
			}
			cancel()
			<-done
			return
		case err := <-done:
			t.Fatalf("Subscribe(%q) returned %v before a message arrived", channel, err)
		case <-ctx.Done():
			t.Fatalf("no message on %q within 5s", channel)
		}
	}
}
