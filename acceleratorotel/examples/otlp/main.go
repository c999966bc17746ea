// Command otlp exports the traces and metrics of an accelerator cache to an
// OpenTelemetry collector over OTLP.
//
//	go run ./acceleratorotel/examples/otlp
//
// Environment:
//
//	ACCELERATOR_OTLP_ENDPOINT       the collector (default http://127.0.0.1:4317)
//	ACCELERATOR_OTLP_PROTOCOL       grpc (default) or http (then use port 4318)
//	ACCELERATOR_OTLP_AUTHORIZATION  an Authorization header value, such as "Bearer <token>"
//
// With no collector listening it says so and exits 0. To run one:
//
//	docker run --rm -p 4317:4317 -p 4318:4318 otel/opentelemetry-collector:latest
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/acceleratorotel"
)

const defaultEndpoint = "http://127.0.0.1:4317"

func main() {
	if err := run(context.Background(), os.Stdout, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "otlp:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, getenv func(string) string) error {
	endpoint := getenv("ACCELERATOR_OTLP_ENDPOINT")
	if endpoint == "" {
		endpoint = defaultEndpoint
	}
	protocol := getenv("ACCELERATOR_OTLP_PROTOCOL")
	if protocol == "" {
		protocol = acceleratorotel.ProtocolGRPC
	}
	if err := reachable(ctx, endpoint); err != nil {
		fmt.Fprintf(out, "no OTLP collector at %s (%v).\n"+
			"Start one (docker run --rm -p 4317:4317 -p 4318:4318 otel/opentelemetry-collector:latest)\n"+
			"or point ACCELERATOR_OTLP_ENDPOINT at yours; nothing was exported.\n", endpoint, err)
		return nil
	}

	otlp, err := acceleratorotel.SetupOTLP(ctx, acceleratorotel.Config{
		ServiceName:      "accelerator-example",
		ServiceNamespace: "examples",
		ServiceVersion:   "0.1.0",
		Endpoint:         endpoint,
		Protocol:         protocol,
		Authorization:    getenv("ACCELERATOR_OTLP_AUTHORIZATION"),
		Timeout:          5 * time.Second,
	})
	if err != nil {
		return err
	}
	products, err := accelerator.New(accelerator.Options[int, string]{
		Area:     "products",
		LocalTTL: time.Minute,
		Loader: accelerator.LoaderFunc[int, string](func(ctx context.Context, id int) (string, bool, error) {
			time.Sleep(2 * time.Millisecond) // a query
			return "product-" + strconv.Itoa(id), id%10 != 0, nil
		}),
		Tracer: otlp.Tracer(),
	})
	if err != nil {
		return err
	}
	defer products.Close()
	if _, err := acceleratorotel.RegisterMetrics(otlp.MeterProvider, products); err != nil {
		return err
	}

	// Three rounds over 20 products, each round under a span of its own: the first
	// loads every product (spans cache.get and cache.load), the next two hit L1 (no
	// span, counted in the metrics).
	tracer := otlp.TracerProvider.Tracer("accelerator-example")
	for round := range 3 {
		rctx, span := tracer.Start(ctx, "example.round")
		for id := range 20 {
			if _, _, err := products.Get(rctx, id); err != nil {
				span.End()
				return err
			}
		}
		if _, err := products.MGet(rctx, []int{100, 101, 102}); err != nil {
			span.End()
			return err
		}
		span.End()
		fmt.Fprintf(out, "round %d done\n", round+1)
	}

	m := products.MetricsSnapshot()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := otlp.Shutdown(sctx); err != nil {
		return fmt.Errorf("export to %s failed: %w", endpoint, err)
	}
	fmt.Fprintf(out, "exported to %s over %s: L1 hits %d, misses %d, loads %d (hit ratio %.2f)\n",
		endpoint, protocol, m.LocalHits, m.LocalMisses, m.Loads, m.LocalHitRatio())
	return nil
}

// reachable reports whether something accepts TCP connections at the endpoint, so
// that the example can say "no collector" at once instead of failing its exports.
func reachable(ctx context.Context, endpoint string) error {
	host := endpoint
	if strings.Contains(endpoint, "://") {
		u, err := url.Parse(endpoint)
		if err != nil {
			return err
		}
		host = u.Host
		if u.Port() == "" {
			port := "80"
			if u.Scheme == "https" {
				port = "443"
			}
			host = net.JoinHostPort(u.Hostname(), port)
		}
	}
	if host == "" {
		return errors.New("no host in the endpoint")
	}
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return err
	}
	return conn.Close()
}
