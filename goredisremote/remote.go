// Package goredisremote is a remote backend of accelerator over a go-redis client: a
// [backend.Remote] and [backend.PubSub] for services that already hold a
// [redis.UniversalClient].
//
// It lives in its own module, so that the accelerator core does not depend on
// go-redis. The default remote backend, package rueidisremote, is faster under
// concurrency; this one lets a service share the client, its pool, its hooks and its
// configuration with the rest of its code.
//
// It works with a standalone server, Sentinel, Redis Cluster and a Ring alike: [New]
// looks at the concrete type of the client. In a cluster, batch operations are split
// by hash slot and sent in one pipeline, so that no multi-key command ever spans two
// slots.
package goredisremote

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"
	"unsafe"

	"github.com/redis/go-redis/v9"

	"github.com/accelerator-go/accelerator/backend"
)

var (
	_ backend.Remote = (*Remote)(nil)
	_ backend.PubSub = (*Remote)(nil)
)

// defaultPingInterval is how long a subscription may stay silent before Subscribe
// sends a PING, and then how long it waits for any answer before it gives up.
const defaultPingInterval = 5 * time.Second

// kind says how a Remote splits its batches for the client it was given.
type kind uint8

const (
	// kindSingle is a *redis.Client: one server (standalone, or the master found
	// through Sentinel), where a multi-key command may hold any keys.
	kindSingle kind = iota
	// kindCluster is a *redis.ClusterClient: multi-key commands are split by hash
	// slot and sent in one pipeline, which the client routes per node.
	kindCluster
	// kindRing is a *redis.Ring: it shards by its own hash of the first key of a
	// command, so batches are sent as one single-key command per key, in one
	// pipeline that the Ring routes per shard.
	kindRing
	// kindOther is any other implementation, such as a *redis.AutoPipeliner or a
	// wrapper, whose server cannot be seen: batches are split as in a cluster,
	// which is correct on every server, and values are copied before they are
	// handed over, since the client may send them after the call returned.
	kindOther
)

// Remote is a [backend.Remote] and a [backend.PubSub] over a go-redis client.
//
// It is safe for concurrent use.
type Remote struct {
	client       redis.UniversalClient
	kind         kind
	pingInterval time.Duration
	hub          hub // the Pub/Sub subscriptions of a *redis.Client
}

// New returns a Remote that sends its commands through client, or an error when
// client is nil (a nil interface, or a nil *redis.Client, *redis.ClusterClient or
// *redis.Ring).
//
// The caller keeps ownership of client: the Remote never closes it, and client must
// stay open as long as the Remote is used.
//
// A *redis.Client, *redis.ClusterClient or *redis.Ring must be built with
// ContextTimeoutEnabled: true, or New returns an error: without it go-redis ignores
// the deadline of the context and waits for its own ReadTimeout and WriteTimeout
// (seconds), so that the cache's RemoteTimeout would bound nothing; a frozen Redis
// would hold every read for that long. Other client types are not inspected.
//
// New picks the batching strategy from the concrete type of client: a *redis.Client
// (standalone or Sentinel) gets one MGET or DEL per batch; a *redis.ClusterClient
// gets one MGET or DEL per hash slot, in one pipeline; a *redis.Ring gets one GET
// or DEL per key, in one pipeline. Any other type, such as a wrapper around one of
// these, is treated like a cluster client, which is correct for every server.
func New(client redis.UniversalClient) (*Remote, error) {
	if isNil(client) {
		return nil, errNilClient
	}
	if !contextTimeouts(client) {
		return nil, errNoContextTimeout
	}
	r := &Remote{client: client, kind: kindOf(client), pingInterval: defaultPingInterval}
	r.hub.r = r
	return r, nil
}

var (
	errNilClient        = errors.New("goredisremote: New called with a nil client")
	errNoContextTimeout = errors.New("goredisremote: the client must be built with ContextTimeoutEnabled: true, so that calls end at their context's deadline")
)

// contextTimeouts reports whether client honours context deadlines, as far as its
// options can be seen.
func contextTimeouts(client redis.UniversalClient) bool {
	switch c := client.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return true
}

// isNil reports whether v is nil or an interface holding a nil pointer.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

func kindOf(client redis.UniversalClient) kind {
	switch client.(type) {
	case *redis.Client:
		return kindSingle
	case *redis.ClusterClient:
		return kindCluster
	case *redis.Ring:
		return kindRing
	default:
		return kindOther
	}
}

// Get returns the value stored at key, or nil and no error when key is absent. It
// sends one GET.
//
// NOTE: the returned slice is a view of the string go-redis allocated for this reply
// alone; nothing else refers to it. It must be treated as read-only, as the
// [backend.Remote] contract already requires.
func (r *Remote) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("goredisremote: get: %w", err)
	}
	v, err := r.client.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("goredisremote: get: %w", err)
	}
	return bytesView(v), nil
}

// Set stores value at key for ttl with one SET key value PX ms. The TTL is rounded up
// to a whole millisecond, and is at least one.
func (r *Remote) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("goredisremote: set: %w", err)
	}
	if err := r.client.Process(ctx, r.setCmd(ctx, key, value, ttl)); err != nil {
		return fmt.Errorf("goredisremote: set: %w", err)
	}
	return nil
}

// setCmd builds SET key value PX ms. go-redis' own Set would pick EX for whole
// seconds and treat a zero TTL as "no expiry"; the explicit command does neither.
func (r *Remote) setCmd(ctx context.Context, key string, value []byte, ttl time.Duration) *redis.StatusCmd {
	return redis.NewStatusCmd(ctx, "set", key, r.arg(value), "px", millis(ttl))
}

// arg returns value as a command argument. The known clients write it to the
// connection before the call returns, so the caller's buffer is passed as is;
// another implementation may queue it, so it gets a copy.
func (r *Remote) arg(value []byte) any {
	if r.kind == kindOther {
		return string(value)
	}
	return value
}

// millis rounds ttl up to whole milliseconds, at least one.
func millis(ttl time.Duration) int64 {
	ms := int64((ttl + time.Millisecond - 1) / time.Millisecond)
	return max(ms, 1)
}

// bytesView returns the bytes of s without copying them. The empty value is an
// empty, non-nil slice, so that it is not mistaken for an absent key.
func bytesView(s string) []byte {
	if len(s) == 0 {
		return []byte{}
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
