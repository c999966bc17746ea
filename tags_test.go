package accelerator_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/internal/redistest"
)

// taggedSource is an EntryLoader whose values carry a version, bumped by the test
// (source first, then invalidate), and the tags the test gives each key.
type taggedSource struct {
	mu       sync.Mutex
	versions map[string]int
	tags     map[string][]string
	fixed    map[string]string // the value of a key, when set
	loads    atomic.Int32
	// gate, when set, makes a load wait after it read the source until it is closed.
	gate chan struct{}
	read chan struct{} // receives once per load that read the source, when set
}

func newTaggedSource() *taggedSource {
	return &taggedSource{versions: map[string]int{}, tags: map[string][]string{}, fixed: map[string]string{}}
}

// fix makes the source hold value for key, whatever its version ("" undoes it).
func (s *taggedSource) fix(key, value string) { s.mu.Lock(); s.fixed[key] = value; s.mu.Unlock() }

func (s *taggedSource) tag(key string, tags ...string) {
	s.mu.Lock()
	s.tags[key] = tags
	s.mu.Unlock()
}

func (s *taggedSource) bump(keys ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		s.versions[k]++
	}
}

func (s *taggedSource) value(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return key + "@" + strconv.Itoa(s.versions[key])
}

func (s *taggedSource) LoadEntry(_ context.Context, key string) (accelerator.Loaded[string], error) {
	s.loads.Add(1)
	s.mu.Lock()
	r := accelerator.Loaded[string]{Value: key + "@" + strconv.Itoa(s.versions[key]), Found: true, Tags: s.tags[key]}
	if v := s.fixed[key]; v != "" {
		r.Value = v
	}
	gate, read := s.gate, s.read
	s.mu.Unlock()
	if read != nil {
		read <- struct{}{}
	}
	if gate != nil {
		<-gate
	}
	return r, nil
}

func (s *taggedSource) Load(ctx context.Context, key string) (string, bool, error) {
	r, err := s.LoadEntry(ctx, key)
	return r.Value, r.Found, err
}

func TestInvalidateTagMissesTaggedEntriesOnly(t *testing.T) {
	t.Parallel()
	src := newTaggedSource()
	src.tag("loaded-t", "t")
	src.tag("loaded-u", "u")
	c := newLocal(t, accelerator.Options[string, string]{Loader: src})
	ctx := context.Background()
	must(t, c.Set(ctx, "set-t", "v", accelerator.WithTags("t")))
	must(t, c.Set(ctx, "set-tu", "v", accelerator.WithTags("u"), accelerator.WithTags("t", "t")))
	must(t, c.Set(ctx, "set-u", "v", accelerator.WithTags("u")))
	must(t, c.Set(ctx, "untagged", "v"))
	for _, k := range []string{"loaded-t", "loaded-u"} {
		if v, _, _ := c.Get(ctx, k); v != k+"@0" {
			t.Fatalf("Get(%s) = %q", k, v)
		}
	}
	src.bump("loaded-t", "loaded-u")
	must(t, c.InvalidateTag(ctx, "t"))
	for _, k := range []string{"set-t", "set-tu"} {
		if v, _, _ := c.Get(ctx, k); v != k+"@0" {
			t.Errorf("%s, tagged t, read %q after InvalidateTag(t), want a load", k, v)
		}
	}
	if v, _, _ := c.Get(ctx, "loaded-t"); v != "loaded-t@1" {
		t.Errorf("loaded-t, tagged t by its loader, read %q after InvalidateTag(t), want a reload", v)
	}
	for k, want := range map[string]string{"set-u": "v", "untagged": "v", "loaded-u": "loaded-u@0"} {
		if v, _, _ := c.Get(ctx, k); v != want {
			t.Errorf("%s read %q after InvalidateTag(t), want %q (untouched)", k, v, want)
		}
	}
	// A write after the invalidation is served.
	must(t, c.Set(ctx, "set-t", "w", accelerator.WithTags("t")))
	must(t, c.Set(ctx, "set-tu", "w", accelerator.WithTags("t")))
	if v, _, _ := c.Get(ctx, "set-tu"); v != "w" {
		t.Fatalf("a tagged write after InvalidateTag read %q", v)
	}
	if v, _, _ := c.Get(ctx, "set-t"); v != "w" {
		t.Fatalf("a tagged write after InvalidateTag read %q", v)
	}
	if m := c.MetricsSnapshot(); m.TagInvalidations != 1 || m.InvalidatedReads != 3 {
		t.Fatalf("TagInvalidations %d, InvalidatedReads %d; want 1 and 3", m.TagInvalidations, m.InvalidatedReads)
	}
}

func TestInvalidateTagsInvalidatesEachTag(t *testing.T) {
	t.Parallel()
	c := newLocal(t, accelerator.Options[string, string]{})
	ctx := context.Background()
	for _, tag := range []string{"a", "b", "c"} {
		must(t, c.Set(ctx, tag, "v", accelerator.WithTags(tag)))
	}
	must(t, c.InvalidateTags(ctx, "a", "b", "", "a"))
	got, err := c.MGet(ctx, []string{"a", "b", "c"})
	if err != nil || len(got) != 1 || got["c"] != "v" {
		t.Fatalf("MGet after InvalidateTags(a, b) = %v, %v; want c alone", got, err)
	}
	if err := c.InvalidateTags(ctx); err != nil {
		t.Fatalf("InvalidateTags() = %v", err)
	}
}

