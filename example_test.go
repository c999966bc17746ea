package accelerator_test

import (
	"context"
	"fmt"
	"time"

	"github.com/accelerator-go/accelerator"
)

// A local-only cache with a loader: the first read loads, the next one hits L1.
func Example() {
	ctx := context.Background()
	cache, err := accelerator.New(accelerator.Options[int, string]{
		Area:     "greetings",
		LocalTTL: time.Minute,
		Loader: accelerator.LoaderFunc[int, string](func(ctx context.Context, id int) (string, bool, error) {
			fmt.Println("loading", id)
			return fmt.Sprint("hello #", id), true, nil
		}),
	})
	if err != nil {
		panic(err)
	}
	defer cache.Close()

	v, found, _ := cache.Get(ctx, 7)
	fmt.Println(v, found)
	v, found, _ = cache.Get(ctx, 7)
	fmt.Println(v, found)
	m := cache.MetricsSnapshot()
	fmt.Println("hits:", m.LocalHits, "misses:", m.LocalMisses, "loads:", m.Loads)
	// Output:
	// loading 7
	// hello #7 true
	// hello #7 true
	// hits: 1 misses: 1 loads: 1
}

// MGet reads many keys; the misses go to the MLoader in one call, and keys the source
// does not have are simply absent from the result.
func ExampleCache_MGet() {
	ctx := context.Background()
	cache, _ := accelerator.New(accelerator.Options[int, string]{
		MLoader: accelerator.MLoaderFunc[int, string](func(ctx context.Context, ids []int) (map[int]string, error) {
			fmt.Println("MLoad", ids)
			out := map[int]string{}
			for _, id := range ids {
				if id < 3 {
					out[id] = fmt.Sprint("v", id)
				}
			}
			return out, nil
		}),
	})
	defer cache.Close()

	cache.Set(ctx, 1, "cached")
	got, _ := cache.MGet(ctx, []int{1, 2, 3})
	fmt.Println(got)
	// Output:
	// MLoad [2 3]
	// map[1:cached 2:v2]
}

// CacheNullValue remembers "not found" so that a missing key does not reach the source
// on every read.
func ExampleOptions_cacheNullValue() {
	ctx := context.Background()
	loads := 0
	cache, _ := accelerator.New(accelerator.Options[string, int]{
		CacheNullValue: true,
		NullTTL:        10 * time.Second,
		Loader: accelerator.LoaderFunc[string, int](func(ctx context.Context, key string) (int, bool, error) {
			loads++
			return 0, false, nil // not found at the source
		}),
	})
	defer cache.Close()

	for range 3 {
		_, found, _ := cache.Get(ctx, "ghost")
		fmt.Println(found)
	}
	fmt.Println("loads:", loads)
	// Output:
	// false
	// false
	// false
	// loads: 1
}

// DisableLoad makes a strict cache-only read.
func ExampleDisableLoad() {
	ctx := context.Background()
	cache, _ := accelerator.New(accelerator.Options[string, int]{
		Loader: accelerator.LoaderFunc[string, int](func(ctx context.Context, key string) (int, bool, error) {
			return 42, true, nil
		}),
	})
	defer cache.Close()

	_, found, _ := cache.Get(ctx, "k", accelerator.DisableLoad())
	fmt.Println("cache only:", found)
	v, found, _ := cache.Get(ctx, "k")
	fmt.Println("with load:", v, found)
	// Output:
	// cache only: false
	// with load: 42 true
}
