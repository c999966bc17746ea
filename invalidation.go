package accelerator

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/internal/invmsg"
)

// ErrNotBroadcast is wrapped in the error of a write whose L2 part succeeded but whose
// invalidation message could not be published: other instances may serve the old
// value from their L1 until it expires (at most LocalTTL).
var ErrNotBroadcast = errors.New("accelerator: invalidation was not broadcast")

// invalidationChannel is the Pub/Sub channel of an area: the area's key prefix and a
// name no encoded key can clash with in the channel namespace.
func invalidationChannel(areaKey []byte) string {
	return string(areaKey) + "!invalidate"
}

// maxMessageKeyBytes bounds the key bytes of one invalidation message: the publisher
// splits a larger batch into several messages.
const maxMessageKeyBytes = 64 << 10

// SubscriberState is the state of the invalidation subscriber of a cache.
type SubscriberState struct {
	// Enabled reports whether the cache broadcasts and receives invalidations.
	Enabled bool
	// Channel is the Pub/Sub channel.
	Channel string
	// Connected reports whether the subscription is confirmed and alive.
	Connected bool
	// Since is when Connected last changed.
	Since time.Time
	// LastMessage is when the last message (a ping included) arrived, or the
	// subscription was confirmed: the last sign of life the watchdog saw.
	LastMessage time.Time
	// Reconnects counts the subscriptions after the first.
	Reconnects uint64
	// Flushes counts the times L1 was dropped, by reason: "subscribed" (a new
	// subscription: messages may have been lost before it), "disconnected" (the
	// subscription broke), "silent" (nothing, not even the instance's own ping,
	// arrived for the liveness window), "down" (the subscriber stayed down longer
	// than InvalidationGrace), "gap" (a sender's sequence number skipped),
	// "malformed" (a message could not be decoded), "undecodable-key", "flush"
	// (another instance asked for it), "clear" (another instance called
	// [Cache.Clear]), and for server-assisted invalidation
	// "tracking-started", "tracking-lost", "tracking-silent" and "tracking-all" (the
	// server invalidated every key).
	Flushes map[string]uint64
	// Tracking reports whether server-assisted invalidation
	// ([Options.ServerAssistedInvalidation]) is on.
	Tracking bool
	// TrackingConnected reports whether the tracking is confirmed and alive.
	TrackingConnected bool
	// TrackingReconnects counts the trackings after the first.
	TrackingReconnects uint64
}

// link is the state of one receiving transport: the Pub/Sub subscription or the
// server-assisted tracking.
type link struct {
	connected atomic.Bool
	since     atomic.Int64 // Unix nanoseconds of the last change of connected
	lastHeard atomic.Int64 // Unix nanoseconds of the last sign of life
	// attempt identifies the current subscription attempt; the watchdog moves it on
	// to disown an attempt that went silent, whose events are ignored from then on.
	attempt atomic.Uint64
	// confirmed is the last attempt the server confirmed.
	confirmed atomic.Uint64
	cancel    atomic.Pointer[context.CancelFunc]
	// outage is the since of the outage the "down" flush was made for; watchdog only.
	outage     int64
	reconnects uint64 // guarded by invalidator.mu
}

// pendingBatch is the keys written by concurrent writers that the publisher sends
// together, and the tag and Clear messages waiting with them.
type pendingBatch struct {
	keys [][]byte
	msgs []invmsg.Message // numbered when sent
	done chan struct{}
	err  error // set before done is closed
}

