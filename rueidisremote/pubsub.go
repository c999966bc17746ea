package rueidisremote

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/rueidis"

	"github.com/accelerator-go/accelerator/backend"
)

var (
	// errConnectionLost reports that rueidis took the subscription's connection away
	// without saying why.
	errConnectionLost = errors.New("connection lost")
	// errUnsubscribed reports that the server ended the subscription.
	errUnsubscribed = errors.New("unsubscribed by the server")
)

// Publish sends message to every current subscriber of channel with one PUBLISH.
//
// In a cluster the message reaches the subscribers on every node. Publish sends it to
// the node that owns the channel name's hash slot, where [Remote.Subscribe] listens:
// a PUBLISH sent to a random node would travel over the cluster bus, and messages of
// one publisher sent through different nodes could arrive out of order.
func (r *Remote) Publish(ctx context.Context, channel string, message []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rueidisremote: publish: %w", err)
	}
	// The message is copied for the reason given in setCmd.
	cmd := r.client.B().Publish().Channel(channel).Message(string(message)).Build()
	if r.cluster {
		cmd = cmd.SetSlot(channel)
	}
	if err := r.client.Do(ctx, cmd).Error(); err != nil {
		return fmt.Errorf("rueidisremote: publish: %w", err)
	}
	return nil
}

// Subscribe subscribes to channel on a connection of its own and calls handler for
// each event until the subscription ends, as [backend.PubSub] requires. handler runs
// on the goroutine that called Subscribe, never after Subscribe returned. In a
// cluster, the connection goes to the node that owns the channel name's hash slot
// (see [Remote.Publish]).
//
// It returns an error wrapping [backend.ErrSubscriptionClosed] (and the context's
// error) when ctx is done, or an error saying why the subscription broke: the
// connection failed or was closed by the server, or the server unsubscribed it.
// Subscribe never reconnects: rueidis' own Receive would resubscribe after a
// connection error and silently lose the messages published meanwhile, so Subscribe
// uses a dedicated connection with pub/sub hooks instead.
//
// Subscribe closes its connection before returning, so that nothing of the
// subscription outlives the call; when the server stopped answering, rueidis takes
// up to a second to give up on the connection.
//
// NOTE: Subscribe does not itself detect a server that stops answering without
// closing the connection (a frozen process, a network partition); rueidis'
// background PING does, once a PING (sent every Dialer.KeepAlive, one second by
// default) goes unanswered for ConnWriteTimeout (ten seconds by default).
func (r *Remote) Subscribe(ctx context.Context, channel string, handler func(backend.Event)) error {
	if ctx.Err() != nil {
		return closedError(ctx, channel)
	}
	dc, release := r.client.Dedicate()
	defer release()

	events := make(chan backend.Event)
	unsubscribed := make(chan struct{}, 1)
	done := make(chan struct{})
	// The hooks run on rueidis' reader goroutine for the connection, one at a time
	// and in the order the server sent the pushes; they hand each event over to this
	// goroutine and wait until it is taken, or until Subscribe is returning.
	deliver := func(ev backend.Event) {
		select {
		case events <- ev:
		case <-done:
		}
	}
	lost := dc.SetPubSubHooks(rueidis.PubSubHooks{
		OnSubscription: func(s rueidis.PubSubSubscription) {
			if s.Channel != channel {
				return
			}
			switch s.Kind {
			case "subscribe":
				deliver(backend.Event{Kind: backend.EventSubscribed})
			case "unsubscribe":
				select {
				case unsubscribed <- struct{}{}:
				default:
				}
			}
		},
		OnMessage: func(m rueidis.PubSubMessage) {
			if m.Channel != channel {
				return
			}
			// The payload is valid only during the handler call (backend.Event), so
			// a view of rueidis' string, which nothing else holds, is enough.
			deliver(backend.Event{Kind: backend.EventMessage, Payload: bytesView(m.Message)})
		},
	})

	cmd := dc.B().Subscribe().Channel(channel).Build()
	if r.cluster {
		cmd = cmd.SetSlot(channel) // the node Publish sends to; see there
	}
	subscribed := make(chan error, 1)
	go func() {
		subscribed <- dc.Do(ctx, cmd).Error()
	}()
	defer func() {
		close(done)
		// Closing the connection drops the subscription on the server even when it
		// does not answer, and makes a pending SUBSCRIBE return.
		dc.Close()
		if subscribed != nil {
			<-subscribed
		}
	}()

	confirmed := false
	for {
		select {
		case ev := <-events:
			if ev.Kind == backend.EventSubscribed {
				if confirmed {
					continue
				}
				confirmed = true
			}
			// The server confirms before it delivers, so this drops nothing in
			// practice; it keeps the contract's order even if it did not.
			if confirmed {
				handler(ev)
			}
		case err := <-subscribed:
			subscribed = nil
			if ctx.Err() != nil {
				return closedError(ctx, channel)
			}
			if err != nil {
				return fmt.Errorf("rueidisremote: subscribe %q: %w", channel, err)
			}
		case err := <-lost:
			if ctx.Err() != nil {
				return closedError(ctx, channel)
			}
			if err == nil {
				err = errConnectionLost
			}
			return fmt.Errorf("rueidisremote: subscription to %q broke: %w", channel, err)
		case <-unsubscribed:
			return fmt.Errorf("rueidisremote: subscription to %q broke: %w", channel, errUnsubscribed)
		case <-ctx.Done():
			return closedError(ctx, channel)
		}
	}
}

func closedError(ctx context.Context, channel string) error {
	return fmt.Errorf("rueidisremote: subscription to %q: %w: %w", channel, backend.ErrSubscriptionClosed, context.Cause(ctx))
}
