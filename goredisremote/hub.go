package goredisremote

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/accelerator-go/accelerator/backend"
)

// subscriberBuffer is how many events a subscription may have waiting for its
// handler, and subscriberBufferBytes how many payload bytes (the hard limit Redis
// puts on a pubsub client by default); a subscription that falls further behind is
// ended (errFellBehind) instead of delaying the others on its connection.
const (
	subscriberBuffer      = 4096
	subscriberBufferBytes = 32 << 20
)

var (
	// errFellBehind reports a subscription whose handler fell more than
	// subscriberBuffer events behind.
	errFellBehind = errors.New("handler fell behind")
	// errConnectionLost reports a shared connection that ended without an error.
	errConnectionLost = errors.New("connection lost")
	// errResubscribed reports that go-redis replaced the connection and subscribed
	// its channels again on its own: messages may have been lost in between.
	errResubscribed = errors.New("the client reconnected on its own")
)

// hub multiplexes the subscriptions of a Remote over one *redis.Client over one
// PubSub connection: each channel is subscribed once, whatever the number of
// Subscribe calls for it, and unsubscribed when its last Subscribe call returns; the
// connection is opened by the first call and closed when the last one returns. When
// the connection breaks, every Subscribe call on it returns.
type hub struct {
	r *Remote

	mu   sync.Mutex
	conn *hubConn // nil when no subscription is open
}

// hubConn is one PubSub connection of a hub. Its fields are guarded by the hub's
// mutex.
type hubConn struct {
	h        *hub
	ps       *redis.PubSub
	l        liveness
	channels map[string]*hubChannel
	// unsubscribing counts the UNSUBSCRIBE commands sent per channel whose reply has
	// not arrived: those replies are not the server ending a subscription.
	unsubscribing map[string]int
	queue         []hubCommand
	wake          chan struct{}
	ctx           context.Context
	cancel        context.CancelFunc
	dead          bool
}

// hubChannel is one subscribed channel of a connection.
type hubChannel struct {
	subs      map[*hubSub]struct{}
	confirmed bool
}

// hubCommand is a SUBSCRIBE or UNSUBSCRIBE for the connection's writer.
type hubCommand struct {
	channel   string
	subscribe bool
}

// hubSub is one Subscribe call.
type hubSub struct {
	events    chan backend.Event
	pending   atomic.Int64 // payload bytes in events
	fail      chan error   // at most one error
	confirmed bool         // guarded by the hub's mutex
}

// subscribe runs one Subscribe call on the hub's connection.
func (h *hub) subscribe(ctx context.Context, channel string, handler func(backend.Event)) error {
	s := &hubSub{events: make(chan backend.Event, subscriberBuffer), fail: make(chan error, 1)}
	c := h.add(channel, s)
	defer c.remove(channel, s)
	for {
		// The context first: nothing is delivered once it is done; then a failure,
		// which must not wait behind the events still buffered.
		if ctx.Err() != nil {
			return closedError(ctx, channel)
		}
		select {
		case err := <-s.fail:
			return fmt.Errorf("goredisremote: subscription to %q broke: %w", channel, err)
		default:
		}
		select {
		case ev := <-s.events:
			handler(ev)
			s.pending.Add(-int64(len(ev.Payload)))
		case err := <-s.fail:
			if ctx.Err() != nil {
				return closedError(ctx, channel)
			}
			return fmt.Errorf("goredisremote: subscription to %q broke: %w", channel, err)
		case <-ctx.Done():
			return closedError(ctx, channel)
		}
	}
}

// add registers s for channel on the current connection, opening one if needed.
func (h *hub) add(channel string, s *hubSub) *hubConn {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.conn
	if c == nil {
		c = h.open()
		h.conn = c
	}
	ch := c.channels[channel]
	if ch == nil {
		ch = &hubChannel{subs: make(map[*hubSub]struct{})}
		c.channels[channel] = ch
		c.send(hubCommand{channel: channel, subscribe: true})
	}
	ch.subs[s] = struct{}{}
	if ch.confirmed {
		s.confirmed = true
		s.events <- backend.Event{Kind: backend.EventSubscribed}
	}
	return c
}

// open starts a connection: go-redis dials it on the first SUBSCRIBE, which the
// writer sends, so nothing here waits on the network. The caller holds the hub's
// mutex.
func (h *hub) open() *hubConn {
	c := &hubConn{
		h:             h,
		ps:            h.r.client.Subscribe(context.Background()),
		channels:      make(map[string]*hubChannel),
		unsubscribing: make(map[string]int),
		wake:          make(chan struct{}, 1),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	done := make(chan struct{})
	go c.write()
	go func() {
		c.read()
		close(done)
	}()
	go c.l.watch(c.ctx, c.ps, h.r.pingInterval, done)
	return c
}

// send queues cmd for the writer. The caller holds the hub's mutex.
func (c *hubConn) send(cmd hubCommand) {
	c.queue = append(c.queue, cmd)
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// write sends the queued commands in order. go-redis reconnects a PubSub whose write
// failed and subscribes its channels again, silently: any error ends the connection.
func (c *hubConn) write() {
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.wake:
		}
		c.h.mu.Lock()
		queue := c.queue
		c.queue = nil
		c.h.mu.Unlock()
		for _, cmd := range queue {
			var err error
			if cmd.subscribe {
				err = c.ps.Subscribe(c.ctx, cmd.channel)
			} else {
				err = c.ps.Unsubscribe(c.ctx, cmd.channel)
			}
			if err != nil {
				c.h.mu.Lock()
				c.kill(fmt.Errorf("subscribe: %w", err))
				c.h.mu.Unlock()
				return
			}
		}
	}
}

