package accelerator

import (
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
	// LastMessage is when the last message (a ping included) arrived.
	LastMessage time.Time
	// Reconnects counts the subscriptions after the first.
	Reconnects uint64
	// Flushes counts the times L1 was dropped, by reason: "subscribed" (a new
	// subscription: messages may have been lost before it), "disconnected" (the
	// subscription broke), "down" (the subscriber
	// stayed down longer than InvalidationGrace), "gap" (a sender's sequence number
	// skipped), "malformed" (a message could not be decoded), "undecodable-key",
	// "flush" (another instance asked for it).
	Flushes map[string]uint64
}

// invalidator broadcasts this instance's writes and applies the other instances'.
type invalidator[K comparable, V any] struct {
	c       *cache[K, V]
	ps      backend.PubSub
	channel string
	id      [invmsg.IDLen]byte
	seq     atomic.Uint64

	connected atomic.Bool
	since     atomic.Int64 // Unix nanoseconds
	lastMsg   atomic.Int64
	lastEcho  atomic.Int64
	// cancelSub ends the current subscription (the liveness check uses it).
	cancelSub atomic.Pointer[context.CancelFunc]

	mu         sync.Mutex
	reconnects uint64
	flushes    map[string]uint64
	// lastSeq is the last sequence number seen from each sender; touched only by the
	// subscriber goroutine.
	lastSeq map[[invmsg.IDLen]byte]uint64

	stop context.CancelFunc
	done sync.WaitGroup
}

func newInvalidator[K comparable, V any](c *cache[K, V], ps backend.PubSub) *invalidator[K, V] {
	inv := &invalidator[K, V]{
		c:       c,
		ps:      ps,
		channel: invalidationChannel(c.areaKey),
		flushes: make(map[string]uint64),
		lastSeq: make(map[[invmsg.IDLen]byte]uint64),
	}
	rand.Read(inv.id[:])
	inv.since.Store(time.Now().UnixNano())
	ctx, cancel := context.WithCancel(context.Background())
	inv.stop = cancel
	inv.done.Add(2)
	go inv.subscribeLoop(ctx)
	go inv.liveness(ctx)
	return inv
}

func (inv *invalidator[K, V]) close() {
	inv.stop()
	inv.done.Wait()
}

// trusted reports whether L1 may keep entries for their full TTL: only while the
// subscription is alive.
func (inv *invalidator[K, V]) trusted() bool { return inv.connected.Load() }

// publish sends the keys this instance wrote.
func (inv *invalidator[K, V]) publish(ctx context.Context, keys []K) error {
	m := invmsg.Message{Kind: invmsg.Keys, Source: inv.id, Keys: make([][]byte, len(keys))}
	for i, k := range keys {
		m.Keys[i] = inv.c.cfg.KeyEncoder.AppendKey(nil, k)
	}
	return inv.send(ctx, &m)
}

func (inv *invalidator[K, V]) send(ctx context.Context, m *invmsg.Message) error {
	if m.Kind != invmsg.Ping {
		m.Seq = inv.seq.Add(1)
	}
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

// subscribeLoop keeps a subscription open until the cache closes. Every new
// subscription drops L1: messages published while there was none are lost.
func (inv *invalidator[K, V]) subscribeLoop(ctx context.Context) {
	defer inv.done.Done()
	backoff := 20 * time.Millisecond
	for first := true; ctx.Err() == nil; first = false {
		if !first {
			inv.mu.Lock()
			inv.reconnects++
			inv.mu.Unlock()
		}
		sctx, cancel := context.WithCancel(ctx)
		inv.cancelSub.Store(&cancel)
		var subscribed atomic.Bool
		err := inv.ps.Subscribe(sctx, inv.channel, func(ev backend.Event) {
			if ev.Kind == backend.EventSubscribed {
				subscribed.Store(true)
			}
			inv.handle(ev)
		})
		cancel()
		inv.setConnected(false)
		if ctx.Err() != nil {
			return
		}
		// Messages may be lost from now on, and Redis itself may have restarted and
		// lost its tombstones: drop L1 and make every fill in flight lose.
		inv.flush("disconnected")
		inv.c.metrics.receiveFailures.Add(1)
		inv.c.log.problem("subscribe", err)
		if subscribed.Load() {
			backoff = 20 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (inv *invalidator[K, V]) setConnected(up bool) {
	if inv.connected.Swap(up) != up {
		inv.since.Store(time.Now().UnixNano())
	}
}

// handle applies one subscription event. It runs on the subscription's goroutine and
// never blocks on anything but L1: a slow handler backs up into Redis, which
// disconnects the subscriber, which is detected.
func (inv *invalidator[K, V]) handle(ev backend.Event) {
	now := time.Now().UnixNano()
	if ev.Kind == backend.EventSubscribed {
		clear(inv.lastSeq)
		inv.flush("subscribed")
		inv.lastEcho.Store(now)
		inv.setConnected(true)
		return
	}
	inv.lastMsg.Store(now)
	m, err := invmsg.Decode(ev.Payload)
	if err != nil {
		inv.flush("malformed")
		return
	}
	if m.Source == inv.id {
		if m.Kind == invmsg.Ping {
			inv.lastEcho.Store(now)
		}
		return
	}
	if m.Kind == invmsg.Ping {
		return
	}
	inv.c.metrics.invReceived.Add(1)
	last, seen := inv.lastSeq[m.Source]
	inv.lastSeq[m.Source] = m.Seq
	if seen && m.Seq != last+1 {
		inv.flush("gap")
		return
	}
	if m.Kind == invmsg.Flush {
		inv.flush("flush")
		return
	}
	inv.apply(m.Keys)
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
	inv.c.flushLocal()
	inv.mu.Lock()
	inv.flushes[reason]++
	inv.mu.Unlock()
}

// liveness publishes a ping every InvalidationPingInterval and ends a subscription
// whose pings stopped coming back; while the subscriber is down longer than
// InvalidationGrace, it drops L1 once.
func (inv *invalidator[K, V]) liveness(ctx context.Context) {
	defer inv.done.Done()
	interval := inv.c.cfg.InvalidationPingInterval
	t := time.NewTicker(interval)
	defer t.Stop()
	flushedOutage := int64(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now().UnixNano()
		if !inv.connected.Load() {
			down := inv.since.Load()
			if now-down > int64(inv.c.cfg.InvalidationGrace) && flushedOutage != down {
				flushedOutage = down
				inv.flush("down")
			}
			continue
		}
		inv.send(ctx, &invmsg.Message{Kind: invmsg.Ping, Source: inv.id})
		if now-inv.lastEcho.Load() > int64(3*interval) {
			inv.c.log.problem("subscribe", errors.New("pings stopped coming back; resubscribing"))
			if cancel := inv.cancelSub.Load(); cancel != nil {
				(*cancel)()
			}
		}
	}
}

func (inv *invalidator[K, V]) state() SubscriberState {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	s := SubscriberState{
		Enabled:    true,
		Channel:    inv.channel,
		Connected:  inv.connected.Load(),
		Since:      time.Unix(0, inv.since.Load()),
		Reconnects: inv.reconnects,
		Flushes:    make(map[string]uint64, len(inv.flushes)),
	}
	if t := inv.lastMsg.Load(); t != 0 {
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
