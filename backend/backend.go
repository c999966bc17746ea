// Package backend declares the contracts between an accelerator cache and the stores it
// runs on: a [Local] in-process store of typed entries (L1), a [Remote] store of bytes
// (L2, Redis by default), and a [PubSub] transport for cross-instance invalidation.
//
// The default implementations live in the packages local (otter), rueidisremote
// (rueidis) and, in its own module, goredisremote (go-redis). Any type that satisfies
// these interfaces can replace them; the package backendtest holds a conformance
// suite that an implementation runs against itself.
package backend

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// Entry is what a [Local] backend stores for one key.
//
// The cache decides freshness from ExpireAt; the backend only has to forget the entry
// once its physical deadline ([Entry.Deadline]) has passed. Times are Unix
// nanoseconds.
type Entry[V any] struct {
	// Value is the cached value. It is the zero value when Null is set.
	Value V
	// ExpireAt is the logical expiry: after it the entry is stale and a read goes on
	// to the next layer or the loader.
	ExpireAt int64
	// StaleUntil, when later than ExpireAt, keeps a stale copy until then so that it
	// can be served when the loader fails. Zero means the entry has no stale window.
	StaleUntil int64
	// Epoch is the cache's invalidation epoch at the time the entry was written; the
	// cache ignores entries written under an older epoch.
	Epoch uint64
	// Null marks a negative-cache entry: the source of truth had no value.
	Null bool
	// Tags is what the cache needs to tell whether a tagged entry was invalidated
	// since it was written; nil for an untagged entry. A Local stores the pointer
	// with the entry and returns it unchanged; it never reads or writes through it.
	Tags *Tags
}

// Tags describes the tags of an L1 entry (see docs/tags.md).
type Tags struct {
	// Stamp is the area's invalidation clock as the cache knew it when the entry was
	// written, or when the load that produced it began.
	Stamp uint64
	// Names are the entry's tags, sorted, without duplicates.
	Names []string
	// Marks are the cache's view of the invalidation mark of each name, in the
	// order of Names, shared by every entry that carries the tag.
	Marks []*Mark
}

// Mark is an instance's view of one invalidation mark: the entries stamped before it
// are misses. Only the cache reads and writes it.
type Mark struct {
	// Value is the highest value of the mark the instance knows; it never goes down.
	Value atomic.Uint64
	// Fetched is when the last read of the mark from the remote store was sent, in
	// Unix nanoseconds of the cache's clock; 0 when it never was.
	Fetched atomic.Int64
}

// Deadline returns the time after which the backend may drop the entry: the later of
// ExpireAt and StaleUntil.
func (e *Entry[V]) Deadline() int64 {
	return max(e.ExpireAt, e.StaleUntil)
}

// Local is an in-process store of typed entries keyed by the cache's own key type.
//
// Implementations must be safe for concurrent use. Get must not return an entry whose
// [Entry.Deadline] has passed (a backend reading a coarse clock may be late by its
// resolution, a millisecond for the default); it may drop entries earlier (eviction). One Local serves
// one cache: the cache calls Clear to drop everything it holds.
//
// NOTE: Get sits on the hot path of every cache read; it should not allocate.
type Local[K comparable, V any] interface {
	// Get returns the entry stored for key, if any.
	Get(key K) (Entry[V], bool)
	// Set stores entry for key, replacing any previous entry.
	Set(key K, entry Entry[V])
	// Delete removes key.
	Delete(key K)
	// Clear removes every entry.
	Clear()
	// Len returns the number of entries held, which may be an estimate.
	Len() int
}

// Item is one key of a [Remote.MSet] call.
type Item struct {
	// Key is the full remote key.
	Key string
	// Value is the encoded value. The backend must not retain it after MSet returns.
	Value []byte
	// TTL is how long the remote store keeps the key; it is always positive.
	TTL time.Duration
}

// Remote is a store of bytes with a time to live, such as Redis.
//
// Implementations must be safe for concurrent use. Each batch method costs one round
// trip to each server it touches (MGET or a pipeline), never one per key, and never
// sends a multi-key command across Redis Cluster hash slots.
//
// A value handed back by Get or MGet is only read by the cache and not retained after
// the next call, so an implementation may return a view of its own buffer. Values the
// cache writes are never empty.
type Remote interface {
	// Get returns the value stored at key, or nil and no error when key is absent.
	Get(ctx context.Context, key string) ([]byte, error)
	// MGet returns one slot per key, in order: the value, or nil when the key is
	// absent.
	MGet(ctx context.Context, keys []string) ([][]byte, error)
	// Set stores value at key for ttl.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// MSet stores every item, each with its own TTL.
	MSet(ctx context.Context, items []Item) error
	// Del removes keys; absent keys are not an error.
	Del(ctx context.Context, keys ...string) error
}

