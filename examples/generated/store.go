package main

import (
	"context"
	"errors"
)

//go:generate go run github.com/accelerator-go/accelerator/cmd/accelerator-gen -type UserStore

// User is what the store keeps.
type User struct {
	ID    int64
	Name  string
	Email string
}

// ErrUserNotFound is the error of UserStore for an ID it does not have.
var ErrUserNotFound = errors.New("user not found")

// UserStore is the repository of users. The //accelerator: annotations say how
// CachedUserStore (in accelerator_gen.go, written by accelerator-gen) serves each
// method through the caches; see docs/declarative.md for their grammar.
type UserStore interface {
	// GetUser returns the user id, or ErrUserNotFound, which the cache remembers as a
	// negative entry.
	//
	//accelerator:cacheable cache=users key=id notfound=ErrUserNotFound
	GetUser(ctx context.Context, id int64) (User, error)

	// GetUsers returns the users of ids that exist: the cached ones from the cache, the
	// others with one call of the inner store.
	//
	//accelerator:cacheable-batch cache=users key=ids
	GetUsers(ctx context.Context, ids []int64) (map[int64]User, error)

	// CreateUser stores a new user, whose ID the store assigns, and caches it.
	//
	//accelerator:put cache=users key=result.ID
	CreateUser(ctx context.Context, name, email string) (User, error)

	// UpdateUser replaces a user and caches the new version; a failed cache write is
	// returned to the caller.
	//
	//accelerator:put cache=users key=u.ID policy=propagate
	UpdateUser(ctx context.Context, u User) (User, error)

	// DeleteUser deletes a user, then its cache entry.
	//
	//accelerator:evict cache=users key=id
	DeleteUser(ctx context.Context, id int64) error

	// DeleteUsers drops the cache entries of ids, then deletes the users.
	//
	//accelerator:evict-batch cache=users key=ids before=true
	DeleteUsers(ctx context.Context, ids []int64) error

	// CountUsers is not cached: the decorator calls the inner store.
	CountUsers(ctx context.Context) (int, error)
}
