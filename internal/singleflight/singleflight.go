// Package singleflight shares work on a key between the callers that ask for it at the
// same time: loads from the source of truth ([Group]) and short reads of a remote
// store ([Shared]).
//
// Unlike golang.org/x/sync/singleflight, a load here runs in its own goroutine on a
// context detached from the callers' cancellation and bounded by a timeout, and every
// caller, the one that started it included, waits for it only as long as its own
// context allows. With [Config.Inline], a caller whose context cannot be cancelled
// runs the load it starts on its own goroutine instead. A load that outlives its timeout completes its callers with the
// timeout error; its late result is discarded.
//
// A [Group] loads many keys with one job ([Group.DoBatch]): each key joins the load of
// it in flight, if any, and the job loads the others, each registered as a load of its
// own key that other callers join.
//
// Both kinds can be detached from their key with Forget: the callers that joined keep
// waiting for the result, and a caller that arrives later starts anew. A cache
// detaches a key when it writes it, so that nobody who starts reading after the write
// returned is handed a result that was read before it.
package singleflight

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Job is one load: Load reads the source, Commit installs the result.
type Job[R any] interface {
	// Load runs in a goroutine of its own with a context that carries the starting
	// caller's values, is not cancelled with it, and ends after the group's timeout.
	Load(ctx context.Context) (R, error)
	// Commit runs after Load returned in time and before any caller sees the result,
	// so that a caller who returns finds the cache already written. It may change the
	// result. It is not called for a load that timed out.
	Commit(ctx context.Context, r R, err error) (R, error)
	// TimedOut is called once if the load outlives the timeout.
	TimedOut()
}

// Config is what every load of a group shares.
type Config struct {
	// Timeout bounds each load; zero means no bound.
	Timeout time.Duration
	// TimeoutErr is the result error of a load that outlived Timeout.
	TimeoutErr error
	// Tracker, when set, counts each load goroutine from its start to its end, so that
	// its owner can wait for every load it started.
	Tracker *sync.WaitGroup
	// Inline runs a load on the goroutine of the caller that starts it when that
	// caller's context cannot be cancelled (its Done is nil), instead of in a
	// goroutine of its own. The other callers are answered as without it, at the
	// timeout included; the starting caller returns when Load does, with the timeout
	// error if Load outlived the timeout: it waits for a Load that ignores its
	// context.
	Inline bool
	// Recover turns a panic of Load or Commit (which a Job should not let through)
	// into the error of the load, so that a bug cannot end the process from a load
	// goroutine. Nil uses [PanicError].
	Recover func(v any) error
}

// PanicError is the error of a load or read that panicked, when [Config.Recover] is
// not set.
type PanicError struct{ Value any }

func (e *PanicError) Error() string { return "singleflight: panic in shared call" }

func (cfg *Config) recovered(v any) error {
	if cfg.Recover != nil {
		return cfg.Recover(v)
	}
	return &PanicError{Value: v}
}

// call is one load or read in flight.
type call[R any] struct {
	// done is closed when the result is published. A call a batch leads gets it
	// only when a caller joins (joined makes it, under the registry's lock), so
	// that the keys nobody else asks for cost no channel.
	done    chan struct{}
	claimed atomic.Bool
	r       R
	err     error
}

// claim reports whether the caller is the one that completes the call.
func (c *call[R]) claim() bool { return c.claimed.CompareAndSwap(false, true) }

// calls is a registry of calls in flight by key.
type calls[K comparable, R any] struct {
	mu sync.Mutex
	m  map[K]*call[R]
}

// register returns the call of key in flight, or registers a new one and reports
// that the caller leads it.
func (cs *calls[K, R]) register(key K) (c *call[R], leader bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if c, ok := cs.m[key]; ok {
		return c.joined(), false
	}
	c = &call[R]{done: make(chan struct{})}
	if cs.m == nil {
		cs.m = make(map[K]*call[R])
	}
	cs.m[key] = c
	return c, true
}

// registerMany registers, under one lock, a call for each key of keys (no duplicates)
// that has none in flight: calls[i] is key i's call, led[i] whether the caller leads
// it.
func (cs *calls[K, R]) registerMany(keys []K) (calls []*call[R], led []bool) {
	calls, led = make([]*call[R], len(keys)), make([]bool, len(keys))
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.m == nil {
		cs.m = make(map[K]*call[R])
	}
	for i, k := range keys {
		if c, ok := cs.m[k]; ok {
			calls[i] = c.joined()
			continue
		}
		c := &call[R]{} // the batch waits on its own call; this one's done is lazy
		cs.m[k] = c
		calls[i], led[i] = c, true
	}
	return calls, led
}

