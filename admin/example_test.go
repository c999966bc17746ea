package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/admin"
)

// One admin endpoint, with its dashboard at /debug/cache/, for caches of different
// types.
func ExampleNewHandler() {
	users, _ := accelerator.New(accelerator.Options[int64, string]{Area: "users"})
	defer users.Close()
	flags, _ := accelerator.New(accelerator.Options[string, bool]{Area: "flags"})
	defer flags.Close()
	flags.Set(context.Background(), "dark-mode", true)
	flags.Get(context.Background(), "dark-mode")

	mux := http.NewServeMux()
	mux.Handle("/debug/cache/", http.StripPrefix("/debug/cache", admin.NewHandler(users, flags)))

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/cache/caches.json?area=flags", nil))
	var doc admin.Document
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		panic(err)
	}
	c := doc.Caches[0]
	d := c.Diagnostics
	fmt.Println(doc.SchemaVersion, c.Area, d.Mode, d.Local.Entries, d.Remote.State, d.Config["local_ttl_seconds"], c.Metrics.Counters["local_hits"])
	// Output:
	// 1 flags local 1 disabled 60 1
}
