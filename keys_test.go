package accelerator

import (
	"bytes"
	"strconv"
	"testing"
)

func TestDefaultKeyEncoder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		encode func() []byte // nil when K has no default encoder
		want   string
	}{
		{"string", encodeWithDefault("a:b"), "a:b"},
		{"int", encodeWithDefault(-42), "-42"},
		{"int8", encodeWithDefault(int8(-128)), "-128"},
		{"int16", encodeWithDefault(int16(32767)), "32767"},
		{"int32", encodeWithDefault(int32(-7)), "-7"},
		{"int64", encodeWithDefault(int64(-9223372036854775808)), "-9223372036854775808"},
		{"uint", encodeWithDefault(uint(42)), "42"},
		{"uint8", encodeWithDefault(uint8(255)), "255"},
		{"uint16", encodeWithDefault(uint16(65535)), "65535"},
		{"uint32", encodeWithDefault(uint32(4294967295)), "4294967295"},
		{"uint64", encodeWithDefault(uint64(18446744073709551615)), "18446744073709551615"},
		{"uintptr", encodeWithDefault(uintptr(7)), "7"},
		{"named string", encodeWithDefault(namedString("x:y")), "x:y"},
		{"named int64", encodeWithDefault(namedInt(-5)), "-5"},
		{"named uint16", encodeWithDefault(namedUint(65535)), "65535"},
		{"struct", encodeWithDefault(struct{ A, B int }{1, 2}), ""},
		{"array", encodeWithDefault([2]int{1, 2}), ""},
		{"bool", encodeWithDefault(true), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.encode()
			if tt.want == "" {
				if got != nil {
					t.Fatalf("defaultKeyEncoder is not nil; encoded %q", got)
				}
				return
			}
			if got == nil {
				t.Fatal("defaultKeyEncoder is nil")
			}
			if string(got) != "dst|"+tt.want {
				t.Fatalf("AppendKey = %q, want %q", got, "dst|"+tt.want)
			}
		})
	}
}

type (
	namedString string
	namedInt    int64
	namedUint   uint16
)

// encodeWithDefault returns a function that encodes key after "dst|" with the default
// encoder of K, or returns nil when K has none.
func encodeWithDefault[K comparable](key K) func() []byte {
	return func() []byte {
		enc := defaultKeyEncoder[K]()
		if enc == nil {
			return nil
		}
		return enc.AppendKey([]byte("dst|"), key)
	}
}

func TestKeyEncoderFunc(t *testing.T) {
	t.Parallel()
	var enc KeyEncoder[int] = KeyEncoderFunc[int](func(dst []byte, key int) []byte {
		return strconv.AppendInt(append(dst, 'k'), int64(key), 16)
	})
	if got := enc.AppendKey([]byte("x"), 255); string(got) != "xkff" {
		t.Fatalf("AppendKey = %q, want %q", got, "xkff")
	}
}

// FuzzIntKeys checks that the integer encoders are injective and decimal: distinct
// keys give distinct bytes, and strconv parses the bytes back to the key.
func FuzzIntKeys(f *testing.F) {
	f.Add(int64(0), int64(-1))
	f.Add(int64(-9223372036854775808), int64(9223372036854775807))
	f.Add(int64(1), int64(10))
	f.Add(int64(255), int64(-1))
	f.Fuzz(func(t *testing.T, a, b int64) {
		checkKeyEncoder(t, IntKeys[int64]{}, a, b, parseIntKey[int64])
		checkKeyEncoder(t, IntKeys[int]{}, int(a), int(b), parseIntKey[int])
		checkKeyEncoder(t, IntKeys[int32]{}, int32(a), int32(b), parseIntKey[int32])
		checkKeyEncoder(t, IntKeys[int16]{}, int16(a), int16(b), parseIntKey[int16])
		checkKeyEncoder(t, IntKeys[int8]{}, int8(a), int8(b), parseIntKey[int8])
		checkKeyEncoder(t, UintKeys[uint64]{}, uint64(a), uint64(b), parseUintKey[uint64])
		checkKeyEncoder(t, UintKeys[uint]{}, uint(a), uint(b), parseUintKey[uint])
		checkKeyEncoder(t, UintKeys[uint32]{}, uint32(a), uint32(b), parseUintKey[uint32])
		checkKeyEncoder(t, UintKeys[uint16]{}, uint16(a), uint16(b), parseUintKey[uint16])
		checkKeyEncoder(t, UintKeys[uint8]{}, uint8(a), uint8(b), parseUintKey[uint8])
		checkKeyEncoder(t, UintKeys[uintptr]{}, uintptr(a), uintptr(b), parseUintKey[uintptr])
	})
}

// FuzzStringKeys checks that StringKeys writes the key verbatim after dst.
func FuzzStringKeys(f *testing.F) {
	f.Add("", "a")
	f.Add("a:b", "a\\:b")
	f.Fuzz(func(t *testing.T, a, b string) {
		checkKeyEncoder(t, StringKeys[string]{}, a, b, func(s string) (string, error) { return s, nil })
	})
}

func parseIntKey[K ~int | ~int8 | ~int16 | ~int32 | ~int64](s string) (K, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	return K(n), err
}

func parseUintKey[K ~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~uintptr](s string) (K, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	return K(n), err
}

// checkKeyEncoder encodes a and b after a common dst and checks that the encodings
// differ when the keys do and that parse inverts the encoding.
func checkKeyEncoder[K comparable](t *testing.T, enc KeyEncoder[K], a, b K, parse func(string) (K, error)) {
	t.Helper()
	dst := []byte("dst|")
	ea := enc.AppendKey(dst[:len(dst):len(dst)], a)
	eb := enc.AppendKey(dst[:len(dst):len(dst)], b)
	if !bytes.HasPrefix(ea, dst) || !bytes.HasPrefix(eb, dst) {
		t.Fatalf("%T: AppendKey did not keep dst: %q, %q", enc, ea, eb)
	}
	ea, eb = ea[len(dst):], eb[len(dst):]
	if a != b && bytes.Equal(ea, eb) {
		t.Fatalf("%T: keys %v and %v both encode to %q", enc, a, b, ea)
	}
	got, err := parse(string(ea))
	if err != nil || got != a {
		t.Fatalf("%T: %q parses to %v, %v; want %v", enc, ea, got, err, a)
	}
}

func TestDefaultKeyDecoderInvertsTheEncoder(t *testing.T) {
	t.Parallel()
	roundTrip(t, "a:b\x00c")
	roundTrip(t, namedString("x"))
	roundTrip(t, int64(-9223372036854775808))
	roundTrip(t, namedInt(42))
	roundTrip(t, int8(-128))
	roundTrip(t, uint16(65535))
	roundTrip(t, namedUint(7))
	if defaultKeyDecoder[struct{ A int }]() != nil {
		t.Fatal("a struct key has a default decoder")
	}
	if _, err := defaultKeyDecoder[int8]()([]byte("300")); err == nil {
		t.Fatal("300 decoded as an int8")
	}
}

func roundTrip[K comparable](t *testing.T, k K) {
	t.Helper()
	b := defaultKeyEncoder[K]().AppendKey(nil, k)
	got, err := defaultKeyDecoder[K]()(b)
	if err != nil || got != k {
		t.Fatalf("decode(encode(%v)) = %v, %v", k, got, err)
	}
}
