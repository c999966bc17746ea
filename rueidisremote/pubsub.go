package rueidisremote

import (
	"context"
	"errors"
	"fmt"

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

// Subscribe subscribes to channel and calls handler for each event until the
// subscription ends, as [backend.PubSub] requires. handler runs on the goroutine that
// called Subscribe, never after Subscribe returned.
//
// Outside a cluster, every Subscribe call of the Remote shares one dedicated
// connection: each channel is subscribed once on it however many calls want it, and
// unsubscribed when the last of them returns; the connection is opened by the first
// call and closed when the last returns. So all the caches of a process that share a
// Remote hold one subscriber connection to Redis. Each call has a buffer of 4,096
// events and 32 MiB of payloads; a handler that falls further behind ends its own
// subscription with an error instead of delaying the others. In a cluster, each call uses a connection of
// its own to the node that owns the channel name's hash slot (see [Remote.Publish]).
//
// It returns an error wrapping [backend.ErrSubscriptionClosed] (and the context's
// error) when ctx is done, at once whatever the server does, or an error saying why
// the subscription broke: the connection failed or was closed by the server (every
// call sharing it then returns), or the server unsubscribed the channel. Subscribe
// never reconnects: rueidis' own Receive would resubscribe after a connection error
// and silently lose the messages published meanwhile, so Subscribe uses a dedicated
// connection with pub/sub hooks instead.
//
// NOTE: Subscribe does not itself detect a server that stops answering without
// closing the connection (a frozen process, a network partition); rueidis'
// background PING does, once a PING (sent every Dialer.KeepAlive, one second by
// default) goes unanswered for ConnWriteTimeout (ten seconds by default). The cache
// does not wait for it: its own pings and watchdog distrust L1 much sooner.
func (r *Remote) Subscribe(ctx context.Context, channel string, handler func(backend.Event)) error {
	if ctx.Err() != nil {
		return closedError(ctx, channel)
	}
	if !r.cluster {
		return r.hub.subscribe(ctx, channel, handler)
	}
	dc, release := r.client.Dedicate()
	defer release()
	cmd := dc.B().Subscribe().Channel(channel).Build().SetSlot(channel) // the node Publish sends to; see there
	return runSubscription(ctx, dc, cmd, channel, classicKinds, handler)
}

// classicKinds are the pushes of SUBSCRIBE.
var classicKinds = subscriptionKinds{subscribe: "subscribe", unsubscribe: "unsubscribe"}

func closedError(ctx context.Context, channel string) error {
	return fmt.Errorf("rueidisremote: subscription to %q: %w: %w", channel, backend.ErrSubscriptionClosed, context.Cause(ctx))
}
