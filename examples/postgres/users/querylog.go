package users

import (
	"context"
	"sync"

	"github.com/jackc/pgx/v5"
)

// Query is one query a connection sent to the server.
type Query struct {
	// SQL is the statement text, Args its arguments.
	SQL  string
	Args []any
}

// Load reports whether q is a query of the cache's loaders ([Store.Load] or
// [Store.MLoad]), and the ids it asked for.
func (q Query) Load() (ids []int64, ok bool) {
	switch q.SQL {
	case selectOne:
		id, ok := q.Args[0].(int64)
		return []int64{id}, ok
	case selectMany:
		ids, ok := q.Args[0].([]int64)
		return ids, ok
	}
	return nil, false
}

// QueryLog is a [pgx.QueryTracer] that records every query its connections send to
// the server (Query, QueryRow and Exec calls; BEGIN and COMMIT included), which is
// how the example and its tests count what reached the database without relying on
// pg_stat_statements. Install it in pgxpool.Config.ConnConfig.Tracer, as [Open] does.
//
// It is safe for concurrent use.
type QueryLog struct {
	mu      sync.Mutex
	queries []Query
}

var _ pgx.QueryTracer = (*QueryLog)(nil)

// TraceQueryStart records the query.
func (l *QueryLog) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	l.mu.Lock()
	l.queries = append(l.queries, Query{SQL: data.SQL, Args: data.Args})
	l.mu.Unlock()
	return ctx
}

// TraceQueryEnd does nothing.
func (l *QueryLog) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// Len returns the number of queries recorded so far: a mark for [QueryLog.Since].
func (l *QueryLog) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queries)
}

// Since returns the queries recorded after mark, a value of [QueryLog.Len].
func (l *QueryLog) Since(mark int) []Query {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Query(nil), l.queries[mark:]...)
}

// LoadsSince returns the loader queries recorded after mark, and how many times each
// id was asked for in them.
func (l *QueryLog) LoadsSince(mark int) (queries int, perID map[int64]int) {
	perID = make(map[int64]int)
	for _, q := range l.Since(mark) {
		ids, ok := q.Load()
		if !ok {
			continue
		}
		queries++
		for _, id := range ids {
			perID[id]++
		}
	}
	return queries, perID
}
