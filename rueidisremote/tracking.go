package rueidisremote

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/accelerator-go/accelerator/backend"
)

var _ backend.Tracker = (*Remote)(nil)

var (
	// errTrackingCluster reports a Track call on a cluster client.
	errTrackingCluster = errors.New("client tracking needs a standalone or Sentinel Redis, not a cluster")
	// errTrackingRESP2 reports a Track call on a connection that does not speak RESP3.
	errTrackingRESP2 = errors.New("client tracking needs RESP3 (a protocol=2 client cannot receive invalidations)")
)

// Track asks Redis to report every write to keys starting with prefix, whoever makes
// it, and calls handler for each event until the tracking ends, as
// [backend.Tracker] requires. It uses a dedicated RESP3 connection with
// CLIENT TRACKING ON BCAST PREFIX prefix: broadcast mode, because the keys the cache
// reads travel on the Remote's pooled connections, not on the tracking one, and
// broadcast mode needs no per-key state on the server. Every probe interval a PING
// on the tracking connection, sent from a goroutine of its own, is reported by a
// [backend.TrackAlive] event once answered; since Redis answers in order, every
// invalidation sent before it has been delivered.
//
// It returns an error wrapping [backend.ErrSubscriptionClosed] when ctx is done, at
// once whatever the server does, or the reason the tracking broke (the connection
// was lost or killed, the server refused the command). It never restarts on its own.
//
// NOTE: it needs Redis 6 or later over RESP3, outside a cluster; an ACL user needs
// +client|tracking and +ping. Every write under prefix is sent to every tracking
// instance, those of the instance itself included.
func (r *Remote) Track(ctx context.Context, prefix string, probe time.Duration, handler func(backend.TrackEvent)) error {
	if ctx.Err() != nil {
		return closedError(ctx, prefix)
	}
	if r.cluster {
		return fmt.Errorf("rueidisremote: track %q: %w", prefix, errTrackingCluster)
	}
	events := make(chan backend.TrackEvent)
	done := make(chan struct{})
	deliver := func(ev backend.TrackEvent) {
		select {
		case events <- ev:
		case <-done:
		}
	}
	// The hook runs on rueidis' reader goroutine for the connection, in the order the
	// server sent the pushes; it hands each one over and waits until it is taken.
	hook := func(msgs []rueidis.RedisMessage) {
		if msgs == nil {
			deliver(backend.TrackEvent{Kind: backend.TrackInvalidate, All: true})
			return
		}
		keys := make([][]byte, 0, len(msgs))
		for i := range msgs {
			if k, err := msgs[i].ToString(); err == nil {
				keys = append(keys, bytesView(k))
			}
		}
		deliver(backend.TrackEvent{Kind: backend.TrackInvalidate, Keys: keys})
	}

	// The connection is dialled and set up apart, so that a dial or a command that
	// hangs never delays the return when ctx ends.
	opened := make(chan trackingConn, 1)
	started := make(chan error, 1)
	pctx, stopProbes := context.WithCancel(ctx)
	go func() {
		dc, release := r.client.Dedicate()
		opened <- trackingConn{dc: dc, release: release, lost: dc.SetOnInvalidations(hook)}
		started <- startTracking(pctx, dc, prefix)
	}()
	var conn *trackingConn
	var lost <-chan error
	defer func() {
		stopProbes()
		close(done)
		// Closing the connection ends the tracking on the server even when it does
		// not answer. Releasing a dedicated connection that is still open sends
		// CLIENT TRACKING OFF and waits for the answer; closing first avoids that,
		// and both run apart so that a frozen server delays nobody.
		go func() {
			c := conn
			if c == nil {
				tc := <-opened
				c = &tc
			}
			c.dc.Close()
			c.release()
		}()
	}()

	confirmed := false
	for {
		select {
		case ev := <-events:
			// Invalidations before the confirmation are covered by the L1 drop that
			// the confirmation causes.
			if confirmed {
				handler(ev)
			}
		case tc := <-opened:
			conn, lost = &tc, tc.lost
		case err := <-started:
			started = nil
			if conn == nil {
				// Sent before the result: it is there.
				tc := <-opened
				conn, lost = &tc, tc.lost
			}
			if ctx.Err() != nil {
				return closedError(ctx, prefix)
			}
			if err != nil {
				return fmt.Errorf("rueidisremote: track %q: %w", prefix, err)
			}
			confirmed = true
			handler(backend.TrackEvent{Kind: backend.TrackStarted})
			go probeTracking(pctx, conn.dc, probe, deliver)
		case err := <-lost:
			if ctx.Err() != nil {
				return closedError(ctx, prefix)
			}
			if err == nil {
				err = errConnectionLost
			}
			return fmt.Errorf("rueidisremote: tracking of %q broke: %w", prefix, err)
		case <-ctx.Done():
			return closedError(ctx, prefix)
		}
	}
}

// trackingConn is the dedicated connection of a Track call.
type trackingConn struct {
	dc      rueidis.DedicatedClient
	release func()
	lost    <-chan error
}

// startTracking checks that dc speaks RESP3 and turns broadcast tracking of prefix on.
func startTracking(ctx context.Context, dc rueidis.DedicatedClient, prefix string) error {
	info, err := dc.Do(ctx, dc.B().ClientInfo().Build()).ToString()
	if err != nil {
		return err
	}
	if !strings.Contains(info, " resp=3") {
		return errTrackingRESP2
	}
	cmd := dc.B().ClientTracking().On().Prefix().Prefix(prefix).Bcast().Build()
	return dc.Do(ctx, cmd).Error()
}

// probeTracking sends a PING on dc every interval until ctx ends, and reports each
// answer. A PING that gets no answer is abandoned after an interval: the cache's
// watchdog acts on the silence, not this goroutine.
func probeTracking(ctx context.Context, dc rueidis.DedicatedClient, interval time.Duration, deliver func(backend.TrackEvent)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, interval)
		err := dc.Do(pctx, dc.B().Ping().Build()).Error()
		cancel()
		if err == nil {
			deliver(backend.TrackEvent{Kind: backend.TrackAlive})
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
