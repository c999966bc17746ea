package accelerator

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/internal/keyenc"
)

// The invalidation marks of tags and Clear (docs/tags.md).
//
// Each area has a logical clock and marks, kept in Redis (in memory without L2): the
// clock only goes up; InvalidateTags raises each tag's mark, and Clear the area's
// clear mark, to a new clock value g. Every entry records a stamp: the clock value the
// instance knew when the entry was written, or when the load that produced it began.
// An entry is a miss when the clear mark, or the mark of one of its tags, is above its
// stamp. An instance that knows an old clock value stamps low, which can only make an
// entry a miss too early, never keep it too long.
//
// An instance caches the clock, the clear mark and the marks of the tags it has met,
// each with when it was read from Redis; a mark read longer than
// InvalidationMarkMaxAge ago is read again before it is used, so a lost invalidation
// message costs at most that long, and a value learned once is never kept forever.

// marksMode says where the clock and the marks live.
type marksMode uint8

const (
	// marksNone: the cache has L2, and its backend is no backend.MarkStore: no tags
	// and no Clear; entries carry no stamps and nothing is checked.
	marksNone marksMode = iota
	// marksLocal: no L2; the clock and the marks live in this instance.
	marksLocal
	// marksRemote: in Redis, cached here for at most InvalidationMarkMaxAge.
	marksRemote
)

// markBook is what one instance knows of its area's clock and marks.
type markBook struct {
	mode   marksMode
	store  *guardedMarks // marksRemote only
	now    func() int64
	maxAge int64 // InvalidationMarkMaxAge, nanoseconds
	// ttl is how long Redis keeps a mark it wrote (markTTL), and marksLocal keeps a
	// raised one.
	ttl   time.Duration
	batch int // the most marks of one read
	// The keys of the clock and the clear mark, and the start of a tag's mark key.
	clockKey, clearKey string
	tagKey             []byte

	clock, clear backend.Mark
	// blind is set when an entry was stamped before the clock was known (stamp 0):
	// the first read of the clear mark then drops L1.
	blind atomic.Bool

	mu sync.Mutex
	// tags holds the instance's view of each tag's mark as long as some entry (or a
	// read in progress) refers to it.
	tags map[string]weak.Pointer[backend.Mark]
	// held keeps marks raised here alive, until held[m] (marksLocal only: there is
	// no Redis to read them from again).
	held     map[*backend.Mark]int64
	heldSeen int
	// inflight is the read of each mark in progress.
	inflight map[*backend.Mark]*markRead
	// round counts the times every cached mark was made stale (stale); a read that
	// was sent in an earlier round does not make the marks it read fresh.
	round uint64

	// flush drops L1: a read found the clear mark raised.
	flush   func()
	async   func(func()) bool // runs a background read; false when the cache is closed
	metrics *metrics
	log     *burstLogger
}

// markRef is one mark to read: the instance's view and its key.
type markRef struct {
	m   *backend.Mark
	key string
}

// markRead is one read of marks in progress.
type markRead struct {
	done  chan struct{}
	err   error
	marks []*backend.Mark // the marks registered in inflight
}

// testMarksNeverAge makes the caches built while it is set keep a mark they read
// until the bus says messages were lost, as the replicas of dotnet/extensions#7411
// do: a test shows that a message lost without a trace is then never honoured.
var testMarksNeverAge atomic.Bool

// errMarksNotFresh reports marks that stayed older than the bound after reading them
// (the reads kept being made stale by lost messages).
var errMarksNotFresh = errors.New("accelerator: invalidation marks could not be read fresh")

// errClockWentBack is logged when Redis' invalidation clock is found below a value
// the instance knew: Redis lost or rolled back its marks; the area is cleared.
var errClockWentBack = errors.New("the invalidation clock in Redis went back (marks lost or restored from an older snapshot); the area was cleared")

func newMarkBook[K comparable, V any](c *cache[K, V]) *markBook {
	b := &markBook{
		now:      c.clock.NowNano,
		maxAge:   int64(c.cfg.InvalidationMarkMaxAge),
		ttl:      c.markTTL(),
		batch:    c.cfg.MaxBatchKeys,
		tags:     make(map[string]weak.Pointer[backend.Mark]),
		inflight: make(map[*backend.Mark]*markRead),
		flush:    c.flushLocal,
		metrics:  c.metrics,
		log:      c.log,
		async: func(f func()) bool {
			if c.closed.Load() {
				return false
			}
			c.loading.Go(f)
			return true
		},
	}
	if testMarksNeverAge.Load() {
		b.maxAge = int64(10 * 365 * 24 * time.Hour)
	}
	switch ms, ok := c.cfg.Remote.(backend.MarkStore); {
	case c.remote == nil:
		b.mode = marksLocal
		b.held = make(map[*backend.Mark]int64)
	case ok:
		b.mode = marksRemote
		b.store = &guardedMarks{g: c.remote, ms: ms}
		b.clockKey = string(keyenc.AppendMeta(nil, c.cfg.KeyPrefix, c.cfg.Area, "clock"))
		b.clearKey = string(keyenc.AppendMeta(nil, c.cfg.KeyPrefix, c.cfg.Area, "clear"))
		b.tagKey = keyenc.AppendMeta(nil, c.cfg.KeyPrefix, c.cfg.Area, "tag:")
	}
	return b
}

