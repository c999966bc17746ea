package users

import (
	"context"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"
)

// EnvPostgresURL names the environment variable with the database URL, and
// DefaultPostgresURL is its default: the local stack's PostgreSQL
// (deploy/docker-compose.yml or scripts/stack-native.sh).
const (
	EnvPostgresURL     = "ACCELERATOR_POSTGRES_URL"
	DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
)

// PostgresURL returns $ACCELERATOR_POSTGRES_URL, or [DefaultPostgresURL] when it is
// unset.
func PostgresURL() string {
	if u := os.Getenv(EnvPostgresURL); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// Open connects a pool to url, with a [QueryLog] recording its queries, and checks
// that the server answers. Parameters pgx does not know, such as search_path=..., are
// sent to the server as run-time settings.
func Open(ctx context.Context, url string) (*pgxpool.Pool, *QueryLog, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, nil, fmt.Errorf("users: parse the database URL: %w", err)
	}
	log := new(QueryLog)
	cfg.ConnConfig.Tracer = log
	db, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("users: connect: %w", err)
	}
	if err := db.Ping(ctx); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("users: connect: %w", err)
	}
	return db, log, nil
}
