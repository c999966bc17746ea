package cachefn_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/cachefn"
)

type user struct {
	ID   int64
	Name string
}

// source stands in for a database: it counts its calls and fails on demand.
type source struct {
	mu    sync.Mutex
	rows  map[int64]user
	calls atomic.Int64
	// batches records the keys of every GetMany call.
	batches [][]int64
	// fail, when set, is returned by every call.
	fail error
}

var errDB = errors.New("database is down")

func newSource() *source {
	return &source{rows: map[int64]user{1: {1, "Ada"}, 2: {2, "Grace"}, 3: {3, "Linus"}}}
}

func (s *source) Get(_ context.Context, id int64) (user, error) {
	s.calls.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return user{}, s.fail
	}
	u, ok := s.rows[id]
	if !ok {
		return user{}, fmt.Errorf("user %d: %w", id, cachefn.ErrNotFound)
	}
	return u, nil
}

func (s *source) GetMany(_ context.Context, ids []int64) (map[int64]user, error) {
	s.calls.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, slices.Clone(ids))
	if s.fail != nil {
		return nil, s.fail
	}
	out := make(map[int64]user, len(ids))
	for _, id := range ids {
		if u, ok := s.rows[id]; ok {
			out[id] = u
		}
	}
	return out, nil
}

func (s *source) Save(_ context.Context, u user) (user, error) {
	s.calls.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return user{}, s.fail
	}
	s.rows[u.ID] = u
	return u, nil
}

func (s *source) Delete(_ context.Context, id int64) error {
	s.calls.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	delete(s.rows, id)
	return nil
}

func (s *source) DeleteMany(_ context.Context, ids []int64) error {
	s.calls.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	for _, id := range ids {
		delete(s.rows, id)
	}
	return nil
}

func (s *source) setFail(err error) {
	s.mu.Lock()
	s.fail = err
	s.mu.Unlock()
}

func (s *source) lastBatch() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.batches) == 0 {
		return nil
	}
	return s.batches[len(s.batches)-1]
}

func newLocal[K comparable, V any](t testing.TB, opts accelerator.Options[K, V]) *accelerator.Cache[K, V] {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet // the cache's own failure log, which the tests provoke
	}
	c, err := accelerator.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedCache returns a cache that fails every call with ErrClosed: a cache failure
// that needs no Redis.
func closedCache(t testing.TB) *accelerator.Cache[int64, user] {
	t.Helper()
	c := newLocal(t, accelerator.Options[int64, user]{})
	c.Close()
	return c
}

// cached reports what c holds for key, without loading.
func cached[K comparable, V any](t testing.TB, c *accelerator.Cache[K, V], key K) (V, bool) {
	t.Helper()
	v, found, err := c.Get(context.Background(), key, accelerator.DisableLoad())
	if err != nil {
		t.Fatalf("Get(%v): %v", key, err)
	}
	return v, found
}

// recorder collects what a wrapper reports: the hook's errors, the log records and
// the counts.
type recorder struct {
	stats cachefn.Stats
	mu    sync.Mutex
	hook  []*cachefn.CacheError
	log   bytes.Buffer
}

func (r *recorder) options(extra ...cachefn.Option) []cachefn.Option {
	return append([]cachefn.Option{
		cachefn.Name("test"),
		cachefn.WithStats(&r.stats),
		cachefn.Logger(slog.New(slog.NewTextHandler(lockedWriter{&r.mu, &r.log}, nil))),
		cachefn.OnError(func(_ context.Context, err *cachefn.CacheError) {
			r.mu.Lock()
			r.hook = append(r.hook, err)
			r.mu.Unlock()
		}),
	}, extra...)
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// expectReported checks that exactly n cache failures of op were reported under
// policy p, to the hook, the logger and the stats.
func (r *recorder) expectReported(t testing.TB, p cachefn.Policy, op string, n int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.hook) != n {
		t.Fatalf("hook saw %d cache errors, want %d: %v", len(r.hook), n, r.hook)
	}
	for _, ce := range r.hook {
		if ce.Op != op || ce.Name != "test" {
			t.Fatalf("hook saw %+v, want op %q name %q", ce, op, "test")
		}
	}
	ignored, propagated := r.stats.Ignored(), r.stats.Propagated()
	want := [2]uint64{uint64(n), 0}
	if p == cachefn.Propagate {
		want = [2]uint64{0, uint64(n)}
	}
	if [2]uint64{ignored, propagated} != want {
		t.Fatalf("stats ignored=%d propagated=%d, want %v", ignored, propagated, want)
	}
	if got := bytes.Count(r.log.Bytes(), []byte("cachefn: cache failure")); got != n {
		t.Fatalf("logged %d failures, want %d:\n%s", got, n, r.log.String())
	}
	if n > 0 && !bytes.Contains(r.log.Bytes(), []byte("op="+op)) {
		t.Fatalf("log does not name op %s:\n%s", op, r.log.String())
	}
}

func wantCacheError(t testing.TB, err error, op string, cause error) {
	t.Helper()
	var ce *cachefn.CacheError
	if !errors.As(err, &ce) || ce.Op != op || !errors.Is(err, cause) {
		t.Fatalf("err = %v, want a *CacheError of op %q wrapping %v", err, op, cause)
	}
}

func sortedKeys[K interface{ ~int64 }, V any](m map[K]V) []K {
	return slices.Sorted(maps.Keys(m))
}

// manualClock is an accelerator.Clock that moves only when told, so that tests pass
// an entry's TTL without waiting for it.
type manualClock struct{ ns atomic.Int64 }

func newManualClock() *manualClock {
	c := &manualClock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *manualClock) NowNano() int64          { return c.ns.Load() }
func (c *manualClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
