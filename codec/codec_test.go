package codec_test

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/accelerator-go/accelerator/codec"
	"github.com/vmihailenco/msgpack/v5"
)

// User is the realistic value of the tests and benchmarks.
type User struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Email     string    `json:"email"`
	Tags      []string  `json:"tags"`
	CreatedAt time.Time `json:"created_at"`
	Score     float64   `json:"score"`
	Bio       string    `json:"bio,omitempty"`
}

// Equal compares users with [time.Time.Equal]: MessagePack decodes times in the local
// zone.
func (u User) Equal(o User) bool {
	if !u.CreatedAt.Equal(o.CreatedAt) {
		return false
	}
	u.CreatedAt, o.CreatedAt = time.Time{}, time.Time{}
	return reflect.DeepEqual(u, o)
}

func smallUser() User {
	return User{
		ID:        1234567,
		Name:      "Ada Lovelace",
		Email:     "ada@example.com",
		Tags:      []string{"admin", "math"},
		CreatedAt: time.Date(2024, 5, 1, 12, 34, 56, 789_000_000, time.UTC),
		Score:     98.25,
	}
}

func largeUser() User {
	u := smallUser()
	u.Bio = strings.Repeat("Analytical engines weave algebraic patterns. ", 10<<10/45)
	return u
}

// Nested exercises maps, pointers, nested structs, raw bytes and skipped fields.
type Nested struct {
	Owner   *User            `json:"owner"`
	Members []User           `json:"members"`
	Counts  map[string]int   `json:"counts"`
	Raw     []byte           `json:"raw"`
	Attrs   map[string][]int `json:"attrs,omitempty"`
	Secret  string           `json:"-"`
	Small   int8             `json:"small"`
	Big     uint64           `json:"big"`
	Neg     int64            `json:"neg"`
}

func testRoundTrip[V any](t *testing.T, c codec.Codec[V], v V, equal func(a, b V) bool) {
	t.Helper()
	prefix := []byte("prefix")
	enc, err := c.Append(prefix, v)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if !bytes.HasPrefix(enc, prefix) {
		t.Fatalf("Append did not keep dst: %q", enc)
	}
	var got V
	if err := c.Unmarshal(enc[len(prefix):], &got); err != nil {
		t.Fatalf("Unmarshal(%q): %v", enc[len(prefix):], err)
	}
	if !equal(got, v) {
		t.Fatalf("round trip: got %#v, want %#v", got, v)
	}
}

func deepEqual[V any](a, b V) bool { return reflect.DeepEqual(a, b) }

func equalUser(a, b User) bool { return a.Equal(b) }

func TestRoundTripUser(t *testing.T) {
	tests := []struct {
		name string
		v    User
	}{
		{"zero", User{CreatedAt: time.Unix(0, 0)}},
		{"small", smallUser()},
		{"large", largeUser()},
		{"extremes", User{
			ID: math.MinInt64, Name: "\x00\xff not utf-8 \u2028 <html>&", Tags: []string{},
			CreatedAt: time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC), Score: -math.MaxFloat64,
		}},
		{"empty tags", User{ID: math.MaxInt64, Tags: []string{""}, CreatedAt: time.Unix(1, 1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Run("JSON", func(t *testing.T) {
				if !utf8.ValidString(tt.v.Name) {
					t.Skip("encoding/json replaces invalid UTF-8")
				}
				testRoundTrip(t, codec.JSON[User]{}, tt.v, equalUser)
			})
			t.Run("Msgpack", func(t *testing.T) { testRoundTrip(t, codec.Msgpack[User]{}, tt.v, equalUser) })
		})
	}
}

