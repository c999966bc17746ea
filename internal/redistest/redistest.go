// Package redistest starts real redis-server processes for tests: a standalone server
// or a Redis Cluster, each on free loopback ports, in a temporary directory, without
// persistence, and killed when the test ends.
//
// Tests skip when redis-server is not on PATH, unless the environment variable
// ACCELERATOR_REQUIRE_INTEGRATION is "1", in which case they fail: CI sets it so that
// a missing binary cannot silently turn the integration tests into skips.
//
// A [Server] can be killed, frozen (SIGSTOP), thawed and restarted on the same port,
// which is what failure tests need; [Server.Do] sends admin commands such as FLUSHALL,
// CONFIG SET, INFO or CLIENT KILL over a plain RESP connection.
package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// EnvRequireIntegration names the environment variable that turns a missing binary
// into a test failure instead of a skip when it is set to "1".
const EnvRequireIntegration = "ACCELERATOR_REQUIRE_INTEGRATION"

const (
	// startTimeout bounds how long Start and Restart wait for a server to answer.
	startTimeout = 10 * time.Second
	// clusterTimeout bounds how long StartCluster waits for cluster_state:ok.
	clusterTimeout = 20 * time.Second
	// execTimeout bounds one [Server.Do] call.
	execTimeout = 5 * time.Second
)

// errAddrInUse reports that redis-server could not bind one of its ports.
var errAddrInUse = errors.New("redistest: address already in use")

// RequireBinary returns the path of the executable name found on PATH.
//
// When it is missing, the test is skipped, or fails when [EnvRequireIntegration] is
// set to "1".
func RequireBinary(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv(EnvRequireIntegration) == "1" {
		t.Fatalf("redistest: %s not found on PATH, and %s=1 requires the integration tests to run: install it (apt-get install redis-server): %v",
			name, EnvRequireIntegration, err)
	}
	t.Skipf("redistest: %s not found on PATH; install it (apt-get install redis-server) or set %s=1 to make this a failure",
		name, EnvRequireIntegration)
	return ""
}

// Option configures [Start] and [StartCluster].
type Option func(*config)

type config struct {
	args     []string
	password string
	cluster  bool
	sentinel string // sentinel.conf contents; empty for a data server
}

// WithArgs appends command-line arguments to redis-server, such as
// "--maxmemory", "1mb".
func WithArgs(args ...string) Option {
	return func(c *config) { c.args = append(c.args, args...) }
}

// WithPassword makes the server require password (--requirepass); [Server.Do] and
// [Server.URL] then authenticate with it.
func WithPassword(password string) Option {
	return func(c *config) { c.password = password }
}

// Server is one redis-server process started by [Start].
//
// Its methods are safe for concurrent use.
type Server struct {
	bin      string
	dir      string
	port     int
	busPort  int    // cluster bus port, zero outside a cluster
	conf     string // config file given before the arguments, for a sentinel
	args     []string
	password string

	mu   sync.Mutex
	proc *process
}

// process is one run of redis-server.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd.Wait returned
}

// Start starts a redis-server on a free loopback port and waits until it answers. The
// server keeps no data on disk and is killed when the test and its subtests end.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var cfg config
	for _, opt := range opts {
		opt(&cfg)
	}
	return start(t, cfg)
}

func start(t testing.TB, cfg config) *Server {
	t.Helper()
	s := &Server{
		bin:      RequireBinary(t, "redis-server"),
		dir:      t.TempDir(),
		args:     cfg.args,
		password: cfg.password,
	}
	// Registered after TempDir, so it runs first: the process dies before its
	// directory is removed.
	t.Cleanup(s.Kill)
	if cfg.sentinel != "" {
		s.conf = filepath.Join(s.dir, "sentinel.conf")
		if err := os.WriteFile(s.conf, []byte(cfg.sentinel), 0o600); err != nil {
			t.Fatalf("redistest: write sentinel config: %v", err)
		}
	}
	deadline := time.Now().Add(startTimeout)
	for {
		s.port = freePort(t)
		if cfg.cluster {
			s.busPort = freePort(t)
		}
		err := s.launch(deadline)
		if err == nil {
			return s
		}
		// Another process took the port between freePort and bind: try another.
		if !errors.Is(err, errAddrInUse) || time.Now().After(deadline) {
			t.Fatalf("redistest: start redis-server: %v", err)
		}
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: find a free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatalf("redistest: find a free port: %v", err)
	}
	return port
}

