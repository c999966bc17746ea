package rueidisremote_test

// Connections to a secured Redis, against real redis-server and redis-sentinel
// processes: a password, a least-privilege ACL user on a standalone server and on a
// cluster, TLS with a CA made by the test (and mutual TLS), and Sentinel through a
// failover. docs/secure-redis.md documents what these tests prove; the ACL rules
// there are aclRules.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/internal/redistest"
	"github.com/accelerator-go/accelerator/internal/slot"
	"github.com/accelerator-go/accelerator/rueidisremote"
)

// The password of the default user, which the tests use as the administrator, and
// of the least-privilege user "app", whose keys and channels live under appPrefix.
const (
	adminPassword = "admin-pw"
	appPassword   = "app-pw"
	appPrefix     = "app:"
)

// TestPassword: a server with requirepass serves the cache through a
// redis://:password@host URL, and refuses a client with a wrong or no password at
// connect time.
func TestPassword(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t, redistest.WithPassword("s3cret"))
	r := newRemote(t, s.URL()) // redis://:s3cret@127.0.0.1:port
	exerciseCache(t, r, "pw:")
	expectKeysUnder(t, s, "pw:")

	_, err := rueidisremote.NewFromURL("redis://:wrong@" + s.Addr())
	expectRedisError(t, "NewFromURL with a wrong password", err, "WRONGPASS")
	_, err = rueidisremote.NewFromURL("redis://" + s.Addr())
	expectRedisError(t, "NewFromURL without a password", err, "NOAUTH")
}

// TestACLLeastPrivilege proves that the rules of aclRules are enough for every path
// of the cache and of the backend (RESP3 and RESP2), that the server refused nothing
// to the user on the way, and that the user can do nothing else: no command outside
// the list, no key or channel outside its prefix.
func TestACLLeastPrivilege(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t, redistest.WithPassword(adminPassword))
	setUser(t, s, "app", aclRules(t, s, appPassword, appPrefix, standalone))
	// The conformance suite keeps its keys and channels under "backendtest:".
	setUser(t, s, "conformance", aclRules(t, s, appPassword, "backendtest:", standalone))
	url := s.UserURL("app", appPassword) // redis://app:app-pw@127.0.0.1:port

	for _, proto := range []string{"RESP3", "RESP2"} {
		t.Run(proto, func(t *testing.T) {
			query := ""
			if proto == "RESP2" {
				query = "?protocol=2"
			}
			r := newRemote(t, url+query)
			exerciseCache(t, r, appPrefix+proto+":")
			pubSubRoundTrip(t, r, appPrefix+proto+":invalidate:users")
			runConformance(t, newRemote(t, s.UserURL("conformance", appPassword)+query))
		})
	}
	// rueidis' keep-alive PING runs every second: give it a chance to be refused.
	time.Sleep(1100 * time.Millisecond)
	expectACLLogEmpty(t, s)
	expectKeysUnder(t, s, appPrefix, "backendtest:")

	t.Run("Refused", func(t *testing.T) {
		r := newRemote(t, url)
		ctx := context.Background()
		c := r.Client()
		for _, tc := range []struct {
			what string
			cmd  rueidis.Completed
		}{
			{"FLUSHALL", c.B().Flushall().Build()},
			{"KEYS *", c.B().Keys().Pattern("*").Build()},
			{"CONFIG GET", c.B().ConfigGet().Parameter("maxmemory").Build()},
			{"INCR of a key under the prefix", c.B().Incr().Key(appPrefix + "counter").Build()},
			{"GET outside the prefix", c.B().Get().Key("other:users:1").Build()},
			{"SET outside the prefix", c.B().Set().Key("other:users:1").Value("x").Build()},
			{"PUBLISH outside the prefix", c.B().Publish().Channel("other:invalidate").Message("x").Build()},
		} {
			expectNoPerm(t, tc.what, c.Do(ctx, tc.cmd).Error())
		}

		// A cache whose KeyPrefix is outside the user's keys fails every remote call,
		// and the read falls through to the loader.
		var src sourceOfTruth
		cache := newTestCache(t, src.options(r, "other:", accelerator.ModeBoth))
		expectNoPerm(t, "cache Set under another prefix", cache.Set(ctx, 1, "x"))
		if v, found, err := cache.Get(ctx, 2); err != nil || !found || v != "user-2" {
			t.Errorf("cache Get under another prefix = %q, %v, %v; want user-2 from the loader", v, found, err)
		}
		if m := cache.MetricsSnapshot(); m.RemoteErrors == 0 {
			t.Error("no remote error counted for the refused calls")
		}

		refused := make(map[string]bool)
		for _, e := range s.ACLLog(t) {
			refused[e.Reason+" "+e.Object] = true
		}
		for _, want := range []string{"command flushall", "command keys", "command config|get", "command incr", "key other:users:1", "channel other:invalidate"} {
			if !refused[want] {
				t.Errorf("ACL LOG lacks %q: %v", want, s.ACLLog(t))
			}
		}
	})
}

