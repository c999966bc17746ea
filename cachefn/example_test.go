package cachefn_test

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/cachefn"
)

type User struct {
	ID   int64
	Name string
}

// UserDB stands in for a repository with a database behind it.
type UserDB struct{ rows map[int64]User }

func (db *UserDB) Get(_ context.Context, id int64) (User, error) {
	fmt.Println("  db: SELECT user", id)
	u, ok := db.rows[id]
	if !ok {
		return User{}, fmt.Errorf("user %d: %w", id, cachefn.ErrNotFound)
	}
	return u, nil
}

func (db *UserDB) GetMany(_ context.Context, ids []int64) (map[int64]User, error) {
	slices.Sort(ids)
	fmt.Println("  db: SELECT users", ids)
	out := map[int64]User{}
	for _, id := range ids {
		if u, ok := db.rows[id]; ok {
			out[id] = u
		}
	}
	return out, nil
}

func (db *UserDB) Save(_ context.Context, u User) (User, error) {
	fmt.Println("  db: UPDATE user", u.ID)
	db.rows[u.ID] = u
	return u, nil
}

func (db *UserDB) Delete(_ context.Context, id int64) error {
	fmt.Println("  db: DELETE user", id)
	delete(db.rows, id)
	return nil
}

func newUserDB() *UserDB {
	return &UserDB{rows: map[int64]User{1: {1, "Ada"}, 2: {2, "Grace"}}}
}

// Cacheable wraps a method of the shape func(ctx, key) (V, error): the first call
// runs it, the next ones are answered by the cache. With CacheNullValue, "not found"
// (cachefn.ErrNotFound) is remembered too.
func ExampleCacheable() {
	ctx := context.Background()
	db := newUserDB()
	users, _ := accelerator.New(accelerator.Options[int64, User]{Area: "users", CacheNullValue: true})
	defer users.Close()

	getUser := cachefn.Cacheable(users, db.Get) // func(context.Context, int64) (User, error)

	for range 2 {
		u, err := getUser(ctx, 1)
		fmt.Println(u.Name, err)
	}
	for range 2 {
		_, err := getUser(ctx, 404)
		fmt.Println(errors.Is(err, cachefn.ErrNotFound))
	}
	// Output:
	//   db: SELECT user 1
	// Ada <nil>
	// Ada <nil>
	//   db: SELECT user 404
	// true
	// true
}

// CacheableBy caches a function whose argument is not the key itself: the key
// function derives the cache key from the argument, explicitly.
func ExampleCacheableBy() {
	ctx := context.Background()
	type Request struct {
		Tenant string
		UserID int64
	}
	db := newUserDB()
	users, _ := accelerator.New(accelerator.Options[int64, User]{Area: "users"})
	defer users.Close()

	getUser := cachefn.CacheableBy(users,
		func(r Request) int64 { return r.UserID },
		func(ctx context.Context, r Request) (User, error) { return db.Get(ctx, r.UserID) })

	u, _ := getUser(ctx, Request{"acme", 2})
	u, _ = getUser(ctx, Request{"acme", 2})
	fmt.Println(u.Name)
	// Output:
	//   db: SELECT user 2
	// Grace
}

// CacheableBatch reads every key from the cache first and runs the function once, for
// the keys that missed.
func ExampleCacheableBatch() {
	ctx := context.Background()
	db := newUserDB()
	users, _ := accelerator.New(accelerator.Options[int64, User]{Area: "users"})
	defer users.Close()
	getUsers := cachefn.CacheableBatch(users, db.GetMany)

	got, _ := getUsers(ctx, []int64{1})
	fmt.Println(len(got), "user")
	got, _ = getUsers(ctx, []int64{1, 2, 3})
	fmt.Println(len(got), "users")
	// Output:
	//   db: SELECT users [1]
	// 1 user
	//   db: SELECT users [2 3]
	// 2 users
}

// Put writes the function's result to the cache when it succeeds, and Evict deletes
// the key when it succeeds: the next read sees the source again.
func ExamplePut() {
	ctx := context.Background()
	db := newUserDB()
	users, _ := accelerator.New(accelerator.Options[int64, User]{Area: "users"})
	defer users.Close()

	getUser := cachefn.Cacheable(users, db.Get)
	saveUser := cachefn.Put(users, func(_ User, saved User) int64 { return saved.ID }, db.Save)
	deleteUser := cachefn.Evict(users, func(id int64) int64 { return id }, db.Delete)

	saveUser(ctx, User{1, "Ada Lovelace"})
	u, _ := getUser(ctx, 1) // answered by the cache: Put wrote it
	fmt.Println(u.Name)
	deleteUser(ctx, 1)
	_, err := getUser(ctx, 1) // "not found" comes back as cachefn.ErrNotFound
	fmt.Println(err)
	// Output:
	//   db: UPDATE user 1
	// Ada Lovelace
	//   db: DELETE user 1
	//   db: SELECT user 1
	// cachefn: not found
}

// By default a failing cache never fails the call: the failure is counted, logged and
// passed to the OnError hook. Under Propagate it is returned as a *cachefn.CacheError.
func ExampleOnCacheError() {
	ctx := context.Background()
	db := newUserDB()
	users, _ := accelerator.New(accelerator.Options[int64, User]{Area: "users"})
	users.Close() // a cache that fails every call

	var stats cachefn.Stats
	opts := []cachefn.Option{
		cachefn.Name("UserDB.Get"),
		cachefn.WithStats(&stats),
		cachefn.Logger(nil), // the default logs with slog.Default
		cachefn.OnError(func(_ context.Context, err *cachefn.CacheError) { fmt.Println("  hook:", err) }),
	}
	u, err := cachefn.Cacheable(users, db.Get, opts...)(ctx, 1)
	fmt.Println("ignore:", u.Name, err)

	strict := cachefn.Cacheable(users, db.Get, append(opts, cachefn.OnCacheError(cachefn.Propagate))...)
	_, err = strict(ctx, 1)
	var ce *cachefn.CacheError
	fmt.Println("propagate:", errors.As(err, &ce), ce.Op)
	fmt.Println("ignored:", stats.Ignored(), "propagated:", stats.Propagated())
	// Output:
	//   hook: cachefn: UserDB.Get: cache get: accelerator: cache is closed
	//   db: SELECT user 1
	// ignore: Ada <nil>
	//   hook: cachefn: UserDB.Get: cache get: accelerator: cache is closed
	// propagate: true get
	// ignored: 1 propagated: 1
}
