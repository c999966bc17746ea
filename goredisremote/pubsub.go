package goredisremote

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/accelerator-go/accelerator/backend"
)

var (
	// errUnsubscribed reports that the server ended the subscription.
	errUnsubscribed = errors.New("unsubscribed by the server")
	// errNoAnswer reports a connection that stayed silent, even to a PING.
	errNoAnswer = errors.New("no answer to PING")
)

// Publish sends message to every current subscriber of channel with one PUBLISH.
//
// On a cluster or a Ring, the PUBLISH goes to the node that owns channel as a key,
// which is where [Remote.Subscribe] listens: messages of one publisher then arrive in
// order, and on a Ring, whose shards do not relay messages to each other, at all. In
// a cluster the message still reaches the subscribers on every node.
func (r *Remote) Publish(ctx context.Context, channel string, message []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("goredisremote: publish: %w", err)
	}
	cmd := redis.NewIntCmd(ctx, "publish", channel, r.arg(message))
	// go-redis treats PUBLISH as keyless: a cluster client spreads it over the nodes
	// round-robin, which reorders the messages of one publisher (those sent to the
	// subscriber's node overtake those relayed by the cluster bus), and a Ring sends
	// it to a random shard, where the subscribers of another shard never see it.
	// Routing it by the channel, as a key, sends it where Subscribe listens.
	cmd.SetFirstKeyPos(1)
	if err := r.client.Process(ctx, cmd); err != nil {
		return fmt.Errorf("goredisremote: publish: %w", err)
	}
	return nil
}

// Subscribe subscribes to channel and calls handler for each event until the
// subscription ends, as [backend.PubSub] requires. handler runs on the goroutine that
// called Subscribe, never after Subscribe returned.
//
// Over a *redis.Client (standalone or Sentinel), every Subscribe call of the Remote
// shares one PubSub connection: each channel is subscribed once on it however many
// calls want it, and unsubscribed when the last of them returns; the connection is
// opened by the first call and closed when the last returns. Each call has a buffer
// of 4,096 events and 32 MiB of payloads; a handler that falls further behind ends
// its own subscription with an error instead of delaying the others. Over a cluster client or a Ring, each call
// uses a connection of its own.
//
// It returns an error wrapping [backend.ErrSubscriptionClosed] (and the context's
// error) when ctx is done, or an error saying why the subscription broke: the
// connection failed or was closed by the server, the server unsubscribed it, or the
// connection stayed silent even to a PING (a frozen server, a network partition):
// after 5 s without traffic Subscribe sends a PING, and it gives up when nothing at
// all arrived 5 s later.
//
// Subscribe never resubscribes. It reads the [redis.PubSub] itself instead of using
// [redis.PubSub.Channel], which reconnects silently and loses the messages published
// meanwhile, and it returns on the first error. go-redis also reconnects a PubSub
// whose write failed and subscribes its channels again: on the shared connection, a
// failed SUBSCRIBE, or a second confirmation of a channel, ends every subscription.
//
// NOTE: go-redis' Receive tries to reconnect the PubSub before it reports an error;
// Subscribe then closes the PubSub, which drops the new connection. On a server that
// cannot be reached, Subscribe therefore returns once that attempt has failed, which
// is bounded by the client's DialTimeout and DialerRetries; over a *redis.Client it
// returns as soon as ctx ends, whatever the connection does.
func (r *Remote) Subscribe(ctx context.Context, channel string, handler func(backend.Event)) error {
	if ctx.Err() != nil {
		return closedError(ctx, channel)
	}
	if r.kind == kindSingle {
		return r.hub.subscribe(ctx, channel, handler)
	}
	ps, err := r.subscribe(ctx, channel)
	if err != nil {
		if ctx.Err() != nil {
			return closedError(ctx, channel)
		}
		return fmt.Errorf("goredisremote: subscribe %q: %w", channel, err)
	}

	// Receive blocks until something arrives: closing the PubSub is what makes it
	// return when ctx ends or when the connection goes silent.
	stopClose := context.AfterFunc(ctx, func() { _ = ps.Close() })
	var l liveness
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { l.watch(ctx, ps, r.pingInterval, done) })
	defer func() {
		stopClose()
		// Closed first, so that a PING of the watchdog in the meantime cannot
		// reconnect it; ErrClosed when it was closed already.
		_ = ps.Close()
		close(done)
		wg.Wait()
	}()

	confirmed := false
	for {
		msg, err := ps.Receive(ctx)
		l.progress.Add(1)
		if err != nil {
			return brokenError(ctx, channel, err, l.cause())
		}
		if err := l.dispatch(msg, channel, &confirmed, handler); err != nil {
			return fmt.Errorf("goredisremote: subscription to %q broke: %w", channel, err)
		}
		if ctx.Err() != nil {
			return closedError(ctx, channel)
		}
	}
}

