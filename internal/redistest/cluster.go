package redistest

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// Cluster is a Redis Cluster of master nodes started by [StartCluster].
type Cluster struct {
	nodes []*Server
}

// StartCluster starts a Redis Cluster of masters master nodes without replicas, each
// a redis-server on free loopback ports, splits the 16384 hash slots evenly between
// them in node order, and waits until every node reports cluster_state:ok. The nodes
// are killed when the test ends.
//
// opts apply to every node.
func StartCluster(t testing.TB, masters int, opts ...Option) *Cluster {
	t.Helper()
	if masters < 1 {
		t.Fatalf("redistest: StartCluster needs at least one master, got %d", masters)
	}
	cfg := config{cluster: true}
	for _, opt := range opts {
		opt(&cfg)
	}
	c := &Cluster{nodes: make([]*Server, masters)}
	for i := range c.nodes {
		c.nodes[i] = start(t, cfg)
	}
	for i, n := range c.nodes {
		// Distinct epochs spare the nodes a round of epoch collision handling.
		n.Do(t, "CLUSTER", "SET-CONFIG-EPOCH", strconv.Itoa(i+1))
		first, last := i*slotCount/masters, (i+1)*slotCount/masters-1
		n.Do(t, "CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(first), strconv.Itoa(last))
	}
	for _, n := range c.nodes[1:] {
		c.nodes[0].Do(t, "CLUSTER", "MEET", "127.0.0.1", strconv.Itoa(n.port), strconv.Itoa(n.busPort))
	}
	c.WaitHealthy(t)
	return c
}

const slotCount = 16384

// WaitHealthy waits until every node reports cluster_state:ok, knows every other node
// and sees all slots served, failing the test after a bounded time.
func (c *Cluster) WaitHealthy(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(clusterTimeout)
	want := strconv.Itoa(len(c.nodes))
	for _, n := range c.nodes {
		for {
			info := n.clusterInfo(t)
			if info["cluster_state"] == "ok" && info["cluster_known_nodes"] == want &&
				info["cluster_slots_ok"] == strconv.Itoa(slotCount) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redistest: cluster node %s not healthy after %v: %v", n.Addr(), clusterTimeout, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func (s *Server) clusterInfo(t testing.TB) map[string]string {
	t.Helper()
	reply, _ := s.Do(t, "CLUSTER", "INFO").(string)
	out := make(map[string]string)
	for line := range strings.SplitSeq(reply, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = v
		}
	}
	return out
}

// Nodes returns the cluster's nodes; node i serves the i-th even share of the slots.
func (c *Cluster) Nodes() []*Server {
	return append([]*Server(nil), c.nodes...)
}

// Addrs returns the nodes' addresses, "127.0.0.1:port", in node order.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.Addr()
	}
	return out
}
