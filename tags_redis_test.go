package accelerator_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/internal/redistest"
)

// The kinds of the Tags and Clear messages of internal/invmsg (byte 2 of a message).
const (
	kindTags  = 4
	kindClear = 5
)

// deafPubSub is a PubSub whose subscribers can be made to miss the Tags and Clear
// messages, silently: the sender publishes them without an error, the subscription
// stays up, and no later message shows a gap, as if the message had been lost where
// nothing can see it. Only the age bound of the marks is left to honour them.
type deafPubSub struct {
	backend.PubSub
	deaf atomic.Bool
}

func (p *deafPubSub) Subscribe(ctx context.Context, channel string, handler func(backend.Event)) error {
	return p.PubSub.Subscribe(ctx, channel, func(ev backend.Event) {
		if ev.Kind == backend.EventMessage && len(ev.Payload) > 2 &&
			(ev.Payload[2] == kindTags || ev.Payload[2] == kindClear) && p.deaf.Load() {
			return
		}
		handler(ev)
	})
}

// tagRig is three instances of one area, each with its own connections, on a clock
// the test moves, with an EntryLoader that tags some keys.
type tagRig struct {
	srv    *redistest.Server
	src    *taggedSource
	clk    *fakeClock
	caches []*accelerator.Cache[string, string]
	deaf   []*deafPubSub
	proxy  *redistest.Proxy // the last instance's connections go through it, when set
	maxAge time.Duration
	n      int // the instances the keys were made for
}

// tagOptions are the options of the instances: the test settings of the other
// cross-instance tests, and the age bound of the marks.
func tagOptions(remote backend.Remote, src *taggedSource, clk *fakeClock, area string) accelerator.Options[string, string] {
	return accelerator.Options[string, string]{
		Area: area, Remote: remote, Loader: src, Clock: clk,
		BroadcastInvalidation: true, LocalTTL: time.Hour, RemoteTTL: time.Hour,
		InvalidationPingInterval: 100 * time.Millisecond, InvalidationGrace: 300 * time.Millisecond,
		InvalidationMarkMaxAge: time.Second,
		RemoteTimeout:          100 * time.Millisecond, BreakerBackoff: 100 * time.Millisecond,
		LoaderTimeout: 2 * time.Second, Logger: quiet,
	}
}

func newTagRig(t *testing.T, area string, n int, viaProxy bool) *tagRig {
	t.Helper()
	r := &tagRig{srv: redistest.Start(t), src: newTaggedSource(), clk: newFakeClock(), maxAge: time.Second}
	if viaProxy {
		r.proxy = redistest.StartProxy(t, r.srv.Addr())
	}
	for i := range n {
		url := r.srv.URL()
		if viaProxy && i == n-1 {
			url = r.proxy.URL()
		}
		remote := newRemote(t, url)
		ps := &deafPubSub{PubSub: remote}
		opts := tagOptions(remote, r.src, r.clk, area)
		opts.PubSub = ps
		c := newCache(t, opts)
		r.caches = append(r.caches, c)
		r.deaf = append(r.deaf, ps)
	}
	for _, c := range r.caches {
		waitConnected(t, c)
	}
	r.n = n
	return r
}

// The keys of the tag tests: per instance i, set-i is written by instance i with tag
// t, loaded-i is loaded with tag t by the EntryLoader, plain-i is written without a
// tag, and other-i is loaded with tag u.
const (
	setValue   = "set-value"
	plainValue = "plain-value"
)

func (r *tagRig) populate(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for i, c := range r.caches {
		is := strconv.Itoa(i)
		r.src.tag("loaded-"+is, "t")
		r.src.tag("other-"+is, "u")
		r.src.fix("plain-"+is, plainValue)
		must(t, c.Set(ctx, "set-"+is, setValue, accelerator.WithTags("t")))
		must(t, c.Set(ctx, "plain-"+is, plainValue))
	}
	r.settle(t)
	// Every instance reads every key (the first loads and publish their fills); once
	// those messages are in, every instance reads every key again, into its L1.
	for _, c := range r.caches {
		r.readAll(t, c)
	}
	r.settle(t)
	for _, c := range r.caches {
		r.readAll(t, c)
	}
}

