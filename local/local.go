// Package local is the default in-process layer (L1) of an accelerator cache: a
// W-TinyLFU cache from github.com/maypok86/otter/v2 that stores typed entries, bounded
// by entry count or by weight, with a per-entry expiry.
package local

import (
	"errors"
	"sync"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/internal/clock"
)

// DefaultMaximumSize is the entry bound of a [Store] whose options set no bound.
const DefaultMaximumSize = 10_000

// Options configures a [Store]. The zero value is a store of [DefaultMaximumSize]
// entries.
type Options[K comparable, V any] struct {
	// MaximumSize bounds the number of entries. Zero means [DefaultMaximumSize] when
	// MaximumWeight is zero too. It conflicts with MaximumWeight.
	MaximumSize int
	// MaximumWeight bounds the total weight of the entries, as reported by Weigher.
	// It requires Weigher and conflicts with MaximumSize.
	MaximumWeight uint64
	// Weigher returns the weight of one entry; it must be cheap and must not return
	// different weights for the same key and value. Only with MaximumWeight. A
	// negative-cache entry is weighed with the zero value of V.
	Weigher func(key K, value V) uint32
	// Clock is the store's time source, in Unix nanoseconds. Default: the process-wide
	// coarse clock, advanced once a millisecond while it is read (see
	// internal/clock). A cache passes its own (see accelerator.Options.Clock), so that the store
	// drops entries on the same time as the cache judges them.
	Clock Clock
}

// Clock reads the current time in Unix nanoseconds.
type Clock interface {
	NowNano() int64
}

// otterClock adapts a [Clock] to otter's: without ticks, otter expires entries on
// access and on writes rather than on a timer.
type otterClock struct{ Clock }

func (otterClock) Tick(time.Duration) <-chan time.Time { return nil }

// Store is an in-process [backend.Local] on otter. It is safe for concurrent use.
//
// It keeps each entry behind a pointer, written once and never modified, so that a
// read ([Store.Lookup]) hands out the pointer instead of copying the entry through
// every frame of the hit path.
type Store[K comparable, V any] struct {
	cache     *otter.Cache[K, *backend.Entry[V]]
	clock     Clock
	release   func()
	closeOnce sync.Once
}

var _ backend.Local[string, int] = (*Store[string, int])(nil)

// New returns a store configured by opts, or an error when the options conflict.
func New[K comparable, V any](opts Options[K, V]) (*Store[K, V], error) {
	if opts.MaximumSize < 0 {
		return nil, errors.New("local: MaximumSize is negative")
	}
	if opts.MaximumWeight > 0 && opts.MaximumSize > 0 {
		return nil, errors.New("local: MaximumSize and MaximumWeight are both set; choose one")
	}
	if opts.MaximumWeight > 0 && opts.Weigher == nil {
		return nil, errors.New("local: MaximumWeight requires a Weigher")
	}
	if opts.Weigher != nil && opts.MaximumWeight == 0 {
		return nil, errors.New("local: Weigher requires MaximumWeight")
	}
	s := &Store[K, V]{release: func() {}}
	o := &otter.Options[K, *backend.Entry[V]]{
		ExpiryCalculator: otter.ExpiryWritingFunc(s.expiresAfter),
		// Run otter's maintenance on the goroutine that caused it instead of a new
		// goroutine per write.
		Executor: func(fn func()) { fn() },
	}
	if opts.Clock != nil {
		s.clock, o.Clock = opts.Clock, otterClock{opts.Clock}
	} else {
		clk, release := clock.Acquire()
		s.clock, s.release, o.Clock = clk, release, clk
	}
	switch {
	case opts.MaximumWeight > 0:
		weigh := opts.Weigher
		o.MaximumWeight = opts.MaximumWeight
		o.Weigher = func(key K, e *backend.Entry[V]) uint32 { return weigh(key, e.Value) }
	case opts.MaximumSize > 0:
		o.MaximumSize = opts.MaximumSize
	default:
		o.MaximumSize = DefaultMaximumSize
	}
	c, err := otter.New(o)
	if err != nil {
		s.release()
		return nil, err
	}
	s.cache = c
	return s, nil
}

func (s *Store[K, V]) expiresAfter(e otter.Entry[K, *backend.Entry[V]]) time.Duration {
	d := time.Duration(e.Value.Deadline() - s.clock.NowNano())
	return max(d, time.Nanosecond)
}

// Get returns the entry for key unless it is absent or past its deadline.
func (s *Store[K, V]) Get(key K) (backend.Entry[V], bool) {
	if e, ok := s.cache.GetIfPresent(key); ok {
		return *e, true
	}
	return backend.Entry[V]{}, false
}

// Lookup is [Store.Get] without the copy: it returns the stored entry itself, which
// the caller must not modify (the store never does).
func (s *Store[K, V]) Lookup(key K) (*backend.Entry[V], bool) {
	return s.cache.GetIfPresent(key)
}

// Set stores entry for key until [backend.Entry.Deadline].
func (s *Store[K, V]) Set(key K, entry backend.Entry[V]) {
	if entry.Deadline() <= s.clock.NowNano() {
		s.cache.Invalidate(key)
		return
	}
	s.cache.Set(key, &entry)
}

// Delete removes key.
func (s *Store[K, V]) Delete(key K) {
	s.cache.Invalidate(key)
}

// Clear removes every entry.
func (s *Store[K, V]) Clear() {
	s.cache.InvalidateAll()
}

// Len returns the estimated number of entries.
func (s *Store[K, V]) Len() int {
	return s.cache.EstimatedSize()
}

// WeightedSize returns the total weight of the entries, or 0 when the store is
// bounded by entry count.
func (s *Store[K, V]) WeightedSize() uint64 {
	if !s.cache.IsWeighted() {
		return 0
	}
	return s.cache.WeightedSize()
}

// Close stops the store's background goroutines. The store stays usable, but stops
// expiring entries proactively. Close is idempotent.
func (s *Store[K, V]) Close() {
	s.cache.StopAllGoroutines()
	s.closeOnce.Do(s.release)
}
