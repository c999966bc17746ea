package goredisremote_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/internal/redistest"
)

func digest(v string) string {
	h := sha1.Sum([]byte(v))
	return hex.EncodeToString(h[:])
}

// scriptCounter is a go-redis hook that counts the pipelines that hold a script call,
// and the script calls sent alone. Unlike counter, it ignores the handshake a client
// pipelines on each new connection.
type scriptCounter struct {
	commands  atomic.Int64
	pipelines atomic.Int64
}

// isScript reports a compare-and-set command: the script, or the SET NX of an item
// that expects its key absent.
func isScript(cmd redis.Cmder) bool {
	return cmd.Name() == "eval" || cmd.Name() == "evalsha" || cmd.Name() == "set"
}

func (c *scriptCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *scriptCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if isScript(cmd) {
			c.commands.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (c *scriptCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if slices.ContainsFunc(cmds, isScript) {
			c.pipelines.Add(1)
		}
		return next(ctx, cmds)
	}
}

// casItems returns n items over keys "p:i" that all expect the key absent.
func casItems(p string, n int) []backend.CASItem {
	items := make([]backend.CASItem, n)
	for i := range items {
		items[i] = backend.CASItem{Key: p + ":" + strconv.Itoa(i), Value: []byte("v" + strconv.Itoa(i)), TTL: time.Minute}
	}
	return items
}

// TestCompareAndSetIsOnePipelineOfEval pins the round trips and the commands: one
// pipeline, one command per item: a SET NX for an item that expects its key absent,
// EVAL for the others, and never EVALSHA, whose ACL rule docs/secure-redis.md does not
// grant.
func TestCompareAndSetIsOnePipelineOfEval(t *testing.T) {
	t.Parallel()
	s, c := newClient(t)
	hook := new(scriptCounter)
	c.AddHook(hook)
	r := mustNew(t, c)
	items := casItems("k", 50)
	var done []bool
	calls, rejected := commandDelta(t, []*redistest.Server{s}, func() {
		var err error
		if done, err = r.CompareAndSet(context.Background(), items); err != nil {
			t.Fatalf("CompareAndSet = %v", err)
		}
	})
	for i, d := range done {
		if !d {
			t.Fatalf("item %d not written", i)
		}
	}
	if calls["set"] != int64(len(items)) || calls["eval"] != 0 || calls["evalsha"] != 0 || rejected != 0 {
		t.Errorf("CompareAndSet of %d absent keys: %d SET, %d EVAL, %d EVALSHA, %d rejected; want %d, 0, 0, 0", len(items), calls["set"], calls["eval"], calls["evalsha"], rejected, len(items))
	}
	if hook.pipelines.Load() != 1 || hook.commands.Load() != 0 {
		t.Errorf("%d pipelines and %d single commands, want 1 and 0", hook.pipelines.Load(), hook.commands.Load())
	}
	for i := range items {
		items[i].Expect = digest(string(items[i].Value))
	}
	calls, rejected = commandDelta(t, []*redistest.Server{s}, func() {
		if _, err := r.CompareAndSet(context.Background(), items); err != nil {
			t.Fatalf("CompareAndSet = %v", err)
		}
	})
	// Redis counts the SET that a script runs as a SET call too: one per item written.
	if calls["eval"] != int64(len(items)) || calls["set"] != int64(len(items)) || calls["evalsha"] != 0 || rejected != 0 {
		t.Errorf("CompareAndSet of %d present keys: %d EVAL, %d SET, %d EVALSHA, %d rejected; want %d, %d (inside the scripts), 0, 0", len(items), calls["eval"], calls["set"], calls["evalsha"], rejected, len(items), len(items))
	}
}

// TestClusterCompareAndSetRoutesEachItem pins that on a cluster each script runs on
// the node of its key (no MOVED, no CROSSSLOT), every node gets its share, and the
// whole batch is one pipeline.
func TestClusterCompareAndSetRoutesEachItem(t *testing.T) {
	t.Parallel()
	cl, cc := newClusterClient(t)
	hook := new(scriptCounter)
	cc.AddHook(hook)
	r := mustNew(t, cc)
	ctx := context.Background()
	items := casItems("k", 300)
	// Let the client learn the slot map first, so that MOVED counts would show a
	// routing bug and not a cold client.
	if err := r.Set(ctx, "warm", []byte("x"), time.Minute); err != nil {
		t.Fatal(err)
	}
	hook.commands.Store(0) // the warming SET is not a compare-and-set
	nodes := cl.Nodes()
	var done []bool
	perNode := make([]int64, len(nodes))
	before := make([]int64, len(nodes))
	for i, n := range nodes {
		st := n.CommandStats(t)
		before[i] = st["eval"].Calls + st["set"].Calls
	}
	calls, rejected := commandDelta(t, nodes, func() {
		var err error
		if done, err = r.CompareAndSet(ctx, items); err != nil {
			t.Fatalf("CompareAndSet = %v", err)
		}
	})
	for i, n := range nodes {
		st := n.CommandStats(t)
		perNode[i] = st["eval"].Calls + st["set"].Calls - before[i]
		if perNode[i] == 0 {
			t.Errorf("node %d ran no script", i)
		}
		if got := n.ErrorStats(t); got["MOVED"] != 0 || got["CROSSSLOT"] != 0 {
			t.Errorf("node %d: errors %v", i, got)
		}
	}
	if calls["set"] != int64(len(items)) || rejected != 0 {
		t.Errorf("%d SET NX for %d items that expect their key absent, %d rejected", calls["set"], len(items), rejected)
	}
	if hook.pipelines.Load() != 1 || hook.commands.Load() != 0 {
		t.Errorf("%d pipelines and %d single commands, want 1 and 0", hook.pipelines.Load(), hook.commands.Load())
	}
	for i, d := range done {
		if !d {
			t.Fatalf("item %d not written", i)
		}
	}
	t.Logf("scripts per node: %v", perNode)

	// The second round, with the digests of the values just written, writes all of
	// them again; a stale digest writes none.
	for i := range items {
		items[i].Expect = digest(string(items[i].Value))
		items[i].Value = []byte("w" + strconv.Itoa(i))
	}
	done, err := r.CompareAndSet(ctx, items)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range done {
		if !d {
			t.Fatalf("round 2: item %d not written", i)
		}
	}
	done, err = r.CompareAndSet(ctx, items) // the same digests, now stale
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range done {
		if d {
			t.Fatalf("round 3: item %d written over a changed value", i)
		}
	}
}

// TestCompareAndSetReportsFailedItems pins that an item the server rejects is
// reported, with its key, and leaves the others' results intact: here the key holds
// a hash, on which the script's GET fails.
func TestCompareAndSetReportsFailedItems(t *testing.T) {
	t.Parallel()
	s, c := newClient(t)
	r := mustNew(t, c)
	s.Do(t, "HSET", "hash", "f", "v")
	items := casItems("k", 3)
	items[1].Key = "hash"
	done, err := r.CompareAndSet(context.Background(), items)
	if err == nil {
		t.Fatal("CompareAndSet over a hash = nil error")
	}
	t.Logf("CompareAndSet: %v", err)
	if len(done) != 3 || !done[0] || done[1] || !done[2] {
		t.Fatalf("results %v, want [true false true]", done)
	}
}

// TestCompareAndSetSurvivesScriptFlush pins that a flushed script cache costs
// nothing: EVAL carries the script every time.
func TestCompareAndSetSurvivesScriptFlush(t *testing.T) {
	t.Parallel()
	s, c := newClient(t)
	r := mustNew(t, c)
	ctx := context.Background()
	for i := range 2 {
		s.Do(t, "SCRIPT", "FLUSH")
		done, err := r.CompareAndSet(ctx, casItems("round"+strconv.Itoa(i), 2))
		if err != nil || !done[0] || !done[1] {
			t.Fatalf("round %d after SCRIPT FLUSH: %v %v", i, done, err)
		}
	}
}
