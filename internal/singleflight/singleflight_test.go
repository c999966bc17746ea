package singleflight

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

var errTimeout = errors.New("timeout")

// job adapts functions to Job for the tests.
type job[R any] struct {
	load     func(context.Context) (R, error)
	commit   func(context.Context, R, error) (R, error)
	timedOut func()
}

func (j job[R]) Load(ctx context.Context) (R, error) { return j.load(ctx) }
func (j job[R]) Commit(ctx context.Context, r R, err error) (R, error) {
	if j.commit == nil {
		return r, err
	}
	return j.commit(ctx, r, err)
}
func (j job[R]) TimedOut() {
	if j.timedOut != nil {
		j.timedOut()
	}
}

// shared returns a Shared whose reads call rd.
func shared[R any](rd func(context.Context) (R, error)) *Shared[string, R] {
	return &Shared[string, R]{Read: func(ctx context.Context, _ string) (R, error) { return rd(ctx) }}
}

func TestDoSharesOneLoad(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var g Group[string, int]
		var calls atomic.Int32
		release := make(chan struct{})
		j := job[int]{load: func(context.Context) (int, error) {
			calls.Add(1)
			<-release
			return 42, nil
		}}
		const n = 100
		var wg sync.WaitGroup
		var sharedN atomic.Int32
		results := make([]int, n)
		for i := range n {
			wg.Go(func() {
				r, err, shared := g.Do(context.Background(), "k", j)
				if err != nil {
					t.Errorf("Do: %v", err)
				}
				if shared {
					sharedN.Add(1)
				}
				results[i] = r
			})
		}
		synctest.Wait() // every caller is waiting on the one load
		close(release)
		wg.Wait()
		if calls.Load() != 1 || sharedN.Load() != n-1 {
			t.Fatalf("load ran %d times, %d callers shared; want 1 and %d", calls.Load(), sharedN.Load(), n-1)
		}
		for i, r := range results {
			if r != 42 {
				t.Fatalf("caller %d got %d", i, r)
			}
		}
		if g.InFlight() != 0 {
			t.Fatalf("call still registered after completion")
		}
	})
}

func TestDoCallerCancelDoesNotCancelLoad(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var g Group[string, int]
		release := make(chan struct{})
		var loadCtxErr atomic.Value
		j := job[int]{load: func(ctx context.Context) (int, error) {
			<-release
			if err := ctx.Err(); err != nil {
				loadCtxErr.Store(err)
			}
			return 7, nil
		}}
		ctx, cancel := context.WithCancel(context.Background())
		leaderDone := make(chan error)
		go func() {
			_, err, _ := g.Do(ctx, "k", j)
			leaderDone <- err
		}()
		synctest.Wait()
		var other int
		otherDone := make(chan struct{})
		go func() {
			other, _, _ = g.Do(context.Background(), "k", j)
			close(otherDone)
		}()
		synctest.Wait()
		cancel()
		if err := <-leaderDone; !errors.Is(err, context.Canceled) {
			t.Fatalf("leader Do = %v, want context.Canceled", err)
		}
		close(release)
		<-otherDone
		if other != 7 || loadCtxErr.Load() != nil {
			t.Fatalf("other caller got %d (load ctx err %v), want 7 from an uncancelled load", other, loadCtxErr.Load())
		}
	})
}

func TestTimeoutDiscardsLateResult(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		g := Group[string, int]{Config: Config{Timeout: time.Second, TimeoutErr: errTimeout}}
		release := make(chan struct{})
		var timedOut, committed atomic.Int32
		j := job[int]{
			load: func(context.Context) (int, error) {
				<-release
				return 1, nil
			},
			commit: func(_ context.Context, r int, err error) (int, error) {
				committed.Add(1)
				return r, err
			},
			timedOut: func() { timedOut.Add(1) },
		}
		start := time.Now()
		_, err, _ := g.Do(context.Background(), "k", j)
		if !errors.Is(err, errTimeout) || time.Since(start) != time.Second {
			t.Fatalf("Do = %v after %v, want the timeout error after 1s", err, time.Since(start))
		}
		close(release)
		synctest.Wait()
		if timedOut.Load() != 1 || committed.Load() != 0 {
			t.Fatalf("TimedOut ran %d times, Commit %d; want 1 and 0", timedOut.Load(), committed.Load())
		}
	})
}