// TestACLCluster proves the cluster rules of aclRules on a 3-master cluster: the
// cache's batches, split by slot, and an ASK redirect during a slot migration, with
// the user defined on every node (ACLs are per node).
func TestACLCluster(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3, redistest.WithPassword(adminPassword))
	nodes := c.Nodes()
	for _, n := range nodes {
		setUser(t, n, "app", aclRules(t, n, appPassword, appPrefix, cluster))
	}
	r := newRemoteFromOptions(t, rueidis.ClientOption{
		InitAddress: c.Addrs(),
		Username:    "app",
		Password:    appPassword,
	})
	if got := r.Client().Mode(); got != rueidis.ClientModeCluster {
		t.Fatalf("Mode() = %v, want cluster", got)
	}
	exerciseCache(t, r, appPrefix)

	// Move the slot of key 7 from its node to the next one half-way: the owner
	// answers ASK for a key it does not have, and rueidis sends ASKING to the
	// importing node before the command.
	key := appPrefix + "users:7"
	s := slot.Of(key)
	from := int(s) * len(nodes) / 16384
	to := (from + 1) % len(nodes)
	fromID, _ := nodes[from].Do(t, "CLUSTER", "MYID").(string)
	toID, _ := nodes[to].Do(t, "CLUSTER", "MYID").(string)
	nodes[to].Do(t, "CLUSTER", "SETSLOT", strconv.Itoa(int(s)), "IMPORTING", fromID)
	nodes[from].Do(t, "CLUSTER", "SETSLOT", strconv.Itoa(int(s)), "MIGRATING", toID)

	var src sourceOfTruth
	cache := newTestCache(t, src.options(r, appPrefix, accelerator.ModeRemote))
	ctx := context.Background()
	if err := cache.Set(ctx, 7, "seven"); err != nil {
		t.Fatalf("Set during the migration = %v", err)
	}
	if v, found, err := cache.Get(ctx, 7, accelerator.DisableLoad()); err != nil || !found || v != "seven" {
		t.Fatalf("Get during the migration = %q, %v, %v; want seven", v, found, err)
	}
	if n := nodes[to].Do(t, "CLUSTER", "COUNTKEYSINSLOT", strconv.Itoa(int(s))); n != int64(1) {
		t.Fatalf("importing node holds %v keys of slot %d, want 1 (the SET went there through ASK)", n, s)
	}
	if got := nodes[to].CommandStats(t)["asking"].Calls; got == 0 {
		t.Fatal("no ASKING reached the importing node")
	}

	for _, n := range nodes {
		expectACLLogEmpty(t, n)
	}
}

