package goredisremote_test

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/goredisremote"
)

// A cache whose remote layer goes through the go-redis client the service already
// has. It needs a Redis on 127.0.0.1:6379, so it is compiled but not run.
func Example() {
	// ContextTimeoutEnabled lets the cache's RemoteTimeout bound every call.
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
	defer rdb.Close() // the caller owns the client; the Remote never closes it

	remote, err := goredisremote.New(rdb)
	if err != nil {
		panic(err)
	}
	cache, err := accelerator.New(accelerator.Options[int64, string]{
		Area:      "users",
		Remote:    remote,
		LocalTTL:  time.Minute,
		RemoteTTL: 10 * time.Minute,
		Loader: accelerator.LoaderFunc[int64, string](func(ctx context.Context, id int64) (string, bool, error) {
			return fmt.Sprint("user #", id), true, nil
		}),
	})
	if err != nil {
		panic(err)
	}
	defer cache.Close()

	name, found, err := cache.Get(context.Background(), 42)
	fmt.Println(name, found, err)
}