// lookup returns the call of key in flight, if any, for the caller to wait on.
func (cs *calls[K, R]) lookup(key K) *call[R] {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if c := cs.m[key]; c != nil {
		return c.joined()
	}
	return nil
}

// joined makes c's done channel, if it has none, for a caller that is going to wait
// on it; the registry's lock must be held. done is never written again, so that
// the waiter reads it without the lock.
func (c *call[R]) joined() *call[R] {
	if c.done == nil {
		c.done = make(chan struct{})
	}
	return c
}

// forget unregisters c, if it is still the call of key.
func (cs *calls[K, R]) forget(key K, c *call[R]) {
	cs.mu.Lock()
	if cs.m[key] == c {
		delete(cs.m, key)
	}
	cs.mu.Unlock()
}

// detach unregisters whatever call of key is in flight.
func (cs *calls[K, R]) detach(key K) {
	cs.mu.Lock()
	delete(cs.m, key)
	cs.mu.Unlock()
}

// detachAll unregisters every call in flight.
func (cs *calls[K, R]) detachAll() {
	cs.mu.Lock()
	clear(cs.m)
	cs.mu.Unlock()
}

func (cs *calls[K, R]) len() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return len(cs.m)
}

// Group deduplicates loads by key. Set Config before first use.
type Group[K comparable, R any] struct {
	Config Config
	calls  calls[K, R]
}

// Do returns the result of the load of key in flight, starting job as that load if
// there is none. shared reports whether the caller joined a load another caller
// started. If ctx is done first, Do returns ctx.Err() and the load goes on for the
// others.
func (g *Group[K, R]) Do(ctx context.Context, key K, job Job[R]) (r R, err error, shared bool) {
	c, leader := g.calls.register(key)
	if leader {
		g.start(ctx, key, c, job, g.Config.inline(ctx))
	}
	r, err = wait(ctx, c)
	return r, err, !leader
}

// DoNew is [Group.Do] with the job built by newJob, which is called only when the
// caller leads the load: the readers that join a load in flight build nothing.
func (g *Group[K, R]) DoNew(ctx context.Context, key K, newJob func() Job[R]) (r R, err error, shared bool) {
	c, leader := g.calls.register(key)
	if leader {
		g.start(ctx, key, c, newJob(), g.Config.inline(ctx))
	}
	r, err = wait(ctx, c)
	return r, err, !leader
}

// Result is what [Group.DoBatch] returns for one key.
type Result[R any] struct {
	R   R
	Err error
	// Shared reports that the key's load was started by another caller.
	Shared bool
}

// DoBatch is [Group.Do] for many keys (no duplicates) with one job: each key joins
// the load of it in flight, if there is one, and the caller leads the loads of the
// others, as one job built by newJob with their positions in keys (only when there
// are any). The job returns one result per key it leads, in that order; its error
// is every such key's. A caller that comes while it runs joins the load of the key
// it asks for, with [Group.Do], [Group.Join] or DoBatch; a key detached with
// [Group.Forget] meanwhile is loaded anew by the next caller. Timeout, commit and
// cancellation rules are those of Do, per key; the keys led share one timeout.
// joined, when set, is told how many keys joined loads in flight before the caller
// waits.
func (g *Group[K, R]) DoBatch(ctx context.Context, keys []K, newJob func(led []int) Job[[]R], joined func(n int)) []Result[R] {
	calls, isLed := g.calls.registerMany(keys)
	var led []int
	for i, l := range isLed {
		if l {
			led = append(led, i)
		}
	}
	if joined != nil && len(led) < len(keys) {
		joined(len(keys) - len(led))
	}
	out := make([]Result[R], len(keys))
	var batch *call[[]R]
	if len(led) > 0 {
		batch = &call[[]R]{done: make(chan struct{})}
		run(ctx, &g.Config, batch, newJob(led), func() { g.publishBatch(keys, led, calls, batch) }, g.Config.inline(ctx))
	}
	for i, c := range calls {
		if !isLed[i] {
			out[i].R, out[i].Err = wait(ctx, c)
			out[i].Shared = true
		}
	}
	if batch == nil {
		return out
	}
	rs, err := wait(ctx, batch)
	for j, i := range led {
		out[i].Err = err
		if err == nil && j < len(rs) {
			out[i].R = rs[j]
		}
	}
	return out
}

