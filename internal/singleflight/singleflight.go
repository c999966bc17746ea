// Package singleflight runs loads from the source of truth so that one load of a key is
// in flight at a time, shared by every caller that asks for the key meanwhile.
//
// Unlike golang.org/x/sync/singleflight, a load here runs in its own goroutine on a
// context detached from the callers' cancellation and bounded by a timeout, and every
// caller, the one that started it included, waits for it only as long as its own
// context allows. A load that outlives its timeout completes its callers with the
// timeout error; its late result is discarded.
package singleflight

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Spec describes one load.
type Spec[R any] struct {
	// Timeout bounds the load; zero means no bound.
	Timeout time.Duration
	// TimeoutErr is the result error of a load that outlived Timeout.
	TimeoutErr error
	// OnTimeout, when set, is called once if the load outlives Timeout.
	OnTimeout func()
	// Load runs in a goroutine of its own with a context that carries the starting
	// caller's values, is not cancelled with it, and ends after Timeout. It must not
	// panic: a panic would end the process.
	Load func(ctx context.Context) (R, error)
	// Tracker, when set, counts the load goroutine from its start to its end, so that
	// its owner can wait for every load it started.
	Tracker *sync.WaitGroup
	// Commit, when set, runs after Load returned in time and before any caller sees the
	// result, so that a caller who returns finds the cache already written. It may
	// change the result. It is not called for a load that timed out.
	Commit func(ctx context.Context, r R, err error) (R, error)
}

// call is one load in flight.
type call[R any] struct {
	done    chan struct{}
	claimed atomic.Bool
	r       R
	err     error
}

// claim reports whether the caller is the one that completes the call.
func (c *call[R]) claim() bool { return c.claimed.CompareAndSwap(false, true) }

// Group deduplicates loads by key. The zero value is ready to use.
type Group[K comparable, R any] struct {
	mu    sync.Mutex
	calls map[K]*call[R]
}

// Do returns the result of the load of key in flight, starting it with spec if there
// is none. shared reports whether the caller joined a load another caller started. If
// ctx is done first, Do returns ctx.Err() and the load goes on for the others.
func (g *Group[K, R]) Do(ctx context.Context, key K, spec Spec[R]) (r R, err error, shared bool) {
	c, leader := register(&g.mu, &g.calls, key)
	if !leader {
		r, err = wait(ctx, c)
		return r, err, true
	}

	start(ctx, c, spec, func() { g.forget(key, c) })
	r, err = wait(ctx, c)
	return r, err, false
}

// Start starts the load of key with spec unless one is already in flight, and returns
// at once: it reports whether it started one. The result goes to the callers that join
// the load with Do meanwhile, and is otherwise dropped (Commit still runs).
func (g *Group[K, R]) Start(ctx context.Context, key K, spec Spec[R]) bool {
	c, leader := register(&g.mu, &g.calls, key)
	if !leader {
		return false
	}
	start(ctx, c, spec, func() { g.forget(key, c) })
	return true
}

// register returns the call of key in flight, or registers a new one in calls and
// reports that the caller leads it.
func register[K comparable, R any](mu *sync.Mutex, calls *map[K]*call[R], key K) (c *call[R], leader bool) {
	mu.Lock()
	defer mu.Unlock()
	if c, ok := (*calls)[key]; ok {
		return c, false
	}
	c = &call[R]{done: make(chan struct{})}
	if *calls == nil {
		*calls = make(map[K]*call[R])
	}
	(*calls)[key] = c
	return c, true
}

// InFlight returns the number of keys with a load in flight.
func (g *Group[K, R]) InFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.calls)
}

func (g *Group[K, R]) forget(key K, c *call[R]) {
	g.mu.Lock()
	if g.calls[key] == c {
		delete(g.calls, key)
	}
	g.mu.Unlock()
}

// Run runs one load that no other caller shares, with the same detachment, timeout
// and commit rules as [Group.Do].
func Run[R any](ctx context.Context, spec Spec[R]) (R, error) {
	c := &call[R]{done: make(chan struct{})}
	start(ctx, c, spec, nil)
	return wait(ctx, c)
}

func wait[R any](ctx context.Context, c *call[R]) (R, error) {
	select {
	case <-c.done:
		return c.r, c.err
	case <-ctx.Done():
		var zero R
		return zero, ctx.Err()
	}
}

// start runs the load of c in a new goroutine. forget, when set, unregisters c before
// its result is published, so that a caller arriving later starts a new load.
func start[R any](ctx context.Context, c *call[R], spec Spec[R], forget func()) {
	lctx := context.WithoutCancel(ctx)
	cancel := context.CancelFunc(func() {})
	var timer *time.Timer
	if spec.Timeout > 0 {
		lctx, cancel = context.WithTimeout(lctx, spec.Timeout)
		timer = time.AfterFunc(spec.Timeout, func() {
			if !c.claim() {
				return
			}
			if spec.OnTimeout != nil {
				spec.OnTimeout()
			}
			var zero R
			publish(c, zero, spec.TimeoutErr, forget)
		})
	}
	if spec.Tracker != nil {
		spec.Tracker.Add(1)
	}
	go func() {
		if spec.Tracker != nil {
			defer spec.Tracker.Done()
		}
		defer cancel()
		r, err := spec.Load(lctx)
		if !c.claim() {
			return // timed out: the callers already have their answer
		}
		if timer != nil {
			timer.Stop()
		}
		if spec.Commit != nil {
			r, err = spec.Commit(lctx, r, err)
		}
		publish(c, r, err, forget)
	}()
}

func publish[R any](c *call[R], r R, err error, forget func()) {
	c.r, c.err = r, err
	if forget != nil {
		forget()
	}
	close(c.done)
}

// Inline deduplicates a short call by key, such as one read of a remote store: the
// first caller runs it on its own goroutine, and callers that ask for the same key
// meanwhile wait for its result, each as long as its own context allows. It has no
// timeout of its own: fn must be bounded. The zero value is ready to use.
type Inline[K comparable, R any] struct {
	mu    sync.Mutex
	calls map[K]*call[R]
}

// Do returns the result of the call of key in flight, or runs fn as that call. shared
// reports whether the caller joined a call another caller ran.
func (g *Inline[K, R]) Do(ctx context.Context, key K, fn func() (R, error)) (r R, err error, shared bool) {
	c, leader := register(&g.mu, &g.calls, key)
	if !leader {
		r, err = wait(ctx, c)
		return r, err, true
	}
	defer func() {
		g.mu.Lock()
		delete(g.calls, key)
		g.mu.Unlock()
		close(c.done)
	}()
	c.r, c.err = fn()
	return c.r, c.err, false
}
