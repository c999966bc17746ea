package accelerator_test

// Regression tests of the per-key protocol on one instance (docs/consistency.md,
// "The contract on one instance"). Each forces its race with a gate instead of
// hoping for a schedule; each failed before the protocol existed.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/codec"
	"github.com/accelerator-go/accelerator/internal/redistest"
	"github.com/accelerator-go/accelerator/rueidisremote"
)

// gatedRemote is a real Redis backend whose calls can be held at a gate after they
// reached Redis, so that a test can order them against other calls.
type gatedRemote struct {
	*rueidisremote.Remote
	// holdGet, when set, holds the next Get after it read Redis: entered is closed
	// when it arrives, and it returns once release is closed. holdSet holds the next
	// Set likewise, before it reaches Redis. holdGetFirst holds the next Get before it
	// reaches Redis, and holdSetLast the next Set after Redis applied it.
	mu           sync.Mutex
	holdGet      *gate
	holdSet      *gate
	holdGetFirst *gate
	holdSetLast  *gate
	gets         atomic.Int32
}

// hold sets the gate that g points to, under the lock.
func (r *gatedRemote) hold(g **gate) *gate {
	h := newGate()
	r.mu.Lock()
	*g = h
	r.mu.Unlock()
	return h
}

// pass waits at the gate g points to, if one is set, and clears it.
func (r *gatedRemote) pass(g **gate) {
	if h := r.take(g); h != nil {
		close(h.entered)
		<-h.release
	}
}

type gate struct {
	entered, release chan struct{}
}

func newGate() *gate { return &gate{entered: make(chan struct{}), release: make(chan struct{})} }

func (r *gatedRemote) take(g **gate) *gate {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := *g
	*g = nil
	return h
}

func (r *gatedRemote) Get(ctx context.Context, key string) ([]byte, error) {
	r.pass(&r.holdGetFirst)
	return r.held(r.Remote.Get(ctx, key))
}

// GetBounded is the read the cache sends when the backend has it.
func (r *gatedRemote) GetBounded(ctx context.Context, key string, limit int) ([]byte, error) {
	r.pass(&r.holdGetFirst)
	return r.held(r.Remote.GetBounded(ctx, key, limit))
}

func (r *gatedRemote) held(v []byte, err error) ([]byte, error) {
	r.gets.Add(1)
	r.pass(&r.holdGet)
	return v, err
}

// Set holds the next Set at holdSet before it reaches Redis, and at holdSetLast after.
func (r *gatedRemote) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	r.pass(&r.holdSet)
	err := r.Remote.Set(ctx, key, v, ttl)
	r.pass(&r.holdSetLast)
	return err
}

// versionLoader returns the source's version of a key; the first load can be held at
// a gate after it read the version.
type versionLoader struct {
	version atomic.Int64
	calls   atomic.Int32
	hold    *gate
	once    sync.Once
}

func (l *versionLoader) Load(ctx context.Context, key string) (string, bool, error) {
	v := l.version.Load()
	if l.calls.Add(1) == 1 && l.hold != nil {
		close(l.hold.entered)
		<-l.hold.release
	}
	return strconv.FormatInt(v, 10), true, nil
}

// A Get that starts after Del returned must not be answered by a load that read the
// source before the Del. (It used to join that load and return the deleted value.)
func TestReadAfterDelDoesNotJoinAnOlderLoad(t *testing.T) {
	srv := redistest.Start(t)
	for _, mode := range []accelerator.Mode{accelerator.ModeLocal, accelerator.ModeRemote, accelerator.ModeBoth} {
		t.Run(mode.String(), func(t *testing.T) {
			ld := &versionLoader{hold: newGate()}
			ld.version.Store(1)
			opts := accelerator.Options[string, string]{Area: "rad" + mode.String(), Mode: mode, Loader: ld}
			if mode != accelerator.ModeLocal {
				opts.Remote = newRemote(t, srv.URL())
			}
			c := newCache(t, opts)
			ctx := context.Background()
			early := make(chan string, 1)
			go func() { v, _, _ := c.Get(ctx, "k"); early <- v }()
			<-ld.hold.entered // the first load read version 1

			ld.version.Store(2)
			if err := c.Del(ctx, "k"); err != nil {
				t.Fatalf("Del: %v", err)
			}
			late := make(chan string, 1)
			go func() { v, _, _ := c.Get(ctx, "k"); late <- v }()
			// A correct cache loads again at once; a broken one waits on the first load.
			waitUntil(2*time.Second, func() bool { return ld.calls.Load() >= 2 })
			close(ld.hold.release)
			if v := <-late; v != "2" {
				t.Fatalf("Get started after Del returned %q, want the source's version 2", v)
			}
			<-early
			if v, _, _ := c.Get(ctx, "k"); v != "2" {
				t.Fatalf("Get after both loads = %q: the older load was installed", v)
			}
		})
	}
}