// markTTL is how long Redis keeps a mark after it was last raised: longer than any
// entry written before the raise can live, counted from the raise. Such an entry was
// stamped before the raise's clock value, so its write began at most the age of the
// instance's clock (InvalidationMarkMaxAge) before the raise, plus a wait for a load
// lease and a load, and it lives its longest TTL (its own, up to MaxLoaderTTL) and
// stale window from its write.
func (c *cache[K, V]) markTTL() time.Duration {
	life := max(c.cfg.LocalTTL, c.cfg.RemoteTTL, c.cfg.MaxLoaderTTL)
	if c.cfg.CacheNullValue {
		life = max(life, c.cfg.NullTTL)
	}
	return life + c.cfg.StaleTTL + c.cfg.LoadLeaseWait + c.cfg.LoaderTimeout + 2*c.cfg.RemoteTimeout +
		c.cfg.InvalidationMarkMaxAge + time.Minute
}

// supported reports whether the cache can keep tags and Clear.
func (b *markBook) supported() bool { return b.mode != marksNone }

// stamp returns the stamp of an entry whose write or load begins now: the clock as
// the instance knows it. The first stamp of an instance reads the clock first; an
// entry stamped while it is unknown gets 0 (it is a miss everywhere once the clock
// exists, and the instance drops its L1 when it first reads the clear mark).
func (b *markBook) stamp(ctx context.Context) uint64 {
	if b.mode != marksRemote {
		return b.clock.Value.Load()
	}
	v := b.clock.Value.Load()
	if v == 0 {
		_ = b.refresh(ctx, nil)
		if v = b.clock.Value.Load(); v == 0 {
			b.blind.Store(true)
		}
		return v
	}
	// A stale clock only makes entries misses too early; an instance that only
	// writes keeps it fresh in the background.
	if !b.fresh(&b.clock, b.now()) {
		b.refreshAhead(nil, nil)
	}
	return v
}

// cellLocked returns the instance's view of tag's mark, creating it (never read:
// stale) when no entry refers to it.
func (b *markBook) cellLocked(tag string) *backend.Mark {
	if m := b.tags[tag].Value(); m != nil {
		return m
	}
	m := new(backend.Mark)
	b.tags[tag] = weak.Make(m)
	runtime.AddCleanup(m, b.forget, tag)
	return m
}

// forget drops tag from the map once the mark it held was collected.
func (b *markBook) forget(tag string) {
	b.mu.Lock()
	if wp, ok := b.tags[tag]; ok && wp.Value() == nil {
		delete(b.tags, tag)
	}
	b.mu.Unlock()
}

// cells returns the views of the marks of tags, in order.
func (b *markBook) cells(tags []string) []*backend.Mark {
	if len(tags) == 0 {
		return nil
	}
	out := make([]*backend.Mark, len(tags))
	b.mu.Lock()
	for i, t := range tags {
		out[i] = b.cellLocked(t)
	}
	b.mu.Unlock()
	return out
}

// meta returns the L1 tag metadata of an entry stamped stamp carrying tags
// (normalized), or nil for an untagged entry.
func (b *markBook) meta(stamp uint64, tags []string) *backend.Tags {
	if len(tags) == 0 || b.mode == marksNone {
		return nil
	}
	return &backend.Tags{Stamp: stamp, Names: tags, Marks: b.cells(tags)}
}

// fresh reports whether m was read less than the bound before now.
func (b *markBook) fresh(m *backend.Mark, now int64) bool {
	return m.Fetched.Load() > now-b.maxAge
}

// aging reports whether m was read more than half the bound before now: time to read
// it again in the background, before a reader has to wait for it.
func (b *markBook) aging(m *backend.Mark, now int64) bool {
	return m.Fetched.Load() <= now-b.maxAge/2
}