// TestTLS: the cache over TLS to a server whose certificate a CA made by the test
// signed: through NewFromOptions with a tls.Config that trusts the CA, and through a
// rediss:// URL parsed by rueidis.ParseURL with the CA added. NewFromURL alone trusts
// the system's roots only and must refuse the certificate; a plain client must not
// get through the TLS port.
func TestTLS(t *testing.T) {
	t.Parallel()
	certs := redistest.NewCerts(t)
	s := redistest.StartTLS(t, certs, redistest.WithPassword("s3cret"))

	t.Run("NewFromOptions", func(t *testing.T) {
		r := newRemoteFromOptions(t, rueidis.ClientOption{
			InitAddress: []string{s.TLSAddr()},
			Password:    "s3cret",
			TLSConfig:   certs.ClientConfig(),
		})
		exerciseCache(t, r, "tls:")
		runConformance(t, r)
	})
	t.Run("RedissURL", func(t *testing.T) {
		opt, err := rueidis.ParseURL(s.TLSURL()) // rediss://:s3cret@127.0.0.1:port
		if err != nil {
			t.Fatalf("ParseURL(%q) = %v", s.TLSURL(), err)
		}
		opt.TLSConfig.RootCAs = certs.Pool
		exerciseCache(t, newRemoteFromOptions(t, opt), "tls-url:")
	})
	t.Run("SystemRootsRefuseTheCA", func(t *testing.T) {
		_, err := rueidisremote.NewFromURL(s.TLSURL())
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Fatalf("NewFromURL(%q) = %v, want an unknown authority error", s.TLSURL(), err)
		}
	})
	t.Run("PlainClientRefused", func(t *testing.T) {
		r, err := rueidisremote.NewFromURL("redis://:s3cret@" + s.TLSAddr() + "?dial_timeout=2s")
		if err == nil {
			r.Close()
			t.Fatal("a plain-text client connected to the TLS port")
		}
	})
	expectKeysUnder(t, s.Server, "tls:", "tls-url:", "backendtest:")
}

// TestMutualTLS: with --tls-auth-clients yes the server refuses a client without a
// certificate and serves one that presents a certificate the CA signed.
func TestMutualTLS(t *testing.T) {
	t.Parallel()
	certs := redistest.NewCerts(t)
	s := redistest.StartTLS(t, certs, redistest.WithArgs("--tls-auth-clients", "yes"))

	opt := rueidis.ClientOption{InitAddress: []string{s.TLSAddr()}, TLSConfig: certs.ClientConfig()}
	r, err := rueidisremote.NewFromOptions(opt)
	if err == nil {
		r.Close()
		t.Fatal("a client without a certificate connected")
	}

	opt.TLSConfig = certs.ClientConfig()
	opt.TLSConfig.Certificates = []tls.Certificate{certs.ClientCert}
	exerciseCache(t, newRemoteFromOptions(t, opt), "mtls:")
}

// TestSentinelFailover: a Remote connected through Sentinel, as the least-privilege
// user, keeps serving the cache across SENTINEL FAILOVER: once the sentinel has
// switched the master, writes go to the promoted replica and values written before
// the failover are still read.
func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	const masterSet = "mymaster"
	// Both nodes need the password and masterauth: the demoted master replicates
	// from the promoted one.
	master := redistest.Start(t, redistest.WithPassword(adminPassword), redistest.WithArgs("--masterauth", adminPassword))
	replica := redistest.StartReplica(t, master, redistest.WithPassword(adminPassword))
	for _, n := range []*redistest.Server{master, replica} {
		setUser(t, n, "app", aclRules(t, n, appPassword, appPrefix, sentinel)) // ACLs are per node
	}
	sent := redistest.StartSentinel(t, masterSet, master)
	waitSentinelSeesReplica(t, sent, masterSet, replica)

	r := newRemote(t, "redis://app:"+appPassword+"@"+sent.Addr()+"?master_set="+masterSet)
	if got := r.Client().Mode(); got != rueidis.ClientModeSentinel {
		t.Fatalf("Mode() = %v, want sentinel", got)
	}
	waitSentinelSubscriber(t, sent)

	var src sourceOfTruth
	cache := newTestCache(t, src.options(r, appPrefix, accelerator.ModeRemote))
	ctx := context.Background()
	if err := cache.Set(ctx, 1, "before"); err != nil {
		t.Fatalf("Set before the failover = %v", err)
	}
	if got := master.Do(t, "WAIT", "1", "5000"); got != int64(1) {
		t.Fatalf("WAIT = %v, want the replica to acknowledge", got)
	}

	failover(t, sent, masterSet)
	waitMaster(t, sent, masterSet, replica)

	// Until rueidis learns of the switch (+switch-master), its writes reach the
	// demoted master and fail; then they go to the promoted replica.
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := cache.Set(ctx, 2, "after")
		if err == nil && replica.Do(t, "GET", appPrefix+"users:2") != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes do not reach the promoted master within 20s: last error %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// From then on, every call works.
	for i := range 20 {
		if v, found, err := cache.Get(ctx, 1, accelerator.DisableLoad()); err != nil || !found || v != "before" {
			t.Fatalf("Get(1) #%d after the failover = %q, %v, %v; want the value written before it", i, v, found, err)
		}
		id := int64(100 + i)
		if err := cache.Set(ctx, id, "x"); err != nil {
			t.Fatalf("Set(%d) after the failover = %v", id, err)
		}
	}
	got, err := cache.MGet(ctx, []int64{1, 2, 3})
	if err != nil || got[1] != "before" || got[2] != "after" || got[3] != "user-3" {
		t.Fatalf("MGet after the failover = %v, %v", got, err)
	}
	before := replica.Do(t, "GET", appPrefix+"users:1")
	if err := cache.Del(ctx, 1); err != nil {
		t.Fatalf("Del after the failover = %v", err)
	}
	// The cache deletes by writing a short-lived tombstone (its fill guard).
	if after := replica.Do(t, "GET", appPrefix+"users:1"); after == before {
		t.Error("Del after the failover did not reach the promoted master")
	}
	if _, found, err := cache.Get(ctx, 1, accelerator.DisableLoad()); err != nil || found {
		t.Errorf("Get(1) after Del = %v, %v; want not found", found, err)
	}
	if got := replica.Role(t); got != "master" {
		t.Errorf("promoted replica reports role %q, want master", got)
	}
	for _, n := range []*redistest.Server{master, replica} {
		expectACLLogEmpty(t, n)
	}
}