func TestClearMissesEveryEntry(t *testing.T) {
	t.Parallel()
	src := newTaggedSource()
	c := newLocal(t, accelerator.Options[string, string]{Loader: src})
	ctx := context.Background()
	must(t, c.Set(ctx, "a", "v"))
	must(t, c.Set(ctx, "b", "v", accelerator.WithTags("t")))
	c.Get(ctx, "c")
	src.bump("c")
	must(t, c.Clear(ctx))
	got, err := c.MGet(ctx, []string{"a", "b"}, accelerator.DisableLoad())
	if err != nil || len(got) != 0 {
		t.Fatalf("MGet after Clear = %v, %v; want nothing", got, err)
	}
	if v, _, _ := c.Get(ctx, "c"); v != "c@1" {
		t.Fatalf("Get after Clear = %q, want a reload", v)
	}
	must(t, c.Set(ctx, "a", "w", accelerator.WithTags("t")))
	if v, _, _ := c.Get(ctx, "a"); v != "w" {
		t.Fatalf("a write after Clear read %q", v)
	}
}

// TestLoadInFlightDuringInvalidateTagIsNotServed: a load that read the source before
// InvalidateTag (the value it loaded is the old one) gives its value to the readers
// that were waiting for it, but a read that starts after InvalidateTag returned does
// not join it, and its fill is a miss afterwards.
func TestLoadInFlightDuringInvalidateTagIsNotServed(t *testing.T) {
	t.Parallel()
	src := newTaggedSource()
	src.tag("k", "t")
	gate, read := make(chan struct{}), make(chan struct{}, 1)
	src.gate, src.read = gate, read
	c := newLocal(t, accelerator.Options[string, string]{Loader: src})
	ctx := context.Background()
	early := make(chan string)
	go func() { v, _, _ := c.Get(ctx, "k"); early <- v }()
	<-read // the load read version 0
	src.mu.Lock()
	src.gate, src.read = nil, nil
	src.mu.Unlock()
	src.bump("k")
	must(t, c.InvalidateTag(ctx, "t"))
	if v, _, _ := c.Get(ctx, "k"); v != "k@1" {
		t.Fatalf("a read after InvalidateTag = %q, want k@1 (not the load in flight)", v)
	}
	close(gate)
	if v := <-early; v != "k@0" {
		t.Fatalf("the read that started the load got %q", v)
	}
	if v, _, _ := c.Get(ctx, "k"); v != "k@1" {
		t.Fatalf("after the old load's fill, Get = %q, want k@1", v)
	}
}

// TestTagsNeedAMarkStore: a remote backend without backend.MarkStore cannot keep
// the marks: tags and Clear are refused, and a tagged load is returned but not
// cached.
func TestTagsNeedAMarkStore(t *testing.T) {
	t.Parallel()
	src := newTaggedSource()
	src.tag("k", "t")
	c := newLocal(t, accelerator.Options[string, string]{Remote: nopRemote{}, Loader: src})
	ctx := context.Background()
	for name, err := range map[string]error{
		"InvalidateTag": c.InvalidateTag(ctx, "t"),
		"Clear":         c.Clear(ctx),
		"Set":           c.Set(ctx, "k", "v", accelerator.WithTags("t")),
	} {
		if !errors.Is(err, accelerator.ErrTagsUnsupported) {
			t.Errorf("%s = %v, want ErrTagsUnsupported", name, err)
		}
	}
	must(t, c.Set(ctx, "untagged", "v"))
	c.Get(ctx, "k")
	c.Get(ctx, "k")
	if n := src.loads.Load(); n != 2 {
		t.Fatalf("%d loads of a tagged key, want 2 (not cached)", n)
	}
}

func TestInvalidationMarkMaxAgeIsValidated(t *testing.T) {
	t.Parallel()
	_, err := accelerator.New(accelerator.Options[string, string]{InvalidationMarkMaxAge: -time.Second})
	if err == nil || !strings.Contains(err.Error(), "InvalidationMarkMaxAge") {
		t.Fatalf("New with a negative InvalidationMarkMaxAge = %v", err)
	}
}

// TestTaggedL1HitDoesNotAllocate: the L1 hit of a tagged entry whose marks are fresh
// allocates nothing, without L2 (the marks live in the instance) and with it (they
// were read from Redis; the cache's clock does not move).
func TestTaggedL1HitDoesNotAllocate(t *testing.T) {
	ctx := context.Background()
	t.Run("local", func(t *testing.T) {
		c := newLocal(t, accelerator.Options[string, string]{})
		must(t, c.InvalidateTag(ctx, "other"))
		checkTaggedHitAllocs(t, c)
	})
	t.Run("two levels", func(t *testing.T) {
		srv := redistest.Start(t)
		c := newCache(t, accelerator.Options[string, string]{Remote: newRemote(t, srv.URL()), Clock: newFakeClock()})
		must(t, c.InvalidateTag(ctx, "other"))
		checkTaggedHitAllocs(t, c)
	})
}

