// Package pgtest gives each test a schema of its own in the PostgreSQL server at
// $ACCELERATOR_POSTGRES_URL (default: the local stack's), so that tests and parallel
// runs never see each other's tables.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	neturl "net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/accelerator-go/accelerator/examples/postgres/users"
	"github.com/accelerator-go/accelerator/internal/redistest"
)

// connectTimeout bounds the first connection: a server that does not answer by then
// counts as unreachable.
const connectTimeout = 5 * time.Second

// URL creates a schema unique to this test and run, drops it (with everything in it)
// when the test ends, and returns the database URL with search_path set to it: the
// tables a test creates through that URL land in its schema.
//
// When the server is unreachable, the test is skipped, or fails when
// ACCELERATOR_REQUIRE_INTEGRATION is "1", as CI sets it.
func URL(t testing.TB) string {
	t.Helper()
	base := users.PostgresURL()
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		unreachable(t, base, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "accelerator_test_" + hex.EncodeToString(b[:])
	ident := pgx.Identifier{schema}.Sanitize()
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+ident); err != nil {
		_ = admin.Close(ctx)
		t.Fatalf("pgtest: create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+ident+" CASCADE"); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})
	return withSearchPath(t, base, schema)
}

func unreachable(t testing.TB, conn string, err error) {
	t.Helper()
	url := "$" + users.EnvPostgresURL
	if u, perr := neturl.Parse(conn); perr == nil && u.Scheme != "" {
		url = u.Redacted()
	}
	if os.Getenv(redistest.EnvRequireIntegration) == "1" {
		t.Fatalf("pgtest: PostgreSQL at %s is unreachable, and %s=1 requires the integration tests to run: %v",
			url, redistest.EnvRequireIntegration, err)
	}
	t.Skipf("pgtest: PostgreSQL at %s is unreachable (%v); start it (scripts/stack-native.sh start), set %s, or set %s=1 to make this a failure",
		url, err, users.EnvPostgresURL, redistest.EnvRequireIntegration)
}

// withSearchPath adds search_path=schema to a URL or a keyword/value connection
// string.
func withSearchPath(t testing.TB, conn, schema string) string {
	t.Helper()
	if !strings.HasPrefix(conn, "postgres://") && !strings.HasPrefix(conn, "postgresql://") {
		return conn + " search_path=" + schema
	}
	u, err := neturl.Parse(conn)
	if err != nil {
		t.Fatalf("pgtest: parse %s: %v", users.EnvPostgresURL, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
