package rueidisremote

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/rueidis"

	"github.com/accelerator-go/accelerator/backend"
)

var _ backend.PubSub = (*ShardedPubSub)(nil)

// ShardedPubSub is a [backend.PubSub] over Redis 7 sharded Pub/Sub: SPUBLISH and
// SSUBSCRIBE.
//
// In a Redis Cluster, classic Pub/Sub ([Remote.Publish], [Remote.Subscribe]) sends
// every message to every node over the cluster bus, which costs bus traffic that grows
// with the number of nodes. A sharded channel lives on the node that owns its name's
// hash slot (and that node's replicas) only: rueidis sends both SPUBLISH and SSUBSCRIBE
// there, and the message goes nowhere else. Outside a cluster it behaves like classic
// Pub/Sub; a shard channel and a classic channel of the same name are distinct.
//
// Use it as the PubSub of the cache's options, next to a [Remote] over the same
// client:
//
//	remote, err := rueidisremote.NewFromURL("redis://10.0.0.1:6379?addr=10.0.0.2:6379")
//	...
//	opts.Remote = remote
//	opts.PubSub = rueidisremote.NewShardedPubSub(remote.Client())
//
// Every instance of an area must use the same flavour: a sharded subscriber never sees
// a classic PUBLISH, and the reverse.
//
// NOTE: it needs Redis 7.0 or later; an older server rejects SPUBLISH and SSUBSCRIBE,
// so writes report accelerator.ErrNotBroadcast and the subscriber never connects.
// An ACL user needs +spublish and +ssubscribe and the channel pattern (&prefix*).
//
// It is safe for concurrent use.
type ShardedPubSub struct {
	client rueidis.Client
}

// NewShardedPubSub returns a ShardedPubSub that sends its commands through client,
// which may be the [Remote.Client] of a Remote.
//
// The caller keeps ownership of client: it must stay open as long as the ShardedPubSub
// is used. It panics if client is nil.
func NewShardedPubSub(client rueidis.Client) *ShardedPubSub {
	if client == nil {
		panic("rueidisremote: NewShardedPubSub called with a nil client")
	}
	return &ShardedPubSub{client: client}
}

// Publish sends message to every current subscriber of the shard channel channel with
// one SPUBLISH, which rueidis sends to the node that owns channel's hash slot, where
// [ShardedPubSub.Subscribe] listens.
func (p *ShardedPubSub) Publish(ctx context.Context, channel string, message []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rueidisremote: spublish: %w", err)
	}
	// The message is copied for the reason given in setCmd.
	cmd := p.client.B().Spublish().Channel(channel).Message(string(message)).Build()
	if err := p.client.Do(ctx, cmd).Error(); err != nil {
		return fmt.Errorf("rueidisremote: spublish: %w", err)
	}
	return nil
}

// Subscribe subscribes to the shard channel channel with SSUBSCRIBE on a connection of
// its own, to the node that owns channel's hash slot, and calls handler for each event
// until the subscription ends, as [backend.PubSub] requires. handler runs on the
// goroutine that called Subscribe, never after Subscribe returned.
//
// It returns an error wrapping [backend.ErrSubscriptionClosed] (and the context's
// error) when ctx is done, or an error saying why the subscription broke: the
// connection failed or was closed by the server, or the server unsubscribed it. The
// last happens whenever the slot of channel moves to another node (a resharding, a
// failover): Redis then sends SUNSUBSCRIBE to the slot's subscribers. Subscribe never
// resubscribes on its own, for the reasons given in [Remote.Subscribe], whose notes on
// closing and on a silent server apply here too.
//
// When the node answers SSUBSCRIBE with a MOVED redirect, because rueidis has not yet
// learnt of a move, Subscribe sends it once more to the node the redirect names: no
// subscription existed yet, so nothing was lost, and the caller's next attempt does
// not have to wait for rueidis to refresh its slot map (up to a second).
func (p *ShardedPubSub) Subscribe(ctx context.Context, channel string, handler func(backend.Event)) error {
	if ctx.Err() != nil {
		return closedError(ctx, channel)
	}
	err := subscribeSharded(ctx, p.client, channel, handler)
	var rerr *rueidis.RedisError
	if !errors.As(err, &rerr) || ctx.Err() != nil {
		return err
	}
	addr, moved := rerr.IsMoved()
	if !moved {
		return err
	}
	node, ok := p.client.Nodes()[addr]
	if !ok {
		return err
	}
	return subscribeSharded(ctx, node, channel, handler)
}

// subscribeSharded runs one SSUBSCRIBE on a connection dedicated from client.
func subscribeSharded(ctx context.Context, client rueidis.Client, channel string, handler func(backend.Event)) error {
	dc, release := client.Dedicate()
	defer release()
	// SSUBSCRIBE carries channel as its key, so a cluster's dedicated client takes a
	// connection to the slot's owner; outside a cluster the slot is ignored.
	cmd := dc.B().Ssubscribe().Channel(channel).Build()
	return runSubscription(ctx, dc, cmd, channel, shardedKinds, handler)
}

// subscriptionKinds names the pushes that confirm and end a subscription of one
// flavour of Pub/Sub.
type subscriptionKinds struct {
	subscribe   string
	unsubscribe string
}

// shardedKinds are the pushes of SSUBSCRIBE.
var shardedKinds = subscriptionKinds{subscribe: "ssubscribe", unsubscribe: "sunsubscribe"}

// runSubscription sends the subscribe command cmd for channel on the dedicated
// connection dc, with pub/sub hooks, and delivers its events to handler until the
// subscription ends. It closes dc before it returns; the caller releases it.
//
// Both [Remote.Subscribe] and [ShardedPubSub.Subscribe] run it, with the pushes of
// their flavour in kinds.
func runSubscription(ctx context.Context, dc rueidis.DedicatedClient, cmd rueidis.Completed, channel string, kinds subscriptionKinds, handler func(backend.Event)) error {
	events := make(chan backend.Event)
	unsubscribed := make(chan struct{}, 1)
	done := make(chan struct{})
	// The hooks run on rueidis' reader goroutine for the connection, one at a time and
	// in the order the server sent the pushes; they hand each event over to this
	// goroutine and wait until it is taken, or until the subscription is ending.
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
			case kinds.subscribe:
				deliver(backend.Event{Kind: backend.EventSubscribed})
			case kinds.unsubscribe:
				select {
				case unsubscribed <- struct{}{}:
				default:
				}
			}
		},
		OnMessage: func(m rueidis.PubSubMessage) {
			// Pattern is set for a PMESSAGE only, which this connection never
			// receives; checked so that a pattern match can never pass as a message.
			if m.Channel != channel || m.Pattern != "" {
				return
			}
			// The payload is valid only during the handler call (backend.Event), so a
			// view of rueidis' string, which nothing else holds, is enough.
			deliver(backend.Event{Kind: backend.EventMessage, Payload: bytesView(m.Message)})
		},
	})

	subscribed := make(chan error, 1)
	go func() {
		subscribed <- dc.Do(ctx, cmd).Error()
	}()
	defer func() {
		close(done)
		// Closing the connection drops the subscription on the server even when it
		// does not answer, and makes a pending subscribe command return.
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
				return fmt.Errorf("rueidisremote: %s %q: %w", kinds.subscribe, channel, err)
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