func checkTaggedHitAllocs(t *testing.T, c *accelerator.Cache[string, string]) {
	ctx := context.Background()
	must(t, c.Set(ctx, "key", "value", accelerator.WithTags("t", "u")))
	c.Get(ctx, "key") // reads the marks of t and u
	allocs := testing.AllocsPerRun(1000, func() {
		if _, found, _ := c.Get(ctx, "key"); !found {
			t.Fatal("miss")
		}
	})
	if allocs != 0 {
		t.Fatalf("tagged L1 hit allocates %v times, want 0", allocs)
	}
	if m := c.MetricsSnapshot(); m.LocalMisses > 0 {
		t.Fatalf("%d L1 misses: the hit was not measured", m.LocalMisses)
	}
}

// BenchmarkGetLocalHitTags measures the L1 hit of an untagged entry and of an entry
// with one and with three tags, on a local cache (the marks live in the instance) and
// on a two-level cache whose marks are fresh (read from Redis less than
// InvalidationMarkMaxAge ago: the clock of the cache does not move).
func BenchmarkGetLocalHitTags(b *testing.B) {
	for _, tc := range []struct {
		name string
		tags []string
	}{{"untagged", nil}, {"1-tag", []string{"user:1"}}, {"3-tags", []string{"user:1", "org:7", "plan:pro"}}} {
		b.Run("local/"+tc.name, func(b *testing.B) {
			c := newLocal(b, accelerator.Options[int64, benchUser]{})
			benchTaggedHit(b, c, tc.tags)
		})
	}
	srv := redistest.Start(b)
	for _, tc := range []struct {
		name string
		tags []string
	}{{"untagged", nil}, {"1-tag", []string{"user:1"}}, {"3-tags", []string{"user:1", "org:7", "plan:pro"}}} {
		b.Run("both/"+tc.name, func(b *testing.B) {
			c := newCache(b, accelerator.Options[int64, benchUser]{
				Area: "bench-tags-" + tc.name, Remote: newRemote(b, srv.URL()), Clock: newFakeClock(),
			})
			benchTaggedHit(b, c, tc.tags)
		})
	}
}

func benchTaggedHit(b *testing.B, c *accelerator.Cache[int64, benchUser], tags []string) {
	ctx := context.Background()
	must(b, c.Set(ctx, 1, sampleUser(1), accelerator.WithTags(tags...)))
	c.Get(ctx, 1) // reads the marks of the tags
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, found, _ := c.Get(ctx, 1); !found {
			b.Fatal("miss")
		}
	}
	if m := c.MetricsSnapshot(); m.LocalMisses > 0 {
		b.Fatalf("%d L1 misses", m.LocalMisses)
	}
}

// TestTagsFromABatchLoad: the tags an EntryMLoader gives each key of a batch are
// honoured like those of a single load, in L1 and, with Redis, in L2 on another
// instance.
func TestTagsFromABatchLoad(t *testing.T) {
	t.Parallel()
	var version atomic.Int32
	ml := accelerator.EntryMLoaderFunc[string, string](func(_ context.Context, keys []string) (map[string]accelerator.Loaded[string], error) {
		out := make(map[string]accelerator.Loaded[string], len(keys))
		for _, k := range keys {
			out[k] = accelerator.Loaded[string]{Value: k + "@" + strconv.Itoa(int(version.Load())), Found: true, Tags: []string{"batch", "key:" + k}}
		}
		return out, nil
	})
	srv := redistest.Start(t)
	opts := func() accelerator.Options[string, string] {
		return accelerator.Options[string, string]{Area: "batch-tags", Remote: newRemote(t, srv.URL()), MLoader: ml, Clock: newFakeClock()}
	}
	a, b := newCache(t, opts()), newCache(t, opts())
	ctx := context.Background()
	keys := []string{"x", "y", "z"}
	if got, err := a.MGet(ctx, keys); err != nil || got["x"] != "x@0" {
		t.Fatalf("MGet = %v, %v", got, err)
	}
	if got, _ := b.MGet(ctx, keys, accelerator.DisableLoad()); len(got) != 3 {
		t.Fatalf("the other instance reads %v from L2, want the three values", got)
	}
	version.Store(1)
	must(t, a.InvalidateTags(ctx, "key:y"))
	got, _ := a.MGet(ctx, keys)
	if got["x"] != "x@0" || got["y"] != "y@1" || got["z"] != "z@0" {
		t.Fatalf("after InvalidateTags(key:y): %v, want y reloaded alone", got)
	}
	must(t, a.InvalidateTag(ctx, "batch"))
	if got, _ := a.MGet(ctx, keys); got["x"] != "x@1" || got["z"] != "z@1" {
		t.Fatalf("after InvalidateTag(batch): %v, want every key reloaded", got)
	}
}
