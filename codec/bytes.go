package codec

// Bytes is the identity codec for []byte values: the value is its own encoding.
//
// A nil and an empty slice both encode to zero bytes and both decode to an empty,
// non-nil slice.
type Bytes struct{}

var _ Codec[[]byte] = Bytes{}

// Append appends v to dst. It never fails.
func (Bytes) Append(dst []byte, v []byte) ([]byte, error) {
	return append(dst, v...), nil
}

// Unmarshal stores a copy of data in *v. It never fails.
//
// NOTE: the copy is always a fresh slice: data may be a view of a network buffer that
// is reused after Unmarshal returns, and the old *v may be shared with other readers,
// so neither is retained nor written to.
func (Bytes) Unmarshal(data []byte, v *[]byte) error {
	*v = append(make([]byte, 0, len(data)), data...)
	return nil
}
