package backendtest_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/backendtest"
)

// The in-memory backends below are reference implementations of the contracts. They
// test the suite itself, without a server: the suite must pass against them, and
// must fail against the deliberately broken variants (see TestSuiteCatchesBugs). The
// real backends run the suite against real servers in their own packages.

// bug names a deliberate contract violation of a reference backend.
type bug string

const (
	noBug            bug = ""
	bugIgnoresTTL    bug = "remote-ignores-ttl"
	bugMGetReversed  bug = "remote-mget-reversed"
	bugRetainsValue  bug = "remote-retains-value"
	bugIgnoresCtx    bug = "remote-ignores-ctx"
	bugDropsAtExpire bug = "local-drops-at-expire"
	bugKeepsExpired  bug = "local-keeps-expired"
	bugTwoSubscribed bug = "pubsub-subscribed-twice"
	bugWrongCloseErr bug = "pubsub-wrong-close-error"
	bugLeaksHandler  bug = "pubsub-handler-after-return"
)

type memValue struct {
	v   []byte
	exp time.Time
}

type memRemote struct {
	bug bug
	mu  sync.Mutex
	m   map[string]memValue
}

func newMemRemote(b bug) *memRemote { return &memRemote{bug: b, m: make(map[string]memValue)} }

func (r *memRemote) ctxErr(ctx context.Context) error {
	if r.bug == bugIgnoresCtx {
		return nil
	}
	return ctx.Err()
}

func (r *memRemote) Get(ctx context.Context, key string) ([]byte, error) {
	if err := r.ctxErr(ctx); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.m[key]
	if !ok || (r.bug != bugIgnoresTTL && time.Now().After(e.exp)) {
		return nil, nil
	}
	return bytes.Clone(e.v), nil
}

func (r *memRemote) MGet(ctx context.Context, keys []string) ([][]byte, error) {
	if err := r.ctxErr(ctx); err != nil {
		return nil, err
	}
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i], _ = r.Get(ctx, k)
	}
	if r.bug == bugMGetReversed {
		slices.Reverse(out)
	}
	return out, nil
}

func (r *memRemote) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := r.ctxErr(ctx); err != nil {
		return err
	}
	if r.bug != bugRetainsValue {
		value = bytes.Clone(value)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[key] = memValue{v: value, exp: time.Now().Add(ttl)}
	return nil
}

func (r *memRemote) MSet(ctx context.Context, items []backend.Item) error {
	if err := r.ctxErr(ctx); err != nil {
		return err
	}
	for _, it := range items {
		_ = r.Set(ctx, it.Key, it.Value, it.TTL)
	}
	return nil
}

func (r *memRemote) Del(ctx context.Context, keys ...string) error {
	if err := r.ctxErr(ctx); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		delete(r.m, k)
	}
	return nil
}

type mapLocal struct {
	bug bug
	mu  sync.Mutex
	m   map[string]backend.Entry[string]
}

func newMapLocal(b bug) *mapLocal {
	return &mapLocal{bug: b, m: make(map[string]backend.Entry[string])}
}

func (l *mapLocal) Get(key string) (backend.Entry[string], bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.m[key]
	deadline := e.Deadline()
	switch l.bug {
	case bugDropsAtExpire:
		deadline = e.ExpireAt
	case bugKeepsExpired:
		deadline = time.Now().Add(time.Hour).UnixNano()
	}
	if !ok || time.Now().UnixNano() > deadline {
		return backend.Entry[string]{}, false
	}
	return e, true
}

func (l *mapLocal) Set(key string, e backend.Entry[string]) {
	l.mu.Lock()
	l.m[key] = e
	l.mu.Unlock()
}

func (l *mapLocal) Delete(key string) {
	l.mu.Lock()
	delete(l.m, key)
	l.mu.Unlock()
}

func (l *mapLocal) Clear() {
	l.mu.Lock()
	clear(l.m)
	l.mu.Unlock()
}

func (l *mapLocal) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

type memPubSub struct {
	bug  bug
	mu   sync.Mutex
	subs map[string]map[chan []byte]struct{}
}

func newMemPubSub(b bug) *memPubSub {
	return &memPubSub{bug: b, subs: make(map[string]map[chan []byte]struct{})}
}

func (ps *memPubSub) Publish(ctx context.Context, channel string, message []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for ch := range ps.subs[channel] {
		select {
		case ch <- bytes.Clone(message):
		default: // at most once: a subscriber that lags behind loses messages
		}
	}
	return nil
}