func (r *tagRig) readAll(t *testing.T, c *accelerator.Cache[string, string]) {
	t.Helper()
	for k, want := range r.before() {
		if v, _, err := c.Get(context.Background(), k); v != want || err != nil {
			t.Fatalf("Get(%s) = %q, %v; want %q", k, v, err, want)
		}
	}
}

// settle waits until every message published so far reached every other instance,
// so that none arrives late and drops what a test has just read into L1.
func (r *tagRig) settle(t *testing.T) {
	t.Helper()
	waitFor(t, "every message delivered", func() bool {
		var published, received uint64
		for _, c := range r.caches {
			m := c.MetricsSnapshot()
			published, received = published+m.InvalidationsPublished, received+m.InvalidationsReceived
		}
		return received == uint64(len(r.caches)-1)*published
	})
}

// before returns every key and the value it has before the invalidation.
func (r *tagRig) before() map[string]string {
	m := map[string]string{}
	for i := range r.n {
		is := strconv.Itoa(i)
		m["set-"+is], m["loaded-"+is] = setValue, "loaded-"+is+"@0"
		m["plain-"+is], m["other-"+is] = plainValue, "other-"+is+"@0"
	}
	return m
}

// tagged returns the keys that carry tag t.
func (r *tagRig) tagged() []string {
	var keys []string
	for i := range r.n {
		keys = append(keys, "set-"+strconv.Itoa(i), "loaded-"+strconv.Itoa(i))
	}
	return keys
}

// stale reports the tagged keys that c still serves with their value from before the
// invalidation.
func (r *tagRig) stale(c *accelerator.Cache[string, string]) []string {
	var out []string
	before := r.before()
	for _, k := range r.tagged() {
		if v, _, _ := c.Get(context.Background(), k); v == before[k] {
			out = append(out, k)
		}
	}
	return out
}

// checkUntagged fails unless every key without tag t reads its value from before
// (from L1 when fromL1 is set).
func (r *tagRig) checkUntagged(t *testing.T, c *accelerator.Cache[string, string], fromL1 bool) {
	t.Helper()
	before := r.before()
	for i := range r.n {
		for _, k := range []string{"plain-" + strconv.Itoa(i), "other-" + strconv.Itoa(i)} {
			hits := c.MetricsSnapshot().LocalHits
			if v, _, err := c.Get(context.Background(), k); v != before[k] || err != nil {
				t.Errorf("%s, without tag t, read %q (%v) after InvalidateTag(t), want %q", k, v, err, before[k])
			}
			if fromL1 && c.MetricsSnapshot().LocalHits == hits {
				t.Errorf("%s, without tag t, is no longer in L1 after InvalidateTag(t)", k)
			}
		}
	}
}

