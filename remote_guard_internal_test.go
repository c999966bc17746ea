package accelerator

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator/backend"
)

// A client can give up on a call's deadline a moment before the context's own timer
// fires (rueidis computes its timeout from ctx.Deadline()), or fail with a network
// timeout: both are timeouts of the call, and must wrap ErrRemoteTimeout rather than
// read as a broken connection. Under load, the first used to come back unwrapped.
func TestRemoteTimeoutIsReportedWhenTheClientNoticesFirst(t *testing.T) {
	t.Parallel()
	g := &guardedRemote{timeout: time.Second, metrics: newMetrics(), log: newBurstLogger(nil, "t"), now: func() int64 { return 0 }}
	cctx, cancel := context.WithTimeout(context.Background(), time.Hour) // not expired yet
	defer cancel()
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: timeoutErr{}}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"deadline seen by the client", context.DeadlineExceeded, true},
		{"network timeout", dial, true},
		{"connection refused", errors.New("connect: connection refused"), false},
	} {
		err := g.end(context.Background(), cctx, "set", time.Now(), tc.err)
		if got := errors.Is(err, ErrRemoteTimeout); got != tc.want {
			t.Errorf("%s: wraps ErrRemoteTimeout = %v, want %v (%v)", tc.name, got, tc.want, err)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// ctxRemote records the context of its last Get.
type ctxRemote struct {
	backend.Remote
	got context.Context
}

func (r *ctxRemote) Get(ctx context.Context, _ string) ([]byte, error) {
	r.got = ctx
	return nil, nil
}

// A caller whose deadline comes before the remote timeout bounds the call itself: it
// runs on the caller's context, without a timer of its own. Any other caller's call
// ends at the timeout.
func TestRemoteCallRunsOnACallerDeadlineEarlierThanTheTimeout(t *testing.T) {
	t.Parallel()
	r := &ctxRemote{}
	g := &guardedRemote{r: r, timeout: time.Second, metrics: newMetrics(), log: newBurstLogger(nil, "t"), now: func() int64 { return 0 }}
	early, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := g.Get(early, "k"); err != nil || r.got != early {
		t.Fatalf("Get with an earlier deadline ran on %v (%v), want the caller's context", r.got, err)
	}
	late, cancel2 := context.WithTimeout(context.Background(), time.Hour)
	defer cancel2()
	for _, ctx := range []context.Context{late, context.Background()} {
		start := time.Now()
		if _, err := g.Get(ctx, "k"); err != nil || r.got == ctx {
			t.Fatalf("Get ran on the caller's context (%v), want one bounded by the timeout", err)
		}
		end := time.Now()
		if d, ok := r.got.Deadline(); !ok || d.Before(start.Add(time.Second)) || d.After(end.Add(time.Second)) {
			t.Fatalf("the call's deadline is %v after its start, want the timeout (1s)", d.Sub(start))
		}
	}
}
