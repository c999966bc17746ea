package accelerator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/accelerator-go/accelerator/internal/breaker"
)

// Inspectable is what an admin endpoint or a metrics exporter reads from a cache,
// whatever its key and value types: [*Cache] implements it, so that one
// [NewAdminHandler] or one OpenTelemetry registration serves many caches.
type Inspectable interface {
	// MetricsSnapshot returns a copy of the counters.
	MetricsSnapshot() MetricsSnapshot
	// DiagnosticSnapshot returns the configuration and state; it does no I/O.
	DiagnosticSnapshot() DiagnosticSnapshot
	// OTelMetricPoints returns the counters and gauges as named points.
	OTelMetricPoints() []MetricPoint
}

var _ Inspectable = (*Cache[string, int])(nil)

// DiagnosticSnapshot is a read-only view of a cache for operators: its effective
// configuration (without secrets), the state of each layer and of the connection to
// Redis, the loads in flight, and the last error of each kind. Take it with
// [Cache.DiagnosticSnapshot]; docs/observability.md explains how to read it.
type DiagnosticSnapshot struct {
	// Area is the cache's area.
	Area string
	// Mode is "local", "remote" or "both".
	Mode string
	// TakenAt is when the snapshot was taken.
	TakenAt time.Time
	// Closed reports that [Cache.Close] was called.
	Closed bool
	// Config is the effective configuration, defaults applied.
	Config ConfigSnapshot
	// Local is the state of L1.
	Local LocalDiagnostics
	// Remote is the state of L2 and of the connection to it.
	Remote RemoteDiagnostics
	// Invalidation is the state of the cross-instance invalidation subscriber.
	Invalidation InvalidationDiagnostics
	// Loads is the state of the loads from the source of truth.
	Loads LoadDiagnostics
	// LastErrors holds, for each kind of failure seen since the cache started, how
	// many there were and the last one, sorted by kind.
	LastErrors []ErrorRecord
}

// ConfigSnapshot is the effective configuration of a cache: [Options] with the
// defaults applied. Backends, codecs, loaders and tracers are named by their Go type
// only, so that nothing they hold (a Redis URL, a password) can appear in it.
type ConfigSnapshot struct {
	// KeyPrefix is [Options.KeyPrefix].
	KeyPrefix string
	// LocalBackend is the Go type of the L1 backend, empty without L1, and
	// LocalMaxEntries the bound of the default one (0 for a Local passed in Options).
	LocalBackend    string
	LocalMaxEntries int
	// RemoteBackend is the Go type of the L2 backend, empty without L2.
	RemoteBackend string
	// Codec and KeyEncoder are Go types.
	Codec, KeyEncoder string
	// Loader and MLoader are the Go types of the cache's loaders, empty for none.
	Loader, MLoader string
	// LoaderTimeout, LoadConcurrency: see [Options].
	LoaderTimeout   time.Duration
	LoadConcurrency int
	// PenetrationProtection is false when [Options.DisablePenetrationProtection] is
	// set.
	PenetrationProtection bool
	// LocalTTL, RemoteTTL: see [Options].
	LocalTTL, RemoteTTL time.Duration
	// CacheNullValue and NullTTL: negative caching; NullTTL applies only with
	// CacheNullValue.
	CacheNullValue bool
	NullTTL        time.Duration
	// TTLJitter, WarmupBatchSize, MaxValueSize: see [Options].
	TTLJitter       float64
	WarmupBatchSize int
	MaxValueSize    int
	// RefreshAhead is 0 when off; RefreshPolicy is "fixed_window" or
	// "probabilistic"; RefreshBeta applies to the latter only.
	RefreshAhead  time.Duration
	RefreshPolicy string
	RefreshBeta   float64
	// StaleTTL is 0 when stale copies are off.
	StaleTTL time.Duration
	// RemoteTimeout bounds every remote call.
	RemoteTimeout time.Duration
	// CircuitBreaker is false when [Options.DisableCircuitBreaker] is set;
	// BreakerFailures and BreakerBackoff are its settings.
	CircuitBreaker  bool
	BreakerFailures int
	BreakerBackoff  time.Duration
	// Tracer is the Go type of [Options.Tracer], empty for none.
	Tracer string
	// BroadcastInvalidation is [Options.BroadcastInvalidation]; PubSub is the Go type
	// of its transport (empty without it); InvalidationPingInterval and
	// InvalidationGrace are its settings.
	BroadcastInvalidation                       bool
	PubSub                                      string
	InvalidationPingInterval, InvalidationGrace time.Duration
	// FillGuard is false when [Options.DisableFillGuard] is set.
	FillGuard bool
}