func TestRoundTripOtherTypes(t *testing.T) {
	u := smallUser()
	u.CreatedAt = time.Time{} // MessagePack decodes the zero time in UTC: DeepEqual works.
	nested := Nested{
		Owner:   &u,
		Members: []User{u, {Name: "b"}},
		Counts:  map[string]int{"a": 1, "b": -300},
		Raw:     []byte{0, 1, 2, 0xff},
		Attrs:   map[string][]int{"x": {1, 2, 3}},
		Small:   -128,
		Big:     math.MaxUint64,
		Neg:     -1 << 40,
	}
	t.Run("Nested", func(t *testing.T) {
		testRoundTrip(t, codec.JSON[Nested]{}, nested, deepEqual)
		testRoundTrip(t, codec.Msgpack[Nested]{}, nested, deepEqual)
	})
	t.Run("nil pointer", func(t *testing.T) {
		testRoundTrip(t, codec.JSON[*User]{}, nil, deepEqual)
		testRoundTrip(t, codec.Msgpack[*User]{}, nil, deepEqual)
	})
	t.Run("pointer", func(t *testing.T) {
		eq := func(a, b *User) bool { return reflect.DeepEqual(*a, *b) }
		testRoundTrip(t, codec.JSON[*User]{}, &u, eq)
		testRoundTrip(t, codec.Msgpack[*User]{}, &u, eq)
	})
	t.Run("int64", func(t *testing.T) {
		for _, n := range []int64{0, 1, -1, 127, 128, -33, 1 << 40, math.MinInt64, math.MaxInt64} {
			testRoundTrip(t, codec.Msgpack[int64]{}, n, deepEqual)
		}
		for _, n := range []int64{0, -1, 1 << 40} { // float64 precision limits JSON beyond 2^53
			testRoundTrip(t, codec.JSON[int64]{}, n, deepEqual)
		}
	})
	t.Run("float64", func(t *testing.T) {
		for _, f := range []float64{0, 1, -2.5, math.SmallestNonzeroFloat64, math.MaxFloat64} {
			testRoundTrip(t, codec.JSON[float64]{}, f, deepEqual)
			testRoundTrip(t, codec.Msgpack[float64]{}, f, deepEqual)
		}
	})
	t.Run("string", func(t *testing.T) {
		for _, s := range []string{"", "x", strings.Repeat("é", 100_000)} {
			testRoundTrip(t, codec.JSON[string]{}, s, deepEqual)
			testRoundTrip(t, codec.Msgpack[string]{}, s, deepEqual)
		}
	})
	t.Run("map", func(t *testing.T) {
		m := map[string]int{"a": 1, "": 0, "long key": 1 << 30}
		testRoundTrip(t, codec.JSON[map[string]int]{}, m, deepEqual)
		testRoundTrip(t, codec.Msgpack[map[string]int]{}, m, deepEqual)
	})
	t.Run("slice", func(t *testing.T) {
		s := []int{1, 2, 3}
		testRoundTrip(t, codec.JSON[[]int]{}, s, deepEqual)
		testRoundTrip(t, codec.Msgpack[[]int]{}, s, deepEqual)
	})
	t.Run("Bytes", func(t *testing.T) {
		for _, b := range [][]byte{{}, {0}, []byte("hello"), bytes.Repeat([]byte{0xff}, 1<<16)} {
			testRoundTrip(t, codec.Bytes{}, b, bytes.Equal)
		}
	})
	t.Run("String", func(t *testing.T) {
		for _, s := range []string{"", "hello", "\x00\xff"} {
			testRoundTrip(t, codec.String{}, s, deepEqual)
		}
	})
}

// TestMsgpackSkipsJSONDashFields pins that Msgpack reads `json` tags: the same fields
// are skipped by both codecs.
func TestMsgpackSkipsJSONDashFields(t *testing.T) {
	in := Nested{Secret: "s", Small: 1}
	for name, c := range map[string]codec.Codec[Nested]{"JSON": codec.JSON[Nested]{}, "Msgpack": codec.Msgpack[Nested]{}} {
		enc, err := c.Append(nil, in)
		if err != nil {
			t.Fatal(err)
		}
		var out Nested
		if err := c.Unmarshal(enc, &out); err != nil {
			t.Fatal(err)
		}
		if out.Secret != "" || out.Small != 1 {
			t.Errorf("%s: got Secret=%q Small=%d, want \"\" 1", name, out.Secret, out.Small)
		}
		if bytes.Contains(enc, []byte("Secret")) || !bytes.Contains(enc, []byte("small")) {
			t.Errorf("%s: encoding %q should name small and not Secret", name, enc)
		}
	}
}

