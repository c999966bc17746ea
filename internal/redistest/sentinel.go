package redistest

import (
	"fmt"
	"testing"
	"time"
)

// StartSentinel starts a Redis Sentinel on a free loopback port that monitors master
// under the name masterName with a quorum of one, and waits until it reports master's
// address. It is killed when the test ends.
//
// opts apply to the sentinel itself; WithPassword there protects the sentinel, while
// a password of master is passed on to the sentinel automatically.
func StartSentinel(t testing.TB, masterName string, master *Server, opts ...Option) *Server {
	t.Helper()
	cfg := config{sentinel: fmt.Sprintf(
		"sentinel monitor %s 127.0.0.1 %d 1\n"+
			"sentinel down-after-milliseconds %[1]s 1000\n"+
			"sentinel failover-timeout %[1]s 2000\n",
		masterName, master.Port())}
	if master.password != "" {
		cfg.sentinel += fmt.Sprintf("sentinel auth-pass %s %s\n", masterName, master.password)
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	s := start(t, cfg)
	deadline := time.Now().Add(startTimeout)
	for {
		addr, _ := s.Do(t, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", masterName).([]any)
		if len(addr) == 2 && addr[0] == "127.0.0.1" && addr[1] == fmt.Sprint(master.Port()) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: sentinel %s does not report master %s: %v", s.Addr(), master.Addr(), addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
