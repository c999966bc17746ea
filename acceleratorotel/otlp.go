package acceleratorotel

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/accelerator-go/accelerator"
)

// The OTLP protocols of [Config.Protocol].
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http"
)

// DefaultExportTimeout bounds each export when [Config.Timeout] is zero.
const DefaultExportTimeout = 10 * time.Second

// Config configures [SetupOTLP].
type Config struct {
	// ServiceName is the service.name resource attribute. Required.
	ServiceName string
	// ServiceNamespace and ServiceVersion are the service.namespace and
	// service.version resource attributes; empty ones are left out.
	ServiceNamespace, ServiceVersion string

	// Endpoint is the collector: a URL such as "http://127.0.0.1:4317" (gRPC) or
	// "https://otlp.example.com:4318" (HTTP; a path in the URL is the base under
	// which /v1/traces and /v1/metrics are posted), or host:port. An http:// URL
	// sends in plaintext, an https:// one over TLS. Empty: the exporters' defaults
	// (localhost:4317 for gRPC, localhost:4318 for HTTP) and the
	// OTEL_EXPORTER_OTLP_* environment variables.
	Endpoint string
	// Protocol is "grpc" (the default) or "http" (OTLP/HTTP with protobuf).
	Protocol string
	// Authorization is the value of the Authorization header (gRPC metadata
	// "authorization") sent with every export, such as "Bearer <token>". Empty:
	// none.
	Authorization string
	// Headers are more headers (gRPC metadata) sent with every export.
	Headers map[string]string
	// Insecure sends in plaintext to a host:port Endpoint, which is otherwise
	// reached over TLS.
	Insecure bool

	// Timeout bounds each export, retries included. Default
	// [DefaultExportTimeout].
	Timeout time.Duration
	// MetricInterval is how often metrics are exported. Default: the SDK's (60s,
	// or OTEL_METRIC_EXPORT_INTERVAL).
	MetricInterval time.Duration
	// Sampler samples the traces. Default: the SDK's (parent-based, always on).
	Sampler sdktrace.Sampler

	// SetGlobal installs the providers as OpenTelemetry's global tracer and meter
	// providers too. Default off: use the returned [Providers].
	SetGlobal bool
}

// Providers are the tracer and meter providers [SetupOTLP] built.
type Providers struct {
	TracerProvider *sdktrace.TracerProvider
	MeterProvider  *sdkmetric.MeterProvider
}

// Shutdown exports what is still buffered (spans, and the metrics of a last
// collection) and stops both providers, within ctx. Call it before the program
// exits.
func (p *Providers) Shutdown(ctx context.Context) error {
	return errors.Join(p.TracerProvider.Shutdown(ctx), p.MeterProvider.Shutdown(ctx))
}

// Tracer returns [NewTracer] on the tracer provider, for [accelerator.Options.Tracer].
func (p *Providers) Tracer(opts ...TracerOption) accelerator.Tracer {
	return NewTracer(p.TracerProvider, opts...)
}

// SetupOTLP builds a tracer provider and a meter provider that export over OTLP to
// the collector cfg names, with a resource that names the service. Install the
// tracer in the caches' [accelerator.Options.Tracer] with [NewTracer] and register
// their metrics with [RegisterMetrics], then call [Providers.Shutdown] before exit.
//
// It does not connect: an unreachable collector shows up as export errors, each
// bounded by cfg.Timeout, reported through OpenTelemetry's error handler (and by
// Shutdown for the last export).
func SetupOTLP(ctx context.Context, cfg Config) (*Providers, error) {
	if cfg.ServiceName == "" {
		return nil, errors.New("acceleratorotel: Config.ServiceName is required")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultExportTimeout
	}
	ep, err := parseEndpoint(cfg.Endpoint, cfg.Insecure)
	if err != nil {
		return nil, err
	}
	res, err := serviceResource(ctx, cfg)
	if err != nil {
		return nil, err
	}
	headers := make(map[string]string, len(cfg.Headers)+1)
	for k, v := range cfg.Headers {
		headers[k] = v
	}
	if cfg.Authorization != "" {
		headers["Authorization"] = cfg.Authorization
	}

	var spanExp sdktrace.SpanExporter
	var metricExp sdkmetric.Exporter
	switch cfg.Protocol {
	case "", ProtocolGRPC:
		spanExp, metricExp, err = grpcExporters(ctx, ep, headers, cfg.Timeout)
	case ProtocolHTTP:
		spanExp, metricExp, err = httpExporters(ctx, ep, headers, cfg.Timeout)
	default:
		return nil, fmt.Errorf("acceleratorotel: unknown Config.Protocol %q; want %q or %q", cfg.Protocol, ProtocolGRPC, ProtocolHTTP)
	}
	if err != nil {
		return nil, err
	}

	topts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithBatcher(spanExp, sdktrace.WithExportTimeout(cfg.Timeout)),
	}
	if cfg.Sampler != nil {
		topts = append(topts, sdktrace.WithSampler(cfg.Sampler))
	}
	ropts := []sdkmetric.PeriodicReaderOption{sdkmetric.WithTimeout(cfg.Timeout)}
	if cfg.MetricInterval > 0 {
		ropts = append(ropts, sdkmetric.WithInterval(cfg.MetricInterval))
	}
	p := &Providers{
		TracerProvider: sdktrace.NewTracerProvider(topts...),
		MeterProvider: sdkmetric.NewMeterProvider(
			sdkmetric.WithResource(res),
			sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metricExp, ropts...)),
		),
	}
	if cfg.SetGlobal {
		otel.SetTracerProvider(p.TracerProvider)
		otel.SetMeterProvider(p.MeterProvider)
	}
	return p, nil
}