// TestUnmarshalResetsTarget pins that fields absent from the input do not keep the
// target's old values.
func TestUnmarshalResetsTarget(t *testing.T) {
	for name, c := range map[string]codec.Codec[User]{"JSON": codec.JSON[User]{}, "Msgpack": codec.Msgpack[User]{}} {
		enc, err := c.Append(nil, User{Name: "new"})
		if err != nil {
			t.Fatal(err)
		}
		got := largeUser()
		if err := c.Unmarshal(enc, &got); err != nil {
			t.Fatal(err)
		}
		if got.Bio != "" || got.ID != 0 || got.Tags != nil || got.Name != "new" {
			t.Errorf("%s: stale fields survived: %+v", name, got)
		}
	}
}

func TestAppendError(t *testing.T) {
	type bad struct{ C chan int }
	dst := []byte("keep")
	for name, c := range map[string]codec.Codec[bad]{"JSON": codec.JSON[bad]{}, "Msgpack": codec.Msgpack[bad]{}} {
		got, err := c.Append(dst, bad{C: make(chan int)})
		if err == nil {
			t.Errorf("%s: Append(chan) succeeded: %q", name, got)
			continue
		}
		if string(got) != "keep" {
			t.Errorf("%s: Append error returned %q, want dst unchanged", name, got)
		}
	}
	if _, err := (codec.JSON[float64]{}).Append(nil, math.NaN()); err == nil {
		t.Error("JSON Append(NaN) succeeded")
	}
}

func userCodecs() map[string]codec.Codec[User] {
	return map[string]codec.Codec[User]{"JSON": codec.JSON[User]{}, "Msgpack": codec.Msgpack[User]{}}
}

func checkMalformed(t *testing.T, c codec.Codec[User], data []byte) {
	t.Helper()
	var u User
	err := c.Unmarshal(data, &u)
	if err == nil {
		t.Fatalf("Unmarshal(%q) succeeded: %+v", data, u)
	}
	if !errors.Is(err, codec.ErrMalformed) {
		t.Fatalf("Unmarshal(%q) = %v, want ErrMalformed", data, err)
	}
}

func TestUnmarshalMalformed(t *testing.T) {
	for name, c := range userCodecs() {
		t.Run(name, func(t *testing.T) {
			enc, err := c.Append(nil, largeUser())
			if err != nil {
				t.Fatal(err)
			}
			t.Run("truncated", func(t *testing.T) {
				for n := 0; n < len(enc); n++ {
					checkMalformed(t, c, enc[:n])
				}
			})
			t.Run("trailing", func(t *testing.T) {
				checkMalformed(t, c, append(enc[:len(enc):len(enc)], '1'))
			})
			t.Run("wrong type", func(t *testing.T) {
				other, err := codec.Msgpack[[]string]{}.Append(nil, []string{"a"})
				if name == "JSON" {
					other, err = codec.JSON[[]string]{}.Append(nil, []string{"a"})
				}
				if err != nil {
					t.Fatal(err)
				}
				checkMalformed(t, c, other)
			})
		})
	}
}

// TestUnmarshalRandomBytes checks that random input never panics and that every
// failure wraps ErrMalformed.
func TestUnmarshalRandomBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for name, c := range userCodecs() {
		valid, _ := c.Append(nil, smallUser())
		for i := 0; i < 20_000; i++ {
			var data []byte
			if i%2 == 0 {
				data = make([]byte, rng.IntN(64))
				for j := range data {
					data[j] = byte(rng.Uint32())
				}
			} else { // flip a few bytes of a valid encoding
				data = bytes.Clone(valid)
				for range 1 + rng.IntN(3) {
					data[rng.IntN(len(data))] = byte(rng.Uint32())
				}
			}
			var u User
			if err := c.Unmarshal(data, &u); err != nil && !errors.Is(err, codec.ErrMalformed) {
				t.Fatalf("%s: Unmarshal(%x) = %v, want ErrMalformed", name, data, err)
			}
		}
	}
}

