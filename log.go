package accelerator

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// logBurstInterval is how long a burst of one kind of failure is summed up in one log
// record: the first failure is logged at once, the others of the next interval are
// counted and reported with the next record of that kind.
const logBurstInterval = 10 * time.Second

var errCorruptValue = errors.New("remote value could not be decoded")

// burstLogger logs failures through the cache's slog.Logger, at most one record per
// kind of failure per logBurstInterval, so that an outage does not flood the log.
// Records carry the area, the kind and the error, never keys or values.
type burstLogger struct {
	log  *slog.Logger
	area string

	mu     sync.Mutex
	bursts map[string]*burst
}

type burst struct {
	last       time.Time
	suppressed int
	// For the diagnostic snapshot: failures of this kind since the cache started, and
	// the last one.
	count   uint64
	lastErr error
	lastAt  time.Time
	op      string
}

func newBurstLogger(l *slog.Logger, area string) *burstLogger {
	if l == nil {
		l = slog.Default()
	}
	return &burstLogger{log: l, area: area, bursts: make(map[string]*burst)}
}

// problem logs a failure of the given kind unless one was logged less than
// logBurstInterval ago.
func (b *burstLogger) problem(kind string, err error) { b.failure(kind, kind, err, 0) }

// failure is problem with the operation that failed ("remote.get", "load") and how
// long it ran (zero when unknown: not logged).
func (b *burstLogger) failure(kind, op string, err error, latency time.Duration) {
	now := time.Now()
	b.mu.Lock()
	st := b.bursts[kind]
	if st == nil {
		st = &burst{}
		b.bursts[kind] = st
	}
	st.count++
	st.lastErr, st.lastAt, st.op = err, now, op
	if !st.last.IsZero() && now.Sub(st.last) < logBurstInterval {
		st.suppressed++
		b.mu.Unlock()
		return
	}
	suppressed := st.suppressed
	st.last, st.suppressed = now, 0
	b.mu.Unlock()
	attrs := []slog.Attr{
		slog.String("area", b.area),
		slog.String("kind", kind),
		slog.String("op", op),
		slog.String("result", string(ResultError)),
		slog.String("error_kind", logErrorKind(kind, err)),
		slog.String("error", err.Error()),
		slog.Int("suppressed_since_last", suppressed),
	}
	if latency > 0 {
		attrs = append(attrs, slog.Duration("latency", latency))
	}
	b.log.LogAttrs(context.Background(), slog.LevelWarn, "accelerator: "+kind+" failed", attrs...)
}
