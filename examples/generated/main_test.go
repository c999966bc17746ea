package main

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/cachefn"
)

// handWritten is what CachedUserStore would be without the generator: the same
// wrappers, written out.
type handWritten struct {
	UserStore   // CountUsers, uncached
	getUser     func(context.Context, int64) (User, error)
	getUsers    func(context.Context, []int64) (map[int64]User, error)
	createUser  func(context.Context, createArgs) (User, error)
	updateUser  func(context.Context, User) (User, error)
	deleteUser  func(context.Context, int64) error
	deleteUsers func(context.Context, []int64) error
}

type createArgs struct{ name, email string }

func newHandWritten(inner UserStore, users *accelerator.Cache[int64, User], opts ...cachefn.Option) *handWritten {
	with := func(name string, extra ...cachefn.Option) []cachefn.Option {
		return append(append(slices.Clip(opts), cachefn.Name("UserStore."+name)), extra...)
	}
	return &handWritten{
		UserStore: inner,
		getUser:   cachefn.Cacheable(users, inner.GetUser, with("GetUser", cachefn.NotFound(ErrUserNotFound))...),
		getUsers:  cachefn.CacheableBatch(users, inner.GetUsers, with("GetUsers")...),
		createUser: cachefn.Put(users, func(_ createArgs, u User) int64 { return u.ID },
			func(ctx context.Context, a createArgs) (User, error) { return inner.CreateUser(ctx, a.name, a.email) },
			with("CreateUser")...),
		updateUser: cachefn.Put(users, func(u, _ User) int64 { return u.ID }, inner.UpdateUser,
			with("UpdateUser", cachefn.OnCacheError(cachefn.Propagate))...),
		deleteUser: cachefn.Evict(users, func(id int64) int64 { return id }, inner.DeleteUser, with("DeleteUser")...),
		deleteUsers: cachefn.EvictBatch(users, func(ids []int64) []int64 { return ids }, inner.DeleteUsers,
			with("DeleteUsers", cachefn.EvictBefore())...),
	}
}

func (h *handWritten) GetUser(ctx context.Context, id int64) (User, error) { return h.getUser(ctx, id) }
func (h *handWritten) GetUsers(ctx context.Context, ids []int64) (map[int64]User, error) {
	return h.getUsers(ctx, ids)
}
func (h *handWritten) CreateUser(ctx context.Context, name, email string) (User, error) {
	return h.createUser(ctx, createArgs{name, email})
}
func (h *handWritten) UpdateUser(ctx context.Context, u User) (User, error) {
	return h.updateUser(ctx, u)
}
func (h *handWritten) DeleteUser(ctx context.Context, id int64) error { return h.deleteUser(ctx, id) }
func (h *handWritten) DeleteUsers(ctx context.Context, ids []int64) error {
	return h.deleteUsers(ctx, ids)
}

// run plays the scenario against a store built by build over a fresh source and cache
// (closed when closed is set, to make every cache call fail), and returns what it saw:
// the answers, the queries that reached the source, and the cache's counters.
func run(t *testing.T, closed bool, build func(UserStore, *accelerator.Cache[int64, User]) UserStore) ([]string, accelerator.MetricsSnapshot) {
	t.Helper()
	var trace []string
	record := func(format string, args ...any) { trace = append(trace, fmt.Sprintf(format, args...)) }
	users, err := accelerator.New(accelerator.Options[int64, User]{Area: "users", CacheNullValue: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { users.Close() })
	if closed {
		users.Close()
	}
	scenario(context.Background(), build(newMemStore(record), users), record)
	return trace, users.MetricsSnapshot()
}

// TestGeneratedBehavesLikeHandWritten: the generated decorator answers, queries the
// source and uses the cache exactly as the same wrappers written by hand, with a
// working cache and with a failing one (where each method's policy shows).
func TestGeneratedBehavesLikeHandWritten(t *testing.T) {
	quiet := []cachefn.Option{cachefn.Logger(nil)}
	generated := func(inner UserStore, users *accelerator.Cache[int64, User]) UserStore {
		d, err := NewCachedUserStore(inner, UserStoreCaches{Users: users}, quiet...)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	byHand := func(inner UserStore, users *accelerator.Cache[int64, User]) UserStore {
		return newHandWritten(inner, users, quiet...)
	}
	for _, closed := range []bool{false, true} {
		gotTrace, gotMetrics := run(t, closed, generated)
		wantTrace, wantMetrics := run(t, closed, byHand)
		if !slices.Equal(gotTrace, wantTrace) {
			t.Errorf("closed=%v: generated decorator:\n%q\nhand-written wrappers:\n%q", closed, gotTrace, wantTrace)
		}
		if gotMetrics != wantMetrics {
			t.Errorf("closed=%v: cache metrics differ:\ngenerated    %+v\nhand-written %+v", closed, gotMetrics, wantMetrics)
		}
		const propagated = "UpdateUser(2)          -> error: cachefn: UserStore.UpdateUser: cache set: accelerator: cache is closed"
		if closed && !slices.Contains(gotTrace, propagated) {
			t.Errorf("closed cache: UpdateUser (policy=propagate) did not return the cache error:\n%q", gotTrace)
		}
	}
}

func TestNewCachedUserStoreRejectsNil(t *testing.T) {
	users, _ := accelerator.New(accelerator.Options[int64, User]{})
	defer users.Close()
	if _, err := NewCachedUserStore(nil, UserStoreCaches{Users: users}); err == nil {
		t.Fatal("nil inner accepted")
	}
	if _, err := NewCachedUserStore(newMemStore(t.Logf), UserStoreCaches{}); err == nil {
		t.Fatal("nil cache accepted")
	}
}

func Example_main() {
	main()
	// Output:
	//     db: SELECT user 1
	// GetUser(1)             -> 1 Ada
	// GetUser(1) again       -> 1 Ada
	//     db: SELECT user 404
	// GetUser(404)           -> error: user not found
	// GetUser(404)           -> error: user not found
	//     db: SELECT users [2 3]
	// GetUsers(1,2,3,404)    -> [1 2 3] <nil>
	//     db: INSERT user 101
	// CreateUser(Barbara)    -> 101 Barbara
	// GetUser(new)           -> 101 Barbara
	//     db: UPDATE user 2
	// UpdateUser(2)          -> 2 Grace Hopper
	// GetUser(2)             -> 2 Grace Hopper
	//     db: DELETE user 1
	// DeleteUser(1)          -> <nil>
	//     db: SELECT user 1
	// GetUser(1)             -> error: user not found
	//     db: DELETE users [2 3]
	// DeleteUsers(2,3)       -> <nil>
	//     db: SELECT users [2 3]
	// GetUsers(2,3)          -> [] <nil>
	//     db: SELECT count(*)
	// CountUsers()           -> 1 <nil>
	//
	// cache: L1 hits=6 misses=7, negative hits=2, loads=3, batch loads=2
}
