package accelerator_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/accelerator-go/accelerator"
)

// The counters of a cache as metric points, the form a metrics exporter takes.
func ExampleCache_OTelMetricPoints() {
	ctx := context.Background()
	cache, err := accelerator.New(accelerator.Options[int, string]{
		Area: "greetings",
		Loader: accelerator.LoaderFunc[int, string](func(ctx context.Context, id int) (string, bool, error) {
			return fmt.Sprint("hello #", id), true, nil
		}),
	})
	if err != nil {
		panic(err)
	}
	defer cache.Close()
	cache.Get(ctx, 1) // a miss that loads
	cache.Get(ctx, 1) // an L1 hit

	for _, p := range cache.OTelMetricPoints() {
		if p.Name == "accelerator_cache_gets_total" || p.Name == "accelerator_cache_hit_ratio" {
			fmt.Println(p.Name, p.Kind, p.Attributes, p.Value)
		}
	}
	// Output:
	// accelerator_cache_gets_total counter [{area greetings} {layer l1} {result hit}] 1
	// accelerator_cache_gets_total counter [{area greetings} {layer l1} {result miss}] 1
	// accelerator_cache_gets_total counter [{area greetings} {layer l2} {result hit}] 0
	// accelerator_cache_gets_total counter [{area greetings} {layer l2} {result miss}] 0
	// accelerator_cache_hit_ratio gauge [{area greetings} {layer l1}] 0.5
}

// One admin endpoint for caches of different types.
func ExampleNewAdminHandler() {
	users, _ := accelerator.New(accelerator.Options[int64, string]{Area: "users"})
	defer users.Close()
	flags, _ := accelerator.New(accelerator.Options[string, bool]{Area: "flags"})
	defer flags.Close()
	flags.Set(context.Background(), "dark-mode", true)
	flags.Get(context.Background(), "dark-mode")

	mux := http.NewServeMux()
	mux.Handle("/debug/cache/", http.StripPrefix("/debug/cache", accelerator.NewAdminHandler(users, flags)))

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/cache/diagnostics.json?area=flags", nil))
	var diags []accelerator.DiagnosticSnapshot
	if err := json.Unmarshal(rec.Body.Bytes(), &diags); err != nil {
		panic(err)
	}
	d := diags[0]
	fmt.Println(d.Area, d.Mode, d.Local.Entries, d.Remote.State, d.Config.LocalTTL)
	// Output:
	// flags local 1 disabled 1m0s
}

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
