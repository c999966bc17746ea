package users_test

// Stack tests: the cache in front of a real PostgreSQL (a schema of each test's own,
// see internal/pgtest) and a real redis-server (internal/redistest). Queries are
// counted by the pool's users.QueryLog, which sees what is sent to the server.

import (
	"context"
	"errors"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/examples/postgres/internal/pgtest"
	"github.com/accelerator-go/accelerator/examples/postgres/users"
	"github.com/accelerator-go/accelerator/internal/redistest"
	"github.com/accelerator-go/accelerator/metrics"
	"github.com/accelerator-go/accelerator/rueidisremote"
)

// stack is one test's database and Redis.
type stack struct {
	url     string // the database, in the test's schema
	db      *pgxpool.Pool
	queries *users.QueryLog
	remote  *rueidisremote.Remote
	// lockConn holds the lock of lockUsers.
	lockConn *pgx.Conn
}

// newStack opens the test's schema, seeded like the local stack, and starts a
// redis-server.
func newStack(t *testing.T) *stack {
	t.Helper()
	url := pgtest.URL(t)
	srv := redistest.Start(t)
	ctx := testContext(t)
	db, queries, err := users.Open(ctx, url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(db.Close)
	if err := users.EnsureSchema(ctx, db); err != nil {
		t.Fatalf("EnsureSchema: %v", err)
	}
	remote, err := rueidisremote.NewFromURL(srv.URL())
	if err != nil {
		t.Fatalf("rueidisremote: %v", err)
	}
	t.Cleanup(remote.Close)
	return &stack{url: url, db: db, queries: queries, remote: remote}
}

// service returns a new instance of the service over the stack, as one replica of a
// deployment: its own L1, the shared Redis and database.
func (s *stack) service(t *testing.T, cfg users.Config) *users.Service {
	t.Helper()
	cfg.Remote = s.remote
	svc, err := users.NewService(s.db, cfg)
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	if err := svc.WaitSubscribed(testContext(t)); err != nil {
		t.Fatal(err)
	}
	return svc
}

// expectLoads checks the loader queries sent since mark: how many, and that they
// asked for exactly the ids of want, each once.
func (s *stack) expectLoads(t *testing.T, mark, queries int, want ...int64) {
	t.Helper()
	n, perID := s.queries.LoadsSince(mark)
	wantPerID := make(map[int64]int, len(want))
	for _, id := range want {
		wantPerID[id] = 1
	}
	if n != queries || !maps.Equal(perID, wantPerID) {
		t.Errorf("loader queries = %d asking for %v; want %d asking for %v once each", n, perID, queries, want)
	}
}

// expectNoQueries checks that nothing at all was sent to the database since mark.
func (s *stack) expectNoQueries(t *testing.T, mark int) {
	t.Helper()
	if q := s.queries.Since(mark); len(q) != 0 {
		t.Errorf("%d queries reached the database, want none: first %q", len(q), q[0].SQL)
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustGet(t *testing.T, svc *users.Service, id int64) users.User {
	t.Helper()
	u, found, err := svc.Get(testContext(t), id)
	if err != nil || !found {
		t.Fatalf("Get(%d) = %v, found=%v; want the user", id, err, found)
	}
	return u
}

func expectAbsent(t *testing.T, svc *users.Service, id int64) {
	t.Helper()
	if u, found, err := svc.Get(testContext(t), id); err != nil || found {
		t.Fatalf("Get(%d) = %+v, found=%v, err=%v; want not found", id, u, found, err)
	}
}

func ids(from, to int64) []int64 {
	var out []int64
	for id := from; id <= to; id++ {
		out = append(out, id)
	}
	return out
}

// TestSchemaIsTheDeployedOne keeps the SQL the example applies identical to the files
// the local stack mounts.
func TestSchemaIsTheDeployedOne(t *testing.T) {
	for file, embedded := range map[string]string{
		"../../../deploy/postgres/01-schema.sql": users.SchemaSQL,
		"../../../deploy/postgres/02-seed.sql":   users.SeedSQL,
	} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("read %s: %v", file, err)
		}
		if string(b) != embedded {
			t.Errorf("%s differs from the copy in users/; copy it over", file)
		}
	}
}

// TestGetLoadsEachKeyOnce: 64 readers of a cold key that miss while its load is in
// flight share it: one query. Hits, in L1 and from Redis by another instance, cost
// none.
func TestGetLoadsEachKeyOnce(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	a := s.service(t, users.Config{})
	ctx := testContext(t)

	// Hold the load in flight until every reader has missed both layers: the table
	// is locked, so the loader's query waits.
	unlock := s.lockUsers(t)
	mark := s.queries.Len()
	var wg sync.WaitGroup
	var reading atomic.Int32
	for range 64 {
		wg.Go(func() {
			reading.Add(1)
			u, found, err := a.Get(ctx, 7)
			if err != nil || !found || u.Email != "user7@example.com" {
				t.Errorf("Get(7) = %+v, %v, %v", u, found, err)
			}
		})
	}
	s.waitForLockedQuery(t)
	for reading.Load() < 64 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // an L1 miss and a Redis GET take well under 1 ms
	unlock()
	wg.Wait()
	s.expectLoads(t, mark, 1, 7)

	mark = s.queries.Len()
	for range 100 {
		mustGet(t, a, 7)
	}
	b := s.service(t, users.Config{})
	mustGet(t, b, 7)
	mustGet(t, b, 7)
	s.expectNoQueries(t, mark)

	if m := a.Metrics(); m.Loads != 1 || m.SharedLoads == 0 {
		t.Errorf("instance a: %d loads, %d shared; want 1 load that the others shared", m.Loads, m.SharedLoads)
	}
	if m := b.Metrics(); m.RemoteHits != 1 || m.LocalHits != 1 || m.Loads != 0 {
		t.Errorf("instance b: %d Redis hits, %d L1 hits, %d loads; want 1, 1, 0", m.RemoteHits, m.LocalHits, m.Loads)
	}
}

// TestStampedeAcrossTheEndOfALoadLoadsOnce: readers of a cold key that arrive at any
// moment, some of them after the first load has ended, still cost one query.
func TestStampedeAcrossTheEndOfALoadLoadsOnce(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	a := s.service(t, users.Config{})
	ctx := testContext(t)
	for id := int64(1); id <= 20; id++ {
		mark := s.queries.Len()
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range 64 {
			wg.Go(func() {
				<-start
				if _, _, err := a.Get(ctx, id); err != nil {
					t.Errorf("Get(%d): %v", id, err)
				}
			})
		}
		close(start)
		wg.Wait()
		s.expectLoads(t, mark, 1, id)
	}
}

// lockUsers locks the users table against every access, from a connection of its
// own, until the returned function is called (or the test ends).
func (s *stack) lockUsers(t *testing.T) (unlock func()) {
	t.Helper()
	ctx := testContext(t)
	conn, err := pgx.Connect(ctx, s.url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	tx, err := conn.Begin(ctx)
	if err == nil {
		_, err = tx.Exec(ctx, `LOCK TABLE users IN ACCESS EXCLUSIVE MODE`)
	}
	if err != nil {
		t.Fatalf("lock the users table: %v", err)
	}
	var once sync.Once
	unlock = func() {
		once.Do(func() {
			if err := tx.Commit(ctx); err != nil {
				t.Errorf("unlock the users table: %v", err)
			}
			_ = conn.Close(ctx)
		})
	}
	t.Cleanup(unlock)
	s.lockConn = conn
	return unlock
}

// waitForLockedQuery waits until a loader query waits for the lock of lockUsers.
func (s *stack) waitForLockedQuery(t *testing.T) {
	t.Helper()
	ctx := testContext(t)
	for {
		// In a transaction pg_stat_activity is read once and kept: drop that copy.
		if _, err := s.lockConn.Exec(ctx, `SELECT pg_stat_clear_snapshot()`); err != nil {
			t.Fatalf("pg_stat_clear_snapshot: %v", err)
		}
		var waiting int
		err := s.lockConn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND query LIKE 'SELECT id, name, email, updated_at FROM users WHERE id%'`).Scan(&waiting)
		if err != nil {
			t.Fatalf("pg_stat_activity: %v", err)
		}
		if waiting > 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestGetManyLoadsOneQueryPerBatch: the misses of one GetMany cost one query, WHERE
// id = ANY($1), for exactly the ids no layer holds; every id reaches the database
// once in the whole test, users that do not exist included.
func TestGetManyLoadsOneQueryPerBatch(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	a := s.service(t, users.Config{})
	ctx := testContext(t)
	start := s.queries.Len()

	get := func(svc *users.Service, ids []int64, want int) {
		t.Helper()
		got, err := svc.GetMany(ctx, ids)
		if err != nil || len(got) != want {
			t.Fatalf("GetMany(%d ids) = %d users, %v; want %d", len(ids), len(got), err, want)
		}
		for id, u := range got {
			if u.ID != id {
				t.Fatalf("GetMany: key %d holds user %d", id, u.ID)
			}
		}
	}

	mark := s.queries.Len()
	get(a, ids(1, 100), 100)
	s.expectLoads(t, mark, 1, ids(1, 100)...)

	mark = s.queries.Len()
	get(a, ids(1, 100), 100)
	s.expectNoQueries(t, mark)

	// Half cached, half not, and two ids the table does not have.
	mark = s.queries.Len()
	get(a, append(ids(51, 150), 2001, 2002), 100)
	s.expectLoads(t, mark, 1, append(ids(101, 150), 2001, 2002)...)

	// Everything is in Redis now, "not found" answers included: another instance
	// reads it all without the database.
	mark = s.queries.Len()
	b := s.service(t, users.Config{})
	get(b, append(ids(1, 150), 2001, 2002), 150)
	get(a, append(ids(1, 150), 2001, 2002), 150)
	s.expectNoQueries(t, mark)

	n, perID := s.queries.LoadsSince(start)
	for id, times := range perID {
		if times != 1 {
			t.Errorf("id %d reached the database %d times", id, times)
		}
	}
	if n != 2 || len(perID) != 152 {
		t.Errorf("%d loader queries for %d ids in all, want 2 for 152", n, len(perID))
	}

	// The metric points tell the same story as the database: two batch loads of 152
	// keys in all, 150 found, and b answered everything from Redis.
	for _, want := range []struct {
		svc   *users.Service
		name  string
		attrs map[string]string
		value float64
	}{
		{a, "accelerator_cache_loader_calls_total", map[string]string{"loader": "mload"}, 2},
		{a, "accelerator_cache_load_keys_total", nil, 152},
		{a, "accelerator_cache_load_results_total", map[string]string{"result": "found"}, 150},
		{a, "accelerator_cache_load_results_total", map[string]string{"result": "not_found"}, 2},
		{b, "accelerator_cache_loader_calls_total", map[string]string{"loader": "mload"}, 0},
		{b, "accelerator_cache_gets_total", map[string]string{"layer": "l2", "result": "hit"}, 152},
	} {
		if got := pointValue(want.svc.MetricPoints(), want.name, want.attrs); got != want.value {
			t.Errorf("%s%v = %v, want %v", want.name, want.attrs, got, want.value)
		}
	}
}

// pointValue sums the points named name whose attributes include attrs.
func pointValue(points []metrics.Point, name string, attrs map[string]string) float64 {
	var sum float64
	for _, p := range points {
		if p.Name != name {
			continue
		}
		matched := 0
		for _, a := range p.Labels {
			if v, ok := attrs[a.Name]; ok && v == a.Value {
				matched++
			}
		}
		if matched == len(attrs) {
			sum += p.Value
		}
	}
	return sum
}

// TestUpdateThenInvalidateIsSeenByOtherInstances: after Update (commit, then
// invalidate), every instance reads the new row: the writer, a Redis-only instance
// and a new instance at once, and an instance that held the old row in its L1 as soon
// as the invalidation message arrives, long before its LocalTTL. One query in all.
func TestUpdateThenInvalidateIsSeenByOtherInstances(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	a := s.service(t, users.Config{})
	b := s.service(t, users.Config{LocalTTL: time.Hour})
	c := s.service(t, users.Config{Mode: accelerator.ModeRemote})
	ctx := testContext(t)

	mark := s.queries.Len()
	old := mustGet(t, a, 1)
	// a's write-back of its load is broadcast too: let it reach b before b fills
	// its L1, or it would drop b's fresh copy.
	deadline := time.Now().Add(2 * time.Second)
	for b.Metrics().InvalidationsReceived == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	mustGet(t, b, 1)
	mustGet(t, b, 1) // from b's L1 now
	mustGet(t, c, 1)
	s.expectLoads(t, mark, 1, 1)
	if m := b.Metrics(); m.LocalHits != 1 {
		t.Fatalf("instance b: %d L1 hits, want its copy of user 1 in L1", m.LocalHits)
	}

	renamed := old
	renamed.Name = "Ada Lovelace"
	mark = s.queries.Len()
	updated := time.Now()
	if err := a.Update(ctx, renamed); err != nil {
		t.Fatalf("Update: %v", err)
	}
	var inDB string
	if err := s.db.QueryRow(ctx, `SELECT name FROM users WHERE id = 1`).Scan(&inDB); err != nil || inDB != renamed.Name {
		t.Fatalf("database holds %q (%v), want %q", inDB, err, renamed.Name)
	}

	if got := mustGet(t, a, 1); got.Name != renamed.Name || !got.UpdatedAt.After(old.UpdatedAt) {
		t.Errorf("writer reads %+v after Update, want the new row", got)
	}
	if got := mustGet(t, c, 1); got.Name != renamed.Name {
		t.Errorf("Redis-only instance reads %q after Update, want %q", got.Name, renamed.Name)
	}
	if got := mustGet(t, s.service(t, users.Config{}), 1); got.Name != renamed.Name {
		t.Errorf("a new instance reads %q after Update, want %q", got.Name, renamed.Name)
	}
	for mustGet(t, b, 1).Name != renamed.Name {
		if time.Since(updated) > 5*time.Second {
			t.Fatalf("instance b still reads the old row %v after the update: no invalidation arrived", time.Since(updated))
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("instance b read the new row %v after the update", time.Since(updated))
	s.expectLoads(t, mark, 1, 1)
}

// TestCreateReplacesARememberedNotFound: a missing user is remembered as "not found"
// (no query on the next reads, in any instance), and Create invalidates that answer.
func TestCreateReplacesARememberedNotFound(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	a := s.service(t, users.Config{})
	c := s.service(t, users.Config{Mode: accelerator.ModeRemote})
	ctx := testContext(t)

	mark := s.queries.Len()
	expectAbsent(t, a, 5000)
	expectAbsent(t, a, 5000)
	expectAbsent(t, c, 5000)
	s.expectLoads(t, mark, 1, 5000)

	if err := a.Create(ctx, users.User{ID: 5000, Name: "Grace", Email: "grace@example.com"}); err != nil {
		t.Fatalf("Create: %v", err)
	}
	mark = s.queries.Len()
	if got := mustGet(t, a, 5000); got.Name != "Grace" {
		t.Errorf("Get after Create = %+v", got)
	}
	if got := mustGet(t, c, 5000); got.Name != "Grace" {
		t.Errorf("Redis-only instance after Create = %+v", got)
	}
	s.expectLoads(t, mark, 1, 5000)
}

// TestDeleteInvalidates: after Delete the user reads as not found, with one query,
// then none; writes to a missing user report ErrNotFound.
func TestDeleteInvalidates(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	a := s.service(t, users.Config{})
	ctx := testContext(t)

	u := mustGet(t, a, 3)
	if err := a.Delete(ctx, 3); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	mark := s.queries.Len()
	expectAbsent(t, a, 3)
	expectAbsent(t, a, 3)
	s.expectLoads(t, mark, 1, 3)

	if err := a.Delete(ctx, 3); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("Delete of a missing user = %v, want ErrNotFound", err)
	}
	if err := a.Update(ctx, u); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("Update of a missing user = %v, want ErrNotFound", err)
	}
}

// TestRolledBackWriteLeavesTheCache: a write the database refuses commits nothing,
// so the cached row, which still matches the database, stays cached.
func TestRolledBackWriteLeavesTheCache(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	a := s.service(t, users.Config{})
	ctx := testContext(t)

	before := mustGet(t, a, 2)
	clash := before
	clash.Email = "user1@example.com" // taken by user 1
	err := a.Update(ctx, clash)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		t.Fatalf("Update with a taken email = %v, want a unique violation (23505)", err)
	}

	mark := s.queries.Len()
	if got := mustGet(t, a, 2); got.Email != before.Email || !got.UpdatedAt.Equal(before.UpdatedAt) {
		t.Errorf("Get after the failed Update = %+v, want %+v", got, before)
	}
	s.expectNoQueries(t, mark)
	var email string
	if err := s.db.QueryRow(ctx, `SELECT email FROM users WHERE id = 2`).Scan(&email); err != nil || email != before.Email {
		t.Errorf("database holds %q (%v), want %q", email, err, before.Email)
	}
}

// TestLoaderQueriesAreTheDocumentedOnes pins the SQL of the loaders, which the
// docs quote.
func TestLoaderQueriesAreTheDocumentedOnes(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	a := s.service(t, users.Config{})
	ctx := testContext(t)
	mark := s.queries.Len()
	mustGet(t, a, 1)
	if _, err := a.GetMany(ctx, []int64{2, 3}); err != nil {
		t.Fatal(err)
	}
	q := s.queries.Since(mark)
	if len(q) != 2 || !strings.HasSuffix(q[0].SQL, "WHERE id = $1") || !strings.HasSuffix(q[1].SQL, "WHERE id = ANY($1)") {
		t.Errorf("queries = %+v, want one WHERE id = $1 and one WHERE id = ANY($1)", q)
	}
}

// spanLog is an accelerator.Tracer that records the spans that ended, as
// "op layer result".
type spanLog struct {
	mu    sync.Mutex
	spans []string
}

func (l *spanLog) Start(ctx context.Context, s accelerator.SpanStart) (context.Context, accelerator.Span) {
	return ctx, span{l: l, op: s.Op}
}

func (l *spanLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.spans
	l.spans = nil
	return out
}

type span struct {
	l  *spanLog
	op accelerator.Op
}

func (s span) End(e accelerator.SpanEnd) {
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	s.l.spans = append(s.l.spans, strings.TrimSpace(string(s.op)+" "+string(e.Layer)+" "+string(e.Result)))
}

// TestSpansFollowTheReads: the Tracer of Config sees a load from PostgreSQL as a
// read answered by the source, a read from Redis as an L2 hit, and nothing for an L1
// hit. (The OpenTelemetry tracer will get exactly these spans.)
func TestSpansFollowTheReads(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	var spansA, spansB spanLog
	a := s.service(t, users.Config{Tracer: &spansA})
	b := s.service(t, users.Config{Tracer: &spansB})

	mustGet(t, a, 1)
	if got := spansA.take(); !slices.Equal(got, []string{"cache.load source loaded", "cache.get source loaded"}) {
		t.Errorf("spans of a cold Get = %q, want the load inside a get answered by the source", got)
	}
	mustGet(t, a, 1)
	if got := spansA.take(); len(got) != 0 {
		t.Errorf("spans of an L1 hit = %q, want none", got)
	}
	mustGet(t, b, 1)
	if got := spansB.take(); !slices.Equal(got, []string{"cache.get l2 hit"}) {
		t.Errorf("spans of a Redis hit = %q, want [cache.get l2 hit]", got)
	}
}
