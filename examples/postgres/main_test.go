package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator/examples/postgres/internal/pgtest"
	"github.com/accelerator-go/accelerator/internal/redistest"
)

// TestRun runs the example against a real PostgreSQL (a schema of its own) and a
// real redis-server, and checks that it reports the loads and hits that happened.
func TestRun(t *testing.T) {
	t.Parallel()
	pg := pgtest.URL(t)
	srv := redistest.Start(t)
	out := runDemo(t, pg, srv.URL())
	expectLines(t, out,
		`cache: +ModeBoth`,
		`^Get\(1\) +-> "user 1" +load: 1 query for 1 key\(s\)$`,
		`^Get\(1\) +-> "user 1" +hit: L1, 0 queries$`,
		`^GetMany\(1\.\.10\) +-> 10 users, 1\.\.10 +load: 1 query for 9 key\(s\)$`,
		`^GetMany\(1\.\.10\) +-> 10 users, 1\.\.10 +hit: L1, 0 queries$`,
		`^Get\(424242\) +-> not found +load: 1 query for 1 key\(s\)$`,
		`^Get\(424242\) +-> not found +hit: remembered as not found, 0 queries$`,
		`^replica Get\(5\) +-> "user 5" +hit: Redis, 0 queries$`,
		`^Update\(1\) +-> committed, then invalidated`,
		`^replica Get\(1\) +-> "user 1" +hit: Redis, 0 queries$`,
		`^Get\(1\) +-> "user 1, renamed at [0-9:]+" +load: 1 query for 1 key\(s\)$`,
		`^replica Get\(1\) +-> "user 1, renamed at [0-9:]+" +hit: Redis, 0 queries$`,
		`^database: 4 loader queries in all$`,
	)

	// A second run finds the table and its rows, and starts cold again.
	out = runDemo(t, pg, srv.URL())
	expectLines(t, out, `\(table users, 1000 rows\)`, `^GetMany\(1\.\.10\) .* load: 1 query for 9 key\(s\)$`)
}

// TestRunWithoutRedis: with Redis unreachable the example says so and runs with
// ModeLocal.
func TestRunWithoutRedis(t *testing.T) {
	t.Parallel()
	out := runDemo(t, pgtest.URL(t), "redis://127.0.0.1:1")
	expectLines(t, out,
		`^cache: +ModeLocal, in process only: Redis at redis://127.0.0.1:1 is unreachable`,
		`^Get\(1\) +-> "user 1" +load: 1 query for 1 key\(s\)$`,
		`^Get\(1\) +-> "user 1" +hit: L1, 0 queries$`,
	)
	if strings.Contains(out, "replica") {
		t.Errorf("a replica ran without Redis:\n%s", out)
	}
}

func TestRedacted(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://app:s3cret@db:5432/test?sslmode=disable": "postgres://db:5432/test?sslmode=disable",
		"redis://:s3cret@127.0.0.1:6379":                     "redis://127.0.0.1:6379",
		"redis://127.0.0.1:6379":                             "redis://127.0.0.1:6379",
	} {
		if got := redacted(in); got != want {
			t.Errorf("redacted(%q) = %q, want %q", in, got, want)
		}
	}
}

func runDemo(t *testing.T, pgURL, redisURL string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out, pgURL, redisURL); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	return out.String()
}

// expectLines checks that, for each pattern, some line of out matches it.
func expectLines(t *testing.T, out string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(`(?m)` + p).MatchString(out) {
			t.Errorf("no line matches %s in:\n%s", p, out)
		}
	}
}
