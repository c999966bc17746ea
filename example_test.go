package accelerator_test

import (
	"context"
	"fmt"
	"time"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/rueidisremote"
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

// Entries carry tags, from a write (WithTags) or from the loader (an EntryLoader);
// InvalidateTag makes every entry with the tag a miss, on every instance, without
// finding the entries.
func ExampleCache_InvalidateTag() {
	ctx := context.Background()
	cache, _ := accelerator.New(accelerator.Options[string, string]{
		Loader: accelerator.EntryLoaderFunc[string, string](func(ctx context.Context, key string) (accelerator.Loaded[string], error) {
			fmt.Println("loading", key)
			// The profile of a user depends on the user's organisation.
			return accelerator.Loaded[string]{Value: "profile of " + key, Found: true, Tags: []string{"org:7"}}, nil
		}),
	})
	defer cache.Close()

	cache.Set(ctx, "org:7/name", "Acme", accelerator.WithTags("org:7"))
	cache.Set(ctx, "org:8/name", "Initech", accelerator.WithTags("org:8"))
	cache.Get(ctx, "user:42")

	// Organisation 7 changed in the source of truth:
	cache.InvalidateTag(ctx, "org:7")

	_, found, _ := cache.Get(ctx, "org:7/name", accelerator.DisableLoad())
	fmt.Println("org:7/name cached:", found)
	v, _, _ := cache.Get(ctx, "org:8/name")
	fmt.Println("org:8/name:", v)
	v, _, _ = cache.Get(ctx, "user:42")
	fmt.Println(v)
	// Output:
	// loading user:42
	// org:7/name cached: false
	// org:8/name: Initech
	// loading user:42
	// profile of user:42
}

// Clear empties the cache's area on every instance in one call, whatever the number
// of entries: L1 is dropped, and the entries in L2 are misses from then on.
func ExampleCache_Clear() {
	ctx := context.Background()
	cache, _ := accelerator.New(accelerator.Options[int, string]{Area: "prices"})
	defer cache.Close()

	cache.MSet(ctx, map[int]string{1: "9.99", 2: "19.99"})
	cache.Clear(ctx)
	got, _ := cache.MGet(ctx, []int{1, 2})
	fmt.Println(len(got), "entries after Clear")
	// Output:
	// 0 entries after Clear
}

// LoadLease makes the instances that miss a cold key at the same moment load it once
// in all: one takes a lease in Redis and loads, the others wait for its value to
// appear in Redis (up to LoadLeaseWait), then load themselves if it has not. It costs
// the instance that loads one more round trip per miss.
func ExampleOptions_loadLease() {
	remote, err := rueidisremote.NewFromURL("redis://127.0.0.1:6379")
	if err != nil {
		panic(err)
	}
	defer remote.Close()
	cache, err := accelerator.New(accelerator.Options[int64, string]{
		Area:   "reports",
		Remote: remote,
		Loader: accelerator.LoaderFunc[int64, string](func(ctx context.Context, id int64) (string, bool, error) {
			return fmt.Sprint("report #", id), true, nil // an expensive query
		}),
		LoadLease:     2 * time.Second, // longer than a load usually takes
		LoadLeaseWait: 5 * time.Second, // default: twice LoadLease
	})
	if err != nil {
		panic(err)
	}
	defer cache.Close()

	report, _, err := cache.Get(context.Background(), 42)
	fmt.Println(report, err)
	m := cache.MetricsSnapshot()
	fmt.Println("leases taken:", m.LeasesTaken, "waits:", m.LeaseWaits, "with a value:", m.LeaseWaitHits)
}