// configJSON is ConfigSnapshot as JSON: its durations as text.
type configJSON struct {
	plainConfig
	LoaderTimeout, LocalTTL, RemoteTTL, NullTTL jsonDuration
	RefreshAhead, StaleTTL, RemoteTimeout       jsonDuration
	BreakerBackoff                              jsonDuration
	InvalidationPingInterval, InvalidationGrace jsonDuration
}

type plainConfig ConfigSnapshot

// durations lists the fields of c whose JSON is text, with their counterparts in j.
func (j *configJSON) durations(c *ConfigSnapshot) [][2]*time.Duration {
	return [][2]*time.Duration{
		{&c.LoaderTimeout, (*time.Duration)(&j.LoaderTimeout)}, {&c.LocalTTL, (*time.Duration)(&j.LocalTTL)},
		{&c.RemoteTTL, (*time.Duration)(&j.RemoteTTL)}, {&c.NullTTL, (*time.Duration)(&j.NullTTL)},
		{&c.RefreshAhead, (*time.Duration)(&j.RefreshAhead)}, {&c.StaleTTL, (*time.Duration)(&j.StaleTTL)},
		{&c.RemoteTimeout, (*time.Duration)(&j.RemoteTimeout)}, {&c.BreakerBackoff, (*time.Duration)(&j.BreakerBackoff)},
		{&c.InvalidationPingInterval, (*time.Duration)(&j.InvalidationPingInterval)},
		{&c.InvalidationGrace, (*time.Duration)(&j.InvalidationGrace)},
	}
}

