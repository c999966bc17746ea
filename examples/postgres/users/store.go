// Package users is the source of truth of examples/postgres: a users table in
// PostgreSQL read through an accelerator cache.
//
// [Store] is the table, with the cache's loaders: [Store.Load] for one key and
// [Store.MLoad] for a batch, one query per batch (WHERE id = ANY($1)). [Service] is
// what a handler calls: it reads through the cache and writes with the
// source-of-truth-first discipline: commit the transaction, then invalidate the key.
package users

import (
	"context"
	_ "embed" // the schema and seed, copies of deploy/postgres
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/accelerator-go/accelerator"
)

// User is one row of the users table. It is also the cached value, encoded with the
// cache's default codec (msgpack) in Redis.
type User struct {
	ID        int64     `db:"id"`
	Name      string    `db:"name"`
	Email     string    `db:"email"`
	UpdatedAt time.Time `db:"updated_at"`
}

// SchemaSQL creates the users table if it is missing. It is deploy/postgres/01-schema.sql,
// which the local stack applies; a test keeps the two identical.
//
//go:embed schema.sql
var SchemaSQL string

// SeedSQL inserts users 1 to 1000 unless they exist. It is deploy/postgres/02-seed.sql.
//
//go:embed seed.sql
var SeedSQL string

// EnsureSchema applies [SchemaSQL] and [SeedSQL] to db, in the first schema of its
// search_path. Both are idempotent.
func EnsureSchema(ctx context.Context, db *pgxpool.Pool) error {
	if _, err := db.Exec(ctx, SchemaSQL); err != nil {
		return fmt.Errorf("users: create the table: %w", err)
	}
	if _, err := db.Exec(ctx, SeedSQL); err != nil {
		return fmt.Errorf("users: seed the table: %w", err)
	}
	return nil
}

// The queries of the loaders. Each miss costs one of them: selectOne for
// [accelerator.Cache.Get], selectMany for the misses of one [accelerator.Cache.MGet].
const (
	selectOne  = `SELECT id, name, email, updated_at FROM users WHERE id = $1`
	selectMany = `SELECT id, name, email, updated_at FROM users WHERE id = ANY($1)`
)

// Store is the users table. Its Load and MLoad methods are the cache's
// [accelerator.Loader] and [accelerator.MLoader]; its writes take a transaction, so
// that [Service] decides when to commit.
type Store struct {
	db *pgxpool.Pool
}

var (
	_ accelerator.Loader[int64, User]  = (*Store)(nil)
	_ accelerator.MLoader[int64, User] = (*Store)(nil)
)

// NewStore returns the Store over db.
func NewStore(db *pgxpool.Pool) *Store {
	return &Store{db: db}
}

// Load reads one user with one query. found is false when there is no such row.
func (s *Store) Load(ctx context.Context, id int64) (User, bool, error) {
	rows, _ := s.db.Query(ctx, selectOne, id) // the error comes back from CollectOneRow
	u, err := pgx.CollectOneRow(rows, pgx.RowToStructByName[User])
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, false, nil
	}
	if err != nil {
		return User{}, false, fmt.Errorf("users: load %d: %w", id, err)
	}
	return u, true, nil
}

// MLoad reads the users of ids with one query, WHERE id = ANY($1). Ids without a row
// are absent from the map.
func (s *Store) MLoad(ctx context.Context, ids []int64) (map[int64]User, error) {
	rows, _ := s.db.Query(ctx, selectMany, ids)
	list, err := pgx.CollectRows(rows, pgx.RowToStructByName[User])
	if err != nil {
		return nil, fmt.Errorf("users: load %d users: %w", len(ids), err)
	}
	out := make(map[int64]User, len(list))
	for _, u := range list {
		out[u.ID] = u
	}
	return out, nil
}

// ErrNotFound reports a write to a user that does not exist.
var ErrNotFound = errors.New("users: no such user")

// update sets the name and email of u.ID in tx.
func update(ctx context.Context, tx pgx.Tx, u User) error {
	tag, err := tx.Exec(ctx, `UPDATE users SET name = $2, email = $3, updated_at = now() WHERE id = $1`,
		u.ID, u.Name, u.Email)
	if err != nil {
		return fmt.Errorf("users: update %d: %w", u.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("users: update %d: %w", u.ID, ErrNotFound)
	}
	return nil
}

// insert adds u in tx.
func insert(ctx context.Context, tx pgx.Tx, u User) error {
	_, err := tx.Exec(ctx, `INSERT INTO users (id, name, email) VALUES ($1, $2, $3)`, u.ID, u.Name, u.Email)
	if err != nil {
		return fmt.Errorf("users: create %d: %w", u.ID, err)
	}
	return nil
}

// remove deletes user id in tx.
func remove(ctx context.Context, tx pgx.Tx, id int64) error {
	tag, err := tx.Exec(ctx, `DELETE FROM users WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("users: delete %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("users: delete %d: %w", id, ErrNotFound)
	}
	return nil
}