// invalidator broadcasts this instance's writes and applies the other instances'.
//
// Its goroutines: a publisher, the only one that sends Keys messages, so that
// sequence numbers reach Redis in order; a pinger; a subscriber loop (and a tracking
// loop with server-assisted invalidation); and a watchdog that only reads clocks and
// drops L1, so that no network call can delay it.
type invalidator[K comparable, V any] struct {
	c       *cache[K, V]
	ps      backend.PubSub
	tracker backend.Tracker // nil without ServerAssistedInvalidation
	channel string
	id      [invmsg.IDLen]byte

	bus   link
	track link

	pubMu     sync.Mutex
	pending   *pendingBatch
	pubClosed bool
	wake      chan struct{}
	seq       uint64 // publisher goroutine only

	mu      sync.Mutex // guards link transitions and flushes
	flushes map[string]uint64
	// lastSeq is the last sequence number seen from each sender; touched only by the
	// subscriber goroutine.
	lastSeq map[[invmsg.IDLen]byte]uint64

	// closed is set by close, before the goroutines' context ends: nothing touches the
	// cache once it is set.
	closed atomic.Bool
	stop   context.CancelFunc
	done   sync.WaitGroup
}

// Test switches; each turns one mechanism off so that a test can show it fails
// without it.
var (
	// testUnorderedPublish makes each writer publish its own message from its own
	// goroutine, numbered before the concurrent publishes race to Redis.
	testUnorderedPublish atomic.Bool
	// testNoSilenceRule turns the watchdog's silence rule off: a silent transport is
	// then noticed only when the connection itself is declared dead.
	testNoSilenceRule atomic.Bool
	// testTrackingKeepsL1 makes a lost or new tracking leave L1 alone.
	testTrackingKeepsL1 atomic.Bool
)

func newInvalidator[K comparable, V any](c *cache[K, V], ps backend.PubSub) *invalidator[K, V] {
	inv := &invalidator[K, V]{
		c:       c,
		ps:      ps,
		channel: invalidationChannel(c.areaKey),
		flushes: make(map[string]uint64),
		lastSeq: make(map[[invmsg.IDLen]byte]uint64),
		wake:    make(chan struct{}, 1),
	}
	if c.cfg.ServerAssistedInvalidation {
		inv.tracker, _ = c.cfg.Remote.(backend.Tracker)
	}
	rand.Read(inv.id[:])
	now := time.Now().UnixNano()
	inv.bus.since.Store(now)
	inv.track.since.Store(now)
	ctx, stop := context.WithCancel(context.Background())
	inv.stop = stop
	inv.done.Add(4)
	go inv.publisher(ctx)
	go inv.pinger(ctx)
	go inv.watchdog(ctx)
	go inv.subscribeLoop(ctx)
	if inv.tracker != nil {
		inv.done.Add(1)
		go inv.trackLoop(ctx)
	}
	return inv
}

// closeSlack is how much longer than RemoteTimeout close waits for the goroutines.
const closeSlack = 100 * time.Millisecond

// close stops every goroutine. It waits at most RemoteTimeout + closeSlack: a
// goroutine still inside a backend call then (a backend that ignores its context)
// ends on its own and no longer touches the cache.
func (inv *invalidator[K, V]) close() {
	inv.closed.Store(true)
	inv.stop()
	done := make(chan struct{})
	go func() { inv.done.Wait(); close(done) }()
	t := time.NewTimer(inv.c.cfg.RemoteTimeout + closeSlack)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// trusted reports whether L1 may keep entries for their full TTL: only while every
// receiving transport is alive.
func (inv *invalidator[K, V]) trusted() bool {
	return inv.bus.connected.Load() && (inv.tracker == nil || inv.track.connected.Load())
}

// publish broadcasts the keys this instance wrote and waits until the message that
// carries them was published, or ctx is done. Keys of concurrent writers travel in
// one message, sent by the publisher goroutine.
func (inv *invalidator[K, V]) publish(ctx context.Context, keys []K) error {
	if len(keys) == 0 {
		return nil
	}
	enc := make([][]byte, len(keys))
	for i, k := range keys {
		enc[i] = inv.c.cfg.KeyEncoder.AppendKey(nil, k)
	}
	if testUnorderedPublish.Load() {
		return inv.publishUnordered(ctx, enc)
	}
	return inv.enqueue(ctx, enc, nil)
}

// publishMessage broadcasts a Tags or Clear message, numbered in turn with the
// others, and waits as publish does.
func (inv *invalidator[K, V]) publishMessage(ctx context.Context, m invmsg.Message) error {
	m.Source = inv.id
	return inv.enqueue(ctx, nil, &m)
}

// enqueue hands keys, or m, to the publisher and waits until they were published.
func (inv *invalidator[K, V]) enqueue(ctx context.Context, enc [][]byte, m *invmsg.Message) error {
	inv.pubMu.Lock()
	if inv.pubClosed {
		inv.pubMu.Unlock()
		return fmt.Errorf("%w: %w", ErrNotBroadcast, ErrClosed)
	}
	b := inv.pending
	if b == nil {
		b = &pendingBatch{done: make(chan struct{})}
		inv.pending = b
	}
	b.keys = append(b.keys, enc...)
	if m != nil {
		b.msgs = append(b.msgs, *m)
	}
	inv.pubMu.Unlock()
	select {
	case inv.wake <- struct{}{}:
	default:
	}
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrNotBroadcast, context.Cause(ctx))
	}
}