// BoundedReader is implemented by remote backends that can read values without
// receiving more than a limit of their bytes, whatever the store holds. The cache
// uses it for every read, with its MaxValueSize option as the limit,
// so that a huge value planted in Redis costs a reader no more memory than the
// largest value it accepts; without it, reads use [Remote.Get] and [Remote.MGet] and
// receive values whole.
//
// On Redis both backends send GETRANGE key 0 limit (one per key, pipelined), which
// the server answers with at most limit+1 bytes: see docs/secure-redis.md for why
// this and not STRLEN or a client-side reply limit.
type BoundedReader interface {
	// GetBounded is [Remote.Get] that receives at most limit+1 bytes: a value of
	// more than limit bytes is returned cut to its first limit+1 bytes, which tells
	// the caller it is too long. An empty value reads as absent (nil); the cache
	// never writes one. limit must be positive.
	GetBounded(ctx context.Context, key string, limit int) ([]byte, error)
	// MGetBounded is [Remote.MGet] with the bound of GetBounded on each value.
	MGetBounded(ctx context.Context, keys []string, limit int) ([][]byte, error)
}

// CASItem is one write of [CompareAndSetter.CompareAndSet].
type CASItem struct {
	// Key is the full remote key.
	Key string
	// Expect is the lowercase hex SHA-1 digest of the value Key must hold for the
	// write to happen, or "" when Key must be absent. A key holding the empty value
	// may count as absent: the cache never writes one, and a [BoundedReader] reads
	// it as absent.
	Expect string
	// Value is the value to store. The backend must not retain it.
	Value []byte
	// TTL is how long the remote store keeps the key; it is always positive.
	TTL time.Duration
}

// CompareAndSetter is implemented by remote backends that can write a value only if
// the key still holds what the writer saw, atomically (a Lua script on Redis). The
// cache uses it so that a load that read the source before another instance deleted
// or rewrote the key cannot write its older value back afterwards. Without it, fills
// are plain writes.
type CompareAndSetter interface {
	// CompareAndSet writes each item whose key holds the expected value, in one
	// round trip per server, and reports for each item whether it was written.
	CompareAndSet(ctx context.Context, items []CASItem) ([]bool, error)
}

// Marks names the keys of one call of a [MarkStore]: an area's logical invalidation
// clock, its reset mark, and the marks to read or raise. They must share one Redis
// Cluster hash slot (the cache lays them out so).
type Marks struct {
	// Clock is the key of the clock.
	Clock string
	// Reset is the key of the mark that is raised to the clock whenever the clock
	// has to be created (the area's clear mark).
	Reset string
	// Keys are the keys of the marks to read or raise; Reset may be among them.
	Keys []string
	// TTL is how long a mark the call writes is kept; it is always positive.
	TTL time.Duration
	// Floor is, for RaiseMarks, a clock value the new one must exceed; 0 for none.
	Floor uint64
}

// MarkStore is implemented by remote backends that can keep the invalidation marks
// of tags and Clear (see docs/tags.md): per area a logical clock, which only goes up,
// and marks, each a value the clock once had, changed by atomic scripts (both Redis
// backends run those of internal/markscript). Without it, a cache with L2 has no
// tags and no Clear.
type MarkStore interface {
	// ReadMarks returns the clock and the value of each mark of m.Keys, in order (0
	// for an absent mark), in one round trip. When the clock is absent (a new area,
	// or a store that lost its keys) it first creates it, at the store's time in
	// microseconds, and raises m.Reset to it.
	ReadMarks(ctx context.Context, m Marks) (clock uint64, marks []uint64, err error)
	// RaiseMarks moves the clock to a new value g, above its current value, the
	// store's time in microseconds and m.Floor, raises every mark of m.Keys to at
	// least g (and m.Reset, when the clock had to be created), each kept for m.TTL,
	// and returns g; atomically, in one round trip.
	RaiseMarks(ctx context.Context, m Marks) (uint64, error)
}

