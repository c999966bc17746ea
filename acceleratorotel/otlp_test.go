package acceleratorotel_test

import (
	"compress/gzip"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/acceleratorotel"
)

// receiver is an in-process OTLP collector: it keeps what it is sent, and the
// Authorization header of every request.
type receiver struct {
	mu        sync.Mutex
	auth      []string
	spans     []string
	metrics   []string
	resources []map[string]string
}

func (r *receiver) traces(auth string, req *coltracepb.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.auth = append(r.auth, auth)
	for _, rs := range req.ResourceSpans {
		r.resources = append(r.resources, resourceAttrs(rs.Resource))
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				r.spans = append(r.spans, s.Name)
			}
		}
	}
}

func (r *receiver) metricsOf(auth string, req *colmetricpb.ExportMetricsServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.auth = append(r.auth, auth)
	for _, rm := range req.ResourceMetrics {
		r.resources = append(r.resources, resourceAttrs(rm.Resource))
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				r.metrics = append(r.metrics, m.Name)
			}
		}
	}
}

func resourceAttrs(res *resourcepb.Resource) map[string]string {
	m := map[string]string{}
	for _, kv := range res.GetAttributes() {
		m[kv.Key] = kv.Value.GetStringValue()
	}
	return m
}

// ServeHTTP accepts OTLP/HTTP protobuf posts under /otlp.
func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	data, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var resp proto.Message
	switch req.URL.Path {
	case "/otlp/v1/traces":
		var m coltracepb.ExportTraceServiceRequest
		err = proto.Unmarshal(data, &m)
		r.traces(req.Header.Get("Authorization"), &m)
		resp = &coltracepb.ExportTraceServiceResponse{}
	case "/otlp/v1/metrics":
		var m colmetricpb.ExportMetricsServiceRequest
		err = proto.Unmarshal(data, &m)
		r.metricsOf(req.Header.Get("Authorization"), &m)
		resp = &colmetricpb.ExportMetricsServiceResponse{}
	default:
		http.NotFound(w, req)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	out, _ := proto.Marshal(resp)
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

type grpcTraces struct {
	coltracepb.UnimplementedTraceServiceServer
	r *receiver
}

func (s grpcTraces) Export(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	s.r.traces(grpcAuth(ctx), req)
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

type grpcMetrics struct {
	colmetricpb.UnimplementedMetricsServiceServer
	r *receiver
}

func (s grpcMetrics) Export(ctx context.Context, req *colmetricpb.ExportMetricsServiceRequest) (*colmetricpb.ExportMetricsServiceResponse, error) {
	s.r.metricsOf(grpcAuth(ctx), req)
	return &colmetricpb.ExportMetricsServiceResponse{}, nil
}

func grpcAuth(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	return strings.Join(md.Get("authorization"), ",")
}

// startReceiver starts an OTLP receiver of the protocol on a loopback port and
// returns the endpoint to give SetupOTLP.
func startReceiver(t *testing.T, protocol string, r *receiver) string {
	t.Helper()
	if protocol == acceleratorotel.ProtocolHTTP {
		srv := httptest.NewServer(r)
		t.Cleanup(srv.Close)
		return srv.URL + "/otlp"
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, grpcTraces{r: r})
	colmetricpb.RegisterMetricsServiceServer(srv, grpcMetrics{r: r})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return "http://" + lis.Addr().String()
}

// TestSetupOTLPExportsSpansAndMetrics sends the spans and the metrics of a read that
// loads to an in-process collector, over gRPC and over HTTP, and checks the resource
// and the Authorization header it received.
func TestSetupOTLPExportsSpansAndMetrics(t *testing.T) {
	for _, protocol := range []string{acceleratorotel.ProtocolGRPC, acceleratorotel.ProtocolHTTP} {
		t.Run(protocol, func(t *testing.T) {
			r := &receiver{}
			ctx := context.Background()
			p, err := acceleratorotel.SetupOTLP(ctx, acceleratorotel.Config{
				ServiceName: "checkout", ServiceNamespace: "shop", ServiceVersion: "1.2.3",
				Endpoint: startReceiver(t, protocol, r), Protocol: protocol,
				Authorization: "Bearer s3cr3t", Timeout: 5 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			c := newCache(t, accelerator.Options[string, string]{Area: "carts", Loader: &countingLoader{}, Tracer: p.Tracer()})
			if _, err := acceleratorotel.RegisterMetrics(p.MeterProvider, c); err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.Get(ctx, secretKey); err != nil {
				t.Fatal(err)
			}
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := p.Shutdown(sctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}

			r.mu.Lock()
			defer r.mu.Unlock()
			slices.Sort(r.spans)
			if !slices.Equal(r.spans, []string{"cache.get", "cache.load"}) {
				t.Errorf("collector received spans %v", r.spans)
			}
			if !slices.Contains(r.metrics, "accelerator_cache_gets_total") || !slices.Contains(r.metrics, "accelerator_cache_hit_ratio") {
				t.Errorf("collector received metrics %v", r.metrics)
			}
			if len(r.auth) < 2 {
				t.Fatalf("collector received %d requests, want one for traces and one for metrics", len(r.auth))
			}
			for _, a := range r.auth {
				if a != "Bearer s3cr3t" {
					t.Errorf("Authorization %q", a)
				}
			}
			for _, res := range r.resources {
				if res["service.name"] != "checkout" || res["service.namespace"] != "shop" || res["service.version"] != "1.2.3" {
					t.Errorf("resource %v", res)
				}
			}
		})
	}
}

// TestSetupOTLPWithNoCollectorIsBounded: with nothing listening, SetupOTLP succeeds
// (it does not connect) and Shutdown fails within the export timeout instead of
// hanging.
func TestSetupOTLPWithNoCollectorIsBounded(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	for _, protocol := range []string{acceleratorotel.ProtocolGRPC, acceleratorotel.ProtocolHTTP} {
		t.Run(protocol, func(t *testing.T) {
			p, err := acceleratorotel.SetupOTLP(context.Background(), acceleratorotel.Config{
				ServiceName: "nobody-listens", Endpoint: "http://" + addr, Protocol: protocol, Timeout: 300 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			_, sp := p.TracerProvider.Tracer("t").Start(context.Background(), "op")
			sp.End()
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err = p.Shutdown(ctx)
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("Shutdown took %v with no collector", d)
			}
			if err == nil {
				t.Fatal("Shutdown reported no error with no collector")
			}
		})
	}
}

func TestSetupOTLPRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  acceleratorotel.Config
		want string
	}{
		{acceleratorotel.Config{}, "ServiceName is required"},
		{acceleratorotel.Config{ServiceName: "s", Protocol: "udp"}, `unknown Config.Protocol "udp"`},
		{acceleratorotel.Config{ServiceName: "s", Endpoint: "ftp://collector:4317"}, "scheme must be http or https"},
	} {
		_, err := acceleratorotel.SetupOTLP(context.Background(), tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "acceleratorotel: ") {
			t.Errorf("SetupOTLP(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}
