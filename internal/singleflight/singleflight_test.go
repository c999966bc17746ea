package singleflight

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var errTimeout = errors.New("timeout")

func TestDoSharesOneLoad(t *testing.T) {
	var g Group[string, int]
	var calls atomic.Int32
	release := make(chan struct{})
	spec := Spec[int]{Load: func(context.Context) (int, error) {
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
			r, err, shared := g.Do(context.Background(), "k", spec)
			if err != nil {
				t.Errorf("Do: %v", err)
			}
			if shared {
				sharedN.Add(1)
			}
			results[i] = r
		})
	}
	for g.InFlight() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the others join
	close(release)
	wg.Wait()
	// A caller the scheduler started only after the load completed starts a load
	// of its own; every other caller must have shared the first one.
	leaders := int32(n) - sharedN.Load()
	if got := calls.Load(); got != leaders {
		t.Fatalf("load ran %d times for %d callers that did not share, want one each", got, leaders)
	}
	if leaders > n/10 {
		t.Fatalf("%d of %d callers started a load of their own", leaders, n)
	}
	for i, r := range results {
		if r != 42 {
			t.Fatalf("caller %d got %d", i, r)
		}
	}
	if g.InFlight() != 0 {
		t.Fatalf("call still registered after completion")
	}
}

func TestDoCallerCancelDoesNotCancelLoad(t *testing.T) {
	var g Group[string, int]
	release := make(chan struct{})
	var loadCtxErr atomic.Value
	spec := Spec[int]{Load: func(ctx context.Context) (int, error) {
		<-release
		if ctx.Err() != nil {
			loadCtxErr.Store(ctx.Err())
		}
		return 7, nil
	}}
	ctx, cancel := context.WithCancel(context.Background())
	leaderDone := make(chan error, 1)
	go func() {
		_, err, _ := g.Do(ctx, "k", spec)
		leaderDone <- err
	}()
	for g.InFlight() == 0 {
		time.Sleep(time.Millisecond)
	}
	waiterDone := make(chan int, 1)
	go func() {
		r, err, _ := g.Do(context.Background(), "k", spec)
		if err != nil {
			t.Errorf("waiter: %v", err)
		}
		waiterDone <- r
	}()
	cancel()
	if err := <-leaderDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled leader got %v, want context.Canceled", err)
	}
	close(release)
	if r := <-waiterDone; r != 7 {
		t.Fatalf("waiter got %d, want 7", r)
	}
	if v := loadCtxErr.Load(); v != nil {
		t.Fatalf("load context was cancelled with its starter: %v", v)
	}
}

func TestTimeoutDiscardsLateResult(t *testing.T) {
	var g Group[string, int]
	release := make(chan struct{})
	var committed, timeouts atomic.Int32
	spec := Spec[int]{
		Timeout:    30 * time.Millisecond,
		TimeoutErr: errTimeout,
		OnTimeout:  func() { timeouts.Add(1) },
		Load: func(context.Context) (int, error) {
			<-release // ignores its context on purpose
			return 1, nil
		},
		Commit: func(_ context.Context, r int, err error) (int, error) {
			committed.Add(1)
			return r, err
		},
	}
	_, err, _ := g.Do(context.Background(), "k", spec)
	if !errors.Is(err, errTimeout) {
		t.Fatalf("got %v, want the timeout error", err)
	}
	close(release)
	time.Sleep(20 * time.Millisecond)
	if committed.Load() != 0 {
		t.Fatalf("late result was committed")
	}
	if timeouts.Load() != 1 {
		t.Fatalf("OnTimeout ran %d times, want 1", timeouts.Load())
	}
}

func TestCommitRunsBeforeCallersReturn(t *testing.T) {
	var written atomic.Bool
	r, err := Run(context.Background(), Spec[int]{
		Load: func(context.Context) (int, error) { return 3, nil },
		Commit: func(_ context.Context, r int, err error) (int, error) {
			written.Store(true)
			return r * 2, err
		},
	})
	if err != nil || r != 6 {
		t.Fatalf("Run = %d, %v; want 6, nil", r, err)
	}
	if !written.Load() {
		t.Fatal("caller returned before Commit ran")
	}
}

func TestStartDoesNotWaitAndDeduplicates(t *testing.T) {
	var g Group[string, int]
	release := make(chan struct{})
	var calls atomic.Int32
	var wg sync.WaitGroup
	spec := Spec[int]{Tracker: &wg, Load: func(context.Context) (int, error) {
		calls.Add(1)
		<-release
		return 5, nil
	}}
	if !g.Start(context.Background(), "k", spec) {
		t.Fatal("Start did not start a load")
	}
	if g.Start(context.Background(), "k", spec) {
		t.Fatal("Start started a second load of a key in flight")
	}
	joined := make(chan int, 1)
	go func() {
		r, _, shared := g.Do(context.Background(), "k", spec)
		if !shared {
			t.Error("Do did not join the started load")
		}
		joined <- r
	}()
	time.Sleep(10 * time.Millisecond)
	close(release)
	if r := <-joined; r != 5 {
		t.Fatalf("joined caller got %d", r)
	}
	wg.Wait()
	if calls.Load() != 1 {
		t.Fatalf("%d loads, want 1", calls.Load())
	}
}

func TestInlineSharesOneCall(t *testing.T) {
	var g Inline[string, int]
	var calls atomic.Int32
	release := make(chan struct{})
	started := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		r, _, shared := g.Do(context.Background(), "k", func() (int, error) {
			calls.Add(1)
			close(started)
			<-release
			return 4, nil
		})
		if r != 4 || shared {
			t.Errorf("leader got %d shared=%v", r, shared)
		}
	})
	<-started
	results := make(chan int, 10)
	for range 10 {
		wg.Go(func() {
			r, _, shared := g.Do(context.Background(), "k", func() (int, error) { calls.Add(1); return 5, nil })
			if !shared {
				r = -r
			}
			results <- r
		})
	}
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	close(results)
	for r := range results {
		if r != 4 {
			t.Fatalf("a caller got %d, want the shared 4", r)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("%d calls, want 1", calls.Load())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err, _ := g.Do(ctx, "k", func() (int, error) { return 1, nil }); err != nil {
		t.Fatalf("a leader runs fn whatever its context: %v", err)
	}
}