// endpoint is a parsed Config.Endpoint; host is empty for the exporters' default.
type endpoint struct {
	host     string
	basePath string
	insecure bool
}

func parseEndpoint(s string, insecure bool) (endpoint, error) {
	if s == "" {
		return endpoint{insecure: insecure}, nil
	}
	if !strings.Contains(s, "://") {
		return endpoint{host: s, insecure: insecure}, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return endpoint{}, fmt.Errorf("acceleratorotel: Config.Endpoint: %w", err)
	}
	switch u.Scheme {
	case "http":
		insecure = true
	case "https":
	default:
		return endpoint{}, fmt.Errorf("acceleratorotel: Config.Endpoint %q: the scheme must be http or https", s)
	}
	if u.Host == "" {
		return endpoint{}, fmt.Errorf("acceleratorotel: Config.Endpoint %q has no host", s)
	}
	return endpoint{host: u.Host, basePath: strings.TrimSuffix(u.Path, "/"), insecure: insecure}, nil
}

func serviceResource(ctx context.Context, cfg Config) (*resource.Resource, error) {
	attrs := []resource.Option{resource.WithFromEnv(), resource.WithTelemetrySDK()}
	kvs := []attribute.KeyValue{semconv.ServiceName(cfg.ServiceName)}
	if cfg.ServiceNamespace != "" {
		kvs = append(kvs, semconv.ServiceNamespace(cfg.ServiceNamespace))
	}
	if cfg.ServiceVersion != "" {
		kvs = append(kvs, semconv.ServiceVersion(cfg.ServiceVersion))
	}
	attrs = append(attrs, resource.WithAttributes(kvs...), resource.WithSchemaURL(semconv.SchemaURL))
	res, err := resource.New(ctx, attrs...)
	if err != nil {
		return nil, fmt.Errorf("acceleratorotel: resource: %w", err)
	}
	return res, nil
}

func grpcExporters(ctx context.Context, ep endpoint, headers map[string]string, timeout time.Duration) (sdktrace.SpanExporter, sdkmetric.Exporter, error) {
	topts := []otlptracegrpc.Option{otlptracegrpc.WithTimeout(timeout), otlptracegrpc.WithHeaders(headers)}
	mopts := []otlpmetricgrpc.Option{otlpmetricgrpc.WithTimeout(timeout), otlpmetricgrpc.WithHeaders(headers)}
	if ep.host != "" {
		topts = append(topts, otlptracegrpc.WithEndpoint(ep.host))
		mopts = append(mopts, otlpmetricgrpc.WithEndpoint(ep.host))
	}
	if ep.insecure {
		topts = append(topts, otlptracegrpc.WithInsecure())
		mopts = append(mopts, otlpmetricgrpc.WithInsecure())
	}
	se, err := otlptracegrpc.New(ctx, topts...)
	if err != nil {
		return nil, nil, fmt.Errorf("acceleratorotel: OTLP/gRPC trace exporter: %w", err)
	}
	me, err := otlpmetricgrpc.New(ctx, mopts...)
	if err != nil {
		return nil, nil, errors.Join(fmt.Errorf("acceleratorotel: OTLP/gRPC metric exporter: %w", err), se.Shutdown(ctx))
	}
	return se, me, nil
}

func httpExporters(ctx context.Context, ep endpoint, headers map[string]string, timeout time.Duration) (sdktrace.SpanExporter, sdkmetric.Exporter, error) {
	topts := []otlptracehttp.Option{otlptracehttp.WithTimeout(timeout), otlptracehttp.WithHeaders(headers)}
	mopts := []otlpmetrichttp.Option{otlpmetrichttp.WithTimeout(timeout), otlpmetrichttp.WithHeaders(headers)}
	if ep.host != "" {
		topts = append(topts, otlptracehttp.WithEndpoint(ep.host), otlptracehttp.WithURLPath(path.Join("/", ep.basePath, "v1/traces")))
		mopts = append(mopts, otlpmetrichttp.WithEndpoint(ep.host), otlpmetrichttp.WithURLPath(path.Join("/", ep.basePath, "v1/metrics")))
	}
	if ep.insecure {
		topts = append(topts, otlptracehttp.WithInsecure())
		mopts = append(mopts, otlpmetrichttp.WithInsecure())
	}
	se, err := otlptracehttp.New(ctx, topts...)
	if err != nil {
		return nil, nil, fmt.Errorf("acceleratorotel: OTLP/HTTP trace exporter: %w", err)
	}
	me, err := otlpmetrichttp.New(ctx, mopts...)
	if err != nil {
		return nil, nil, errors.Join(fmt.Errorf("acceleratorotel: OTLP/HTTP metric exporter: %w", err), se.Shutdown(ctx))
	}
	return se, me, nil
}