// read receives from the connection until it fails or is closed.
func (c *hubConn) read() {
	for {
		msg, err := c.ps.Receive(c.ctx)
		c.l.progress.Add(1)
		if err != nil {
			if cause := c.l.cause(); cause != nil {
				err = cause
			}
			c.h.mu.Lock()
			c.kill(err)
			c.h.mu.Unlock()
			return
		}
		c.h.mu.Lock()
		switch m := msg.(type) {
		case *redis.Subscription:
			c.onSubscription(m)
		case *redis.Message:
			c.onMessage(m)
		}
		c.h.mu.Unlock()
	}
}

// remove unregisters s; the last subscription of a channel unsubscribes it, and the
// last of the connection closes it.
func (c *hubConn) remove(channel string, s *hubSub) {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	if c.dead {
		return
	}
	if ch := c.channels[channel]; ch != nil {
		delete(ch.subs, s)
		if len(ch.subs) == 0 {
			delete(c.channels, channel)
			c.unsubscribing[channel]++
			c.send(hubCommand{channel: channel})
		}
	}
	if len(c.channels) == 0 {
		c.kill(nil)
	}
}

// kill ends the connection: every subscription on it fails with err (when not nil),
// the hub forgets it, and the PubSub is closed, which makes Receive return. The
// caller holds the hub's mutex.
func (c *hubConn) kill(err error) {
	if c.dead {
		return
	}
	c.dead = true
	if c.h.conn == c {
		c.h.conn = nil
	}
	for _, ch := range c.channels {
		for s := range ch.subs {
			s.failWith(err)
		}
	}
	c.channels = nil
	c.cancel()
	go func() { _ = c.ps.Close() }()
}

// failChannel ends every subscription of channel with err. The caller holds the hub's
// mutex.
func (c *hubConn) failChannel(channel string, err error) {
	ch := c.channels[channel]
	if ch == nil {
		return
	}
	for s := range ch.subs {
		s.failWith(err)
	}
	delete(c.channels, channel)
}

// offer queues ev for the handler unless the subscription is too far behind. The
// caller holds the hub's mutex, so offers of one subscription never race.
func (s *hubSub) offer(ev backend.Event) bool {
	size := int64(len(ev.Payload))
	if s.pending.Load()+size > subscriberBufferBytes {
		return false
	}
	select {
	case s.events <- ev:
		s.pending.Add(size)
		return true
	default:
		return false
	}
}

func (s *hubSub) failWith(err error) {
	if err == nil {
		err = errConnectionLost
	}
	select {
	case s.fail <- err:
	default:
	}
}

// onSubscription handles a confirmation. The caller holds the hub's mutex.
func (c *hubConn) onSubscription(p *redis.Subscription) {
	if c.dead {
		return
	}
	switch p.Kind {
	case "subscribe":
		ch := c.channels[p.Channel]
		if ch == nil {
			return
		}
		if ch.confirmed {
			// A second confirmation: go-redis replaced the connection and
			// subscribed again on its own.
			c.kill(errResubscribed)
			return
		}
		ch.confirmed = true
		for s := range ch.subs {
			if !s.confirmed {
				s.confirmed = true
				s.events <- backend.Event{Kind: backend.EventSubscribed} // the first event: room
			}
		}
	case "unsubscribe":
		if n := c.unsubscribing[p.Channel]; n > 0 {
			if n == 1 {
				delete(c.unsubscribing, p.Channel)
			} else {
				c.unsubscribing[p.Channel] = n - 1
			}
			return
		}
		c.failChannel(p.Channel, errUnsubscribed)
	}
}

// onMessage hands m to the subscriptions of its channel without blocking: one whose
// buffer is full is ended. The caller holds the hub's mutex.
func (c *hubConn) onMessage(m *redis.Message) {
	if c.dead || m.Pattern != "" {
		return
	}
	ch := c.channels[m.Channel]
	if ch == nil || !ch.confirmed {
		return
	}
	// The payload is valid only during the handler call (backend.Event) and read
	// only, so every subscription can share a view of go-redis' string.
	ev := backend.Event{Kind: backend.EventMessage, Payload: bytesView(m.Payload)}
	for s := range ch.subs {
		if !s.confirmed {
			continue
		}
		if !s.offer(ev) {
			s.failWith(errFellBehind)
			delete(ch.subs, s)
		}
	}
	if len(ch.subs) == 0 {
		delete(c.channels, m.Channel)
		c.unsubscribing[m.Channel]++
		c.send(hubCommand{channel: m.Channel})
	}
}