// Leaser is implemented by remote backends that can hold a short lease on a key: a
// key written only where it is absent, with a time to live, and deleted only by the
// holder of its token. The cache uses it for its load lease (Options.LoadLease), so
// that of the instances that miss a key at the same time one loads it and the others
// wait for its value. Without it, the load lease cannot be turned on.
type Leaser interface {
	// TryLease stores token at key for ttl if key is absent, atomically (on Redis,
	// SET key token NX PX ttl), and reports whether it did. ttl is always positive.
	TryLease(ctx context.Context, key, token string, ttl time.Duration) (bool, error)
	// ReleaseLease deletes key if it holds token, atomically (on Redis, a
	// compare-and-delete script), and reports whether it did: a lease that expired,
	// or that another holder took since, is left alone.
	ReleaseLease(ctx context.Context, key, token string) (bool, error)
}

// EventKind says what a subscription [Event] reports.
type EventKind uint8

const (
	// EventSubscribed reports that the subscription is confirmed by the server: from
	// now on, messages published on the channel are delivered. Every subscription
	// reports it once before its first message.
	EventSubscribed EventKind = iota + 1
	// EventMessage carries one published message.
	EventMessage
)

// Event is one thing that happened on a subscription.
type Event struct {
	// Kind says what happened.
	Kind EventKind
	// Payload is the message, for EventMessage. It is valid only during the handler
	// call.
	Payload []byte
}

// ErrSubscriptionClosed reports that a subscription ended because its context was done.
var ErrSubscriptionClosed = errors.New("backend: subscription closed")

// PubSub is an at-most-once broadcast transport, such as Redis Pub/Sub, used for
// cross-instance invalidation.
type PubSub interface {
	// Publish sends message to every current subscriber of channel.
	Publish(ctx context.Context, channel string, message []byte) error
	// Subscribe subscribes to channel and calls handler, from a single goroutine, for
	// each event until the subscription ends. It always returns a non-nil error: an
	// error wrapping [ErrSubscriptionClosed] when ctx is done, or the reason the
	// subscription broke (a lost connection, a server that dropped the client).
	//
	// NOTE: Subscribe must return on any interruption instead of reconnecting on its
	// own: messages published while a subscription is down are lost, and the caller
	// must learn that it happened.
	Subscribe(ctx context.Context, channel string, handler func(Event)) error
}

// TrackEventKind says what a tracking [TrackEvent] reports.
type TrackEventKind uint8

const (
	// TrackStarted reports that the server confirmed the tracking of the prefix:
	// from now on, every write to a key under it is reported. Every tracking reports
	// it once before anything else.
	TrackStarted TrackEventKind = iota + 1
	// TrackInvalidate carries keys that were written or deleted, or, with All set,
	// says that every key may have changed (a FLUSHALL, FLUSHDB, or a server that
	// dropped its tracking state).
	TrackInvalidate
	// TrackAlive reports that the server answered a liveness probe sent on the
	// tracking connection: every invalidation the server sent before that answer
	// has been delivered.
	TrackAlive
)

// TrackEvent is one thing that happened on a tracking.
type TrackEvent struct {
	// Kind says what happened.
	Kind TrackEventKind
	// Keys are the full remote keys of a TrackInvalidate event. They are valid only
	// during the handler call.
	Keys [][]byte
	// All is set on a TrackInvalidate event that invalidates every key.
	All bool
}

// Tracker is implemented by remote backends that can report every write to keys
// under a prefix, whoever made it: Redis server-assisted client-side caching
// (CLIENT TRACKING in broadcast mode). The cache uses it to learn of writes made
// outside the library.
type Tracker interface {
	// Track asks the server to report writes to keys starting with prefix and calls
	// handler, from a single goroutine, for each event until the tracking ends. Every
	// probe interval it probes the server on the tracking connection, from a
	// goroutine that never delays the handler, and reports each answer with
	// TrackAlive. It always returns a non-nil error: one wrapping
	// [ErrSubscriptionClosed] when ctx is done, or the reason the tracking broke.
	//
	// NOTE: like [PubSub.Subscribe], Track must return on any interruption instead of
	// restarting on its own: invalidations sent while it is down are lost.
	Track(ctx context.Context, prefix string, probe time.Duration, handler func(TrackEvent)) error
}