// publishUnordered is the numbering that caused false gaps, kept for the test that
// shows the gap test can fail: the number is taken before the publishes race.
func (inv *invalidator[K, V]) publishUnordered(ctx context.Context, keys [][]byte) error {
	inv.pubMu.Lock()
	inv.seq++
	seq := inv.seq
	inv.pubMu.Unlock()
	return inv.send(ctx, &invmsg.Message{Kind: invmsg.Keys, Source: inv.id, Seq: seq, Keys: keys})
}

// publisher sends the pending batches one message at a time, numbering each message
// as it sends it: messages reach Redis in the order of their numbers.
func (inv *invalidator[K, V]) publisher(ctx context.Context) {
	defer inv.done.Done()
	for {
		select {
		case <-ctx.Done():
			inv.pubMu.Lock()
			inv.pubClosed = true
			b := inv.pending
			inv.pending = nil
			inv.pubMu.Unlock()
			if b != nil {
				b.err = fmt.Errorf("%w: %w", ErrNotBroadcast, ErrClosed)
				close(b.done)
			}
			return
		case <-inv.wake:
		}
		inv.pubMu.Lock()
		b := inv.pending
		inv.pending = nil
		inv.pubMu.Unlock()
		if b == nil {
			continue
		}
		b.err = inv.sendMessages(ctx, b.msgs)
		if err := inv.sendKeys(ctx, b.keys); b.err == nil {
			b.err = err
		}
		close(b.done)
	}
}

// sendKeys publishes keys in messages of at most maxMessageKeyBytes of keys each. A
// message that failed keeps its number: receivers see the gap and drop their L1.
func (inv *invalidator[K, V]) sendKeys(ctx context.Context, keys [][]byte) error {
	keys = dedupKeys(keys)
	var errs error
	for len(keys) > 0 {
		n, size := 0, 0
		for n < len(keys) && (n == 0 || size+len(keys[n]) <= maxMessageKeyBytes) {
			size += len(keys[n])
			n++
		}
		inv.seq++
		m := invmsg.Message{Kind: invmsg.Keys, Source: inv.id, Seq: inv.seq, Keys: keys[:n]}
		if err := inv.send(ctx, &m); err != nil && errs == nil {
			errs = err
		}
		keys = keys[n:]
	}
	return errs
}

// sendMessages publishes the Tags and Clear messages of a batch, numbering each.
func (inv *invalidator[K, V]) sendMessages(ctx context.Context, msgs []invmsg.Message) error {
	var errs error
	for i := range msgs {
		inv.seq++
		msgs[i].Seq = inv.seq
		if err := inv.send(ctx, &msgs[i]); err != nil && errs == nil {
			errs = err
		}
	}
	return errs
}

