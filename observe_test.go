package accelerator_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/accelerator-go/accelerator"
)

type spanKey struct{}

// testSpan records one span: what started it, its parent, and how it ended.
type testSpan struct {
	start  accelerator.SpanStart
	parent *testSpan
	end    *accelerator.SpanEnd
	tr     *testTracer
}

func (s *testSpan) End(e accelerator.SpanEnd) {
	s.tr.mu.Lock()
	defer s.tr.mu.Unlock()
	s.end = &e
}

// testTracer is an accelerator.Tracer that keeps every span, to check what the cache
// traces; the OpenTelemetry module has its own tests against the real SDK.
type testTracer struct {
	mu    sync.Mutex
	spans []*testSpan
}

func (t *testTracer) Start(ctx context.Context, s accelerator.SpanStart) (context.Context, accelerator.Span) {
	parent, _ := ctx.Value(spanKey{}).(*testSpan)
	sp := &testSpan{start: s, parent: parent, tr: t}
	t.mu.Lock()
	t.spans = append(t.spans, sp)
	t.mu.Unlock()
	return context.WithValue(ctx, spanKey{}, sp), sp
}

func TestTracerSpansOfAMissThatLoads(t *testing.T) {
	tr := &testTracer{}
	ld := &countingLoader[string, int]{data: map[string]int{"k": 1}}
	c := newLocal(t, accelerator.Options[string, int]{Loader: ld, MLoader: ld, Tracer: tr, Area: "traced"})
	ctx := context.Background()
	if _, _, err := c.Get(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	tr.mu.Lock()
	if len(tr.spans) != 2 {
		t.Fatalf("%d spans, want cache.get and cache.load", len(tr.spans))
	}
	get, load := tr.spans[0], tr.spans[1]
	if get.start.Op != accelerator.OpGet || get.start.Area != "traced" || get.parent != nil {
		t.Fatalf("first span %+v", get.start)
	}
	if load.start.Op != accelerator.OpLoad || load.parent != get {
		t.Fatalf("second span %+v is not a cache.load child of cache.get", load.start)
	}
	if get.end == nil || get.end.Layer != accelerator.LayerSource || get.end.Result != accelerator.ResultLoaded {
		t.Fatalf("cache.get ended %+v", get.end)
	}
	if load.end == nil || load.end.Result != accelerator.ResultLoaded {
		t.Fatalf("cache.load ended %+v", load.end)
	}
	tr.mu.Unlock()

	// An L1 hit is not traced and does not allocate, tracer or not.
	if a := testing.AllocsPerRun(1000, func() { c.Get(ctx, "k") }); a != 0 {
		t.Fatalf("L1 hit with a tracer allocates %v times", a)
	}
	tr.mu.Lock()
	if len(tr.spans) != 2 {
		t.Fatalf("L1 hits were traced: %d spans", len(tr.spans))
	}
	tr.mu.Unlock()

	// Batch and write operations.
	c.MGet(ctx, []string{"k", "x", "y"})
	c.Set(ctx, "a", 1)
	c.MDel(ctx, []string{"a"})
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var ops []accelerator.Op
	for _, s := range tr.spans[2:] {
		ops = append(ops, s.start.Op)
		if s.end == nil {
			t.Fatalf("span %s never ended", s.start.Op)
		}
	}
	want := []accelerator.Op{accelerator.OpMGet, accelerator.OpMLoad, accelerator.OpSet, accelerator.OpMDel}
	if len(ops) != len(want) {
		t.Fatalf("ops %v, want %v", ops, want)
	}
	for i := range want {
		if ops[i] != want[i] {
			t.Fatalf("ops %v, want %v", ops, want)
		}
	}
	if mget := tr.spans[2]; mget.start.Keys != 3 || mget.end.Found != 1 {
		t.Fatalf("cache.mget span %+v %+v", mget.start, mget.end)
	}
}

func TestTracerSeesErrors(t *testing.T) {
	tr := &testTracer{}
	errDB := errors.New("db")
	c := newLocal(t, accelerator.Options[string, int]{Tracer: tr,
		Loader: accelerator.LoaderFunc[string, int](func(context.Context, string) (int, bool, error) { return 0, false, errDB })})
	c.Get(context.Background(), "k")
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, s := range tr.spans {
		if s.end == nil || s.end.Result != accelerator.ResultError || !errors.Is(s.end.Err, errDB) {
			t.Fatalf("span %s ended %+v, want the loader error", s.start.Op, s.end)
		}
	}
}
