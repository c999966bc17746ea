// Command quickstart shows a local-only accelerator cache in front of a slow "database":
// the first read of a key loads it, the next ones hit the in-process layer, a burst of
// concurrent reads of a cold key loads it once, and a key the database does not have is
// remembered as a negative entry. It needs no Redis. At the end it explains its figures:
// the readers that waited on a load another reader had started are L1 misses, counted
// apart as SharedLoads, and cost the database nothing.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"log"
	"sync"
	"sync/atomic"
	"time"

	"github.com/accelerator-go/accelerator"
)

type User struct {
	ID   int64
	Name string
}

// db stands in for the source of truth.
var db = map[int64]User{1: {1, "Ada"}, 2: {2, "Grace"}, 3: {3, "Linus"}}

func main() {
	var queries atomic.Int64
	cache, err := accelerator.New(accelerator.Options[int64, User]{
		Area:           "users",
		LocalTTL:       time.Minute,
		CacheNullValue: true,
		Loader: accelerator.LoaderFunc[int64, User](func(ctx context.Context, id int64) (User, bool, error) {
			queries.Add(1)
			time.Sleep(20 * time.Millisecond) // a slow query
			u, ok := db[id]
			return u, ok, nil
		}),
		MLoader: accelerator.MLoaderFunc[int64, User](func(ctx context.Context, ids []int64) (map[int64]User, error) {
			queries.Add(1) // one query for the whole batch: WHERE id = ANY($1)
			out := make(map[int64]User, len(ids))
			for _, id := range ids {
				if u, ok := db[id]; ok {
					out[id] = u
				}
			}
			return out, nil
		}),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	ctx := context.Background()

	u, found, err := cache.Get(ctx, 1)
	fmt.Printf("Get(1) first read:  %+v found=%v err=%v (loaded from the database)\n", u, found, err)
	u, found, _ = cache.Get(ctx, 1)
	fmt.Printf("Get(1) second read: %+v found=%v (served from L1)\n", u, found)

	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() { cache.Get(ctx, 2) })
	}
	wg.Wait()
	fmt.Printf("100 concurrent Get(2) on a cold key: %d database queries so far\n", queries.Load())

	_, found, _ = cache.Get(ctx, 404)
	_, found2, _ := cache.Get(ctx, 404)
	fmt.Printf("Get(404) twice: found=%v/%v, the second answered by a negative entry\n", found, found2)

	users, err := cache.MGet(ctx, []int64{1, 2, 3, 4})
	fmt.Printf("MGet(1,2,3,4): %d found, err=%v (only 3 and 4 went to the database, in one query)\n", len(users), err)

	m := cache.MetricsSnapshot()
	reads := m.LocalHits + m.LocalMisses
	started := m.LocalMisses - m.SharedLoads
	fmt.Printf("\nL1 reads: %d = %d hits + %d misses (hit ratio %.2f)\n", reads, m.LocalHits, m.LocalMisses, m.LocalHitRatio())
	fmt.Printf("  %3d of the misses waited on a load another reader had started (SharedLoads): no query of their own\n", m.SharedLoads)
	fmt.Printf("  %3d of the misses started a load: %d Load calls, %d keys in %d MLoad call(s)\n", started, m.Loads, m.LoadedKeys-m.Loads, m.MLoads)
	fmt.Printf("database queries: %d; reads answered without a query of their own: %d of %d (%.2f)\n",
		queries.Load(), m.LocalHits+m.SharedLoads, reads, float64(m.LocalHits+m.SharedLoads)/float64(reads))
	fmt.Println("\nThe hit ratio counts L1 only: a reader that found the key missing and waited for the one")
	fmt.Println("load in flight is a miss, although the database saw a single query for all of them.")
	fmt.Println("Watch SharedLoads next to the hit ratio, and the loads, to see what reaches the source.")
}