// subscribe returns a PubSub on which SUBSCRIBE channel has been sent.
func (r *Remote) subscribe(ctx context.Context, channel string) (ps *redis.PubSub, err error) {
	if r.kind == kindRing {
		// A Ring needs the channel up front to pick a shard, and it panics with an
		// error when no shard is up.
		defer func() {
			if p := recover(); p != nil {
				ps, err = nil, fmt.Errorf("ring: %v", p)
			}
		}()
		return r.client.Subscribe(ctx, channel), nil
	}
	ps = r.client.Subscribe(ctx)
	if err := ps.Subscribe(ctx, channel); err != nil {
		_ = ps.Close()
		return nil, err
	}
	return ps, nil
}

func closedError(ctx context.Context, channel string) error {
	return fmt.Errorf("goredisremote: subscription to %q: %w: %w", channel, backend.ErrSubscriptionClosed, context.Cause(ctx))
}

// brokenError says why Receive failed with err: ctx ended, the watchdog gave up on a
// silent connection (cause), or the connection failed.
func brokenError(ctx context.Context, channel string, err, cause error) error {
	if ctx.Err() != nil {
		return closedError(ctx, channel)
	}
	if cause != nil {
		err = cause
	}
	return fmt.Errorf("goredisremote: subscription to %q broke: %w", channel, err)
}

// liveness watches a subscription's connection: when nothing arrived for a whole
// interval it sends a PING, and when nothing arrived by the next interval either, it
// closes the PubSub so that Receive returns.
type liveness struct {
	// progress counts what the connection delivered and the handler calls that
	// returned.
	progress atomic.Uint64
	// busy is set while the handler runs: a slow handler is not a silent server.
	busy atomic.Bool

	mu  sync.Mutex
	err error // why watch closed the PubSub, if it did
}

// dispatch hands msg to handler: EventSubscribed once for the confirmation of
// channel, then EventMessage for each message on it. It returns an error when the
// server ended the subscription.
func (l *liveness) dispatch(msg any, channel string, confirmed *bool, handler func(backend.Event)) error {
	switch m := msg.(type) {
	case *redis.Subscription:
		if m.Channel != channel {
			return nil
		}
		if m.Kind == "unsubscribe" {
			return errUnsubscribed
		}
		if m.Kind != "subscribe" || *confirmed {
			return nil
		}
		*confirmed = true
		l.call(handler, backend.Event{Kind: backend.EventSubscribed})
	case *redis.Message:
		if !*confirmed || m.Channel != channel {
			return nil
		}
		// The payload is valid only during the handler call (backend.Event), so a
		// view of the string go-redis allocated for this message is enough.
		l.call(handler, backend.Event{Kind: backend.EventMessage, Payload: bytesView(m.Payload)})
	}
	return nil
}

func (l *liveness) call(handler func(backend.Event), ev backend.Event) {
	l.busy.Store(true)
	defer func() {
		l.busy.Store(false)
		l.progress.Add(1)
	}()
	handler(ev)
}

// watch runs until done is closed or it closed ps.
func (l *liveness) watch(ctx context.Context, ps *redis.PubSub, interval time.Duration, done <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	last, pinged := l.progress.Load(), false
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		now := l.progress.Load()
		if now != last || l.busy.Load() {
			last, pinged = now, false
			continue
		}
		if pinged {
			l.fail(ps, fmt.Errorf("%w within %v", errNoAnswer, interval))
			return
		}
		pinged = true
		if err := ps.Ping(ctx); err != nil && ctx.Err() == nil {
			l.fail(ps, fmt.Errorf("ping: %w", err))
			return
		}
	}
}

// fail records why the subscription broke and closes ps, which makes Receive return.
func (l *liveness) fail(ps *redis.PubSub, err error) {
	l.mu.Lock()
	l.err = err
	l.mu.Unlock()
	_ = ps.Close()
}

func (l *liveness) cause() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}