func TestCommitRunsBeforeCallersReturn(t *testing.T) {
	t.Parallel()
	var g Group[string, int]
	var written atomic.Bool
	j := job[int]{
		load: func(context.Context) (int, error) { return 1, nil },
		commit: func(_ context.Context, r int, err error) (int, error) {
			written.Store(true)
			return r + 1, err
		},
	}
	r, err, _ := g.Do(context.Background(), "k", j)
	if err != nil || r != 2 || !written.Load() {
		t.Fatalf("Do = %d, %v (committed %v), want 2 after the commit", r, err, written.Load())
	}
}

func TestStartDoesNotWaitAndDeduplicates(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var g Group[string, int]
		release := make(chan struct{})
		var calls atomic.Int32
		j := job[int]{load: func(context.Context) (int, error) {
			calls.Add(1)
			<-release
			return 5, nil
		}}
		if !g.Start(context.Background(), "k", j) || g.Start(context.Background(), "k", j) {
			t.Fatal("Start should start the first load only")
		}
		done := make(chan int)
		go func() {
			r, _, shared := g.Do(context.Background(), "k", j)
			if !shared {
				t.Error("Do should join the started load")
			}
			done <- r
		}()
		synctest.Wait()
		close(release)
		if r := <-done; r != 5 || calls.Load() != 1 {
			t.Fatalf("Do = %d after %d loads, want 5 after 1", r, calls.Load())
		}
	})
}

// A caller that comes after Forget (or ForgetAll) must not be handed the result of a
// load that began before it: that is what lets a write hide the loads it overtook.
func TestForgetDetachesTheLoadInFlight(t *testing.T) {
	t.Parallel()
	for name, forget := range map[string]func(*Group[string, int]){
		"Forget":    func(g *Group[string, int]) { g.Forget("k") },
		"ForgetAll": func(g *Group[string, int]) { g.ForgetAll() },
	} {
		t.Run(name, func(t *testing.T) { testForgetDetaches(t, forget) })
	}
}

func testForgetDetaches(t *testing.T, forget func(*Group[string, int])) {
	synctest.Test(t, func(t *testing.T) {
		var g Group[string, int]
		var version atomic.Int32
		gates := []chan struct{}{make(chan struct{}), make(chan struct{})}
		var n atomic.Int32
		j := job[int]{load: func(context.Context) (int, error) {
			i := n.Add(1) - 1
			v := int(version.Load())
			<-gates[i]
			return v, nil
		}}
		early := make(chan int)
		go func() { r, _, _ := g.Do(context.Background(), "k", j); early <- r }()
		synctest.Wait()
		version.Store(1)
		forget(&g)
		late := make(chan int)
		go func() {
			r, _, shared := g.Do(context.Background(), "k", j)
			if shared {
				t.Error("a caller after Forget joined the detached load")
			}
			late <- r
		}()
		synctest.Wait()
		close(gates[0])
		close(gates[1])
		if e, l := <-early, <-late; e != 0 || l != 1 {
			t.Fatalf("early caller got %d, late caller %d; want 0 and 1", e, l)
		}
		if g.InFlight() != 0 {
			t.Fatal("a call stayed registered")
		}
	})
}

func TestJoinWaitsOnlyForALoadInFlight(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var g Group[string, int]
		if _, _, ok := g.Join(context.Background(), "k"); ok {
			t.Fatal("Join without a load in flight reported one")
		}
		release := make(chan struct{})
		g.Start(context.Background(), "k", job[int]{load: func(context.Context) (int, error) { <-release; return 3, nil }})
		done := make(chan int)
		go func() {
			r, _, ok := g.Join(context.Background(), "k")
			if !ok {
				t.Error("Join missed the load in flight")
			}
			done <- r
		}()
		synctest.Wait()
		close(release)
		if r := <-done; r != 3 {
			t.Fatalf("Join = %d, want 3", r)
		}
	})
}

func TestLoadPanicBecomesTheErrorOfEveryCaller(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		errPanic := errors.New("recovered")
		g := Group[string, int]{Config: Config{Recover: func(any) error { return errPanic }}}
		release := make(chan struct{})
		j := job[int]{load: func(context.Context) (int, error) { <-release; panic("boom") }}
		errs := make(chan error, 2)
		for range 2 {
			go func() { _, err, _ := g.Do(context.Background(), "k", j); errs <- err }()
		}
		synctest.Wait()
		close(release)
		for range 2 {
			if err := <-errs; !errors.Is(err, errPanic) {
				t.Fatalf("Do = %v, want the recovered error", err)
			}
		}
	})
}

