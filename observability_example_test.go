package accelerator_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/accelerator-go/accelerator"
)

// ErrorKind gives logs, spans and dashboards a short label for any error a cache
// returns.
func ExampleErrorKind() {
	cache, err := accelerator.New(accelerator.Options[string, int]{
		LoaderTimeout: 10 * time.Millisecond,
		Loader: accelerator.LoaderFunc[string, int](func(ctx context.Context, key string) (int, bool, error) {
			if key == "slow" {
				<-ctx.Done()
				return 0, false, ctx.Err()
			}
			return 0, false, errors.New("no such table")
		}),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	defer cache.Close()
	_, _, err = cache.Get(context.Background(), "slow")
	fmt.Println(accelerator.ErrorKind(err))
	_, _, err = cache.Get(context.Background(), "other")
	fmt.Println(accelerator.ErrorKind(err))
	fmt.Println(accelerator.ErrorKind(accelerator.ErrCircuitOpen))
	// Output:
	// timeout
	// loader
	// circuit_open
}
