// Package codec turns cached values into bytes for the remote layer and back.
//
// Only the remote layer (L2) sees bytes: the in-process layer stores typed values, so a
// codec runs on L2 reads and writes, never on an L1 hit.
package codec

// Codec encodes values of type V for the remote layer.
//
// Implementations must be safe for concurrent use.
type Codec[V any] interface {
	// Append appends the encoding of v to dst and returns the extended slice.
	Append(dst []byte, v V) ([]byte, error)
	// Unmarshal decodes data into v. It must not retain data, which may be a view of
	// a network buffer, and must return an error, never panic, on malformed input.
	Unmarshal(data []byte, v *V) error
}
