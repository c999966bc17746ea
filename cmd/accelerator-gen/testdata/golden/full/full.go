// Package full exercises every annotation and signature accelerator-gen supports.
package full

import (
	"context"
	"io"
	"io/fs"
)

type User struct {
	ID    int64
	Email string
	Tags  []string
}

type Profile struct{ Bio string }

type ProfileRequest struct {
	Tenant string
	User   struct{ ID int64 }
}

type DeleteRequest struct {
	IDs    []int64
	Reason string
}

var ErrNoProfile = fs.ErrNotExist

type Store interface {
	io.Closer

	// GetUser: the fast path, the key is the argument.
	//
	//accelerator:cacheable cache=users key=id
	GetUser(ctx context.Context, id int64) (User, error)

	// GetByEmail: another cache, with string keys, and a qualified not-found error.
	//
	//accelerator:cacheable cache=byEmail key=email notfound=fs.ErrNotExist policy=propagate
	GetByEmail(ctx context.Context, email string) (User, error)

	// GetProfile: a key path through nested fields, a package-level not-found error.
	//
	//accelerator:cacheable cache=profiles key=req.User.ID notfound=ErrNoProfile
	GetProfile(ctx context.Context, req ProfileRequest) (Profile, error)

	// GetInTenant: several parameters, grouped for the wrapper.
	//
	//accelerator:cacheable cache=users key=id
	GetInTenant(ctx context.Context, tenant string, id int64) (User, error)

	//accelerator:cacheable-batch cache=users key=ids
	GetUsers(ctx context.Context, ids []int64) (map[int64]User, error)

	// SaveUser: put into one cache, evict from another.
	//
	//accelerator:put cache=users key=u.ID
	//accelerator:evict cache=byEmail key=u.Email
	SaveUser(ctx context.Context, u User) (User, error)

	// CreateUser: the key comes from the named result.
	//
	//accelerator:put cache=users key=created.ID policy=ignore
	CreateUser(ctx context.Context, email string, tags []string) (created User, err error)

	//accelerator:evict cache=users key=id before=true
	DeleteUser(ctx context.Context, id int64) (deleted bool, err error)

	//accelerator:evict-batch cache=users key=req.IDs
	DeleteUsers(ctx context.Context, req DeleteRequest) (int, error)

	// Touch: a parameter named d, like the receiver.
	//
	//accelerator:evict cache=profiles key=d
	Touch(ctx context.Context, d int64) error

	// Not annotated: delegated as they are.
	Count(context.Context) (int, error)
	Log(ctx context.Context, format string, args ...any)
	Ping()
}
