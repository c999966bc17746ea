package singleflight

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// batchJob loads the keys it leads as key*10, once release is closed.
func batchJob(keys []int, led []int, release chan struct{}, loaded *[][]int) Job[[]int] {
	return job[[]int]{load: func(context.Context) ([]int, error) {
		ks := make([]int, len(led))
		for n, i := range led {
			ks[n] = keys[i]
		}
		*loaded = append(*loaded, ks)
		<-release
		rs := make([]int, len(ks))
		for n, k := range ks {
			rs[n] = k * 10
		}
		return rs, nil
	}}
}

// Two overlapping batches and a single-key load: each key is loaded once, by whoever
// came first, and every caller gets every key's result.
func TestDoBatchJoinsLoadsInFlightAndIsJoined(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var g Group[int, int]
		release := make(chan struct{})
		var loaded [][]int
		var single atomic.Int32
		oneDone := make(chan int)
		go func() {
			r, _, shared := g.Do(context.Background(), 2, job[int]{load: func(context.Context) (int, error) {
				single.Add(1)
				<-release
				return 20, nil
			}})
			if shared {
				t.Error("the first load of 2 was reported shared")
			}
			oneDone <- r
		}()
		synctest.Wait()
		first, second := []int{1, 2, 3}, []int{3, 2, 1, 4}
		results := make(chan []Result[int], 2)
		var joins atomic.Int32
		for _, keys := range [][]int{first, second} {
			go func() {
				results <- g.DoBatch(context.Background(), keys, func(led []int) Job[[]int] {
					return batchJob(keys, led, release, &loaded)
				}, func(n int) { joins.Add(int32(n)) })
			}()
			synctest.Wait()
		}
		late := make(chan int)
		go func() {
			r, _, _ := g.Do(context.Background(), 4, job[int]{load: func(context.Context) (int, error) { return -1, nil }})
			late <- r
		}()
		synctest.Wait()
		close(release)
		if r := <-oneDone; r != 20 {
			t.Fatalf("Do(2) = %d, want 20", r)
		}
		if r := <-late; r != 40 {
			t.Fatalf("Do(4) while a batch loads 4 = %d, want 40 (the batch's)", r)
		}
		for range 2 {
			res := <-results
			for _, r := range res {
				if r.Err != nil {
					t.Fatalf("DoBatch result %+v", r)
				}
			}
		}
		if !slices.EqualFunc(loaded, [][]int{{1, 3}, {4}}, slices.Equal) || single.Load() != 1 {
			t.Fatalf("batches loaded %v, single loads %d; want [[1 3] [4]] and 1", loaded, single.Load())
		}
		if joins.Load() != 1+3 {
			t.Fatalf("joined %d keys, want 4 (2 by the first batch, 3, 2, 1 by the second)", joins.Load())
		}
		if g.InFlight() != 0 {
			t.Fatalf("%d calls still registered", g.InFlight())
		}
	})
}

func TestDoBatchResultsAreInKeyOrder(t *testing.T) {
	t.Parallel()
	var g Group[int, int]
	keys := []int{5, 7, 9}
	release := make(chan struct{})
	close(release)
	var loaded [][]int
	res := g.DoBatch(context.Background(), keys, func(led []int) Job[[]int] { return batchJob(keys, led, release, &loaded) }, nil)
	for i, r := range res {
		if r.Err != nil || r.Shared || r.R != keys[i]*10 {
			t.Fatalf("result %d = %+v, want %d", i, r, keys[i]*10)
		}
	}
}