// TestMsgpackRejectsHostileLengths pins that a length prefix larger than the input is
// rejected before decoding: msgpack/v5 trusts it and allocates it up front (8 bytes of
// input made it allocate 1.5 GB), or recurses without limit on deep nesting.
func TestMsgpackRejectsHostileLengths(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		into func([]byte) error
	}{
		{"array32 into []int64 field", []byte{0x81, 0xa1, 'X', 0xdd, 0xff, 0xff, 0xff, 0xff}, unmarshalInto[struct{ X []int64 }]},
		{"array32 into any", []byte{0xdd, 0xff, 0xff, 0xff, 0xff}, unmarshalInto[any]},
		{"array32 into []string", []byte{0xdd, 0xff, 0xff, 0xff, 0xff}, unmarshalInto[[]string]},
		{"map32 into map", []byte{0xdf, 0x7f, 0xff, 0xff, 0xff}, unmarshalInto[map[string]int]},
		{"bin32 into []byte", []byte{0xc6, 0xff, 0xff, 0xff, 0xff}, unmarshalInto[[]byte]},
		{"str32 into string", []byte{0xdb, 0xff, 0xff, 0xff, 0xff}, unmarshalInto[string]},
		{"ext32", []byte{0xc9, 0xff, 0xff, 0xff, 0xff, 0xff}, unmarshalInto[any]},
		{"deep nesting into any", bytes.Repeat([]byte{0x91}, 1<<20), unmarshalInto[any]},
		{"reserved code", []byte{0xc1}, unmarshalInto[any]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.into(tt.data)
			if !errors.Is(err, codec.ErrMalformed) {
				t.Fatalf("Unmarshal = %v, want ErrMalformed", err)
			}
		})
	}
}

func unmarshalInto[V any](data []byte) error {
	var v V
	return codec.Msgpack[V]{}.Unmarshal(data, &v)
}

// TestMsgpackDeepButAllowedNesting checks that nesting within the limit still decodes.
func TestMsgpackDeepButAllowedNesting(t *testing.T) {
	data := append(bytes.Repeat([]byte{0x91}, 5000), 0x01)
	if err := unmarshalInto[any](data); err != nil {
		t.Fatal(err)
	}
}

func TestBytesCopies(t *testing.T) {
	data := []byte("hello")
	var got []byte
	if err := (codec.Bytes{}).Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	data[0] = 'X'
	if string(got) != "hello" {
		t.Fatalf("Unmarshal aliased its input: got %q", got)
	}

	var empty []byte
	if err := (codec.Bytes{}).Unmarshal(nil, &empty); err != nil || empty == nil || len(empty) != 0 {
		t.Fatalf("Unmarshal(nil) = %v, %#v; want empty non-nil", err, empty)
	}

	v := []byte("value")
	enc, _ := codec.Bytes{}.Append(make([]byte, 0, 64), v)
	v[0] = 'X'
	if string(enc) != "value" {
		t.Fatalf("Append aliased its value: got %q", enc)
	}

	// The old *v may be shared (an L1 entry): Unmarshal must not write into it.
	shared := []byte("shared-old-value")
	target := shared[:0]
	if err := (codec.Bytes{}).Unmarshal([]byte("new"), &target); err != nil {
		t.Fatal(err)
	}
	if string(shared) != "shared-old-value" {
		t.Fatalf("Unmarshal wrote into the old slice: %q", shared)
	}
}

func TestStringCopies(t *testing.T) {
	data := []byte("hello")
	var got string
	if err := (codec.String{}).Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	data[0] = 'X'
	if got != "hello" {
		t.Fatalf("Unmarshal aliased its input: got %q", got)
	}
}

// TestCopiesFromNetworkBuffer checks every codec against a reused input buffer.
func TestCopiesFromNetworkBuffer(t *testing.T) {
	u := largeUser()
	for name, c := range userCodecs() {
		enc, _ := c.Append(nil, u)
		var got User
		if err := c.Unmarshal(enc, &got); err != nil {
			t.Fatal(err)
		}
		for i := range enc {
			enc[i] = 'Z'
		}
		if !got.Equal(u) {
			t.Errorf("%s: value changed when the input buffer was reused", name)
		}
	}
}

