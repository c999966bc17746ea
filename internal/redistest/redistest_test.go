package redistest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestStart(t *testing.T) {
	t.Parallel()
	s := Start(t)

	if got, want := s.Addr(), "127.0.0.1:"+strconv.Itoa(s.Port()); got != want {
		t.Errorf("Addr() = %q, want %q", got, want)
	}
	if got, want := s.URL(), "redis://"+s.Addr(); got != want {
		t.Errorf("URL() = %q, want %q", got, want)
	}
	if got := s.Do(t, "PING"); got != "PONG" {
		t.Errorf("PING = %#v, want PONG", got)
	}
	s.Do(t, "SET", "k", "v\x00w")
	if got := s.Do(t, "GET", "k"); got != "v\x00w" {
		t.Errorf("GET k = %#v, want %q", got, "v\x00w")
	}
	if got := s.Do(t, "GET", "absent"); got != nil {
		t.Errorf("GET absent = %#v, want nil", got)
	}
	if got := s.Do(t, "INCRBY", "n", "41"); got != int64(41) {
		t.Errorf("INCRBY = %#v, want 41", got)
	}
	s.Do(t, "RPUSH", "l", "a", "b")
	got, ok := s.Do(t, "LRANGE", "l", "0", "-1").([]any)
	if !ok || len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("LRANGE = %#v, want [a b]", got)
	}
	if got := s.Info(t, "server")["process_id"]; got != strconv.Itoa(s.Pid()) {
		t.Errorf("process_id = %q, want %d", got, s.Pid())
	}
	// The server runs without persistence.
	if got := s.Do(t, "CONFIG", "GET", "save").([]any); got[1] != "" {
		t.Errorf("CONFIG GET save = %#v, want empty", got)
	}
}

func TestExecErrorReply(t *testing.T) {
	t.Parallel()
	s := Start(t)
	_, err := s.Exec(context.Background(), "NOSUCHCOMMAND")
	var re ReplyError
	if !errors.As(err, &re) || !strings.HasPrefix(string(re), "ERR") {
		t.Fatalf("Exec(NOSUCHCOMMAND) error = %v, want an ERR ReplyError", err)
	}
}

func TestWithPassword(t *testing.T) {
	t.Parallel()
	s := Start(t, WithPassword("s3cret"))
	if got := s.Do(t, "PING"); got != "PONG" {
		t.Fatalf("PING = %#v, want PONG", got)
	}
	if got, want := s.URL(), "redis://:s3cret@"+s.Addr(); got != want {
		t.Errorf("URL() = %q, want %q", got, want)
	}
	anon := &Server{port: s.port}
	_, err := anon.Exec(context.Background(), "PING")
	var re ReplyError
	if !errors.As(err, &re) || !strings.HasPrefix(string(re), "NOAUTH") {
		t.Errorf("PING without AUTH error = %v, want NOAUTH", err)
	}
}

func TestWithArgs(t *testing.T) {
	t.Parallel()
	s := Start(t, WithArgs("--maxmemory", "12mb"))
	got := s.Do(t, "CONFIG", "GET", "maxmemory").([]any)
	if got[1] != strconv.Itoa(12<<20) {
		t.Errorf("maxmemory = %#v, want %d", got[1], 12<<20)
	}
}

// TestCleanupKillsServer pins that no redis-server outlives the test that started it.
func TestCleanupKillsServer(t *testing.T) {
	t.Parallel()
	var pid int
	t.Run("inner", func(t *testing.T) {
		pid = Start(t).Pid()
	})
	if pid == 0 {
		t.Fatal("inner test did not start a server")
	}
	if alive(pid) {
		t.Errorf("redis-server %d still runs after its test ended", pid)
	}
}

func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