// publishBatch hands the result of a batch load (already in batch) to the call of
// each key it led, and unregisters those calls.
func (g *Group[K, R]) publishBatch(keys []K, led []int, calls []*call[R], batch *call[[]R]) {
	for j, i := range led {
		c := calls[i]
		c.err = batch.err
		if batch.err == nil && j < len(batch.r) {
			c.r = batch.r[j]
		}
	}
	// Once unregistered, a call gets no more waiters: the done channels read under
	// the lock are final, and a call without one has nobody to wake.
	g.calls.mu.Lock()
	for _, i := range led {
		if g.calls.m[keys[i]] == calls[i] {
			delete(g.calls.m, keys[i])
		}
	}
	g.calls.mu.Unlock()
	for _, i := range led {
		if c := calls[i]; c.done != nil {
			close(c.done)
		}
	}
}

// Join waits for the load of key in flight, if there is one: ok is false when there is
// none, and the caller must start its own.
func (g *Group[K, R]) Join(ctx context.Context, key K) (r R, err error, ok bool) {
	c := g.calls.lookup(key)
	if c == nil {
		return r, nil, false
	}
	r, err = wait(ctx, c)
	return r, err, true
}

// Start starts job as the load of key unless one is already in flight, and returns at
// once: it reports whether it started one. The result goes to the callers that join
// the load with Do meanwhile, and is otherwise dropped (Commit still runs).
func (g *Group[K, R]) Start(ctx context.Context, key K, job Job[R]) bool {
	c, leader := g.calls.register(key)
	if leader {
		g.start(ctx, key, c, job, false)
	}
	return leader
}

// Forget detaches the load of key in flight, if any: the callers that joined it still
// get its result, and the next caller starts a new load.
func (g *Group[K, R]) Forget(key K) { g.calls.detach(key) }

// ForgetAll detaches every load in flight, as Forget does one.
func (g *Group[K, R]) ForgetAll() { g.calls.detachAll() }

// InFlight returns the number of keys with a load in flight.
func (g *Group[K, R]) InFlight() int { return g.calls.len() }

func (g *Group[K, R]) start(ctx context.Context, key K, c *call[R], job Job[R], inline bool) {
	run(ctx, &g.Config, c, job, func() { g.calls.forget(key, c) }, inline)
}

// Run runs one load that no other caller shares, with the same detachment, timeout
// and commit rules as [Group.Do].
func Run[R any](ctx context.Context, cfg *Config, job Job[R]) (R, error) {
	c := &call[R]{done: make(chan struct{})}
	run(ctx, cfg, c, job, nil, cfg.inline(ctx))
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

// inline reports whether a load started by a caller on ctx runs on the caller's
// goroutine.
func (cfg *Config) inline(ctx context.Context) bool { return cfg.Inline && ctx.Done() == nil }

// run runs the load of c in a new goroutine, or on the caller's with inline. forget, when set, unregisters c before
// its result is published, so that a caller arriving later starts a new load.
func run[R any](ctx context.Context, cfg *Config, c *call[R], job Job[R], forget func(), inline bool) {
	lctx := context.WithoutCancel(ctx)
	cancel := context.CancelFunc(func() {})
	var timer *time.Timer
	if cfg.Timeout > 0 {
		lctx, cancel = context.WithTimeout(lctx, cfg.Timeout)
		timer = time.AfterFunc(cfg.Timeout, func() {
			if !c.claim() {
				return
			}
			job.TimedOut()
			var zero R
			publish(c, zero, cfg.TimeoutErr, forget)
		})
	}
	if cfg.Tracker != nil {
		cfg.Tracker.Add(1)
	}
	body := func() {
		if cfg.Tracker != nil {
			defer cfg.Tracker.Done()
		}
		defer cancel()
		r, err := loadAndCommit(lctx, cfg, c, job, timer)
		if err == errLate {
			return // timed out: the callers already have their answer
		}
		publish(c, r, err, forget)
	}
	if inline {
		body()
		return
	}
	go body()
}

// errLate marks a load whose callers were already answered by the timeout.
var errLate = errors.New("singleflight: late result")

func loadAndCommit[R any](ctx context.Context, cfg *Config, c *call[R], job Job[R], timer *time.Timer) (r R, err error) {
	owned := false
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		var zero R
		r, err = zero, cfg.recovered(v)
		if !owned && !c.claim() {
			err = errLate
		}
	}()
	r, err = job.Load(ctx)
	if !c.claim() {
		return r, errLate
	}
	owned = true
	if timer != nil {
		timer.Stop()
	}
	return job.Commit(ctx, r, err)
}

