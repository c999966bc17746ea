package codec

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// Msgpack encodes values with MessagePack (github.com/vmihailenco/msgpack/v5). It is
// the compact, fast choice for values that only Go programs read.
//
// Structs are encoded as maps keyed by field name, so that adding, removing or
// reordering fields between two deployments that share a Redis never moves a value
// into the wrong field. Field names come from the `msgpack` struct tag, falling back to
// the `json` tag, so a struct tagged for [JSON] gets the same (usually short) names and
// skips the same `json:"-"` fields. Integers take the smallest encoding that holds
// them; floats stay floats. A type opts in to the smaller positional encoding with a
// `msgpack:",as_array"` tag on a `_msgpack struct{}` field, at the cost of that
// safety.
//
// Unmarshal first checks that data is one well-formed MessagePack value whose every
// declared length fits in data and whose nesting depth is at most 10000, and only then
// decodes it. The library trusts the length prefixes it reads, so without that check an
// 8-byte input could make it allocate gigabytes or recurse until the stack overflows.
//
// NOTE: decoding into an interface (V = any, or an `any` field) yields the types the
// library picks: small integers come back as int8 or uint8, maps as
// map[string]any. A [time.Time] comes back in the local time zone; compare times with
// [time.Time.Equal].
type Msgpack[V any] struct{}

var _ Codec[any] = Msgpack[any]{}

// maxPooledInput is the largest input after which a decoder returns to its pool: the
// decoder keeps a scratch buffer as long as the longest string it has read, and a pool
// should not pin that memory.
const maxPooledInput = 64 << 10

// msgpackEncoder is a pooled [msgpack.Encoder] bound to an [appendWriter].
type msgpackEncoder struct {
	w   appendWriter
	enc *msgpack.Encoder
}

var msgpackEncoders = sync.Pool{New: func() any {
	e := new(msgpackEncoder)
	e.enc = msgpack.NewEncoder(&e.w)
	return e
}}

// msgpackDecoder is a pooled [msgpack.Decoder] reading from a [bytes.Reader]; a
// reader that implements [io.ByteScanner] spares the decoder its own bufio.Reader.
type msgpackDecoder struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

var msgpackDecoders = sync.Pool{New: func() any {
	d := new(msgpackDecoder)
	d.dec = msgpack.NewDecoder(&d.r)
	return d
}}

// Append appends the MessagePack encoding of v to dst, encoding straight into dst's
// spare capacity. On error it returns dst unchanged.
func (Msgpack[V]) Append(dst []byte, v V) ([]byte, error) {
	e := msgpackEncoders.Get().(*msgpackEncoder)
	e.w.b = dst
	// Reset the options on every use: a custom EncodeMsgpack method may change them.
	e.enc.ResetDict(&e.w, nil)
	e.enc.UseCompactInts(true)
	e.enc.SetCustomStructTag("json")
	err := e.enc.Encode(v)
	out := e.w.b
	e.w.b = nil
	if err != nil {
		return dst, fmt.Errorf("codec: msgpack: %w", err)
	}
	msgpackEncoders.Put(e)
	return out, nil
}

// Unmarshal decodes the MessagePack value in data into *v, which it first resets to
// the zero value, so that fields absent from data never keep an old value.
//
// Any failure, including truncated or trailing data, a length that exceeds the input,
// nesting deeper than 10000, a type mismatch or a panic in the decoder, is returned as
// an error wrapping [ErrMalformed]. v must not be nil.
func (Msgpack[V]) Unmarshal(data []byte, v *V) (err error) {
	var zero V
	*v = zero
	if err := checkMsgpack(data); err != nil {
		return malformed(err)
	}
	d := msgpackDecoders.Get().(*msgpackDecoder)
	d.r.Reset(data)
	d.dec.ResetDict(&d.r, nil)
	d.dec.SetCustomStructTag("json")
	// On a panic or an error the decoder is dropped, not pooled: it may be left
	// mid-record (DecodeRaw) or configured by a custom DecodeMsgpack method.
	defer recoverMalformed(&err)
	if err := d.dec.Decode(v); err != nil {
		return malformed(err)
	}
	if d.r.Len() != 0 {
		return malformed(errTrailing)
	}
	d.r.Reset(nil)
	if len(data) <= maxPooledInput {
		msgpackDecoders.Put(d)
	}
	return nil
}

var (
	errTruncated   = errors.New("msgpack: unexpected end of input")
	errTrailing    = errors.New("msgpack: trailing bytes after the value")
	errInvalidCode = errors.New("msgpack: invalid type code 0xc1")
	errTooLong     = errors.New("msgpack: declared length exceeds the input")
	errTooDeep     = errors.New("msgpack: nesting too deep")
)