// holds reports whether an entry stamped stamp, carrying the tags names whose marks
// are marks, may be served now: no mark above its stamp, the marks it depends on read
// within the bound (read now when they are not; a read that fails makes the entry a
// miss). l2 says the entry comes from L2: a stamp above the clock this instance just
// read means Redis' clock went back, which clears the area.
func (b *markBook) holds(ctx context.Context, stamp uint64, names []string, marks []*backend.Mark, l2 bool) bool {
	if b.mode == marksNone {
		return true
	}
	// Marks never go down: one above the stamp is final, whatever its age.
	if b.above(stamp, marks) {
		b.metrics.invalidatedReads.Add(1)
		return false
	}
	if b.mode == marksLocal {
		return true
	}
	now := b.now()
	future := l2 && stamp > b.clock.Value.Load()
	if !future && b.fresh(&b.clear, now) && b.allFresh(marks, now) {
		if b.aging(&b.clear, now) || b.anyAging(marks, now) {
			b.refreshAhead(names, marks)
		}
		return true
	}
	if err := b.refresh(ctx, refsOf(b.tagKey, names, marks)); err != nil {
		return false
	}
	if future && stamp > b.clock.Value.Load() {
		// Read fresh, the clock is still below what some instance stamped with.
		b.readNow(ctx, nil)
		if stamp > b.clock.Value.Load() {
			b.repair(ctx, stamp)
			return false
		}
	}
	if b.above(stamp, marks) {
		b.metrics.invalidatedReads.Add(1)
		return false
	}
	return true
}

func (b *markBook) above(stamp uint64, marks []*backend.Mark) bool {
	if b.clear.Value.Load() > stamp {
		return true
	}
	for _, m := range marks {
		if m.Value.Load() > stamp {
			return true
		}
	}
	return false
}

func (b *markBook) allFresh(marks []*backend.Mark, now int64) bool {
	for _, m := range marks {
		if !b.fresh(m, now) {
			return false
		}
	}
	return true
}

func (b *markBook) anyAging(marks []*backend.Mark, now int64) bool {
	for _, m := range marks {
		if b.aging(m, now) {
			return true
		}
	}
	return false
}

func refsOf(tagKey []byte, names []string, marks []*backend.Mark) []markRef {
	refs := make([]markRef, len(marks))
	for i, m := range marks {
		refs[i] = markRef{m: m, key: string(tagKey) + names[i]}
	}
	return refs
}

// refresh makes the clock, the clear mark and the marks of refs fresh: it reads, in
// one call, those that are stale and that no other reader is reading, and waits for
// the reads of the others. It fails when a read it needed failed.
func (b *markBook) refresh(ctx context.Context, refs []markRef) error {
	if b.freshRefs(refs) {
		return nil
	}
	for range 3 {
		p := b.plan(refs)
		if !p.stale {
			return nil
		}
		if p.read != nil {
			b.read(ctx, p.read, p.mine, p.round)
			if p.read.err != nil {
				return p.read.err
			}
		}
		if err := waitReads(ctx, p.waits); err != nil {
			return err
		}
	}
	return errMarksNotFresh
}

// freshRefs reports whether the clock, the clear mark and the marks of refs are all
// fresh, without a lock.
func (b *markBook) freshRefs(refs []markRef) bool {
	now := b.now()
	if !b.fresh(&b.clock, now) || !b.fresh(&b.clear, now) {
		return false
	}
	for _, r := range refs {
		if !b.fresh(r.m, now) {
			return false
		}
	}
	return true
}

// markPlan is what refresh has to do: read mine itself (read, registered in round),
// and wait for the reads of waits.
type markPlan struct {
	stale bool
	mine  []markRef
	read  *markRead
	round uint64
	waits []*markRead
}

// plan sorts the stale marks among the clock, the clear mark and refs into those
// this reader reads and those it waits for, and registers its read.
func (b *markBook) plan(refs []markRef) markPlan {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	var p markPlan
	var seen map[*backend.Mark]bool
	if len(refs) > 1 {
		seen = make(map[*backend.Mark]bool, len(refs))
	}
	all := append([]markRef{{m: &b.clock}, {m: &b.clear}}, refs...)
	for _, r := range all {
		if b.fresh(r.m, now) || seen[r.m] {
			continue
		}
		if seen != nil {
			seen[r.m] = true
		}
		p.stale = true
		if f := b.inflight[r.m]; f != nil {
			p.waits = append(p.waits, f)
			continue
		}
		p.mine = append(p.mine, r)
	}
	if len(p.mine) > 0 {
		p.read, p.round = b.startLocked(p.mine), b.round
	}
	return p
}