// MarshalJSON writes the durations as text, such as "1m0s".
func (c ConfigSnapshot) MarshalJSON() ([]byte, error) {
	j := configJSON{plainConfig: plainConfig(c)}
	for _, d := range j.durations(&c) {
		*d[1] = *d[0]
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (c *ConfigSnapshot) UnmarshalJSON(data []byte) error {
	var j configJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*c = ConfigSnapshot(j.plainConfig)
	for _, d := range j.durations(c) {
		*d[0] = *d[1]
	}
	return nil
}

// jsonDuration is a time.Duration written as text in JSON.
type jsonDuration time.Duration

func (d jsonDuration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

func (d *jsonDuration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = jsonDuration(v)
	return err
}

// LocalDiagnostics is the state of L1.
type LocalDiagnostics struct {
	// Enabled is false in [ModeRemote].
	Enabled bool
	// Backend is the Go type of the L1 backend.
	Backend string
	// Entries is the number of entries held, an estimate.
	Entries int
	// Weight is the total weight of the entries of an L1 bounded by weight
	// ([local.Options.MaximumWeight]), 0 for one bounded by entry count.
	Weight uint64
}

// RemoteState is what a cache knows of its remote layer.
type RemoteState string

// The remote states. A cache learns them from its own calls, and from
// [Cache.ProbeRemote].
const (
	// RemoteDisabled: the cache has no remote layer ([ModeLocal]).
	RemoteDisabled RemoteState = "disabled"
	// RemoteUnknown: no remote call has ended yet.
	RemoteUnknown RemoteState = "unknown"
	// RemoteReady: the last remote call (or probe) succeeded.
	RemoteReady RemoteState = "ready"
	// RemoteFailing: the last remote call (or probe) failed, but the circuit breaker
	// is still closed.
	RemoteFailing RemoteState = "failing"
	// RemoteUnavailable: the circuit breaker is open or half-open: remote calls fail
	// at once with [ErrCircuitOpen] and reads go to the loader.
	RemoteUnavailable RemoteState = "unavailable"
)

// RemoteDiagnostics is the state of L2 and of the connection to it.
type RemoteDiagnostics struct {
	// Enabled is false in [ModeLocal].
	Enabled bool
	// Backend is the Go type of the L2 backend, never its address or credentials.
	Backend string
	// State sums up the rest.
	State RemoteState
	// Breaker is the circuit breaker's state: "closed", "open", "half-open", or
	// "disabled".
	Breaker string
	// LastSuccess and LastFailure are when a remote call last succeeded and failed
	// (zero: never; precise to a millisecond). Calls the breaker rejected are not
	// failures here.
	LastSuccess time.Time `json:",omitzero"`
	LastFailure time.Time `json:",omitzero"`
	// Probe is the result of the last [Cache.ProbeRemote], if any.
	Probe *RemoteProbe `json:",omitempty"`
}

// RemoteProbe is the result of one [Cache.ProbeRemote].
type RemoteProbe struct {
	// At is when the probe was sent.
	At time.Time
	// Latency is how long the answer took.
	Latency time.Duration
	// OK reports that the remote answered.
	OK bool
	// Error is why it did not, and ErrorKind its [ErrorKind].
	Error     string `json:",omitempty"`
	ErrorKind string `json:",omitempty"`
}

// probeJSON is RemoteProbe as JSON: its latency as text.
type probeJSON struct {
	plainProbe
	Latency jsonDuration
}

type plainProbe RemoteProbe

// MarshalJSON writes the latency as text, such as "312µs".
func (p RemoteProbe) MarshalJSON() ([]byte, error) {
	return json.Marshal(probeJSON{plainProbe(p), jsonDuration(p.Latency)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (p *RemoteProbe) UnmarshalJSON(data []byte) error {
	var j probeJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*p = RemoteProbe(j.plainProbe)
	p.Latency = time.Duration(j.Latency)
	return nil
}

// InvalidationDiagnostics is the state of the cross-instance invalidation
// subscriber.
type InvalidationDiagnostics struct {
	// State is "disabled" without [Options.BroadcastInvalidation], "subscribed"
	// while the subscription is confirmed and alive, and "disconnected" otherwise
	// (starting, or broken and subscribing again): L1 entries then live at most
	// [Options.InvalidationGrace].
	State string
	// SubscriberState is the detail, as [Cache.SubscriberState] returns it.
	SubscriberState
}

// LoadDiagnostics is the state of the loads from the source of truth.
type LoadDiagnostics struct {
	// InFlight is the number of keys whose single-key load or background refresh is
	// running now. Batch loads (MGet, Warmup) are not included.
	InFlight int
	// RefreshBackoffs is the number of keys whose background refresh failed and that
	// wait before the next one.
	RefreshBackoffs int
}

// ErrorRecord sums up one kind of failure.
type ErrorRecord struct {
	// Kind is the kind of failure, as the log records name it: "remote get",
	// "remote set", "load", "decode", "breaker", ...
	Kind string
	// Op is the operation that failed, as in the log records.
	Op string
	// ErrorKind is the [ErrorKind] of the last error.
	ErrorKind string
	// Count is the number of failures of this kind since the cache started.
	Count uint64
	// Last is the text of the last error, cut to maxErrorText bytes, and LastAt when
	// it happened.
	Last   string
	LastAt time.Time
}

// maxErrorText bounds the error texts of a diagnostic snapshot: a loader's panic
// carries its whole stack.
const maxErrorText = 512

// DiagnosticSnapshot returns the cache's effective configuration and the state of its
// layers, loads and errors. It does no I/O and may be called at any time, after
// Close included; call [Cache.ProbeRemote] first to check that Redis answers now.
func (c *Cache[K, V]) DiagnosticSnapshot() DiagnosticSnapshot {
	return c.c.diagnostics()
}

// ProbeRemote checks that the remote layer answers: it sends one GET of a key of the
// cache's area that no value uses, bounded by [Options.RemoteTimeout] and ctx, and
// remembers the result for [Cache.DiagnosticSnapshot]. The probe bypasses the
// circuit breaker and is not counted in the metrics. Without a remote layer it
// returns a failed probe that says so.
func (c *Cache[K, V]) ProbeRemote(ctx context.Context) RemoteProbe {
	if c.c.remote == nil {
		return RemoteProbe{At: time.Now(), Error: "accelerator: the cache has no remote layer"}
	}
	return c.c.remote.probe(ctx, string(c.c.areaKey)+probeKeySuffix)
}

// probeKeySuffix ends the key that [Cache.ProbeRemote] reads: a NUL byte, which the
// cache's own key encoders never write.
const probeKeySuffix = "\x00accelerator-probe"

func (g *guardedRemote) probe(ctx context.Context, key string) RemoteProbe {
	cctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	// At is read from the coarse clock, like the times of the calls it is compared
	// with.
	at, start := g.now(), time.Now()
	_, err := g.r.Get(cctx, key)
	p := RemoteProbe{At: time.Unix(0, at), Latency: time.Since(start), OK: err == nil}
	if err != nil {
		if errors.Is(cctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("%w (after %v): %w", ErrRemoteTimeout, g.timeout, err)
		}
		err = &remoteError{op: "probe", err: err}
		p.Error, p.ErrorKind = cutText(err.Error()), ErrorKind(err)
	}
	g.lastProbe.Store(&p)
	return p
}

func (c *cache[K, V]) diagnostics() DiagnosticSnapshot {
	d := DiagnosticSnapshot{
		Area:         c.cfg.Area,
		Mode:         c.cfg.Mode.String(),
		TakenAt:      time.Now(),
		Closed:       c.closed.Load(),
		Config:       c.configSnapshot(),
		Local:        c.localDiagnostics(),
		Remote:       c.remoteDiagnostics(),
		Invalidation: c.invalidationDiagnostics(),
		Loads:        LoadDiagnostics{InFlight: c.loads.InFlight()},
		LastErrors:   c.log.lastErrors(),
	}
	c.refreshMu.Lock()
	d.Loads.RefreshBackoffs = len(c.refreshFailed)
	c.refreshMu.Unlock()
	return d
}

func (c *cache[K, V]) configSnapshot() ConfigSnapshot {
	cfg := &c.cfg
	s := ConfigSnapshot{
		KeyPrefix:             cfg.KeyPrefix,
		Codec:                 typeName(cfg.Codec),
		KeyEncoder:            typeName(cfg.KeyEncoder),
		Loader:                typeName(cfg.Loader),
		MLoader:               typeName(cfg.MLoader),
		LoaderTimeout:         cfg.LoaderTimeout,
		LoadConcurrency:       cfg.LoadConcurrency,
		PenetrationProtection: !cfg.DisablePenetrationProtection,
		LocalTTL:              cfg.LocalTTL,
		RemoteTTL:             cfg.RemoteTTL,
		CacheNullValue:        cfg.CacheNullValue,
		NullTTL:               cfg.NullTTL,
		TTLJitter:             cfg.TTLJitter,
		WarmupBatchSize:       cfg.WarmupBatchSize,
		MaxValueSize:          cfg.MaxValueSize,
		RefreshAhead:          cfg.RefreshAhead,
		RefreshPolicy:         "fixed_window",
		StaleTTL:              cfg.StaleTTL,
		RemoteTimeout:         cfg.RemoteTimeout,
		CircuitBreaker:        !cfg.DisableCircuitBreaker,
		BreakerFailures:       cfg.BreakerFailures,
		BreakerBackoff:        cfg.BreakerBackoff,
		Tracer:                typeName(cfg.Tracer),
		BroadcastInvalidation: cfg.BroadcastInvalidation,
		FillGuard:             !cfg.DisableFillGuard,
	}
	if cfg.BroadcastInvalidation {
		s.PubSub = typeName(cfg.pubsub())
		s.InvalidationPingInterval, s.InvalidationGrace = cfg.InvalidationPingInterval, cfg.InvalidationGrace
	}
	if cfg.RefreshPolicy == RefreshProbabilistic {
		s.RefreshPolicy, s.RefreshBeta = "probabilistic", cfg.RefreshBeta
	}
	if c.local != nil {
		s.LocalBackend = typeName(c.local)
		if cfg.Local == nil {
			s.LocalMaxEntries = cfg.LocalMaxEntries
		}
	}
	if c.remote != nil {
		s.RemoteBackend = typeName(c.remote.r)
	}
	return s
}

func (c *cache[K, V]) invalidationDiagnostics() InvalidationDiagnostics {
	if c.inv == nil {
		return InvalidationDiagnostics{State: "disabled"}
	}
	d := InvalidationDiagnostics{State: "disconnected", SubscriberState: c.inv.state()}
	if d.Connected {
		d.State = "subscribed"
	}
	return d
}

// typeName returns the Go type of v, or "" for nil. It is all a snapshot says of a
// backend or a loader: their fields may hold addresses and credentials.
func typeName(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprintf("%T", v)
}

// weighted is implemented by L1 backends bounded by weight, such as [local.Store].
type weighted interface {
	WeightedSize() uint64
}

func (c *cache[K, V]) localDiagnostics() LocalDiagnostics {
	if c.local == nil {
		return LocalDiagnostics{}
	}
	d := LocalDiagnostics{Enabled: true, Backend: typeName(c.local), Entries: c.local.Len()}
	if w, ok := c.local.(weighted); ok {
		d.Weight = w.WeightedSize()
	}
	return d
}

func (c *cache[K, V]) remoteDiagnostics() RemoteDiagnostics {
	g := c.remote
	if g == nil {
		return RemoteDiagnostics{State: RemoteDisabled, Breaker: "disabled"}
	}
	d := RemoteDiagnostics{Enabled: true, Backend: typeName(g.r), Breaker: "disabled"}
	ok, failed := g.lastOK.Load(), g.lastFailed.Load()
	if ok > 0 {
		d.LastSuccess = time.Unix(0, ok)
	}
	if failed > 0 {
		d.LastFailure = time.Unix(0, failed)
	}
	if p := g.lastProbe.Load(); p != nil {
		probe := *p
		d.Probe = &probe
		if at := p.At.UnixNano(); p.OK && at > ok {
			ok = at
		} else if !p.OK && at > failed {
			failed = at
		}
	}
	open := false
	if g.br != nil {
		st := g.br.State()
		d.Breaker = st.String()
		open = st != breaker.Closed
	}
	switch {
	case open:
		d.State = RemoteUnavailable
	case failed > 0 && failed >= ok: // equal: in one tick of the coarse clock; assume the worst
		d.State = RemoteFailing
	case ok > 0:
		d.State = RemoteReady
	default:
		d.State = RemoteUnknown
	}
	return d
}

// lastErrors returns what the logger remembers of each kind of failure.
func (b *burstLogger) lastErrors() []ErrorRecord {
	b.mu.Lock()
	out := make([]ErrorRecord, 0, len(b.bursts))
	errs := make([]error, 0, len(b.bursts))
	for kind, st := range b.bursts {
		out = append(out, ErrorRecord{Kind: kind, Op: st.op, Count: st.count, LastAt: st.lastAt})
		errs = append(errs, st.lastErr)
	}
	b.mu.Unlock()
	// The texts are built outside the lock: a panic's carries a stack.
	for i, err := range errs {
		out[i].ErrorKind, out[i].Last = logErrorKind(out[i].Kind, err), cutText(err.Error())
	}
	slices.SortFunc(out, func(a, b ErrorRecord) int { return strings.Compare(a.Kind, b.Kind) })
	return out
}

// cutText cuts s to maxErrorText bytes, on a rune boundary.
func cutText(s string) string {
	if len(s) <= maxErrorText {
		return s
	}
	cut := maxErrorText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