// A batch that outlives the timeout answers every caller of its keys, those that
// joined it included, with the timeout error; its late result is not committed.
func TestDoBatchTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		g := Group[int, int]{Config: Config{Timeout: time.Second, TimeoutErr: errTimeout}}
		release := make(chan struct{})
		var committed, timedOut atomic.Int32
		keys := []int{1, 2}
		done := make(chan []Result[int])
		go func() {
			done <- g.DoBatch(context.Background(), keys, func(led []int) Job[[]int] {
				return job[[]int]{
					load:     func(context.Context) ([]int, error) { <-release; return []int{1, 2}, nil },
					commit:   func(_ context.Context, r []int, err error) ([]int, error) { committed.Add(1); return r, err },
					timedOut: func() { timedOut.Add(1) },
				}
			}, nil)
		}()
		synctest.Wait()
		joined := make(chan error)
		go func() { _, err, _ := g.Do(context.Background(), 2, job[int]{}); joined <- err }()
		start := time.Now()
		for _, r := range <-done {
			if !errors.Is(r.Err, errTimeout) {
				t.Fatalf("batch result %+v, want the timeout error", r)
			}
		}
		if err := <-joined; !errors.Is(err, errTimeout) || time.Since(start) != time.Second {
			t.Fatalf("joined Do = %v after %v, want the timeout error after 1s", err, time.Since(start))
		}
		close(release)
		synctest.Wait()
		if committed.Load() != 0 || timedOut.Load() != 1 || g.InFlight() != 0 {
			t.Fatalf("committed %d, timed out %d, in flight %d; want 0, 1, 0", committed.Load(), timedOut.Load(), g.InFlight())
		}
	})
}

// A key of a batch detached with Forget is loaded anew by the next caller; the batch
// still answers those who joined it before.
func TestForgetDetachesAKeyOfABatch(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var g Group[int, int]
		release := make(chan struct{})
		var loaded [][]int
		keys := []int{1, 2}
		done := make(chan []Result[int])
		go func() {
			done <- g.DoBatch(context.Background(), keys, func(led []int) Job[[]int] { return batchJob(keys, led, release, &loaded) }, nil)
		}()
		synctest.Wait()
		g.Forget(2)
		r, _, shared := g.Do(context.Background(), 2, job[int]{load: func(context.Context) (int, error) { return 21, nil }})
		if shared || r != 21 {
			t.Fatalf("Do after Forget = %d (shared %v), want a load of its own", r, shared)
		}
		close(release)
		if res := <-done; res[1].R != 20 {
			t.Fatalf("the batch's own result for 2 = %+v, want 20", res[1])
		}
		if g.InFlight() != 0 {
			t.Fatalf("%d calls still registered", g.InFlight())
		}
	})
}

func TestDoBatchPanicIsTheErrorOfEveryKey(t *testing.T) {
	t.Parallel()
	errPanic := errors.New("recovered")
	g := Group[int, int]{Config: Config{Recover: func(any) error { return errPanic }}}
	res := g.DoBatch(context.Background(), []int{1, 2}, func([]int) Job[[]int] {
		return job[[]int]{load: func(context.Context) ([]int, error) { panic("boom") }}
	}, nil)
	for _, r := range res {
		if !errors.Is(r.Err, errPanic) {
			t.Fatalf("result %+v, want the recovered error", r)
		}
	}
	if g.InFlight() != 0 {
		t.Fatal("calls still registered after a panic")
	}
}

// A caller whose context ends leaves; the batch goes on for the others.
func TestDoBatchCallerLeavesOnItsContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var g Group[int, int]
		release := make(chan struct{})
		var loaded [][]int
		keys := []int{1}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan []Result[int])
		go func() {
			done <- g.DoBatch(ctx, keys, func(led []int) Job[[]int] { return batchJob(keys, led, release, &loaded) }, nil)
		}()
		synctest.Wait()
		other := make(chan int)
		go func() { r, _, _ := g.Do(context.Background(), 1, job[int]{}); other <- r }()
		synctest.Wait()
		cancel()
		if res := <-done; !errors.Is(res[0].Err, context.Canceled) {
			t.Fatalf("cancelled DoBatch = %+v, want context.Canceled", res[0])
		}
		close(release)
		if r := <-other; r != 10 {
			t.Fatalf("the other caller got %d, want 10", r)
		}
	})
}