// waitReads waits for the reads of waits, and returns the first error among them.
func waitReads(ctx context.Context, waits []*markRead) error {
	for _, w := range waits {
		select {
		case <-w.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if w.err != nil {
			return w.err
		}
	}
	return nil
}

// startLocked registers a read of mine (and of the clock and the clear mark, which
// every read returns) as in progress.
func (b *markBook) startLocked(mine []markRef) *markRead {
	f := &markRead{done: make(chan struct{})}
	for _, r := range mine {
		b.inflight[r.m] = f
		f.marks = append(f.marks, r.m)
	}
	for _, m := range []*backend.Mark{&b.clock, &b.clear} {
		if b.inflight[m] == nil {
			b.inflight[m] = f
			f.marks = append(f.marks, m)
		}
	}
	return f
}

// refreshAhead starts a background read of the aging marks among marks, the clock
// and the clear mark that nobody is reading.
func (b *markBook) refreshAhead(names []string, marks []*backend.Mark) {
	now := b.now()
	b.mu.Lock()
	var mine []markRef
	if b.aging(&b.clock, now) && b.inflight[&b.clock] == nil || b.aging(&b.clear, now) && b.inflight[&b.clear] == nil {
		mine = append(mine, markRef{m: &b.clock})
	}
	for i, m := range marks {
		if b.aging(m, now) && b.inflight[m] == nil {
			mine = append(mine, markRef{m: m, key: string(b.tagKey) + names[i]})
		}
	}
	if len(mine) == 0 {
		b.mu.Unlock()
		return
	}
	f := b.startLocked(mine)
	round := b.round
	b.mu.Unlock()
	if !b.async(func() { b.read(context.Background(), f, mine, round) }) {
		b.finish(f, ErrClosed)
	}
}

// read reads the clock, the clear mark and the marks of refs, applies what it read,
// and ends f. The read goes on when the caller's ctx ends, for the readers that wait
// for it, bounded by RemoteTimeout.
func (b *markBook) read(ctx context.Context, f *markRead, refs []markRef, round uint64) {
	ctx = context.WithoutCancel(ctx)
	var keys []string
	var tagRefs []markRef
	for _, r := range refs {
		if r.key != "" {
			keys = append(keys, r.key)
			tagRefs = append(tagRefs, r)
		}
	}
	var err error
	for start := 0; start == 0 || start < len(keys); start += b.batch {
		end := min(start+b.batch, len(keys))
		if err = b.readChunk(ctx, keys[start:end], tagRefs[start:end], round); err != nil {
			break
		}
	}
	b.finish(f, err)
}

// readNow reads the clock, the clear mark and the marks of refs at once, without
// waiting for or joining the reads in progress.
func (b *markBook) readNow(ctx context.Context, refs []markRef) {
	b.mu.Lock()
	round := b.round
	b.mu.Unlock()
	f := &markRead{done: make(chan struct{})}
	b.read(ctx, f, refs, round)
}

func (b *markBook) finish(f *markRead, err error) {
	b.mu.Lock()
	for _, m := range f.marks {
		if b.inflight[m] == f {
			delete(b.inflight, m)
		}
	}
	b.mu.Unlock()
	f.err = err
	close(f.done)
}

// readChunk reads the clock, the clear mark and the marks at keys (of refs) in one
// call, and applies the result.
func (b *markBook) readChunk(ctx context.Context, keys []string, refs []markRef, round uint64) error {
	// Redis' clock was at least known when the read was sent: a lower answer means
	// it went back.
	known := b.clock.Value.Load()
	sent := b.now()
	b.metrics.markReads.Add(1)
	clock, vals, err := b.store.read(ctx, backend.Marks{
		Clock: b.clockKey, Reset: b.clearKey, Keys: append([]string{b.clearKey}, keys...), TTL: b.ttl,
	})
	if err != nil {
		return err
	}
	b.mu.Lock()
	oldClear := b.clear.Value.Load()
	current := round == b.round
	b.learnLocked(&b.clock, clock, sent, current)
	b.learnLocked(&b.clear, vals[0], sent, current)
	for i, r := range refs {
		b.learnLocked(r.m, vals[1+i], sent, current)
	}
	cleared := b.clear.Value.Load() > oldClear && (oldClear != 0 || b.blind.Load())
	b.mu.Unlock()
	if clock < known {
		b.repair(ctx, known)
		return nil
	}
	if cleared {
		b.flush()
	}
	return nil
}

// learnLocked raises m to v, and records that it was read at sent unless the read
// was sent before the marks were last made stale, or an earlier read is recorded.
func (b *markBook) learnLocked(m *backend.Mark, v uint64, sent int64, current bool) {
	raiseMark(m, v)
	if current && sent > m.Fetched.Load() {
		m.Fetched.Store(sent)
	}
}

// raiseMark raises m's value to at least v.
func raiseMark(m *backend.Mark, v uint64) {
	for {
		old := m.Value.Load()
		if old >= v || m.Value.CompareAndSwap(old, v) {
			return
		}
	}
}

// repair handles a clock found below a value some instance knew: Redis lost or
// rolled back its marks, so any entry stamped before may have lost an invalidation.
// It clears the area with a clock value above floor, and drops L1.
func (b *markBook) repair(ctx context.Context, floor uint64) {
	b.log.problem("marks", errClockWentBack)
	g, err := b.raise(ctx, []string{b.clearKey}, floor)
	if err != nil {
		b.stale()
		return
	}
	raiseMark(&b.clear, g)
	b.flush()
}

// raise raises the marks at keys in Redis to a new clock value above floor (and
// above the clock this instance knows), and returns it; the instance's view of the
// clock takes it at once, and the caller raises its views of the marks.
func (b *markBook) raise(ctx context.Context, keys []string, floor uint64) (uint64, error) {
	floor = max(floor, b.clock.Value.Load())
	g, err := b.store.raise(ctx, backend.Marks{Clock: b.clockKey, Reset: b.clearKey, Keys: keys, TTL: b.ttl, Floor: floor})
	if err != nil {
		return 0, err
	}
	raiseMark(&b.clock, g)
	return g, nil
}

// tick returns a new clock value, in marksLocal.
func (b *markBook) tick() uint64 { return b.clock.Value.Add(1) }

// raised records that tags were raised to g by this instance (in Redis, or here in
// marksLocal): the views of those marks take g at once. In marksLocal the marks are
// kept for the mark TTL, since nothing could tell their value again.
func (b *markBook) raised(tags []string, g uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	raiseMark(&b.clock, g)
	now := b.now()
	for _, t := range tags {
		var m *backend.Mark
		if b.mode == marksLocal {
			m = b.cellLocked(t)
			b.held[m] = now + int64(b.ttl)
		} else if m = b.tags[t].Value(); m == nil {
			continue
		}
		raiseMark(m, g)
	}
	if b.mode == marksLocal && len(b.held) >= 2*b.heldSeen+64 {
		for m, until := range b.held {
			if until < now {
				delete(b.held, m)
			}
		}
		b.heldSeen = len(b.held)
	}
}

// cleared records that the clear mark was raised to g.
func (b *markBook) cleared(g uint64) {
	raiseMark(&b.clock, g)
	raiseMark(&b.clear, g)
}

// learned applies an invalidation message of another instance: tags (nil for a
// Clear) were raised to g. Only the values move: the message does not say when the
// marks were raised, so it does not make them fresh.
func (b *markBook) learned(tags [][]byte, g uint64) {
	if b.mode != marksRemote {
		return
	}
	raiseMark(&b.clock, g)
	if tags == nil {
		raiseMark(&b.clear, g)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, t := range tags {
		if m := b.tags[string(t)].Value(); m != nil {
			raiseMark(m, g)
		}
	}
}

// stale makes every cached mark stale, the clock and the clear mark included: the
// next reader of each reads it again. The invalidation bus calls it whenever messages
// may have been lost. Reads in progress do not make their marks fresh.
func (b *markBook) stale() {
	if b.mode != marksRemote {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.round++
	b.clock.Fetched.Store(0)
	b.clear.Fetched.Store(0)
	for _, wp := range b.tags {
		if m := wp.Value(); m != nil {
			m.Fetched.Store(0)
		}
	}
}

// guardedMarks sends mark reads and raises through the same timeout, circuit breaker
// and accounting as every other remote call.
type guardedMarks struct {
	g  *guardedRemote
	ms backend.MarkStore
}

func (gm *guardedMarks) read(ctx context.Context, m backend.Marks) (uint64, []uint64, error) {
	cctx, cancel, start, err := gm.g.begin(ctx)
	if err != nil {
		return 0, nil, err
	}
	defer cancel()
	clock, vals, err := gm.ms.ReadMarks(cctx, m)
	if err == nil && len(vals) != len(m.Keys) {
		err = fmt.Errorf("backend returned %d marks for %d keys", len(vals), len(m.Keys))
	}
	return clock, vals, gm.g.end(ctx, cctx, "read-marks", start, err)
}

func (gm *guardedMarks) raise(ctx context.Context, m backend.Marks) (uint64, error) {
	cctx, cancel, start, err := gm.g.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	g, err := gm.ms.RaiseMarks(cctx, m)
	return g, gm.g.end(ctx, cctx, "raise-marks", start, err)
}
