package accelerator

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
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