// maxMsgpackDepth bounds the nesting of arrays and maps, as encoding/json does, so
// that the library's recursive decoder cannot overflow the stack.
const maxMsgpackDepth = 10000

// checkMsgpack reports whether data holds exactly one well-formed MessagePack value
// whose declared lengths all fit in data and whose nesting is at most maxMsgpackDepth.
// It allocates nothing.
//
// Once it passes, every allocation the decoder makes is bounded by len(data) elements,
// because every MessagePack element takes at least one byte.
func checkMsgpack(data []byte) error {
	n, err := skipMsgpack(data, 0)
	if err != nil {
		return err
	}
	if n != len(data) {
		return errTrailing
	}
	return nil
}

// skipMsgpack returns the length of the MessagePack value at the start of data.
func skipMsgpack(data []byte, depth int) (int, error) {
	if len(data) == 0 {
		return 0, errTruncated
	}
	c := data[0]
	switch {
	case c <= 0x7f || c >= 0xe0: // positive and negative fixint
		return 1, nil
	case c <= 0x8f: // fixmap
		return skipElems(data, 1, uint64(c&0x0f)*2, depth)
	case c <= 0x9f: // fixarray
		return skipElems(data, 1, uint64(c&0x0f), depth)
	case c <= 0xbf: // fixstr
		return skipBody(data, 1, uint64(c&0x1f))
	}
	switch c {
	case 0xc0, 0xc2, 0xc3: // nil, false, true
		return 1, nil
	case 0xc4, 0xd9: // bin8, str8
		return skipSized(data, 1, 0)
	case 0xc5, 0xda: // bin16, str16
		return skipSized(data, 2, 0)
	case 0xc6, 0xdb: // bin32, str32
		return skipSized(data, 4, 0)
	case 0xc7: // ext8: length, type, body
		return skipSized(data, 1, 1)
	case 0xc8: // ext16
		return skipSized(data, 2, 1)
	case 0xc9: // ext32
		return skipSized(data, 4, 1)
	case 0xcc, 0xd0: // uint8, int8
		return fixed(data, 2)
	case 0xcd, 0xd1: // uint16, int16
		return fixed(data, 3)
	case 0xca, 0xce, 0xd2: // float32, uint32, int32
		return fixed(data, 5)
	case 0xcb, 0xcf, 0xd3: // float64, uint64, int64
		return fixed(data, 9)
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16: type, body
		return fixed(data, 2+1<<(c-0xd4))
	case 0xdc: // array16
		return skipCounted(data, 2, 1, depth)
	case 0xdd: // array32
		return skipCounted(data, 4, 1, depth)
	case 0xde: // map16
		return skipCounted(data, 2, 2, depth)
	case 0xdf: // map32
		return skipCounted(data, 4, 2, depth)
	}
	return 0, errInvalidCode // 0xc1, the one code MessagePack never uses
}

// fixed returns n if data holds at least n bytes.
func fixed(data []byte, n int) (int, error) {
	if len(data) < n {
		return 0, errTruncated
	}
	return n, nil
}

// readLen reads the big-endian length of size bytes that follows the type code.
func readLen(data []byte, size int) (uint64, error) {
	if len(data) < 1+size {
		return 0, errTruncated
	}
	var n uint64
	for _, b := range data[1 : 1+size] {
		n = n<<8 | uint64(b)
	}
	return n, nil
}

// skipSized skips a str, bin or ext value: a length of size bytes, extra bytes (the
// ext type) and a body of that length.
func skipSized(data []byte, size, extra int) (int, error) {
	n, err := readLen(data, size)
	if err != nil {
		return 0, err
	}
	return skipBody(data, 1+size+extra, n)
}

// skipBody returns hdr+n if data holds that many bytes.
func skipBody(data []byte, hdr int, n uint64) (int, error) {
	if len(data) < hdr {
		return 0, errTruncated
	}
	if n > uint64(len(data)-hdr) {
		return 0, errTooLong
	}
	return hdr + int(n), nil
}

// skipCounted skips an array16/32 or map16/32 whose element count has size bytes;
// per is 2 for maps (a key and a value per entry).
func skipCounted(data []byte, size int, per uint64, depth int) (int, error) {
	n, err := readLen(data, size)
	if err != nil {
		return 0, err
	}
	return skipElems(data, 1+size, n*per, depth)
}

// skipElems skips count values that start at data[hdr:].
func skipElems(data []byte, hdr int, count uint64, depth int) (int, error) {
	if depth >= maxMsgpackDepth {
		return 0, errTooDeep
	}
	// Every element takes at least one byte: reject a lying count before looping.
	if count > uint64(len(data)-hdr) {
		return 0, errTooLong
	}
	off := hdr
	for ; count > 0; count-- {
		n, err := skipMsgpack(data[off:], depth+1)
		if err != nil {
			return 0, err
		}
		off += n
	}
	return off, nil
}
