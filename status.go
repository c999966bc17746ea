package accelerator

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Status is what a cache knows of itself at one moment besides its counters: its
// effective configuration, the state of its layers and of its invalidation
// subscriber, its loads in flight, and the last failure of each kind. Take it with
// [Cache.Status]; the package github.com/accelerator-go/accelerator/admin serves it
// as JSON and shows it on a dashboard.
type Status struct {
	// Area is the cache's area, and Mode its layers.
	Area string
	Mode Mode
	// TakenAt is when the status was taken.
	TakenAt time.Time
	// Closed reports that [Cache.Close] was called.
	Closed bool
	// Config is the effective configuration: every field of [Options], in order,
	// defaults applied.
	Config []Setting

	// LocalBackend is the Go type of the L1 backend, empty without L1.
	LocalBackend string
	// LocalEntries is the number of entries held in L1, an estimate.
	LocalEntries int
	// LocalWeight is the total weight of the L1 entries of an L1 bounded by weight
	// ([local.Options.MaximumWeight]), 0 for one bounded by entry count.
	LocalWeight uint64

	// RemoteBackend is the Go type of the L2 backend (never its address or
	// credentials), empty without L2.
	RemoteBackend string
	// Breaker is the circuit breaker's state: "closed", "open", "half-open", or
	// "disabled" (no L2, or [Options.DisableCircuitBreaker]).
	Breaker string
	// RemoteLastSuccess and RemoteLastFailure are when a remote call last succeeded
	// and failed (zero: never; precise to a millisecond). Calls the breaker rejected
	// are not failures here.
	RemoteLastSuccess, RemoteLastFailure time.Time
	// RemoteProbe is the result of the last [Cache.ProbeRemote], nil before the first.
	RemoteProbe *RemoteProbe

	// Subscriber is the state of the invalidation subscriber, as
	// [Cache.SubscriberState] returns it.
	Subscriber SubscriberState

	// LoadsInFlight is the number of keys whose single-key load or background refresh
	// is running. Batch loads (MGet, Warmup) are not included.
	LoadsInFlight int
	// RefreshBackoffs is the number of keys whose background refresh failed and that
	// wait before the next one.
	RefreshBackoffs int

	// Errors holds, for each kind of failure seen since the cache started, how many
	// there were and the last one, sorted by kind.
	Errors []ErrorRecord
}

// Setting is one field of the effective configuration.
type Setting struct {
	// Name is the name of the field of [Options].
	Name string
	// Value is a bool, a string, an int, a float64 or a [time.Duration]; [Mode] and
	// [RefreshPolicy] are given by name. Backends, codecs, loaders, tracers and the
	// logger are given by their Go type only ("" for none), so that nothing they
	// hold (a Redis URL, a password) can appear in it.
	Value any
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
	Error     string
	ErrorKind string
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
	// Last is the text of the last error, cut to 512 bytes, and LastAt when it
	// happened.
	//
	// WARNING: the text comes from a loader or from Redis and may name keys (a
	// [*BatchError] does): do not show it where keys must not appear. Package admin
	// does not serve it.
	Last   string
	LastAt time.Time
}

// String returns the policy's name: "fixed_window" or "probabilistic".
func (p RefreshPolicy) String() string {
	switch p {
	case RefreshFixedWindow:
		return "fixed_window"
	case RefreshProbabilistic:
		return "probabilistic"
	}
	return fmt.Sprintf("RefreshPolicy(%d)", uint8(p))
}

// maxErrorText bounds the error texts of a status: a loader's panic carries its
// whole stack.
const maxErrorText = 512

// Status returns the cache's effective configuration and the state of its layers,
// loads and errors. It does no I/O and may be called at any time, after Close
// included; call [Cache.ProbeRemote] first to check that Redis answers now. It
// allocates; it is meant for an admin page or a metrics scrape, not for every
// request.
func (c *Cache[K, V]) Status() Status {
	return c.c.status()
}