// launch starts redis-server on s.port and waits until it answers or deadline.
func (s *Server) launch(deadline time.Time) error {
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--logfile", "",
	}
	if s.busPort != 0 {
		args = append(args,
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000",
			"--cluster-port", strconv.Itoa(s.busPort),
			"--cluster-announce-ip", "127.0.0.1",
		)
	}
	if s.password != "" {
		args = append(args, "--requirepass", s.password)
	}
	args = append(args, s.args...)
	if s.conf != "" {
		args = append([]string{s.conf, "--sentinel"}, args...)
	}

	log, err := os.OpenFile(filepath.Join(s.dir, "redis.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close() // the child holds its own descriptor
	offset, err := log.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}

	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	cmd.Stdout = log
	cmd.Stderr = log
	if err := startProcess(cmd); err != nil {
		return err
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()

	err = s.waitReady(p, deadline)
	if err == nil {
		return nil
	}
	s.Kill()
	out := s.logSince(offset)
	if strings.Contains(out, "Address already in use") {
		return fmt.Errorf("%w: port %d or %d", errAddrInUse, s.port, s.busPort)
	}
	return fmt.Errorf("%w; log:\n%s", err, out)
}

// waitReady polls the server until it answers as the process p, p exits, or deadline
// passes. Checking the process id guards against talking to another test's server
// that grabbed the same port.
func (s *Server) waitReady(p *process, deadline time.Time) error {
	want := "process_id:" + strconv.Itoa(p.cmd.Process.Pid) + "\r\n"
	var last error
	for {
		select {
		case <-p.exited:
			return fmt.Errorf("redis-server exited: %v", p.cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server did not answer on %s within %v: %v", s.Addr(), startTimeout, last)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		reply, err := s.Exec(ctx, "INFO", "server")
		cancel()
		if info, ok := reply.(string); ok && err == nil && strings.Contains(info, want) {
			return nil
		}
		last = err
		time.Sleep(10 * time.Millisecond)
	}
}

// logSince returns what the server logged after offset.
func (s *Server) logSince(offset int64) string {
	b, err := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	if err != nil || offset > int64(len(b)) {
		return ""
	}
	return string(b[offset:])
}

// Port returns the server's TCP port.
func (s *Server) Port() int { return s.port }

// Addr returns the server's address, "127.0.0.1:port".
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL returns a redis:// URL for the server, with the password if it has one.
func (s *Server) URL() string {
	if s.password != "" {
		return "redis://:" + s.password + "@" + s.Addr()
	}
	return "redis://" + s.Addr()
}

// Pid returns the process id of the running server, or 0 when it is not running.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.cmd.Process.Pid
}

// Kill kills the server with SIGKILL and waits until it has exited. It does nothing
// when the server is not running.
func (s *Server) Kill() {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p == nil {
		return
	}
	_ = p.cmd.Process.Kill() // fails only when the process already exited
	<-p.exited
}

// Stop freezes the server with SIGSTOP: it keeps its connections open but answers
// nothing until [Server.Cont].
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.signal(t, sigStop)
}

// Cont resumes a server frozen by [Server.Stop].
func (s *Server) Cont(t testing.TB) {
	t.Helper()
	s.signal(t, sigCont)
}

func (s *Server) signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if sig == nil {
		t.Skip("redistest: freezing a process is not supported on this platform")
	}
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p == nil {
		t.Fatalf("redistest: signal %v: server %s is not running", sig, s.Addr())
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("redistest: signal %v to server %s: %v", sig, s.Addr(), err)
	}
}