func (ps *memPubSub) Subscribe(ctx context.Context, channel string, handler func(backend.Event)) error {
	closed := func() error {
		if ps.bug == bugWrongCloseErr {
			return ctx.Err()
		}
		return errors.Join(backend.ErrSubscriptionClosed, ctx.Err())
	}
	if ctx.Err() != nil {
		return closed()
	}
	ch := make(chan []byte, 1024)
	ps.mu.Lock()
	if ps.subs[channel] == nil {
		ps.subs[channel] = make(map[chan []byte]struct{})
	}
	ps.subs[channel][ch] = struct{}{}
	ps.mu.Unlock()
	defer func() {
		if ps.bug == bugLeaksHandler {
			return // keeps feeding the goroutine started below
		}
		ps.mu.Lock()
		delete(ps.subs[channel], ch)
		ps.mu.Unlock()
	}()
	handler(backend.Event{Kind: backend.EventSubscribed})
	if ps.bug == bugTwoSubscribed {
		handler(backend.Event{Kind: backend.EventSubscribed})
	}
	for {
		select {
		case m := <-ch:
			handler(backend.Event{Kind: backend.EventMessage, Payload: m})
		case <-ctx.Done():
			if ps.bug == bugLeaksHandler {
				go func() {
					for m := range ch {
						handler(backend.Event{Kind: backend.EventMessage, Payload: m})
					}
				}()
			}
			return closed()
		}
	}
}

func TestReferenceBackends(t *testing.T) {
	t.Parallel()
	t.Run("Remote", func(t *testing.T) {
		shared := newMemRemote(noBug)
		backendtest.TestRemote(t, func(*testing.T) backend.Remote { return shared })
	})
	t.Run("PubSub", func(t *testing.T) {
		backendtest.TestPubSub(t, func(*testing.T) backend.PubSub { return newMemPubSub(noBug) })
	})
	t.Run("Local", func(t *testing.T) {
		backendtest.TestLocal(t, func(*testing.T) backend.Local[string, string] { return newMapLocal(noBug) })
	})
}

// envBug selects the broken backend that TestBrokenBackend runs the suite against.
const envBug = "BACKENDTEST_BUG"

// TestBrokenBackend runs the suite against a broken backend when envBug names one; it
// is meant to fail, and runs only in the child processes of TestSuiteCatchesBugs.
func TestBrokenBackend(t *testing.T) {
	b := bug(os.Getenv(envBug))
	if b == noBug {
		t.Skip("runs only as a child of TestSuiteCatchesBugs")
	}
	switch {
	case strings.HasPrefix(string(b), "remote-"):
		backendtest.TestRemote(t, func(*testing.T) backend.Remote { return newMemRemote(b) })
	case strings.HasPrefix(string(b), "local-"):
		backendtest.TestLocal(t, func(*testing.T) backend.Local[string, string] { return newMapLocal(b) })
	case strings.HasPrefix(string(b), "pubsub-"):
		backendtest.TestPubSub(t, func(*testing.T) backend.PubSub { return newMemPubSub(b) })
	}
}

// TestSuiteCatchesBugs checks that the suite's assertions can fail: each broken
// backend must fail the subtest that covers its bug.
func TestSuiteCatchesBugs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		bug     bug
		subtest string
	}{
		{bugIgnoresTTL, "TTL"},
		{bugMGetReversed, "MGet"},
		{bugRetainsValue, "SetCopiesValue"},
		{bugIgnoresCtx, "ContextDone"},
		{bugDropsAtExpire, "StaleWindowKeepsEntry"},
		{bugKeepsExpired, "PastDeadlineNeverReturned"},
		{bugTwoSubscribed, "SubscribedThenMessagesInOrder"},
		{bugWrongCloseErr, "ReturnsWhenContextDone"},
		{bugLeaksHandler, "SubscribedThenMessagesInOrder"},
	}
	for _, tt := range tests {
		t.Run(string(tt.bug), func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenBackend$/^"+tt.subtest+"$", "-test.v")
			cmd.Env = append(os.Environ(), envBug+"="+string(tt.bug))
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("suite passed against a backend with bug %s (err %v); output:\n%s", tt.bug, err, out)
			}
			if want := "--- FAIL: TestBrokenBackend/" + tt.subtest; !strings.Contains(string(out), want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		})
	}
}