// A Get that starts after a write returned must not be answered by a shared L2 read
// that read Redis before the write. (It used to join that read.)
func TestReadAfterWriteDoesNotJoinAnOlderRemoteRead(t *testing.T) {
	srv := redistest.Start(t)
	for _, tc := range []struct {
		mode  accelerator.Mode
		write string
	}{
		{accelerator.ModeRemote, "Set"}, {accelerator.ModeRemote, "Del"}, {accelerator.ModeBoth, "Del"},
	} {
		t.Run(tc.mode.String()+"/"+tc.write, func(t *testing.T) {
			area := "rar" + tc.mode.String() + tc.write
			r := &gatedRemote{Remote: newRemote(t, srv.URL())}
			c := newCache(t, accelerator.Options[string, string]{Area: area, Mode: tc.mode, Remote: r})
			// The value is written by another instance, so that it is in L2 only.
			seed := newCache(t, accelerator.Options[string, string]{Area: area, Mode: accelerator.ModeRemote, Remote: newRemote(t, srv.URL())})
			ctx := context.Background()
			if err := seed.Set(ctx, "k", "old"); err != nil {
				t.Fatal(err)
			}
			h := newGate()
			r.mu.Lock()
			r.holdGet = h
			r.mu.Unlock()
			early := make(chan string, 1)
			go func() { v, _, _ := c.Get(ctx, "k"); early <- v }()
			<-h.entered // the shared read holds "old"

			want := ""
			if tc.write == "Set" {
				want = "new"
				if err := c.Set(ctx, "k", "new"); err != nil {
					t.Fatal(err)
				}
			} else if err := c.Del(ctx, "k"); err != nil {
				t.Fatal(err)
			}
			gets := r.gets.Load()
			late := make(chan string, 1)
			go func() { v, _, _ := c.Get(ctx, "k"); late <- v }()
			waitUntil(2*time.Second, func() bool { return r.gets.Load() > gets })
			close(h.release)
			if v := <-late; v != want {
				t.Fatalf("Get started after %s returned %q, want %q", tc.write, v, want)
			}
			<-early
		})
	}
}