// dedupKeys drops the repeats of a key written by several writers of one batch,
// keeping the first of each, in place.
func dedupKeys(keys [][]byte) [][]byte {
	if len(keys) < 2 {
		return keys
	}
	seen := make(map[string]struct{}, len(keys))
	out := keys[:0]
	for _, k := range keys {
		if _, dup := seen[string(k)]; dup {
			continue
		}
		seen[string(k)] = struct{}{}
		out = append(out, k)
	}
	return out
}

func (inv *invalidator[K, V]) send(ctx context.Context, m *invmsg.Message) error {
	cctx, cancel := context.WithTimeout(ctx, inv.c.cfg.RemoteTimeout)
	defer cancel()
	if err := inv.ps.Publish(cctx, inv.channel, invmsg.Append(nil, m)); err != nil {
		if m.Kind != invmsg.Ping {
			inv.c.metrics.publishFailures.Add(1)
			inv.c.log.problem("publish", err)
		}
		return fmt.Errorf("%w: %w", ErrNotBroadcast, err)
	}
	if m.Kind != invmsg.Ping {
		inv.c.metrics.invPublished.Add(1)
	}
	return nil
}

// pinger publishes a ping every InvalidationPingInterval while the subscription is
// up. A ping that comes back proves the subscription alive; the watchdog, not the
// pinger, acts on their absence, so a ping stuck in the network delays nothing.
func (inv *invalidator[K, V]) pinger(ctx context.Context) {
	defer inv.done.Done()
	t := time.NewTicker(inv.c.cfg.InvalidationPingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if inv.bus.connected.Load() {
			inv.send(ctx, &invmsg.Message{Kind: invmsg.Ping, Source: inv.id})
		}
	}
}

// silenceWindow is how long a live transport may stay silent before the watchdog
// distrusts L1: two and a half ping intervals, so that one late ping is not enough.
// With the watchdog's tick of a quarter interval, L1 is dropped at most three ping
// intervals after the last sign of life.
func (inv *invalidator[K, V]) silenceWindow() int64 {
	return int64(inv.c.cfg.InvalidationPingInterval) * 5 / 2
}

// watchdog checks, every quarter ping interval, that each transport gave a sign of
// life within the silence window, and drops L1 at once when one did not; it also
// drops L1 once per outage longer than InvalidationGrace. It reads clocks and L1
// only: rebuilding the subscription is the subscriber loop's job.
func (inv *invalidator[K, V]) watchdog(ctx context.Context) {
	defer inv.done.Done()
	t := time.NewTicker(max(inv.c.cfg.InvalidationPingInterval/4, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now().UnixNano()
		inv.check(&inv.bus, now, "silent", "down")
		if inv.tracker != nil {
			inv.check(&inv.track, now, "tracking-silent", "down")
		}
	}
}

// check applies the watchdog's rules to one transport.
func (inv *invalidator[K, V]) check(l *link, now int64, silent, down string) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if l.connected.Load() {
		if now-l.lastHeard.Load() <= inv.silenceWindow() {
			return
		}
		if testNoSilenceRule.Load() {
			return
		}
		// Disown the attempt before anything else: its late events are ignored.
		l.attempt.Add(1)
		inv.setConnected(l, false, now)
		inv.flushLocked(silent)
		inv.c.log.problem("subscribe", errors.New("invalidation transport went silent; resubscribing"))
		if cancel := l.cancel.Load(); cancel != nil {
			(*cancel)()
		}
		return
	}
	since := l.since.Load()
	if now-since > int64(inv.c.cfg.InvalidationGrace) && l.outage != since {
		l.outage = since
		inv.flushLocked(down)
	}
}

// setConnected records a change of l's state; the caller holds inv.mu.
func (inv *invalidator[K, V]) setConnected(l *link, up bool, now int64) {
	if l.connected.Swap(up) != up {
		l.since.Store(now)
	}
}