// TestInvalidateTagReachesEveryInstance: three instances hold entries tagged t (written
// with Set on each, and loaded through an EntryLoader), entries tagged u, and untagged
// ones, in L1 and L2. InvalidateTag(t) on one: the entries tagged t are misses on
// every instance, at once on the caller, as soon as the message arrives on the
// others, and in every case for reads that start later than InvalidationMarkMaxAge
// (1 s of the test's clock, which the test moves) after InvalidateTag returned, even
// when the message is lost: silently (a subscriber that drops it without a trace),
// with the subscriber killed (CLIENT KILL TYPE pubsub) at that moment, or with the
// instance behind a proxy that black-holes its traffic. The other entries are
// untouched.
//
// ACCELERATOR_DISABLE=mark-age keeps the marks an instance read until the bus sees a
// loss, as in dotnet/extensions#7411: the silently lost message is then never
// honoured, and the test fails.
func TestInvalidateTagReachesEveryInstance(t *testing.T) {
	withSwitch(t, "mark-age", accelerator.SwitchMarksNeverAge)
	for _, mode := range []string{"delivered", "lost silently", "subscriber killed", "black-holed"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			r := newTagRig(t, "tags", 3, mode == "black-holed")
			r.populate(t)
			ctx := context.Background()
			victims := r.caches[1:]
			switch mode {
			case "lost silently":
				for _, d := range r.deaf[1:] {
					d.deaf.Store(true)
				}
			case "subscriber killed":
				r.srv.Do(t, "CLIENT", "KILL", "TYPE", "pubsub")
			case "black-holed":
				r.proxy.BlackHole(redistest.Both)
				victims = r.caches[2:]
			}
			for i := range r.caches {
				r.src.bump("loaded-"+strconv.Itoa(i), "set-"+strconv.Itoa(i))
			}
			must(t, r.caches[0].InvalidateTag(ctx, "t"))
			// The invalidating instance is read last: its reloads publish messages,
			// whose numbers would show the other instances that one was lost.
			switch mode {
			case "delivered":
				for i, c := range victims {
					waitFor(t, fmt.Sprintf("instance %d misses the entries tagged t", i+1), func() bool { return len(r.stale(c)) == 0 })
				}
				r.checkUntagged(t, victims[0], true)
				if s := r.stale(r.caches[0]); len(s) > 0 {
					t.Fatalf("the instance that invalidated t still serves %v", s)
				}
				return
			case "lost silently":
				// The loss is real: before the bound the victims still serve what they
				// hold, from L1.
				if s := r.stale(victims[0]); len(s) != len(r.tagged()) {
					t.Fatalf("before the bound, the victim misses %d of %d entries whose invalidation it never received (flushes %v)",
						len(r.tagged())-len(s), len(r.tagged()), victims[0].SubscriberState().Flushes)
				}
			}
			r.clk.Advance(r.maxAge + time.Millisecond)
			for i, c := range victims {
				if s := r.stale(c); len(s) > 0 {
					t.Errorf("instance %d serves %v, tagged t, a bound after InvalidateTag(t) (%s)", len(r.caches)-len(victims)+i, s, mode)
				}
			}
			if f := victims[0].SubscriberState().Flushes; mode == "lost silently" && f["gap"] > 0 {
				t.Fatalf("the victim saw the loss (flushes %v): the bound was not what honoured it", f)
			}
			if s := r.stale(r.caches[0]); len(s) > 0 {
				t.Errorf("the instance that invalidated t serves %v", s)
			}
			for _, c := range r.caches[:2] {
				r.checkUntagged(t, c, mode == "lost silently")
			}
			if mode == "black-holed" {
				r.checkUntagged(t, r.caches[2], false)
			}
			t.Logf("%s: victim's marks read %d times, flushes %v", mode, victims[0].MetricsSnapshot().MarkReads, victims[0].SubscriberState().Flushes)
		})
	}
}

// TestInvalidateTagsInvalidatesEveryTagOnEveryInstance: InvalidateTags with several
// tags costs one message, and each tag's entries are misses on the other instances.
func TestInvalidateTagsInvalidatesEveryTagOnEveryInstance(t *testing.T) {
	t.Parallel()
	r := newTagRig(t, "tags-batch", 2, false)
	ctx := context.Background()
	a, b := r.caches[0], r.caches[1]
	for _, tag := range []string{"x", "y", "z"} {
		must(t, a.Set(ctx, tag, "v", accelerator.WithTags(tag)))
		if v, _, _ := b.Get(ctx, tag); v != "v" {
			t.Fatalf("b.Get(%s) = %q", tag, v)
		}
	}
	published := a.MetricsSnapshot().InvalidationsPublished
	must(t, a.InvalidateTags(ctx, "x", "y"))
	if n := a.MetricsSnapshot().InvalidationsPublished - published; n != 1 {
		t.Fatalf("InvalidateTags of two tags published %d messages, want 1", n)
	}
	waitFor(t, "b misses x and y", func() bool {
		got, _ := b.MGet(ctx, []string{"x", "y"}, accelerator.DisableLoad())
		return len(got) == 0
	})
	if v, _, _ := b.Get(ctx, "z"); v != "v" {
		t.Fatalf("z, not invalidated, read %q", v)
	}
	if m := a.MetricsSnapshot(); m.TagInvalidations != 2 {
		t.Fatalf("TagInvalidations = %d, want 2", m.TagInvalidations)
	}
}