func TestSharedSharesOneRead(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		release := make(chan struct{})
		g := shared(func(context.Context) (int, error) {
			calls.Add(1)
			<-release
			return 9, nil
		})
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				if r, err, _ := g.Do(context.Background(), "k"); r != 9 || err != nil {
					t.Errorf("Do = %d, %v", r, err)
				}
			})
		}
		synctest.Wait()
		close(release)
		wg.Wait()
		if calls.Load() != 1 {
			t.Fatalf("read ran %d times, want 1", calls.Load())
		}
	})
}

// A read that panics (a codec, a backend) must not hand the callers who shared it a
// zero value without an error.
func TestSharedReadPanicReachesEveryCallerAsAnError(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var panicking atomic.Bool
		panicking.Store(true)
		g := shared(func(context.Context) (int, error) {
			if panicking.Load() {
				<-release
				panic("codec")
			}
			return 1, nil
		})
		g.Recover = func(v any) error { return errors.New("panic") }
		errs := make(chan error, 3)
		for range 3 {
			go func() { _, err, _ := g.Do(context.Background(), "k"); errs <- err }()
		}
		synctest.Wait()
		close(release)
		for range 3 {
			if err := <-errs; err == nil {
				t.Fatal("a caller of a panicking read got no error")
			}
		}
		// The key is free again.
		panicking.Store(false)
		if r, err, _ := g.Do(context.Background(), "k"); r != 1 || err != nil {
			t.Fatalf("Do after the panic = %d, %v", r, err)
		}
	})
}

func TestSharedForgetDetachesTheReadInFlight(t *testing.T) {
	t.Parallel()
	for name, forget := range map[string]func(*Shared[string, int]){
		"Forget":    func(g *Shared[string, int]) { g.Forget("k") },
		"ForgetAll": func(g *Shared[string, int]) { g.ForgetAll() },
	} {
		t.Run(name, func(t *testing.T) { testSharedForgetDetaches(t, forget) })
	}
}

func testSharedForgetDetaches(t *testing.T, forget func(*Shared[string, int])) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var n atomic.Int32
		g := shared(func(context.Context) (int, error) {
			if n.Add(1) == 1 {
				<-release
				return 0, nil
			}
			return 1, nil
		})
		go g.Do(context.Background(), "k")
		synctest.Wait()
		forget(g)
		r, _, joined := g.Do(context.Background(), "k")
		if joined || r != 1 {
			t.Fatalf("Do after Forget = %d (shared %v), want a read of its own", r, joined)
		}
		close(release)
	})
}

// With Inline, a caller whose context cannot be cancelled runs the load itself; the
// callers that join it are answered at the timeout, the starting caller when the load
// returns, with the timeout error.
func TestInlineLoadRunsOnTheStartingCaller(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		g := Group[string, int]{Config: Config{Timeout: time.Second, TimeoutErr: errTimeout, Inline: true}}
		caller := goroutineID()
		var loader string
		r, err, _ := g.Do(context.Background(), "fast", job[int]{load: func(ctx context.Context) (int, error) {
			loader = goroutineID()
			if _, ok := ctx.Deadline(); !ok {
				t.Error("the load's context has no deadline")
			}
			return 1, nil
		}})
		if r != 1 || err != nil || loader != caller {
			t.Fatalf("Do = %d, %v, loaded on goroutine %s by caller %s; want 1 on the caller", r, err, loader, caller)
		}
		release := make(chan struct{})
		slow := job[int]{load: func(context.Context) (int, error) { <-release; return 2, nil }}
		leader := make(chan error)
		go func() { _, err, _ := g.Do(context.Background(), "slow", slow); leader <- err }()
		synctest.Wait()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		start := time.Now()
		if _, err, shared := g.Do(ctx, "slow", slow); !shared || !errors.Is(err, errTimeout) || time.Since(start) != time.Second {
			t.Fatalf("joined Do = %v (shared %v) after %v, want the timeout error after 1s", err, shared, time.Since(start))
		}
		close(release)
		if err := <-leader; !errors.Is(err, errTimeout) {
			t.Fatalf("starting caller's Do = %v, want the timeout error", err)
		}
	})
}

// goroutineID returns the current goroutine's number, from its stack header.
func goroutineID() string {
	var buf [64]byte
	f := strings.Fields(string(buf[:runtime.Stack(buf[:], false)]))
	return f[1]
}