// TestConcurrentUse runs pooled encoders and decoders from many goroutines; run it
// with -race.
func TestConcurrentUse(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				for name, c := range userCodecs() {
					u := smallUser()
					u.ID = int64(g*1000 + i)
					enc, err := c.Append(nil, u)
					if err != nil {
						t.Error(err)
						return
					}
					var got User
					if err := c.Unmarshal(enc, &got); err != nil || !got.Equal(u) {
						t.Errorf("%s: got %+v, %v", name, got, err)
						return
					}
					// Errors drop the pooled decoder; interleave them.
					_ = c.Unmarshal(enc[:len(enc)/2], &got)
				}
			}
		}()
	}
	wg.Wait()
}

// FuzzMsgpackUnmarshal checks that no input panics or escapes ErrMalformed, and that
// whatever decodes re-encodes and decodes to the same value.
func FuzzMsgpackUnmarshal(f *testing.F) {
	for _, u := range []User{smallUser(), {}, {Tags: []string{"x"}}} {
		enc, _ := codec.Msgpack[User]{}.Append(nil, u)
		f.Add(enc)
	}
	nested, _ := codec.Msgpack[Nested]{}.Append(nil, Nested{Counts: map[string]int{"a": 1}, Raw: []byte{1}})
	f.Add(nested)
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x91, 0x91, 0x91, 0xc0})
	f.Fuzz(func(t *testing.T, data []byte) {
		var u User
		if err := (codec.Msgpack[User]{}).Unmarshal(data, &u); err != nil {
			if !errors.Is(err, codec.ErrMalformed) {
				t.Fatalf("User: %v does not wrap ErrMalformed", err)
			}
		} else {
			// Compare encodings, not values: a decoded NaN is not equal to itself.
			enc, err := codec.Msgpack[User]{}.Append(nil, u)
			if err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			var again User
			if err := (codec.Msgpack[User]{}).Unmarshal(enc, &again); err != nil {
				t.Fatalf("re-decode %x: %v", enc, err)
			}
			if enc2, _ := (codec.Msgpack[User]{}).Append(nil, again); !bytes.Equal(enc, enc2) {
				t.Fatalf("unstable: %x re-encodes as %x", enc, enc2)
			}
		}
		var n Nested
		if err := (codec.Msgpack[Nested]{}).Unmarshal(data, &n); err != nil && !errors.Is(err, codec.ErrMalformed) {
			t.Fatalf("Nested: %v does not wrap ErrMalformed", err)
		}
		var a any
		if err := (codec.Msgpack[any]{}).Unmarshal(data, &a); err != nil && !errors.Is(err, codec.ErrMalformed) {
			t.Fatalf("any: %v does not wrap ErrMalformed", err)
		}
	})
}

// panicky panics while decoding, like a buggy custom decoder meeting unexpected input.
type panicky struct{}

func (*panicky) UnmarshalJSON([]byte) error           { panic("boom") }
func (*panicky) DecodeMsgpack(*msgpack.Decoder) error { panic("boom") }

// TestUnmarshalRecoversPanic pins that a panic while decoding becomes ErrMalformed and
// does not poison the pooled decoders.
func TestUnmarshalRecoversPanic(t *testing.T) {
	tests := []struct {
		name string
		c    codec.Codec[panicky]
		data []byte
	}{
		{"JSON", codec.JSON[panicky]{}, []byte(`{}`)},
		{"Msgpack", codec.Msgpack[panicky]{}, []byte{0x80}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v panicky
			if err := tt.c.Unmarshal(tt.data, &v); !errors.Is(err, codec.ErrMalformed) {
				t.Fatalf("Unmarshal = %v, want ErrMalformed", err)
			}
			testRoundTrip(t, codec.Msgpack[User]{}, smallUser(), equalUser)
		})
	}
}