// TestClearReachesEveryInstance: three instances of an area hold entries in L1 and
// L2, and one instance of another area on the same Redis holds its own. Clear on one
// instance: every key of the area is a miss on every instance, at once on the
// caller, when the message arrives on the others, and when it is lost because the
// subscriber was killed (CLIENT KILL TYPE pubsub) or black-holed at that moment, as
// soon as the invalidation bus drops L1 (see docs/consistency.md), and in L2 a bound
// after Clear. The other area is untouched.
func TestClearReachesEveryInstance(t *testing.T) {
	for _, mode := range []string{"delivered", "subscriber killed", "black-holed"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			r := newTagRig(t, "clear", 3, mode == "black-holed")
			r.populate(t)
			other := newCache(t, tagOptions(newRemote(t, r.srv.URL()), r.src, r.clk, "other-area"))
			waitConnected(t, other)
			ctx := context.Background()
			must(t, other.Set(ctx, "plain-0", "other-area-value"))
			if v, _, _ := other.Get(ctx, "plain-0"); v != "other-area-value" {
				t.Fatalf("other area: %q", v)
			}
			victims := r.caches[1:]
			flushes := func(c *accelerator.Cache[string, string]) uint64 { return c.MetricsSnapshot().LocalFlushes }
			before := make([]uint64, len(r.caches))
			for i, c := range r.caches {
				before[i] = flushes(c)
			}
			switch mode {
			case "subscriber killed":
				r.srv.Do(t, "CLIENT", "KILL", "TYPE", "pubsub")
			case "black-holed":
				r.proxy.BlackHole(redistest.Both)
				victims = r.caches[2:]
			}
			keys := make([]string, 0, len(r.before()))
			for k := range r.before() {
				r.src.bump(k)
				keys = append(keys, k)
			}
			for i := range r.caches {
				r.src.fix("plain-"+strconv.Itoa(i), "") // loaded from the source from now on
			}
			must(t, r.caches[0].Clear(ctx))
			servesOld := func(c *accelerator.Cache[string, string]) []string {
				var old []string
				for k, v := range r.before() {
					if got, _, _ := c.Get(ctx, k); got == v {
						old = append(old, k)
					}
				}
				return old
			}
			if old := servesOld(r.caches[0]); len(old) > 0 {
				t.Fatalf("the instance that cleared the area still serves %v", old)
			}
			for i, c := range victims {
				// L1 is dropped when the message arrives, or when the bus finds it
				// may have been lost (a new subscription; silence).
				waitFor(t, fmt.Sprintf("instance %d drops its L1", i+1), func() bool { return flushes(c) > before[len(r.caches)-len(victims)+i] })
			}
			r.clk.Advance(r.maxAge + time.Millisecond)
			for i, c := range r.caches {
				if old := servesOld(c); len(old) > 0 {
					t.Errorf("instance %d serves %v after Clear (%s)", i, old, mode)
				}
			}
			// CLIENT KILL TYPE pubsub killed the other area's subscriber too: its L1
			// went, and the value comes from L2.
			hits := other.MetricsSnapshot().LocalHits
			if v, _, _ := other.Get(ctx, "plain-0"); v != "other-area-value" || mode != "subscriber killed" && other.MetricsSnapshot().LocalHits == hits {
				t.Errorf("the other area read %q after Clear, want its value from L1", v)
			}
			if m := r.caches[0].MetricsSnapshot(); m.Clears != 1 {
				t.Errorf("Clears = %d", m.Clears)
			}
			t.Logf("%s: victim flushes %v", mode, victims[0].SubscriberState().Flushes)
		})
	}
}

// TestTagsAndClearWithoutL1: in ModeRemote every read is compared with the marks.
func TestTagsAndClearWithoutL1(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	clk := newFakeClock()
	opts := func() accelerator.Options[string, string] {
		o := tagOptions(newRemote(t, srv.URL()), newTaggedSource(), clk, "remote-only")
		o.Mode, o.BroadcastInvalidation, o.Loader = accelerator.ModeRemote, false, nil
		return o
	}
	a, b := newCache(t, opts()), newCache(t, opts())
	ctx := context.Background()
	must(t, a.Set(ctx, "t", "v", accelerator.WithTags("t")))
	must(t, a.Set(ctx, "u", "v"))
	must(t, a.InvalidateTag(ctx, "t"))
	for name, c := range map[string]*accelerator.Cache[string, string]{"a": a, "b": b} {
		if _, found, _ := c.Get(ctx, "t"); found {
			t.Errorf("%s reads t after InvalidateTag", name)
		}
		if v, _, _ := c.Get(ctx, "u"); v != "v" {
			t.Errorf("%s reads u = %q", name, v)
		}
	}
	must(t, b.Clear(ctx))
	clk.Advance(time.Second + time.Millisecond)
	if _, found, _ := a.Get(ctx, "u"); found {
		t.Error("a reads u a bound after b cleared the area")
	}
}

