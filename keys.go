package accelerator

import (
	"reflect"
	"strconv"
	"unsafe"
)

// KeyEncoder turns a cache key into the bytes that identify it in the remote layer.
//
// The encoding must be injective: two different keys must never produce the same
// bytes, or they would share one remote entry. The cache adds the key prefix and the
// area around these bytes, so an encoder only has to tell keys of one type apart.
//
// NOTE: the in-process layer is keyed by K itself, so an encoder runs only on remote
// reads and writes, never on an L1 hit.
type KeyEncoder[K comparable] interface {
	// AppendKey appends the encoding of key to dst and returns the extended slice.
	AppendKey(dst []byte, key K) []byte
}

// KeyEncoderFunc adapts a function to [KeyEncoder].
type KeyEncoderFunc[K comparable] func(dst []byte, key K) []byte

// AppendKey calls f(dst, key).
func (f KeyEncoderFunc[K]) AppendKey(dst []byte, key K) []byte { return f(dst, key) }

// StringKeys encodes string keys as their own bytes, as the default encoder does for
// every key type whose underlying type is string.
type StringKeys[K ~string] struct{}

// AppendKey appends key verbatim.
func (StringKeys[K]) AppendKey(dst []byte, key K) []byte { return append(dst, key...) }

// IntKeys encodes signed integer keys in decimal, as the default encoder does for every
// key type whose underlying type is a signed integer.
type IntKeys[K ~int | ~int8 | ~int16 | ~int32 | ~int64] struct{}

// AppendKey appends key in decimal.
func (IntKeys[K]) AppendKey(dst []byte, key K) []byte {
	return strconv.AppendInt(dst, int64(key), 10)
}

// UintKeys encodes unsigned integer keys in decimal, as the default encoder does for
// every key type whose underlying type is an unsigned integer.
type UintKeys[K ~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~uintptr] struct{}

// AppendKey appends key in decimal.
func (UintKeys[K]) AppendKey(dst []byte, key K) []byte {
	return strconv.AppendUint(dst, uint64(key), 10)
}

// defaultKeyEncoder returns the built-in encoder for K, or nil when K has none. It
// runs once, in New. Named types (type UserID int64) are encoded like their underlying
// kind: the encoder reads the key through its underlying representation, which the
// kind check makes identical.
func defaultKeyEncoder[K comparable]() KeyEncoder[K] {
	switch reflect.TypeFor[K]().Kind() {
	case reflect.String:
		return KeyEncoderFunc[K](func(dst []byte, k K) []byte {
			return append(dst, *(*string)(unsafe.Pointer(&k))...)
		})
	case reflect.Int:
		return intKind[K, int]()
	case reflect.Int8:
		return intKind[K, int8]()
	case reflect.Int16:
		return intKind[K, int16]()
	case reflect.Int32:
		return intKind[K, int32]()
	case reflect.Int64:
		return intKind[K, int64]()
	case reflect.Uint:
		return uintKind[K, uint]()
	case reflect.Uint8:
		return uintKind[K, uint8]()
	case reflect.Uint16:
		return uintKind[K, uint16]()
	case reflect.Uint32:
		return uintKind[K, uint32]()
	case reflect.Uint64:
		return uintKind[K, uint64]()
	case reflect.Uintptr:
		return uintKind[K, uintptr]()
	}
	return nil
}

// intKind encodes a K whose underlying type is I.
func intKind[K comparable, I int | int8 | int16 | int32 | int64]() KeyEncoder[K] {
	return KeyEncoderFunc[K](func(dst []byte, k K) []byte {
		return strconv.AppendInt(dst, int64(*(*I)(unsafe.Pointer(&k))), 10)
	})
}

// uintKind encodes a K whose underlying type is U.
func uintKind[K comparable, U uint | uint8 | uint16 | uint32 | uint64 | uintptr]() KeyEncoder[K] {
	return KeyEncoderFunc[K](func(dst []byte, k K) []byte {
		return strconv.AppendUint(dst, uint64(*(*U)(unsafe.Pointer(&k))), 10)
	})
}

// KeyDecoder is implemented by key encoders that can turn the bytes they wrote back
// into the key. Cross-instance invalidation uses it to drop exactly the keys another
// instance wrote; a cache whose encoder cannot decode drops its whole L1 on each
// invalidation message instead. The built-in encoders all decode.
type KeyDecoder[K comparable] interface {
	// DecodeKey returns the key that AppendKey encoded as b.
	DecodeKey(b []byte) (K, error)
}

// DecodeKey returns b as a string key.
func (StringKeys[K]) DecodeKey(b []byte) (K, error) { return K(b), nil }

// DecodeKey parses b as a decimal integer key.
func (IntKeys[K]) DecodeKey(b []byte) (K, error) {
	n, err := strconv.ParseInt(string(b), 10, int(unsafe.Sizeof(K(0)))*8)
	return K(n), err
}

// DecodeKey parses b as a decimal unsigned integer key.
func (UintKeys[K]) DecodeKey(b []byte) (K, error) {
	n, err := strconv.ParseUint(string(b), 10, int(unsafe.Sizeof(K(0)))*8)
	return K(n), err
}

// defaultKeyDecoder returns the decoder that goes with defaultKeyEncoder, or nil.
func defaultKeyDecoder[K comparable]() func([]byte) (K, error) {
	switch reflect.TypeFor[K]().Kind() {
	case reflect.String:
		return func(b []byte) (K, error) {
			s := string(b)
			return *(*K)(unsafe.Pointer(&s)), nil
		}
	case reflect.Int:
		return intKindDecoder[K, int]()
	case reflect.Int8:
		return intKindDecoder[K, int8]()
	case reflect.Int16:
		return intKindDecoder[K, int16]()
	case reflect.Int32:
		return intKindDecoder[K, int32]()
	case reflect.Int64:
		return intKindDecoder[K, int64]()
	case reflect.Uint:
		return uintKindDecoder[K, uint]()
	case reflect.Uint8:
		return uintKindDecoder[K, uint8]()
	case reflect.Uint16:
		return uintKindDecoder[K, uint16]()
	case reflect.Uint32:
		return uintKindDecoder[K, uint32]()
	case reflect.Uint64:
		return uintKindDecoder[K, uint64]()
	case reflect.Uintptr:
		return uintKindDecoder[K, uintptr]()
	}
	return nil
}

func intKindDecoder[K comparable, I int | int8 | int16 | int32 | int64]() func([]byte) (K, error) {
	return func(b []byte) (K, error) {
		n, err := strconv.ParseInt(string(b), 10, int(unsafe.Sizeof(I(0)))*8)
		v := I(n)
		return *(*K)(unsafe.Pointer(&v)), err
	}
}

func uintKindDecoder[K comparable, U uint | uint8 | uint16 | uint32 | uint64 | uintptr]() func([]byte) (K, error) {
	return func(b []byte) (K, error) {
		n, err := strconv.ParseUint(string(b), 10, int(unsafe.Sizeof(U(0)))*8)
		v := U(n)
		return *(*K)(unsafe.Pointer(&v)), err
	}
}
