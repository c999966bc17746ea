package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// TestNoCollectorExitsCleanly: with nothing listening, the example says so quickly
// and succeeds.
func TestNoCollectorExitsCleanly(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + lis.Addr().String()
	lis.Close()
	var out bytes.Buffer
	start := time.Now()
	if err := run(context.Background(), &out, env(map[string]string{"ACCELERATOR_OTLP_ENDPOINT": endpoint})); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %v", d)
	}
	if !strings.Contains(out.String(), "no OTLP collector at "+endpoint) {
		t.Fatalf("output %q", out.String())
	}
}

// TestExportsToCollector runs the example against an in-process OTLP/HTTP receiver:
// 63 reads, of which the 23 first and the not-found ids (0, 10, 100) of the next two
// rounds miss.
func TestExportsToCollector(t *testing.T) {
	var mu sync.Mutex
	posts := map[string]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		posts[r.URL.Path] = r.Header.Get("Authorization")
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	var out bytes.Buffer
	err := run(context.Background(), &out, env(map[string]string{
		"ACCELERATOR_OTLP_ENDPOINT":      srv.URL,
		"ACCELERATOR_OTLP_PROTOCOL":      "http",
		"ACCELERATOR_OTLP_AUTHORIZATION": "Bearer example",
	}))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if posts["/v1/traces"] != "Bearer example" || posts["/v1/metrics"] != "Bearer example" {
		t.Fatalf("posts %v; output %s", posts, out.String())
	}
	if !strings.Contains(out.String(), "L1 hits 40, misses 29, loads 29") {
		t.Fatalf("output %q", out.String())
	}
}