// Restart kills the server if it runs, then starts it again on the same port, with
// the same arguments and directory, and waits until it answers. The new process
// starts empty: nothing is persisted. A cluster node keeps its identity, which is
// stored in its directory.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Kill()
	deadline := time.Now().Add(startTimeout)
	for {
		err := s.launch(deadline)
		if err == nil {
			return
		}
		if !errors.Is(err, errAddrInUse) || time.Now().After(deadline) {
			t.Fatalf("redistest: restart redis-server on %s: %v", s.Addr(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Do sends one command to the server and returns its reply, failing the test on an
// I/O error or an error reply. See [Server.Exec] for the reply types.
func (s *Server) Do(t testing.TB, args ...string) any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), execTimeout)
	defer cancel()
	reply, err := s.Exec(ctx, args...)
	if err != nil {
		t.Fatalf("redistest: %s on %s: %v", strings.Join(args, " "), s.Addr(), err)
	}
	return reply
}

// Exec sends one command to the server on a new connection and returns its reply: a
// string for simple and bulk strings, an int64 for integers, a []any for arrays and
// nil for a null reply. An error reply is returned as a [ReplyError] error.
//
// Unlike [Server.Do], Exec may be called from any goroutine.
func (s *Server) Exec(ctx context.Context, args ...string) (any, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.Addr())
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()

	r := bufio.NewReader(conn)
	w := bufio.NewWriter(conn)
	if s.password != "" {
		if _, err := roundTrip(r, w, []string{"AUTH", s.password}); err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
	}
	return roundTrip(r, w, args)
}

func roundTrip(r *bufio.Reader, w *bufio.Writer, args []string) (any, error) {
	if err := writeCommand(w, args); err != nil {
		return nil, err
	}
	reply, err := readReply(r)
	if err != nil {
		return nil, err
	}
	if e, ok := reply.(ReplyError); ok {
		return nil, e
	}
	return reply, nil
}

// Info returns the fields of INFO section as a map, such as "used_memory" or
// "cluster_state".
func (s *Server) Info(t testing.TB, section string) map[string]string {
	t.Helper()
	reply, ok := s.Do(t, "INFO", section).(string)
	if !ok {
		t.Fatalf("redistest: INFO %s on %s: reply is not a string", section, s.Addr())
	}
	return parseInfo(reply)
}

func parseInfo(info string) map[string]string {
	out := make(map[string]string)
	for line := range strings.SplitSeq(info, "\r\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = v
		}
	}
	return out
}

// CommandStat is one command's line of INFO commandstats.
type CommandStat struct {
	// Calls counts the executions of the command.
	Calls int64
	// RejectedCalls counts the calls refused before execution, such as a CROSSSLOT
	// or a wrong number of arguments.
	RejectedCalls int64
	// FailedCalls counts the executions that returned an error.
	FailedCalls int64
}

// CommandStats returns INFO commandstats keyed by lower-case command name, such as
// "get", "mget" or "client|kill". Commands never called are absent.
func (s *Server) CommandStats(t testing.TB) map[string]CommandStat {
	t.Helper()
	out := make(map[string]CommandStat)
	for k, v := range s.Info(t, "commandstats") {
		name, ok := strings.CutPrefix(k, "cmdstat_")
		if !ok {
			continue
		}
		fields := parseFields(v)
		out[name] = CommandStat{
			Calls:         fields["calls"],
			RejectedCalls: fields["rejected_calls"],
			FailedCalls:   fields["failed_calls"],
		}
	}
	return out
}

// ErrorStats returns INFO errorstats: how many error replies of each kind (the first
// word, such as "ERR", "WRONGTYPE" or "CROSSSLOT") the server sent.
func (s *Server) ErrorStats(t testing.TB) map[string]int64 {
	t.Helper()
	out := make(map[string]int64)
	for k, v := range s.Info(t, "errorstats") {
		if name, ok := strings.CutPrefix(k, "errorstat_"); ok {
			out[name] = parseFields(v)["count"]
		}
	}
	return out
}

// parseFields parses "a=1,b=2.5,c=3" keeping the integer fields.
func parseFields(v string) map[string]int64 {
	out := make(map[string]int64)
	for field := range strings.SplitSeq(v, ",") {
		k, val, ok := strings.Cut(field, "=")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(val, 10, 64); err == nil {
			out[k] = n
		}
	}
	return out
}