// TestLostMarksDoNotBringEntriesBack: Redis loses the area's clock and marks while
// values invalidated by them are still in L1 and L2 (FLUSHALL takes everything, a
// restart without persistence too, and on a cluster the node of the marks can be
// lost alone, which the test plays by deleting the marks only). No instance serves an
// invalidated value again: a clock created anew raises the clear mark with it, and an
// instance never lowers a mark it knew. A clock found below a value an instance knew
// (a Redis restored from an older snapshot) clears the area.
func TestLostMarksDoNotBringEntriesBack(t *testing.T) {
	for _, loss := range []string{"marks deleted", "FLUSHALL", "restart", "clock went back"} {
		t.Run(loss, func(t *testing.T) {
			t.Parallel()
			r := newTagRig(t, "lost-"+loss, 2, false)
			r.populate(t)
			ctx := context.Background()
			for i := range r.caches {
				r.src.bump("loaded-"+strconv.Itoa(i), "set-"+strconv.Itoa(i))
			}
			must(t, r.caches[0].InvalidateTag(ctx, "t"))
			for i, c := range r.caches {
				waitFor(t, fmt.Sprintf("instance %d misses t", i), func() bool { return len(r.stale(c)) == 0 })
			}
			// Reloaded after the invalidation: the invalidated values are gone from L1,
			// but the old ones may still be in L2 under keys nobody rewrote.
			clockKey := "lost-" + loss + `\#{lost-` + loss + "}clock"
			oldClock, _ := strconv.ParseUint(r.srv.Do(t, "GET", clockKey).(string), 10, 64)
			must(t, r.caches[0].Set(ctx, "old-in-l2", "old", accelerator.WithTags("t2")))
			must(t, r.caches[0].InvalidateTag(ctx, "t2"))
			switch loss {
			case "marks deleted":
				r.srv.Do(t, "DEL", clockKey, "lost-"+loss+`\#{lost-`+loss+"}clear", "lost-"+loss+`\#{lost-`+loss+"}tag:t2")
			case "FLUSHALL":
				r.srv.Do(t, "FLUSHALL")
			case "restart":
				r.srv.Restart(t)
				for _, c := range r.caches {
					waitConnected(t, c)
				}
			case "clock went back":
				r.srv.Do(t, "SET", clockKey, "5")
				r.srv.Do(t, "DEL", "lost-"+loss+`\#{lost-`+loss+"}tag:t2")
			}
			check := func(when string) {
				for i, c := range r.caches {
					if s := r.stale(c); len(s) > 0 {
						t.Fatalf("%s: instance %d serves invalidated %v", when, i, s)
					}
					if v, found, _ := c.Get(ctx, "old-in-l2", accelerator.DisableLoad()); found {
						t.Fatalf("%s: instance %d serves %q, invalidated before the loss", when, i, v)
					}
				}
			}
			check("at once")
			// A fresh instance knows nothing of the marks.
			fresh := newCache(t, tagOptions(newRemote(t, r.srv.URL()), r.src, r.clk, "lost-"+loss))
			waitConnected(t, fresh)
			r.caches = append(r.caches, fresh)
			check("a fresh instance")
			r.clk.Advance(r.maxAge + time.Millisecond)
			check("a bound later")
			if loss == "clock went back" {
				now, _ := strconv.ParseUint(r.srv.Do(t, "GET", clockKey).(string), 10, 64)
				if now <= oldClock {
					t.Fatalf("the clock is %d after it was found back at 5, want it above %d", now, oldClock)
				}
			}
			// The area keeps working.
			must(t, r.caches[1].Set(ctx, "after", "v", accelerator.WithTags("t")))
			if v, _, _ := r.caches[0].Get(ctx, "after"); v != "v" {
				t.Fatalf("a tagged write after the loss reads %q on another instance", v)
			}
		})
	}
}
