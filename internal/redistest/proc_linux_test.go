package redistest

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServerDiesWithTestBinary pins that a test binary killed outright (as by a
// timeout or SIGKILL, when no cleanup runs) takes its servers with it.
func TestServerDiesWithTestBinary(t *testing.T) {
	if os.Getenv("REDISTEST_ORPHAN") == "1" {
		s := Start(t)
		os.Stdout.WriteString("PID=" + strconv.Itoa(s.Pid()) + "\n")
		select {} // until the parent kills this process

	}
	RequireBinary(t, "redis-server")
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestServerDiesWithTestBinary$", "-test.v")
	cmd.Env = append(os.Environ(), "REDISTEST_ORPHAN=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	pid := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PID="); ok {
			pid, _ = strconv.Atoi(v)
			break
		}
	}
	if pid == 0 {
		t.Fatal("child test did not report a server pid")
	}
	if !alive(pid) {
		t.Fatalf("server %d not running in the child", pid)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for alive(pid) && !zombie(pid) {
		select {
		case <-deadline.C:
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("server %d outlived its killed test binary", pid)
		case <-tick.C:
		}
	}
}

// zombie reports whether pid has exited and waits for its (dead) parent's reaper.
func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}