// subscribeLoop keeps a subscription open until the cache closes.
func (inv *invalidator[K, V]) subscribeLoop(ctx context.Context) {
	defer inv.done.Done()
	inv.keepUp(ctx, &inv.bus, "disconnected", func(ctx context.Context, attempt uint64) error {
		return inv.ps.Subscribe(ctx, inv.channel, func(ev backend.Event) { inv.handle(attempt, ev) })
	})
}

// trackLoop keeps a server-assisted tracking open until the cache closes.
func (inv *invalidator[K, V]) trackLoop(ctx context.Context) {
	defer inv.done.Done()
	probe := inv.c.cfg.InvalidationPingInterval
	inv.keepUp(ctx, &inv.track, "tracking-lost", func(ctx context.Context, attempt uint64) error {
		return inv.tracker.Track(ctx, string(inv.c.areaKey), probe, func(ev backend.TrackEvent) { inv.handleTrack(attempt, ev) })
	})
}

// keepUp runs one attempt after another of a transport until the cache closes. An
// attempt that had connected and was not disowned by the watchdog drops L1 when it
// ends: messages may be lost from now on, and Redis itself may have restarted and
// lost its tombstones.
func (inv *invalidator[K, V]) keepUp(ctx context.Context, l *link, lost string, run func(ctx context.Context, attempt uint64) error) {
	backoff := 20 * time.Millisecond
	for first := true; ctx.Err() == nil; first = false {
		inv.mu.Lock()
		if !first {
			l.reconnects++
		}
		attempt := l.attempt.Add(1)
		inv.mu.Unlock()
		sctx, cancel := context.WithCancel(ctx)
		l.cancel.Store(&cancel)
		err := run(sctx, attempt)
		cancel()
		if ctx.Err() != nil {
			return
		}
		inv.mu.Lock()
		ours := l.attempt.Load() == attempt
		wasUp := ours && l.connected.Load()
		if ours {
			l.attempt.Add(1)
			inv.setConnected(l, false, time.Now().UnixNano())
		}
		if wasUp && !(l == &inv.track && testTrackingKeepsL1.Load()) {
			inv.flushLocked(lost)
		}
		if l.confirmed.Load() == attempt {
			backoff = 20 * time.Millisecond
		}
		inv.mu.Unlock()
		inv.c.metrics.receiveFailures.Add(1)
		inv.c.log.problem("subscribe", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// confirm marks l connected for attempt, unless the watchdog disowned it, and drops
// L1: messages may have been lost before it.
func (inv *invalidator[K, V]) confirm(l *link, attempt uint64, reason string) bool {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if l.attempt.Load() != attempt || inv.closed.Load() {
		return false
	}
	now := time.Now().UnixNano()
	if !(l == &inv.track && testTrackingKeepsL1.Load()) {
		inv.flushLocked(reason)
	}
	l.lastHeard.Store(now)
	l.confirmed.Store(attempt)
	inv.setConnected(l, true, now)
	return true
}

// handle applies one subscription event. It runs on the subscription's goroutine and
// never blocks on anything but L1.
func (inv *invalidator[K, V]) handle(attempt uint64, ev backend.Event) {
	if ev.Kind == backend.EventSubscribed {
		if inv.confirm(&inv.bus, attempt, "subscribed") {
			clear(inv.lastSeq)
		}
		return
	}
	if inv.bus.attempt.Load() != attempt || inv.closed.Load() {
		return
	}
	inv.bus.lastHeard.Store(time.Now().UnixNano())
	m, err := invmsg.Decode(ev.Payload)
	if err != nil {
		inv.flush("malformed")
		return
	}
	if m.Source == inv.id || m.Kind == invmsg.Ping {
		return
	}
	// Counted once applied, so that a reader of the metric sees its effect.
	defer inv.c.metrics.invReceived.Add(1)
	last, seen := inv.lastSeq[m.Source]
	inv.lastSeq[m.Source] = m.Seq
	if seen && m.Seq != last+1 {
		inv.flush("gap")
		return
	}
	switch m.Kind {
	case invmsg.Flush:
		inv.flush("flush")
	case invmsg.Tags:
		inv.c.marks.learned(m.Tags, m.Clock)
	case invmsg.Clear:
		inv.c.marks.learned(nil, m.Clock)
		inv.flush("clear")
	default:
		inv.apply(m.Keys)
	}
}

// handleTrack applies one tracking event.
func (inv *invalidator[K, V]) handleTrack(attempt uint64, ev backend.TrackEvent) {
	if ev.Kind == backend.TrackStarted {
		inv.confirm(&inv.track, attempt, "tracking-started")
		return
	}
	if inv.track.attempt.Load() != attempt || inv.closed.Load() {
		return
	}
	inv.track.lastHeard.Store(time.Now().UnixNano())
	if ev.Kind != backend.TrackInvalidate {
		return
	}
	if ev.All {
		inv.flush("tracking-all")
		return
	}
	keys := make([][]byte, 0, len(ev.Keys))
	for _, k := range ev.Keys {
		// The prefix is the area's: every key under it is a key of this cache.
		if rest, ok := bytes.CutPrefix(k, inv.c.areaKey); ok {
			keys = append(keys, rest)
		}
	}
	inv.apply(keys)
}

// apply drops the keys another instance wrote from L1.
func (inv *invalidator[K, V]) apply(keys [][]byte) {
	decode := inv.c.keyDecode
	if decode == nil {
		inv.flush("undecodable-key")
		return
	}
	for _, b := range keys {
		k, err := decode(b)
		if err != nil {
			inv.flush("undecodable-key")
			return
		}
		inv.c.invalidateLocal(k)
	}
}

// flush drops L1: bumping the epoch makes every entry invisible at once, and in-flight
// fills that captured the old epoch lose.
func (inv *invalidator[K, V]) flush(reason string) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.flushLocked(reason)
}

func (inv *invalidator[K, V]) flushLocked(reason string) {
	if inv.closed.Load() {
		return
	}
	inv.c.flushLocal()
	// Marks read before now may miss a Tags or Clear message that was lost.
	inv.c.marks.stale()
	inv.flushes[reason]++
}

func (inv *invalidator[K, V]) state() SubscriberState {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	s := SubscriberState{
		Enabled:            true,
		Channel:            inv.channel,
		Connected:          inv.bus.connected.Load(),
		Since:              time.Unix(0, inv.bus.since.Load()),
		Reconnects:         inv.bus.reconnects,
		Flushes:            make(map[string]uint64, len(inv.flushes)),
		Tracking:           inv.tracker != nil,
		TrackingConnected:  inv.track.connected.Load(),
		TrackingReconnects: inv.track.reconnects,
	}
	if t := inv.bus.lastHeard.Load(); t != 0 {
		s.LastMessage = time.Unix(0, t)
	}
	for k, v := range inv.flushes {
		s.Flushes[k] = v
	}
	return s
}

// SubscriberState returns the state of the cache's invalidation subscriber; Enabled
// is false without [Options.BroadcastInvalidation].
func (c *Cache[K, V]) SubscriberState() SubscriberState {
	if c.c.inv == nil {
		return SubscriberState{}
	}
	return c.c.inv.state()
}

// validateTracking checks ServerAssistedInvalidation.
func (c *config[K, V]) validateTracking(bad func(string, ...any)) {
	if !c.ServerAssistedInvalidation {
		return
	}
	if !c.BroadcastInvalidation {
		bad("ServerAssistedInvalidation requires BroadcastInvalidation")
	}
	if _, ok := c.Remote.(backend.Tracker); !ok {
		bad("ServerAssistedInvalidation requires a Remote that implements backend.Tracker")
	}
}
