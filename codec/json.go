package codec

import (
	"encoding/json"
	"fmt"
	"sync"
)

// JSON encodes values with [encoding/json]. It is the most portable choice: other
// languages and redis-cli can read the entries, and types that implement
// [json.Marshaler] keep their own encoding.
//
// HTML characters are not escaped (the bytes never reach a browser), so the output is
// shorter than that of [json.Marshal] but decodes to the same value.
type JSON[V any] struct{}

var _ Codec[any] = JSON[any]{}

// jsonEncoder is a pooled [json.Encoder] bound to an [appendWriter].
type jsonEncoder struct {
	w   appendWriter
	enc *json.Encoder
}

var jsonEncoders = sync.Pool{New: func() any {
	e := new(jsonEncoder)
	e.enc = json.NewEncoder(&e.w)
	e.enc.SetEscapeHTML(false)
	return e
}}

// Append appends the JSON encoding of v to dst. On error it returns dst unchanged and
// an error from [encoding/json] (an unsupported type or value, or a failing
// [json.Marshaler]).
func (JSON[V]) Append(dst []byte, v V) ([]byte, error) {
	e := jsonEncoders.Get().(*jsonEncoder)
	e.w.b = dst
	err := e.enc.Encode(v)
	out := e.w.b
	e.w.b = nil
	if err != nil {
		// A failed Encoder may keep state; let it go rather than reuse it.
		return dst, fmt.Errorf("codec: json: %w", err)
	}
	jsonEncoders.Put(e)
	// Encode terminates every value with a newline, which Unmarshal does not need.
	return out[:len(out)-1], nil
}

// Unmarshal decodes the JSON in data into *v, which it first resets to the zero
// value, so that fields absent from data never keep an old value.
//
// Any failure, including a type mismatch, trailing data or a panic in a
// [json.Unmarshaler], is returned as an error wrapping [ErrMalformed]. v must not be
// nil.
func (JSON[V]) Unmarshal(data []byte, v *V) (err error) {
	var zero V
	*v = zero
	defer recoverMalformed(&err)
	if err := json.Unmarshal(data, v); err != nil {
		return malformed(err)
	}
	return nil
}
