package accelerator

import (
	"context"
	"errors"
)

// The error kinds [ErrorKind] returns.
const (
	ErrorKindTimeout     = "timeout"
	ErrorKindCircuitOpen = "circuit_open"
	ErrorKindCanceled    = "canceled"
	ErrorKindClosed      = "closed"
	ErrorKindDecode      = "decode"
	ErrorKindEncode      = "encode"
	ErrorKindPanic       = "panic"
	ErrorKindRemote      = "remote"
	ErrorKindLoader      = "loader"
)

// ErrorKind returns a short, stable label for an error that a [Cache] returned or
// logged, for log records, span attributes and dashboards:
//
//   - "" for nil;
//   - "panic": a [*PanicError];
//   - "closed": [ErrClosed];
//   - "circuit_open": [ErrCircuitOpen], or the breaker opening;
//   - "canceled": the caller's context was cancelled;
//   - "timeout": [ErrLoaderTimeout], [ErrRemoteTimeout] or a context deadline;
//   - "decode": a remote value that could not be decoded;
//   - "remote": any other failure of a remote call;
//   - "loader": anything else. A cache passes the errors of its loaders through
//     unchanged, so this is what they get.
//
// NOTE: until the engine marks them, an encoding failure of Set or MSet (the codec
// refused the value) is reported as "loader".
func ErrorKind(err error) string {
	var pe *PanicError
	var re *remoteError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &pe):
		return ErrorKindPanic
	case errors.Is(err, ErrClosed):
		return ErrorKindClosed
	case errors.Is(err, ErrCircuitOpen), errors.Is(err, errBreakerOpened):
		return ErrorKindCircuitOpen
	case errors.Is(err, context.Canceled):
		return ErrorKindCanceled
	case errors.Is(err, ErrLoaderTimeout), errors.Is(err, ErrRemoteTimeout), errors.Is(err, context.DeadlineExceeded):
		return ErrorKindTimeout
	case errors.Is(err, errCorruptValue):
		return ErrorKindDecode
	case errors.Is(err, errEncodeValue):
		return ErrorKindEncode
	case errors.As(err, &re):
		return ErrorKindRemote
	}
	return ErrorKindLoader
}

// logErrorKind is [ErrorKind] for a failure that the logger records under kind:
// only the "load" failures are the loaders'; the others that ErrorKind cannot place
// are failures of the remote backend (Pub/Sub included).
func logErrorKind(kind string, err error) string {
	k := ErrorKind(err)
	if k == ErrorKindLoader && kind != "load" {
		return ErrorKindRemote
	}
	return k
}