func publish[R any](c *call[R], r R, err error, forget func()) {
	c.r, c.err = r, err
	if forget != nil {
		forget()
	}
	close(c.done)
}

// Shared deduplicates a short call by key, such as one read of a remote store: the
// first caller runs Read on its own goroutine, and callers that ask for the same key
// meanwhile wait for its result, each as long as its own context allows. It has no
// timeout of its own: Read must be bounded. A read that panics gives every caller the
// recovered error. Set Read before first use.
//
// A read that nobody joins allocates nothing: its record comes from a pool, and the
// channel its joiners wait on is made by the first of them.
type Shared[K comparable, R any] struct {
	// Read reads key; it is set once, so that a call allocates nothing for it.
	Read func(ctx context.Context, key K) (R, error)
	// Recover turns a panic of a read into its error; nil uses [PanicError].
	Recover func(v any) error

	mu   sync.Mutex
	m    map[K]*sharedCall[R]
	pool sync.Pool // of *sharedCall[R]
}

// sharedCall is one read in flight.
type sharedCall[R any] struct {
	// r and err are the result, written for the callers that joined before done is
	// closed.
	r   R
	err error
	// done is made under the lock by the first caller that joins, and closed by the
	// reader when it ends; nil while nobody joined.
	done chan struct{}
	// refs counts the reader and the callers that joined until each is done with the
	// record; the last one returns it to the pool.
	refs atomic.Int32
}

// Do returns the result of the read of key in flight, or runs Read as that read.
// shared reports whether the caller joined a read another caller ran.
func (g *Shared[K, R]) Do(ctx context.Context, key K) (r R, err error, shared bool) {
	g.mu.Lock()
	if c, ok := g.m[key]; ok {
		if c.done == nil {
			c.done = make(chan struct{})
		}
		c.refs.Add(1)
		done := c.done
		g.mu.Unlock()
		select {
		case <-done:
			r, err = c.r, c.err
		case <-ctx.Done():
			err = ctx.Err()
		}
		g.release(c)
		return r, err, true
	}
	c, _ := g.pool.Get().(*sharedCall[R])
	if c == nil {
		c = new(sharedCall[R])
	}
	c.refs.Store(1)
	if g.m == nil {
		g.m = make(map[K]*sharedCall[R])
	}
	g.m[key] = c
	g.mu.Unlock()
	defer func() {
		if v := recover(); v != nil {
			var zero R
			r, err = zero, (&Config{Recover: g.Recover}).recovered(v)
		}
		g.mu.Lock()
		if g.m[key] == c {
			delete(g.m, key)
		}
		done := c.done
		g.mu.Unlock()
		// Nobody joins once the read is unregistered: done is final.
		if done != nil {
			c.r, c.err = r, err
			close(done)
		}
		g.release(c)
	}()
	r, err = g.Read(ctx, key)
	return r, err, false
}

// release ends one caller's use of c; the last returns it to the pool, cleared.
func (g *Shared[K, R]) release(c *sharedCall[R]) {
	if c.refs.Add(-1) != 0 {
		return
	}
	if c.done != nil {
		var zero R
		c.r, c.err, c.done = zero, nil, nil
	}
	g.pool.Put(c)
}

// Forget detaches the read of key in flight, if any: the callers that joined it still
// get its result, and the next caller reads anew.
func (g *Shared[K, R]) Forget(key K) {
	g.mu.Lock()
	delete(g.m, key)
	g.mu.Unlock()
}

// ForgetAll detaches every read in flight, as Forget does one.
func (g *Shared[K, R]) ForgetAll() {
	g.mu.Lock()
	clear(g.m)
	g.mu.Unlock()
}