// Concurrent writes of one key on one instance must leave L1 holding what L2 holds.
// (Redis applied them in one order and L1 in another: L1 kept "a", Redis "b".)
func TestConcurrentWritesLeaveL1AgreeingWithL2(t *testing.T) {
	srv := redistest.Start(t)
	t.Run("forced", func(t *testing.T) {
		r := &gatedRemote{Remote: newRemote(t, srv.URL())}
		c := newCache(t, accelerator.Options[string, string]{Area: "cw1", Remote: r})
		l2 := newCache(t, accelerator.Options[string, string]{Area: "cw1", Mode: accelerator.ModeRemote, Remote: newRemote(t, srv.URL())})
		ctx := context.Background()
		h := newGate()
		r.mu.Lock()
		r.holdSet = h
		r.mu.Unlock()
		aDone := make(chan error, 1)
		go func() { aDone <- c.Set(ctx, "k", "a") }()
		<-h.entered // "a" started and is held before it reaches Redis
		bDone := make(chan error, 1)
		go func() { bDone <- c.Set(ctx, "k", "b") }()
		// A correct cache holds "b" back until "a" is written and installed; a broken
		// one lets "b" reach Redis and L1 first, then "a" overwrites it in Redis only.
		select {
		case <-bDone:
			close(h.release)
			<-aDone
		case <-time.After(300 * time.Millisecond):
			close(h.release)
			<-aDone
			<-bDone
		}
		local, _, _ := c.Get(ctx, "k", accelerator.DisableLoad())
		remote, _, _ := l2.Get(ctx, "k", accelerator.DisableLoad())
		if local != remote {
			t.Fatalf("after concurrent Sets L1 holds %q and L2 %q", local, remote)
		}
	})
	t.Run("random", func(t *testing.T) {
		c := newCache(t, accelerator.Options[string, string]{Area: "cw2", Remote: newRemote(t, srv.URL())})
		l2 := newCache(t, accelerator.Options[string, string]{Area: "cw2", Mode: accelerator.ModeRemote, Remote: newRemote(t, srv.URL())})
		ctx := context.Background()
		const keys = 300
		var wg sync.WaitGroup
		for _, v := range []string{"a", "b", "c"} {
			wg.Go(func() {
				for i := range keys {
					if err := c.Set(ctx, fmt.Sprint("k", i), v); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		var differ int
		for i := range keys {
			k := fmt.Sprint("k", i)
			local, _, _ := c.Get(ctx, k, accelerator.DisableLoad())
			remote, _, _ := l2.Get(ctx, k, accelerator.DisableLoad())
			if local != remote {
				differ++
			}
		}
		if differ > 0 {
			t.Fatalf("%d of %d keys have L1 != L2 after concurrent Sets", differ, keys)
		}
	})
}

// A negative entry is never refreshed ahead: with NullTTL shorter than RefreshAhead
// every read of an absent key used to reload it.
func TestNegativeEntriesAreNotRefreshedAhead(t *testing.T) {
	ld := &countingLoader[string, string]{data: map[string]string{}}
	c := newLocal(t, accelerator.Options[string, string]{
		Loader: ld, CacheNullValue: true, NullTTL: 30 * time.Second,
		LocalTTL: 5 * time.Minute, RefreshAhead: time.Minute,
	})
	for range 50 {
		if _, found, err := c.Get(context.Background(), "absent"); found || err != nil {
			t.Fatalf("Get = %v, %v; want not found", found, err)
		}
	}
	if m := c.MetricsSnapshot(); ld.calls.Load() != 1 || m.RefreshAttempts != 0 {
		t.Fatalf("50 reads of an absent key made %d loads and %d refreshes, want 1 and 0", ld.calls.Load(), m.RefreshAttempts)
	}
}

// panicCodec panics on every Unmarshal: a codec bug.
type panicCodec struct{ codec.Msgpack[string] }

func (panicCodec) Unmarshal([]byte, *string) error { panic("codec bug") }

// A panic inside a shared L2 read reaches every reader as an error: none panics, none
// gets a zero value without an error.
func TestPanicInSharedRemoteReadIsAnErrorForEveryReader(t *testing.T) {
	srv := redistest.Start(t)
	r := &gatedRemote{Remote: newRemote(t, srv.URL())}
	c := newCache(t, accelerator.Options[string, string]{Area: "pan", Mode: accelerator.ModeRemote, Remote: r, Codec: panicCodec{}})
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	h := newGate()
	r.mu.Lock()
	r.holdGet = h
	r.mu.Unlock()
	const readers = 8
	type outcome struct {
		err      error
		panicked any
	}
	out := make(chan outcome, readers)
	read := func() {
		var o outcome
		defer func() {
			o.panicked = recover()
			out <- o
		}()
		_, _, o.err = c.Get(ctx, "k")
	}
	go read()
	<-h.entered
	for range readers - 1 {
		go read()
	}
	close(h.release)
	for range readers {
		o := <-out
		if o.panicked != nil || o.err == nil {
			t.Fatalf("a reader of a panicking shared read got panic %v, error %v; want an error", o.panicked, o.err)
		}
		var pe *accelerator.PanicError
		if !errors.As(o.err, &pe) {
			t.Fatalf("error = %v, want a *PanicError", o.err)
		}
	}
}

// Two deletes in the same millisecond must not write the same tombstone: a fill that
// saw the first would compare-and-set over the second and bring the deleted value
// back. (The porcupine checker found it; the clock stands still here to force it.)
func TestFillDoesNotMistakeALaterTombstoneForTheOneItSaw(t *testing.T) {
	srv := redistest.Start(t)
	ld := &versionLoader{hold: newGate()}
	ld.version.Store(1)
	c := newCache(t, accelerator.Options[string, string]{
		Area: "tomb", Mode: accelerator.ModeRemote, Remote: newRemote(t, srv.URL()), Loader: ld, Clock: newFakeClock(),
	})
	ctx := context.Background()
	if err := c.Del(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	early := make(chan string, 1)
	go func() { v, _, _ := c.Get(ctx, "k"); early <- v }()
	<-ld.hold.entered // the load saw the first tombstone and read version 1
	ld.version.Store(2)
	if err := c.Del(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	close(ld.hold.release)
	<-early
	if v, _, _ := c.Get(ctx, "k"); v != "2" {
		t.Fatalf("Get after the second Del = %q: the older fill overwrote its tombstone", v)
	}
}

// Once a read has returned a write's value, no later read returns the value before it,
// even while the write is still installing itself in L1: a write drops its keys from
// L1 before its L2 write, so that L1 cannot go on serving the value that L2 no longer
// holds. (Seen under load by the porcupine checker: a reader that missed L1 read the
// new value from L2, and the next reader hit the old value still in L1.)
func TestReadAfterAReadOfTheNewValueNeverSeesTheOldOne(t *testing.T) {
	srv := redistest.Start(t)
	r := &gatedRemote{Remote: newRemote(t, srv.URL())}
	c := newCache(t, accelerator.Options[string, string]{Area: "newold", Remote: r})
	seed := newCache(t, accelerator.Options[string, string]{Area: "newold", Mode: accelerator.ModeRemote, Remote: newRemote(t, srv.URL())})
	ctx := context.Background()
	if err := seed.Set(ctx, "k", "old"); err != nil {
		t.Fatal(err)
	}
	// A reader misses L1 and is held before its L2 read.
	slow := r.hold(&r.holdGetFirst)
	first := make(chan string, 1)
	go func() { v, _, _ := c.Get(ctx, "k"); first <- v }()
	<-slow.entered
	// Another reader fills L1 with "old" (a batch read is not shared).
	if m, err := c.MGet(ctx, []string{"k"}); err != nil || m["k"] != "old" {
		t.Fatalf("MGet = %v, %v", m, err)
	}
	// The write reaches Redis and is held before it installs "new" in L1.
	w := r.hold(&r.holdSetLast)
	written := make(chan error, 1)
	go func() { written <- c.Set(ctx, "k", "new") }()
	<-w.entered
	close(slow.release)
	if v := <-first; v != "new" {
		t.Fatalf("the held reader got %q, want the new value it read from Redis", v)
	}
	if v, _, _ := c.Get(ctx, "k"); v != "new" {
		t.Fatalf("a read after a read of the new value got %q", v)
	}
	close(w.release)
	if err := <-written; err != nil {
		t.Fatal(err)
	}
}

// A reader that starts after another reader got a write's new value never gets the
// old one from a shared L2 read. A shared read registered while the write was in
// flight read Redis before the value landed; the write detached it only when it
// ended, so a reader could join it after another had read the new value (seen by the
// checker in ModeRemote under load). Readers now read alone while a write of the key
// is in flight; WeakenSharedReads turns that off, and the reader joins the held read.
func TestReadAfterANewValueDoesNotJoinAnOlderSharedRead(t *testing.T) {
	srv := redistest.Start(t)
	for _, weak := range []bool{false, true} {
		for _, mode := range []accelerator.Mode{accelerator.ModeRemote, accelerator.ModeBoth} {
			t.Run(fmt.Sprintf("%v/weakened=%v", mode, weak), func(t *testing.T) {
				r := &gatedRemote{Remote: newRemote(t, srv.URL())}
				area := fmt.Sprintf("sharedold-%v-%v", mode, weak)
				c := newCache(t, accelerator.Options[string, string]{Area: area, Mode: mode, Remote: r})
				if weak {
					accelerator.WeakenSharedReads(c)
				}
				seed := newCache(t, accelerator.Options[string, string]{Area: area, Mode: accelerator.ModeRemote, Remote: newRemote(t, srv.URL())})
				ctx := context.Background()
				if err := seed.Set(ctx, "k", "old"); err != nil {
					t.Fatal(err)
				}
				// The write holds the key, and is held before its value reaches Redis.
				before, after := r.hold(&r.holdSet), r.hold(&r.holdSetLast)
				written := make(chan error, 1)
				go func() { written <- c.Set(ctx, "k", "new") }()
				<-before.entered
				// A reader's L2 read reads "old" and is held before it answers.
				held := r.hold(&r.holdGet)
				first := make(chan string, 1)
				go func() { v, _, _ := c.Get(ctx, "k"); first <- v }()
				<-held.entered
				// The write's value lands in Redis; the write is held before it ends.
				close(before.release)
				<-after.entered
				// Two readers, one after the other, while the write is still in flight.
				got := make(chan string, 2)
				go func() {
					for range 2 {
						v, _, _ := c.Get(ctx, "k")
						got <- v
					}
				}()
				// Weakened, the first reader joins the held read and waits for it: that
				// wait is what the test sees, and any bound shows it.
				wait := waitTimeout
				if weak {
					wait = 200 * time.Millisecond
				}
				var reads []string
				for len(reads) < 2 {
					select {
					case v := <-got:
						reads = append(reads, v)
						continue
					case <-time.After(wait):
					}
					reads = append(reads, "(waiting: joined the held read)", "")
				}
				close(held.release)
				close(after.release)
				if err := <-written; err != nil {
					t.Fatal(err)
				}
				if v := <-first; v != "old" && v != "new" {
					t.Fatalf("the held reader got %q", v)
				}
				ok := reads[0] == "new" && reads[1] == "new"
				if weak {
					if ok {
						t.Fatalf("with shared reads during writes, the readers got %q: the test no longer forces the race", reads)
					}
					return
				}
				if !ok {
					t.Fatalf("readers after the write's value landed got %q, want the new value", reads)
				}
			})
		}
	}
}
