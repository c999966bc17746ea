package codec

// String is the identity codec for string values: the string's bytes are its encoding.
type String struct{}

var _ Codec[string] = String{}

// Append appends the bytes of v to dst. It never fails.
func (String) Append(dst []byte, v string) ([]byte, error) {
	return append(dst, v...), nil
}

// Unmarshal stores a copy of data in *v, so that *v does not change when the caller
// reuses data. It never fails.
func (String) Unmarshal(data []byte, v *string) error {
	*v = string(data)
	return nil
}