// waitSentinelSeesReplica waits until the sentinel lists replica as a healthy replica
// of masterSet: SENTINEL FAILOVER needs one to promote.
func waitSentinelSeesReplica(t *testing.T, sent *redistest.Server, masterSet string, replica *redistest.Server) {
	t.Helper()
	port := strconv.Itoa(replica.Port())
	poll(t, 10*time.Second, "the sentinel to see the replica", func() bool {
		replicas, _ := sent.Do(t, "SENTINEL", "REPLICAS", masterSet).([]any)
		for _, r := range replicas {
			f := fieldMap(r)
			if f["port"] == port && f["flags"] == "slave" && f["master-link-status"] == "ok" {
				return true
			}
		}
		return false
	})
}

// waitSentinelSubscriber waits until a client of the sentinel is subscribed: rueidis
// learns of a failover from the sentinel's +switch-master message, so one sent before
// it listens would be missed (see SentinelOption.TopologyRefreshInterval).
func waitSentinelSubscriber(t *testing.T, sent *redistest.Server) {
	t.Helper()
	poll(t, 5*time.Second, "rueidis to subscribe to the sentinel", func() bool {
		list, _ := sent.Do(t, "CLIENT", "LIST").(string)
		for line := range strings.SplitSeq(list, "\n") {
			for field := range strings.FieldsSeq(line) {
				if n, ok := strings.CutPrefix(field, "sub="); ok && n != "0" {
					return true
				}
			}
		}
		return false
	})
}

// failover asks the sentinel to fail masterSet over, retrying while it has no
// replica it considers good yet.
func failover(t *testing.T, sent *redistest.Server, masterSet string) {
	t.Helper()
	var err error
	poll(t, 10*time.Second, "SENTINEL FAILOVER to be accepted", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = sent.Exec(ctx, "SENTINEL", "FAILOVER", masterSet)
		if err != nil {
			t.Logf("SENTINEL FAILOVER: %v", err)
		}
		return err == nil
	})
}

// waitMaster waits until the sentinel names want as the master of masterSet.
func waitMaster(t *testing.T, sent *redistest.Server, masterSet string, want *redistest.Server) {
	t.Helper()
	poll(t, 20*time.Second, "the sentinel to switch the master", func() bool {
		addr, _ := sent.Do(t, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", masterSet).([]any)
		return len(addr) == 2 && addr[1] == strconv.Itoa(want.Port())
	})
}

// poll calls cond until it holds, failing the test after timeout.
func poll(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fieldMap turns a flat reply [k1 v1 k2 v2 ...] into a map of its string values.
func fieldMap(reply any) map[string]string {
	fields, _ := reply.([]any)
	out := make(map[string]string, len(fields)/2)
	for i := 0; i+1 < len(fields); i += 2 {
		k, _ := fields[i].(string)
		v, _ := fields[i+1].(string)
		out[k] = v
	}
	return out
}
