package rueidisremote

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/redis/rueidis"

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

// errFellBehind reports a subscription whose handler fell more than
// subscriberBuffer events behind.
var errFellBehind = errors.New("handler fell behind")

// hub multiplexes every classic Pub/Sub subscription of a Remote over one dedicated
// connection: each channel is subscribed once, whatever the number of Subscribe calls
// for it, and unsubscribed when its last Subscribe call returns; the connection is
// opened by the first call and closed when the last one returns. When the connection
// breaks, every Subscribe call on it returns.
type hub struct {
	client rueidis.Client

	mu   sync.Mutex
	conn *hubConn // nil when no subscription is open
}

// hubConn is one connection of a hub. Its fields are guarded by the hub's mutex.
type hubConn struct {
	h        *hub
	channels map[string]*hubChannel
	// unsubscribing counts the UNSUBSCRIBE commands sent per channel whose reply has
	// not arrived: those replies are not the server ending a subscription.
	unsubscribing map[string]int
	queue         []hubCommand // commands for the writer, in order
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
			return fmt.Errorf("rueidisremote: subscription to %q broke: %w", channel, err)
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
			return fmt.Errorf("rueidisremote: subscription to %q broke: %w", channel, err)
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

// open starts a connection. The caller holds the hub's mutex, so the connection is
// dialled apart: a dial that hangs (a partition drops the SYN) must not hold the
// mutex, which the Subscribe calls of other caches take to return.
func (h *hub) open() *hubConn {
	c := &hubConn{
		h:             h,
		channels:      make(map[string]*hubChannel),
		unsubscribing: make(map[string]int),
		wake:          make(chan struct{}, 1),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	go c.run()
	return c
}

// run dedicates the connection, installs the pub/sub hooks, and sends the queued
// commands until the connection is lost or killed; then it closes the connection.
func (c *hubConn) run() {
	dc, release := c.h.client.Dedicate()
	lost := dc.SetPubSubHooks(rueidis.PubSubHooks{
		OnSubscription: c.onSubscription,
		OnMessage:      c.onMessage,
	})
	go c.write(dc)
	var err error
	select {
	case err = <-lost:
	case <-c.ctx.Done():
	}
	if err == nil {
		err = errConnectionLost
	}
	c.h.mu.Lock()
	c.kill(err)
	c.h.mu.Unlock()
	// Closing drops the subscriptions on the server even when it does not answer; it
	// may take a while then, which delays nobody.
	dc.Close()
	release()
}

// send queues cmd for the writer. The caller holds the hub's mutex.
func (c *hubConn) send(cmd hubCommand) {
	c.queue = append(c.queue, cmd)
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// write sends the queued commands one after the other, so that the server sees them
// in the order they were queued.
func (c *hubConn) write(dc rueidis.DedicatedClient) {
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
			var built rueidis.Completed
			if cmd.subscribe {
				built = dc.B().Subscribe().Channel(cmd.channel).Build()
			} else {
				built = dc.B().Unsubscribe().Channel(cmd.channel).Build()
			}
			err := dc.Do(c.ctx, built).Error()
			var rerr *rueidis.RedisError
			if cmd.subscribe && errors.As(err, &rerr) {
				// Refused (an ACL without the channel, say): the other channels of
				// the connection are not concerned.
				c.h.mu.Lock()
				c.failChannel(cmd.channel, fmt.Errorf("subscribe: %w", err))
				c.h.mu.Unlock()
			}
			// Any other error is the connection's, which the watcher reports.
		}
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

// kill ends the connection: every subscription on it fails with err (when not nil)
// and the hub forgets it. The caller holds the hub's mutex.
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

// onSubscription runs on rueidis' reader goroutine for the connection.
func (c *hubConn) onSubscription(p rueidis.PubSubSubscription) {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	if c.dead {
		return
	}
	switch p.Kind {
	case "subscribe":
		ch := c.channels[p.Channel]
		if ch == nil || ch.confirmed {
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

// onMessage runs on rueidis' reader goroutine for the connection. It never blocks: a
// subscription whose buffer is full is ended.
func (c *hubConn) onMessage(m rueidis.PubSubMessage) {
	// Pattern is set for a PMESSAGE only, which this connection never receives;
	// checked so that a pattern match can never pass as a message.
	if m.Pattern != "" {
		return
	}
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	if c.dead {
		return
	}
	ch := c.channels[m.Channel]
	if ch == nil || !ch.confirmed {
		return
	}
	// The payload is valid only during the handler call (backend.Event) and read
	// only, so every subscription can share a view of rueidis' string.
	ev := backend.Event{Kind: backend.EventMessage, Payload: bytesView(m.Message)}
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