// ProbeRemote checks that the remote layer answers: it sends one GET of a key of the
// cache's area that no value uses, bounded by [Options.RemoteTimeout] and ctx, and
// remembers the result for [Cache.Status]. The probe bypasses the circuit breaker
// and is not counted in the metrics. Without a remote layer it returns a failed probe
// that says so.
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

func (c *cache[K, V]) status() Status {
	s := Status{
		Area:          c.cfg.Area,
		Mode:          c.cfg.Mode,
		TakenAt:       time.Now(),
		Closed:        c.closed.Load(),
		Config:        c.settings(),
		Breaker:       "disabled",
		LoadsInFlight: c.loads.InFlight(),
		Errors:        c.log.lastErrors(),
	}
	if c.local != nil {
		s.LocalBackend, s.LocalEntries = typeName(c.local), c.local.Len()
		if w, ok := c.local.(weighted); ok {
			s.LocalWeight = w.WeightedSize()
		}
	}
	if g := c.remote; g != nil {
		s.RemoteBackend = typeName(g.r)
		if ok := g.lastOK.Load(); ok > 0 {
			s.RemoteLastSuccess = time.Unix(0, ok)
		}
		if failed := g.lastFailed.Load(); failed > 0 {
			s.RemoteLastFailure = time.Unix(0, failed)
		}
		if p := g.lastProbe.Load(); p != nil {
			probe := *p
			s.RemoteProbe = &probe
		}
		if g.br != nil {
			s.Breaker = g.br.State().String()
		}
	}
	if c.inv != nil {
		s.Subscriber = c.inv.state()
	}
	c.refreshMu.Lock()
	s.RefreshBackoffs = len(c.refreshFailed)
	c.refreshMu.Unlock()
	return s
}

// settings returns every field of the effective Options, by reflection, so that an
// option added to Options appears here with no other edit. Fields that hold a
// backend, a codec, a loader or any other interface, func or pointer are given by
// their Go type; those the cache resolves further (the default L1 backend, the
// Pub/Sub transport taken from Remote) by what the cache uses.
func (c *cache[K, V]) settings() []Setting {
	v := reflect.ValueOf(&c.cfg.Options).Elem()
	t := v.Type()
	out := make([]Setting, 0, t.NumField())
	for i := range t.NumField() {
		out = append(out, Setting{Name: t.Field(i).Name, Value: settingValue(v.Field(i))})
	}
	for i := range out {
		switch out[i].Name {
		case "Local":
			out[i].Value = typeName(c.local)
		case "LocalMaxEntries":
			if c.local == nil || c.cfg.Local != nil {
				out[i].Value = 0
			}
		case "PubSub":
			if c.cfg.BroadcastInvalidation {
				out[i].Value = typeName(c.cfg.pubsub())
			}
		}
	}
	return out
}

var durationType = reflect.TypeFor[time.Duration]()

// settingValue returns what [Setting.Value] says of a field.
func settingValue(f reflect.Value) any {
	switch f.Kind() {
	case reflect.Interface, reflect.Func, reflect.Pointer, reflect.Map, reflect.Slice, reflect.Chan:
		if f.IsNil() {
			return ""
		}
		return typeName(f.Interface())
	}
	if f.Type() == durationType {
		return time.Duration(f.Int())
	}
	if s, ok := f.Interface().(fmt.Stringer); ok {
		return s.String()
	}
	switch f.Kind() {
	case reflect.Bool:
		return f.Bool()
	case reflect.String:
		return f.String()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return int(f.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return int(f.Uint())
	case reflect.Float32, reflect.Float64:
		return f.Float()
	}
	return typeName(f.Interface())
}

// typeName returns the Go type of v, or "" for nil. It is all a status says of a
// backend or a loader: their fields may hold addresses and credentials.
func typeName(v any) string {
	if v == nil {
		return ""
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
		return ""
	}
	return fmt.Sprintf("%T", v)
}

// weighted is implemented by L1 backends bounded by weight, such as [local.Store].
type weighted interface {
	WeightedSize() uint64
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
