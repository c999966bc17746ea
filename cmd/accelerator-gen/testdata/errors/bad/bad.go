// Package bad holds one bad annotation per method; accelerator-gen must report each
// at its file and line, and write nothing.
package bad

import (
	"context"
	"io"
)

type User struct {
	ID   int64
	Tags []string
}

func (User) Key() int64 { return 0 }

var notAnError = 42

type Store interface {
	//accelerator:cachable cache=users key=id
	UnknownVerb(ctx context.Context, id int64) (User, error)

	//accelerator:cacheable cache=users key=id ttl=5m
	UnknownOption(ctx context.Context, id int64) (User, error)

	//accelerator:cacheable cache=users key
	Malformed(ctx context.Context, id int64) (User, error)

	//accelerator:cacheable cache=users
	MissingKey(ctx context.Context, id int64) (User, error)

	//accelerator:cacheable cache=users key=idd
	UnknownParam(ctx context.Context, id int64) (User, error)

	//accelerator:put cache=users key=u.Nope
	UnknownField(ctx context.Context, u User) (User, error)

	//accelerator:put cache=users key=u.Key
	MethodInPath(ctx context.Context, u User) (User, error)

	//accelerator:cacheable cache=users key=ctx
	ContextKey(ctx context.Context, id int64) (User, error)

	//accelerator:cacheable cache=users key=id
	WrongResults(ctx context.Context, id int64) (User, bool)

	//accelerator:put cache=users key=u.ID
	PutWithoutValue(ctx context.Context, u User) error

	//accelerator:evict cache=users key=id
	EvictTooManyResults(ctx context.Context, id int64) (int, int, error)

	//accelerator:cacheable cache=users key=id
	NoContext(id int64) (User, error)

	//accelerator:cacheable cache=users key=ctx
	OnlyContext(ctx context.Context) (User, error)

	//accelerator:evict cache=users key=id
	Variadic(ctx context.Context, id int64, more ...int64) error

	//accelerator:cacheable-batch cache=users key=ids
	BatchWrongMap(ctx context.Context, ids []int64) (map[string]User, error)

	//accelerator:evict-batch cache=users key=id
	BatchNotSlice(ctx context.Context, id int64) error

	//accelerator:cacheable cache=tags key=tags
	NotComparable(ctx context.Context, tags []string) (User, error)

	//accelerator:cacheable cache=users key=name
	KeyTypeConflict(ctx context.Context, name string) (User, error)

	//accelerator:cacheable cache=users key=id
	//accelerator:evict cache=users key=id
	Combined(ctx context.Context, id int64) (User, error)

	//accelerator:cacheable cache=users key=id notfound=ErrMissing
	UnknownNotFound(ctx context.Context, id int64) (User, error)

	//accelerator:cacheable cache=users key=id notfound=notAnError
	NotFoundNotError(ctx context.Context, id int64) (User, error)

	//accelerator:cacheable cache=users key=id notfound=sql.ErrNoRows
	NotFoundNotImported(ctx context.Context, id int64) (User, error)

	//accelerator:evict cache=sessions key=id
	EvictOnlyCache(ctx context.Context, id string) error

	//accelerator:evict cache=users key=id key=id
	DuplicateOption(ctx context.Context, id int64) error

	//accelerator:evict cache=users key=id policy=sometimes
	BadPolicy(ctx context.Context, id int64) error

	//accelerator:cacheable cache=users key=id
	GetUser(ctx context.Context, id int64) (User, error)

	//accelerator:evict cache=users key=id
	io.Closer
}

type Detached interface {
	//accelerator:cacheable cache=users key=id

	Get(ctx context.Context, id int64) (User, error)
}

//accelerator:cacheable cache=users key=id
func NotAMethod(ctx context.Context, id int64) (User, error) { return User{}, nil }

type Generic[T any] interface {
	//accelerator:cacheable cache=things key=id
	Get(ctx context.Context, id int64) (T, error)
}
