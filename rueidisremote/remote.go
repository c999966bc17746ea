// Package rueidisremote is the default remote backend of accelerator: a
// [backend.Remote], [backend.PubSub] and [backend.Tracker] over the rueidis Redis
// client.
//
// It works with a standalone Redis, Redis Sentinel and Redis Cluster alike; rueidis
// picks the mode from the client options. In a cluster, batch operations are split
// by hash slot and sent in one pipeline, so that no multi-key command ever spans two
// slots.
//
// Build a [Remote] from a URL with [NewFromURL], from full client options with
// [NewFromOptions], or around a client you already have with [New].
package rueidisremote

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"time"
	"unsafe"

	neturl "net/url"

	"github.com/redis/rueidis"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/internal/slot"
)

var (
	_ backend.Remote = (*Remote)(nil)
	_ backend.PubSub = (*Remote)(nil)
)

// Remote is a [backend.Remote], a [backend.PubSub] and a [backend.Tracker] over a
// rueidis client.
//
// It is safe for concurrent use.
type Remote struct {
	client    rueidis.Client
	hub       hub // the Pub/Sub subscriptions, outside a cluster
	cluster   bool
	owned     bool
	closeOnce sync.Once
}

// New returns a Remote that sends its commands through client, or an error when
// client is nil.
//
// The caller keeps ownership of client: [Remote.Close] does not close it, and client
// must stay open as long as the Remote is used.
func New(client rueidis.Client) (*Remote, error) {
	if isNil(client) {
		return nil, errNilClient
	}
	return newRemote(client), nil
}

func newRemote(client rueidis.Client) *Remote {
	return &Remote{client: client, cluster: client.Mode() == rueidis.ClientModeCluster, hub: hub{client: client}}
}

var errNilClient = errors.New("rueidisremote: New called with a nil client")

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

// NewFromURL connects to the Redis server, Sentinel or Cluster that url describes and
// returns a Remote that owns the connection; [Remote.Close] closes it.
//
// Its errors never hold the URL or any part of its user information: a malformed
// URL is reported as such, with what was wrong but without the text around it.
//
// url is parsed by [rueidis.ParseURL]: redis:// and rediss:// (TLS) and unix://
// addresses, with optional user and password, a database number as path, more
// addresses as addr= parameters (for a cluster or a set of sentinels), master_set=
// for Sentinel, and dial_timeout=, write_timeout=, protocol=2, max_retries=0 and
// client_name= parameters.
func NewFromURL(url string) (*Remote, error) {
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		return nil, urlError(err)
	}
	return NewFromOptions(opt)
}

// NewFromOptions connects with the rueidis client options opt and returns a Remote
// that owns the connection; [Remote.Close] closes it. opt selects standalone,
// Sentinel (opt.Sentinel.MasterSet) or Cluster mode as in [rueidis.NewClient].
//
// NOTE: the Remote never uses rueidis' client-side caching, so it always sets
// opt.DisableCache; this also lets it talk to servers without RESP3. When opt sets
// no RetryDelay, it installs [BoundedRetryDelay]: rueidis' default retries a read
// with no deadline for as long as the server is unreachable, and a cache read must
// fail fast and fall through to the loader instead.
func NewFromOptions(opt rueidis.ClientOption) (*Remote, error) {
	opt.DisableCache = true
	if opt.RetryDelay == nil {
		opt.RetryDelay = BoundedRetryDelay
	}
	client, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, fmt.Errorf("rueidisremote: connect: %w", err)
	}
	r := newRemote(client)
	r.owned = true
	return r, nil
}

// urlError describes why a URL could not be parsed without quoting it: net/url and
// rueidis quote the offending part, which may be a piece of the password.
func urlError(err error) error {
	var ue *neturl.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := quoted.ReplaceAllString(err.Error(), `"…"`)
	// rueidis' own errors ("redis: invalid URL path: /...") end with the part they
	// reject, unquoted.
	if rest, ok := strings.CutPrefix(msg, "redis: "); ok {
		msg, _, _ = strings.Cut(rest, ":")
	}
	return errors.New("rueidisremote: malformed URL (not shown, it may hold a password): " + msg)
}

// quoted matches the quoted parts of an error text.
var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// MaxRetries is the number of retries [BoundedRetryDelay] allows a read-only command
// after a network error.
const MaxRetries = 2

// BoundedRetryDelay is a rueidis RetryDelayFn that retries a read-only command at most
// [MaxRetries] times, after 1 ms and 5 ms, then gives up. Use it in the options of a
// client you build yourself for [New]:
//
//	rueidis.ClientOption{InitAddress: addrs, RetryDelay: rueidisremote.BoundedRetryDelay}
func BoundedRetryDelay(attempts int, _ rueidis.Completed, _ error) time.Duration {
	switch {
	case attempts <= 1:
		return time.Millisecond
	case attempts <= MaxRetries:
		return 5 * time.Millisecond
	}
	return -1
}

// Client returns the rueidis client the Remote sends its commands through.
func (r *Remote) Client() rueidis.Client {
	return r.client
}

// Close closes the client when the Remote owns it (it was built by [NewFromURL] or
// [NewFromOptions]); otherwise it does nothing. Close is idempotent.
func (r *Remote) Close() {
	if r.owned {
		r.closeOnce.Do(r.client.Close)
	}
}

// Get returns the value stored at key, or nil and no error when key is absent. It
// sends one GET.
//
// NOTE: the returned slice is a view of the reply buffer, which rueidis allocates for
// this reply alone; nothing else refers to it. It must be treated as read-only, as
// the [backend.Remote] contract already requires.
func (r *Remote) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("rueidisremote: get: %w", err)
	}
	v, err := r.client.Do(ctx, r.client.B().Get().Key(key).Build()).AsBytes()
	if err != nil {
		if rueidis.IsRedisNil(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("rueidisremote: get: %w", err)
	}
	return nonNil(v), nil
}

