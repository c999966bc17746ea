package acceleratorprom_test

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/acceleratorprom"
)

// Serve the metrics of a cache with promhttp.
func Example() {
	users, _ := accelerator.New(accelerator.Options[int, string]{Area: "users"})
	defer users.Close()
	users.Set(context.Background(), 1, "ann")
	users.Get(context.Background(), 1)

	reg := prometheus.NewRegistry()
	reg.MustRegister(acceleratorprom.MustNewCollector(users))
	handler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})

	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for line := range strings.Lines(string(body)) {
		if strings.HasPrefix(line, `accelerator_cache_gets_total{area="users",layer="l1"`) {
			fmt.Print(line)
		}
	}
	// Output:
	// accelerator_cache_gets_total{area="users",layer="l1",result="hit"} 1
	// accelerator_cache_gets_total{area="users",layer="l1",result="miss"} 0
}
