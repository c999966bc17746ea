// Command promhttp serves the metrics of two caches to Prometheus, at
// http://127.0.0.1:9464/metrics (ACCELERATOR_PROM_ADDR to change it), while a
// little load runs on them. It needs no Redis.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"math/rand/v2"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/acceleratorprom"
)

func main() {
	addr := os.Getenv("ACCELERATOR_PROM_ADDR")
	if addr == "" {
		addr = "127.0.0.1:9464"
	}
	users, err := accelerator.New(accelerator.Options[int, string]{
		Area: "users", LocalTTL: 5 * time.Second,
		Loader: accelerator.LoaderFunc[int, string](func(_ context.Context, id int) (string, bool, error) {
			return fmt.Sprint("user ", id), id%10 != 0, nil
		}),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer users.Close()
	flags, err := accelerator.New(accelerator.Options[string, bool]{Area: "flags"})
	if err != nil {
		log.Fatal(err)
	}
	defer flags.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), acceleratorprom.MustNewCollector(users, flags))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))

	go func() {
		ctx := context.Background()
		for range time.Tick(time.Millisecond) {
			users.Get(ctx, rand.IntN(500))
			flags.Get(ctx, "dark-mode")
		}
	}()
	log.Printf("serving http://%s/metrics", addr)
	if err := http.ListenAndServe(addr, mux); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