// MGet returns one slot per key, in order: the value, or nil when the key is absent.
//
// Outside a cluster it sends one MGET. In a cluster it sends one MGET per hash slot
// among keys, all in one pipelined call that reaches each node once. An empty keys
// costs no round trip. The values are views, as for [Remote.Get].
func (r *Remote) MGet(ctx context.Context, keys []string) ([][]byte, error) {
	if len(keys) == 0 {
		return [][]byte{}, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("rueidisremote: mget: %w", err)
	}
	out := make([][]byte, len(keys))
	if !r.cluster {
		resp := r.client.Do(ctx, r.client.B().Mget().Key(keys...).Build())
		if err := fill(out, resp, nil); err != nil {
			return nil, fmt.Errorf("rueidisremote: mget: %w", err)
		}
		return out, nil
	}
	g := slot.Group(keys)
	var buf []string
	cmds := make(rueidis.Commands, 0, g.Len())
	for i := range g.Len() {
		cmds = append(cmds, r.client.B().Mget().Key(g.Keys(keys, i, buf[:0])...).Build())
	}
	for i, resp := range r.client.DoMulti(ctx, cmds...) {
		if err := fill(out, resp, g.Indices(i)); err != nil {
			return nil, fmt.Errorf("rueidisremote: mget: %w", err)
		}
	}
	return out, nil
}

// fill stores the values of an MGET reply into out, at the positions idx, or at the
// positions 0..n when idx is nil.
func fill(out [][]byte, resp rueidis.RedisResult, idx []int) error {
	vals, err := resp.ToArray()
	if err != nil {
		return err
	}
	want := len(out)
	if idx != nil {
		want = len(idx)
	}
	if len(vals) != want {
		return fmt.Errorf("%w: %d values for %d keys", errBadReply, len(vals), want)
	}
	for j := range vals {
		if vals[j].IsNil() {
			continue
		}
		v, err := vals[j].AsBytes()
		if err != nil {
			return err
		}
		pos := j
		if idx != nil {
			pos = idx[j]
		}
		out[pos] = nonNil(v)
	}
	return nil
}

// errBadReply reports a reply whose shape does not match the command.
var errBadReply = errors.New("unexpected reply")

// Set stores value at key for ttl with one SET ... PX. The TTL is rounded up to a
// whole millisecond, and is at least one.
func (r *Remote) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rueidisremote: set: %w", err)
	}
	if err := r.client.Do(ctx, r.setCmd(key, value, ttl)).Error(); err != nil {
		return fmt.Errorf("rueidisremote: set: %w", err)
	}
	return nil
}

// setCmd builds SET key value PX ttl.
//
// The value is copied: when ctx ends first, rueidis returns while the command may
// still wait in its write queue, and the caller is free to reuse its buffer by then.
func (r *Remote) setCmd(key string, value []byte, ttl time.Duration) rueidis.Completed {
	return r.client.B().Set().Key(key).Value(string(value)).PxMilliseconds(millis(ttl)).Build()
}

// millis rounds ttl up to whole milliseconds, at least one.
func millis(ttl time.Duration) int64 {
	ms := int64((ttl + time.Millisecond - 1) / time.Millisecond)
	return max(ms, 1)
}

// MSet stores every item, each with its own TTL, with one SET ... PX per item sent in
// one pipelined call; in a cluster, rueidis routes each SET to its node. Errors of
// single items are joined; an empty items costs no round trip.
func (r *Remote) MSet(ctx context.Context, items []backend.Item) error {
	if len(items) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rueidisremote: mset: %w", err)
	}
	cmds := make(rueidis.Commands, len(items))
	for i, it := range items {
		cmds[i] = r.setCmd(it.Key, it.Value, it.TTL)
	}
	var errs []error
	for _, resp := range r.client.DoMulti(ctx, cmds...) {
		if err := resp.Error(); err != nil {
			errs = append(errs, err)
		}
	}
	if errs != nil {
		return fmt.Errorf("rueidisremote: mset: %w", itemErrors(len(items), errs))
	}
	return nil
}

// Del removes keys; absent keys are not an error. Outside a cluster it sends one DEL;
// in a cluster, one DEL per hash slot, in one pipelined call. An empty keys costs no
// round trip.
func (r *Remote) Del(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rueidisremote: del: %w", err)
	}
	if !r.cluster {
		if err := r.client.Do(ctx, r.client.B().Del().Key(keys...).Build()).Error(); err != nil {
			return fmt.Errorf("rueidisremote: del: %w", err)
		}
		return nil
	}
	g := slot.Group(keys)
	var buf []string
	cmds := make(rueidis.Commands, 0, g.Len())
	for i := range g.Len() {
		cmds = append(cmds, r.client.B().Del().Key(g.Keys(keys, i, buf[:0])...).Build())
	}
	var errs []error
	for _, resp := range r.client.DoMulti(ctx, cmds...) {
		if err := resp.Error(); err != nil {
			errs = append(errs, err)
		}
	}
	if errs != nil {
		return fmt.Errorf("rueidisremote: del: %w", errors.Join(errs...))
	}
	return nil
}

// nonNil turns the empty value, which rueidis may return as nil, into an empty
// slice, so that it is not mistaken for an absent key.
func nonNil(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}

// bytesView returns the bytes of s without copying them.
func bytesView(s string) []byte {
	return nonNil(unsafe.Slice(unsafe.StringData(s), len(s)))
}
