package goredisremote_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/accelerator-go/accelerator/goredisremote"
	"github.com/accelerator-go/accelerator/internal/redistest"
)

// newClient starts a standalone server and returns it with a client, closed when the
// test ends.
func newClient(t testing.TB, opts ...func(*redis.Options)) (*redistest.Server, *redis.Client) {
	t.Helper()
	s := redistest.Start(t)
	o := &redis.Options{Addr: s.Addr(), ContextTimeoutEnabled: true}
	for _, opt := range opts {
		opt(o)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return s, c
}

// newClusterClient starts a 3-master cluster and returns it with a client, closed
// when the test ends.
func newClusterClient(t testing.TB, opts ...func(*redis.ClusterOptions)) (*redistest.Cluster, *redis.ClusterClient) {
	t.Helper()
	c := redistest.StartCluster(t, 3)
	o := &redis.ClusterOptions{Addrs: c.Addrs(), ContextTimeoutEnabled: true}
	for _, opt := range opts {
		opt(o)
	}
	cc := redis.NewClusterClient(o)
	t.Cleanup(func() { _ = cc.Close() })
	return c, cc
}

// newRing starts two standalone servers and returns them with a Ring over both,
// closed when the test ends.
func newRing(t testing.TB) ([]*redistest.Server, *redis.Ring) {
	t.Helper()
	a, b := redistest.Start(t), redistest.Start(t)
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": a.Addr(), "b": b.Addr()}, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = ring.Close() })
	return []*redistest.Server{a, b}, ring
}

// counter is a go-redis hook that counts the commands and pipelines a client sends,
// as seen by the caller: one Process per command, one ProcessPipeline per Exec.
type counter struct {
	commands  atomic.Int64
	pipelines atomic.Int64
}

func (c *counter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.commands.Add(1)
		return next(ctx, cmd)
	}
}

func (c *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.pipelines.Add(1)
		return next(ctx, cmds)
	}
}

func (c *counter) reset() {
	c.commands.Store(0)
	c.pipelines.Store(0)
}

// commandDelta runs f and returns how many calls of each command the servers saw
// meanwhile, summed over servers, and the calls the servers rejected.
func commandDelta(t *testing.T, servers []*redistest.Server, f func()) (calls map[string]int64, rejected int64) {
	t.Helper()
	before := make([]map[string]redistest.CommandStat, len(servers))
	for i, s := range servers {
		before[i] = s.CommandStats(t)
	}
	f()
	calls = make(map[string]int64)
	for i, s := range servers {
		for name, st := range s.CommandStats(t) {
			calls[name] += st.Calls - before[i][name].Calls
			rejected += st.RejectedCalls - before[i][name].RejectedCalls
		}
	}
	// INFO itself is counted on the second read.
	calls["info"] -= int64(len(servers))
	return calls, rejected
}

// mustNew returns goredisremote.New(client), failing the test on an error.
func mustNew(t testing.TB, client redis.UniversalClient) *goredisremote.Remote {
	t.Helper()
	r, err := goredisremote.New(client)
	if err != nil {
		t.Fatalf("goredisremote.New = %v", err)
	}
	return r
}
