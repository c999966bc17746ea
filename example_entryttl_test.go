package accelerator_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/accelerator-go/accelerator"
)

// handClock is a Clock moved by hand, so that the example expires entries without
// sleeping.
type handClock struct{ ns atomic.Int64 }

func (c *handClock) NowNano() int64          { return c.ns.Load() }
func (c *handClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// An EntryLoader says how long each value stays fresh: here a quote is good for 2
// seconds and a rate for the configured LocalTTL (TTL 0). A write can do the same with
// WithTTL.
func ExampleEntryLoaderFunc() {
	ctx := context.Background()
	clock := &handClock{}
	clock.Advance(time.Duration(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()))
	cache, err := accelerator.New(accelerator.Options[string, string]{
		LocalTTL: time.Minute,
		Clock:    clock,
		Loader: accelerator.EntryLoaderFunc[string, string](func(ctx context.Context, key string) (accelerator.Loaded[string], error) {
			fmt.Println("loading", key)
			if key == "quote" {
				return accelerator.Loaded[string]{Value: "1.0842", Found: true, TTL: 2 * time.Second}, nil
			}
			return accelerator.Loaded[string]{Value: "0.25", Found: true}, nil
		}),
	})
	if err != nil {
		panic(err)
	}
	defer cache.Close()

	cache.Get(ctx, "quote")
	cache.Get(ctx, "rate")
	cache.Set(ctx, "flash", "sale", accelerator.WithTTL(time.Second))

	clock.Advance(3 * time.Second)
	for _, key := range []string{"quote", "rate", "flash"} {
		_, fresh, _ := cache.Get(ctx, key, accelerator.DisableLoad())
		fmt.Println(key, "fresh after 3s:", fresh)
	}
	// Output:
	// loading quote
	// loading rate
	// quote fresh after 3s: false
	// rate fresh after 3s: true
	// flash fresh after 3s: false
}
