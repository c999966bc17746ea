// Package breaker is a circuit breaker for calls to a remote store: after a run of
// consecutive failures it rejects calls at once for a backoff, then lets one probe
// through; the probe's success closes it again, its failure reopens it for a longer
// backoff.
//
// A cache read that would wait for a dead Redis on every call instead fails in
// nanoseconds and falls through to the loader, while one probe at a time checks
// whether Redis is back.
package breaker

import (
	"errors"
	"sync/atomic"
	"time"
)

// ErrOpen is returned by [Breaker.Allow] while the breaker rejects calls.
var ErrOpen = errors.New("circuit breaker is open")

// State is the breaker's state.
type State int32

const (
	// Closed lets every call through.
	Closed State = iota
	// Open rejects every call until the backoff has passed.
	Open
	// HalfOpen has let one probe through and rejects the others until it reports.
	HalfOpen
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	}
	return "unknown"
}

// Breaker is safe for concurrent use. Build it with [New].
type Breaker struct {
	threshold  int32
	minBackoff time.Duration
	maxBackoff time.Duration
	now        func() int64
	onOpen     func()

	state    atomic.Int32
	failures atomic.Int32
	// openUntil is when an open breaker lets a probe through (Unix nanoseconds).
	openUntil atomic.Int64
	backoff   atomic.Int64
}

// New returns a closed breaker that opens after threshold consecutive failures, for
// backoff at first, doubling on each failed probe up to maxBackoff. now reads the time
// in Unix nanoseconds; onOpen, when set, is called each time the breaker opens.
func New(threshold int, backoff, maxBackoff time.Duration, now func() int64, onOpen func()) *Breaker {
	b := &Breaker{
		threshold:  int32(threshold),
		minBackoff: backoff,
		maxBackoff: max(backoff, maxBackoff),
		now:        now,
		onOpen:     onOpen,
	}
	b.backoff.Store(int64(backoff))
	return b
}

// State returns the current state.
func (b *Breaker) State() State { return State(b.state.Load()) }

// Allow reports whether a call may go ahead: nil, or [ErrOpen]. A call that was
// allowed must report its outcome with [Breaker.Done].
func (b *Breaker) Allow() error {
	switch State(b.state.Load()) {
	case Closed:
		return nil
	case HalfOpen:
		return ErrOpen
	}
	if b.now() < b.openUntil.Load() {
		return ErrOpen
	}
	// The backoff has passed: one caller becomes the probe.
	if !b.state.CompareAndSwap(int32(Open), int32(HalfOpen)) {
		return ErrOpen
	}
	return nil
}

// Done reports the outcome of an allowed call. failed must be false for outcomes that
// say nothing of the remote's health, such as the caller's own cancellation.
func (b *Breaker) Done(failed bool) {
	if !failed {
		if b.state.Load() != int32(Closed) || b.failures.Load() != 0 {
			b.failures.Store(0)
			b.backoff.Store(int64(b.minBackoff))
			b.state.Store(int32(Closed))
		}
		return
	}
	// openUntil is stored before the state changes, so that no caller sees an open
	// breaker with a stale deadline.
	if b.state.Load() == int32(HalfOpen) {
		next := min(2*b.backoff.Load(), int64(b.maxBackoff))
		b.backoff.Store(next)
		b.openUntil.Store(b.now() + next)
		if b.state.CompareAndSwap(int32(HalfOpen), int32(Open)) {
			b.opened()
		}
		return
	}
	if b.failures.Add(1) < b.threshold || b.state.Load() != int32(Closed) {
		return
	}
	b.openUntil.Store(b.now() + b.backoff.Load())
	if b.state.CompareAndSwap(int32(Closed), int32(Open)) {
		b.opened()
	}
}

func (b *Breaker) opened() {
	if b.onOpen != nil {
		b.onOpen()
	}
}