func TestKillRestart(t *testing.T) {
	t.Parallel()
	s := Start(t)
	port, oldPid := s.Port(), s.Pid()
	s.Do(t, "SET", "k", "v")

	s.Kill()
	if alive(oldPid) {
		t.Fatalf("process %d alive after Kill", oldPid)
	}
	if s.Pid() != 0 {
		t.Errorf("Pid() = %d after Kill, want 0", s.Pid())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := s.Exec(ctx, "PING"); err == nil {
		t.Fatal("PING succeeded after Kill")
	}
	s.Kill() // idempotent

	s.Restart(t)
	if s.Port() != port {
		t.Errorf("port after Restart = %d, want %d", s.Port(), port)
	}
	if s.Pid() == oldPid || s.Pid() == 0 {
		t.Errorf("Pid() after Restart = %d, old %d", s.Pid(), oldPid)
	}
	if got := s.Do(t, "GET", "k"); got != nil {
		t.Errorf("GET k after Restart = %#v, want nil (no persistence)", got)
	}
	// Restart of a running server replaces it.
	s.Restart(t)
	if got := s.Do(t, "PING"); got != "PONG" {
		t.Errorf("PING = %#v, want PONG", got)
	}
}

func TestStopCont(t *testing.T) {
	t.Parallel()
	s := Start(t)
	s.Stop(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := s.Exec(ctx, "PING"); err == nil {
		t.Fatal("PING answered by a stopped server")
	}
	s.Cont(t)
	if got := s.Do(t, "PING"); got != "PONG" {
		t.Errorf("PING after Cont = %#v, want PONG", got)
	}
	// A stopped server must still die at cleanup: SIGKILL works on stopped processes.
	s.Stop(t)
}

func TestParallelStartsGetDistinctPorts(t *testing.T) {
	t.Parallel()
	const n = 6
	var (
		mu    sync.Mutex
		ports = make(map[int]bool)
	)
	t.Run("group", func(t *testing.T) {
		for i := range n {
			t.Run(strconv.Itoa(i), func(t *testing.T) {
				t.Parallel()
				s := Start(t)
				s.Do(t, "PING")
				mu.Lock()
				ports[s.Port()] = true
				mu.Unlock()
			})
		}
	})
	if len(ports) != n {
		t.Errorf("got %d distinct ports for %d servers", len(ports), n)
	}
}

func TestCommandAndErrorStats(t *testing.T) {
	t.Parallel()
	s := Start(t)
	s.Do(t, "SET", "a", "1")
	s.Do(t, "MGET", "a", "b")
	s.Do(t, "MGET", "a")
	_, _ = s.Exec(context.Background(), "GET") // wrong number of arguments: rejected

	stats := s.CommandStats(t)
	if got := stats["mget"].Calls; got != 2 {
		t.Errorf("mget calls = %d, want 2", got)
	}
	if got := stats["set"].Calls; got != 1 {
		t.Errorf("set calls = %d, want 1", got)
	}
	if got := stats["get"]; got.Calls != 0 || got.RejectedCalls != 1 {
		t.Errorf("get stats = %+v, want 0 calls and 1 rejected", got)
	}
	if got := s.ErrorStats(t)["ERR"]; got != 1 {
		t.Errorf("ERR count = %d, want 1", got)
	}
}

func TestStartCluster(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, 3)
	if len(c.Nodes()) != 3 || len(c.Addrs()) != 3 {
		t.Fatalf("got %d nodes, %d addrs, want 3", len(c.Nodes()), len(c.Addrs()))
	}
	for i, n := range c.Nodes() {
		if c.Addrs()[i] != n.Addr() {
			t.Errorf("Addrs()[%d] = %s, want %s", i, c.Addrs()[i], n.Addr())
		}
		if got := n.Info(t, "cluster")["cluster_enabled"]; got != "1" {
			t.Errorf("node %d cluster_enabled = %q", i, got)
		}
		slots := n.Do(t, "CLUSTER", "SLOTS").([]any)
		if len(slots) != 3 {
			t.Errorf("node %d sees %d slot ranges, want 3", i, len(slots))
		}
	}
	// "foo" hashes to slot 12182, served by the third node; the others redirect.
	c.Nodes()[2].Do(t, "SET", "foo", "bar")
	_, err := c.Nodes()[0].Exec(context.Background(), "GET", "foo")
	var re ReplyError
	if !errors.As(err, &re) || !strings.HasPrefix(string(re), "MOVED 12182 "+c.Addrs()[2]) {
		t.Errorf("GET foo on node 0: %v, want MOVED 12182 %s", err, c.Addrs()[2])
	}
	// A cluster node restarted on its port rejoins with its identity.
	c.Nodes()[1].Restart(t)
	c.WaitHealthy(t)
}

func TestRequireBinary(t *testing.T) {
	if os.Getenv("REDISTEST_HELPER") == "1" {
		RequireBinary(t, "accelerator-no-such-binary")
		return
	}
	t.Run("found", func(t *testing.T) {
		if got := RequireBinary(t, "redis-server"); !strings.HasSuffix(got, "redis-server") {
			t.Errorf("RequireBinary = %q", got)
		}
	})

	t.Setenv(EnvRequireIntegration, "")
	var inner *testing.T
	t.Run("missing skips", func(t *testing.T) {
		inner = t
		RequireBinary(t, "accelerator-no-such-binary")
		t.Error("RequireBinary returned for a missing binary")
	})
	if !inner.Skipped() {
		t.Error("missing binary did not skip")
	}

	// With the variable set, a missing binary fails: run this test again in a child
	// process, whose failure is the expected outcome.
	cmd := exec.Command(os.Args[0], "-test.run=^TestRequireBinary$", "-test.v")
	cmd.Env = append(os.Environ(), "REDISTEST_HELPER=1", EnvRequireIntegration+"=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("child with %s=1: err = %v, want a failing exit; output:\n%s", EnvRequireIntegration, err, out)
	}
	if !strings.Contains(string(out), "not found on PATH") || !strings.Contains(string(out), "--- FAIL") {
		t.Errorf("child output lacks the failure message:\n%s", out)
	}
}

func TestStartSentinel(t *testing.T) {
	t.Parallel()
	master := Start(t, WithPassword("pw"))
	s := StartSentinel(t, "mymaster", master)
	if got := s.Info(t, "server")["redis_mode"]; got != "sentinel" {
		t.Errorf("redis_mode = %q, want sentinel", got)
	}
	got := s.Do(t, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster").([]any)
	if got[0] != "127.0.0.1" || got[1] != strconv.Itoa(master.Port()) {
		t.Errorf("master addr = %v, want %s", got, master.Addr())
	}
}
