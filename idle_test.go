package accelerator_test

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/internal/clock"
)

// TestIdleCacheSpendsNoCPU: a process with one open cache that nobody reads spends
// under a millisecond of CPU a second. It runs in a process of its own, so that the
// other tests' goroutines do not count.
func TestIdleCacheSpendsNoCPU(t *testing.T) {
	if os.Getenv("ACCELERATOR_IDLE_CHILD") == "1" {
		idleChild(t)
		return
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleCacheSpendsNoCPU$", "-test.v")
	cmd.Env = append(os.Environ(), "ACCELERATOR_IDLE_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the idle process failed: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "CPU while idle") {
			t.Log(strings.TrimSpace(line))
		}
	}
}

func idleChild(t *testing.T) {
	c, err := accelerator.New(accelerator.Options[string, int]{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	for i := range 1000 {
		c.Set(ctx, strconv.Itoa(i), i)
		c.Get(ctx, strconv.Itoa(i))
	}
	// The clock goes on ticking for IdleAfter after the last read; once it has
	// stopped the process is idle, and its CPU time is measured over a window of its
	// own.
	shared, release := clock.Acquire() // the cache's own clock: Acquire shares one
	defer release()
	waitFor(t, "the coarse clock to stop after IdleAfter without a read", func() bool { return !shared.Running() })
	const window = 3 * time.Second
	before := cpuTime(t)
	<-time.After(window)
	spent := cpuTime(t) - before
	perSecond := spent / time.Duration(window/time.Second)
	t.Logf("CPU while idle: %v a second (%v over %v)", perSecond, spent, window)
	if perSecond >= time.Millisecond {
		t.Fatalf("an idle process with one open cache spends %v of CPU a second, want under 1ms", perSecond)
	}
}

func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
