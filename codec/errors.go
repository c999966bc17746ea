package codec

import (
	"errors"
	"fmt"
)

// ErrMalformed reports that [Codec.Unmarshal] could not decode its input into a value:
// the bytes are truncated, corrupt, of the wrong shape for the target type, or made a
// decoder panic. The cache treats such an entry as a miss.
//
// Errors returned by Unmarshal wrap both ErrMalformed and, when there is one, the
// underlying library's error, so [errors.Is] and [errors.As] work on either.
var ErrMalformed = errors.New("codec: malformed input")

// malformed wraps a decoding error with [ErrMalformed].
func malformed(err error) error {
	return fmt.Errorf("%w: %w", ErrMalformed, err)
}

// recoverMalformed turns a panic in the decoder into an error wrapping [ErrMalformed].
// It must be deferred directly.
func recoverMalformed(err *error) {
	r := recover()
	if r == nil {
		return
	}
	*err = fmt.Errorf("%w: decoder panicked: %v", ErrMalformed, r)
}

// appendWriter is an [io.Writer] and [io.ByteWriter] that appends to b, so that a
// streaming encoder writes straight after the caller's dst with no intermediate copy.
type appendWriter struct {
	b []byte
}

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func (w *appendWriter) WriteByte(c byte) error {
	w.b = append(w.b, c)
	return nil
}

func (w *appendWriter) WriteString(s string) (int, error) {
	w.b = append(w.b, s...)
	return len(s), nil
}
