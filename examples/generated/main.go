// Command generated shows a cache decorator written by accelerator-gen: store.go
// declares the UserStore interface with //accelerator: annotations on its methods, and
// `go generate` writes CachedUserStore (accelerator_gen.go), which serves them through
// a cache and calls an in-memory store on misses. It needs no Redis.
//
//	go run ./examples/generated
//	go generate ./examples/generated   # rewrites accelerator_gen.go
package main

import (
	"context"
	"fmt"
	"log"
	"maps"
	"slices"
	"sync"

	"github.com/accelerator-go/accelerator"
)

// memStore is the source of truth: a UserStore in memory that prints its queries.
type memStore struct {
	mu     sync.Mutex
	rows   map[int64]User
	nextID int64
	// log records the queries, printed by main and compared by the tests.
	log func(format string, args ...any)
}

func newMemStore(log func(string, ...any)) *memStore {
	return &memStore{
		rows:   map[int64]User{1: {1, "Ada", "ada@example.com"}, 2: {2, "Grace", "grace@example.com"}, 3: {3, "Linus", "linus@example.com"}},
		nextID: 100,
		log:    log,
	}
}

func (s *memStore) GetUser(_ context.Context, id int64) (User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log("db: SELECT user %d", id)
	u, ok := s.rows[id]
	if !ok {
		return User{}, fmt.Errorf("user %d: %w", id, ErrUserNotFound)
	}
	return u, nil
}

func (s *memStore) GetUsers(_ context.Context, ids []int64) (map[int64]User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log("db: SELECT users %v", slices.Sorted(slices.Values(ids)))
	out := make(map[int64]User, len(ids))
	for _, id := range ids {
		if u, ok := s.rows[id]; ok {
			out[id] = u
		}
	}
	return out, nil
}

func (s *memStore) CreateUser(_ context.Context, name, email string) (User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	u := User{ID: s.nextID, Name: name, Email: email}
	s.log("db: INSERT user %d", u.ID)
	s.rows[u.ID] = u
	return u, nil
}

func (s *memStore) UpdateUser(_ context.Context, u User) (User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log("db: UPDATE user %d", u.ID)
	if _, ok := s.rows[u.ID]; !ok {
		return User{}, ErrUserNotFound
	}
	s.rows[u.ID] = u
	return u, nil
}

func (s *memStore) DeleteUser(_ context.Context, id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log("db: DELETE user %d", id)
	delete(s.rows, id)
	return nil
}

func (s *memStore) DeleteUsers(_ context.Context, ids []int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log("db: DELETE users %v", ids)
	for _, id := range ids {
		delete(s.rows, id)
	}
	return nil
}

func (s *memStore) CountUsers(context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log("db: SELECT count(*)")
	return len(s.rows), nil
}

// scenario runs the same calls against any UserStore and reports each answer with out.
func scenario(ctx context.Context, store UserStore, out func(format string, args ...any)) {
	show := func(call string, u User, err error) {
		if err != nil {
			out("%-22s -> error: %v", call, err)
			return
		}
		out("%-22s -> %d %s", call, u.ID, u.Name)
	}
	u, err := store.GetUser(ctx, 1)
	show("GetUser(1)", u, err)
	u, err = store.GetUser(ctx, 1)
	show("GetUser(1) again", u, err)
	for range 2 {
		u, err = store.GetUser(ctx, 404)
		show("GetUser(404)", u, err)
	}
	users, err := store.GetUsers(ctx, []int64{1, 2, 3, 404})
	out("%-22s -> %v %v", "GetUsers(1,2,3,404)", slices.Sorted(maps.Keys(users)), err)
	u, err = store.CreateUser(ctx, "Barbara", "barbara@example.com")
	show("CreateUser(Barbara)", u, err)
	u, err = store.GetUser(ctx, u.ID)
	show("GetUser(new)", u, err)
	u, err = store.UpdateUser(ctx, User{ID: 2, Name: "Grace Hopper", Email: "grace@example.com"})
	show("UpdateUser(2)", u, err)
	u, err = store.GetUser(ctx, 2)
	show("GetUser(2)", u, err)
	err = store.DeleteUser(ctx, 1)
	out("%-22s -> %v", "DeleteUser(1)", err)
	u, err = store.GetUser(ctx, 1)
	show("GetUser(1)", u, err)
	err = store.DeleteUsers(ctx, []int64{2, 3})
	out("%-22s -> %v", "DeleteUsers(2,3)", err)
	users, err = store.GetUsers(ctx, []int64{2, 3})
	out("%-22s -> %v %v", "GetUsers(2,3)", slices.Sorted(maps.Keys(users)), err)
	n, err := store.CountUsers(ctx)
	out("%-22s -> %d %v", "CountUsers()", n, err)
}

func main() {
	printf := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	users, err := accelerator.New(accelerator.Options[int64, User]{Area: "users", CacheNullValue: true})
	if err != nil {
		log.Fatal(err)
	}
	defer users.Close()
	store, err := NewCachedUserStore(newMemStore(func(f string, a ...any) { printf("    "+f, a...) }), UserStoreCaches{Users: users})
	if err != nil {
		log.Fatal(err)
	}
	scenario(context.Background(), store, printf)
	m := users.MetricsSnapshot()
	fmt.Printf("\ncache: L1 hits=%d misses=%d, negative hits=%d, loads=%d, batch loads=%d\n",
		m.LocalHits, m.LocalMisses, m.NullHits, m.Loads, m.MLoads)
}
