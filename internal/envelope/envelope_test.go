package envelope

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"slices"
	"testing"
)

// sameHeader reports whether two headers are equal, tags included.
func sameHeader(a, b Header) bool { return reflect.DeepEqual(a, b) }

// tagBytes is the number of bytes of tags.
func tagBytes(tags []string) int {
	n := 0
	for _, t := range tags {
		n += len(t)
	}
	return n
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		h       Header
		payload string
	}{
		{"zero", Header{}, ""},
		{"plain", Header{ExpireAt: 1_700_000_000_000}, `{"id":1}`},
		{"null", Header{Null: true, ExpireAt: 1_700_000_000_000}, ""},
		{"stale", Header{ExpireAt: 1_700_000_000_000, StaleUntil: 1_700_000_060_000}, "x"},
		{"stale equals expire", Header{ExpireAt: 5, StaleUntil: 5}, "x"},
		{"version", Header{ExpireAt: 1, Version: 42}, "payload"},
		{"everything", Header{Null: true, ExpireAt: 1, StaleUntil: 2, Version: 3}, ""},
		{"max values", Header{ExpireAt: math.MaxInt64, StaleUntil: math.MaxInt64, Version: math.MaxUint64}, "\x00"},
		{"binary payload", Header{ExpireAt: 127}, "\xac\x01\x00\xff"},
		{"stamp", Header{ExpireAt: 1, Stamp: 1_700_000_000_000_000}, "x"},
		{"tags", Header{ExpireAt: 1, Tags: []string{"a", "b", "user:42"}}, "x"},
		{"stamp and tags, null", Header{Null: true, ExpireAt: 1, Stamp: 9, Tags: []string{"\x00", "\xff\xff"}}, ""},
		{"all fields", Header{ExpireAt: 1, StaleUntil: 2, Version: 3, Stamp: math.MaxUint64, Tags: []string{"t"}}, "payload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("dst")
			data := append(AppendHeader(prefix, tt.h), tt.payload...)
			if !bytes.HasPrefix(data, prefix) {
				t.Fatalf("AppendHeader did not keep dst: %q", data)
			}
			data = data[len(prefix):]
			if tagBytes(tt.h.Tags) == 0 && len(data)-len(tt.payload) > MaxHeaderLen {
				t.Fatalf("header of %d bytes exceeds MaxHeaderLen", len(data)-len(tt.payload))
			}
			h, payload, err := Decode(data, 0)
			if err != nil {
				t.Fatalf("Decode(%x): %v", data, err)
			}
			if !sameHeader(h, tt.h) || string(payload) != tt.payload {
				t.Fatalf("Decode = %+v, %q; want %+v, %q", h, payload, tt.h, tt.payload)
			}
		})
	}
}

func TestLayout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		h    Header
		want []byte
	}{
		{"zero", Header{}, []byte{0xAC, 1, 0, 0}},
		{"null", Header{Null: true, ExpireAt: 300}, []byte{0xAC, 1, 1, 0xac, 0x02}},
		{"stale", Header{ExpireAt: 1, StaleUntil: 2}, []byte{0xAC, 1, 2, 1, 2}},
		{"version", Header{ExpireAt: 1, Version: 128}, []byte{0xAC, 1, 4, 1, 0x80, 0x01}},
		{"all", Header{Null: true, ExpireAt: 1, StaleUntil: 2, Version: 3}, []byte{0xAC, 1, 7, 1, 2, 3}},
		{"stamp", Header{ExpireAt: 1, Stamp: 300}, []byte{0xAC, 1, 0x10, 1, 0xac, 0x02}},
		{"tags", Header{ExpireAt: 1, Tags: []string{"ab", "c"}}, []byte{0xAC, 1, 0x20, 1, 2, 2, 'a', 'b', 1, 'c'}},
		{"stamp and tags", Header{ExpireAt: 1, Version: 4, Stamp: 5, Tags: []string{"t"}}, []byte{0xAC, 1, 0x34, 1, 4, 5, 1, 1, 't'}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AppendHeader(nil, tt.h); !bytes.Equal(got, tt.want) {
				t.Fatalf("AppendHeader = %x, want %x", got, tt.want)
			}
		})
	}
}

// TestAppendHeaderNormalizes pins that AppendHeader never writes a header that Decode
// rejects: out-of-range times are written in their equivalent canonical form.
func TestAppendHeaderNormalizes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   Header
		want Header
	}{
		{"negative expire", Header{ExpireAt: -5}, Header{}},
		{"negative stale", Header{ExpireAt: 10, StaleUntil: -1}, Header{ExpireAt: 10}},
		{"stale before expire", Header{ExpireAt: 10, StaleUntil: 9}, Header{ExpireAt: 10}},
		{"stale with negative expire", Header{ExpireAt: -10, StaleUntil: 3}, Header{StaleUntil: 3}},
		{"min int64", Header{ExpireAt: math.MinInt64, StaleUntil: math.MinInt64}, Header{}},
		{"tags unsorted, repeated, empty", Header{Tags: []string{"b", "", "a", "b"}}, Header{Tags: []string{"a", "b"}}},
		{"only empty tags", Header{Tags: []string{"", ""}}, Header{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _, err := Decode(AppendHeader(nil, tt.in), 0)
			if err != nil {
				t.Fatal(err)
			}
			if !sameHeader(h, tt.want) {
				t.Fatalf("got %+v, want %+v", h, tt.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	valid := append(AppendHeader(nil, Header{ExpireAt: 1000, StaleUntil: 2000, Version: 7}), "payload"...)
	tests := []struct {
		name    string
		data    []byte
		maxSize int
		want    error
	}{
		{"empty", nil, 0, ErrCorrupt},
		{"bad magic", []byte{0xAB, 1, 0, 0}, 0, ErrCorrupt},
		{"bad magic, short", []byte{0x00}, 0, ErrCorrupt},
		{"magic only", []byte{0xAC}, 0, ErrCorrupt},
		{"no flags", []byte{0xAC, 1}, 0, ErrCorrupt},
		{"no ExpireAt", []byte{0xAC, 1, 0}, 0, ErrCorrupt},
		{"version 0", []byte{0xAC, 0, 0, 0}, 0, ErrUnknownVersion},
		{"version 2", []byte{0xAC, 2, 0, 0}, 0, ErrUnknownVersion},
		{"version 2, short", []byte{0xAC, 2}, 0, ErrUnknownVersion},
		{"unknown flag bit 6", []byte{0xAC, 1, 0x40, 0}, 0, ErrCorrupt},
		{"tombstone with a payload", []byte{0xAC, 1, 8, 0, 'x'}, 0, ErrCorrupt},
		{"unknown flag bit 7", []byte{0xAC, 1, 0x80, 0}, 0, ErrCorrupt},
		{"truncated ExpireAt", []byte{0xAC, 1, 0, 0x80}, 0, ErrCorrupt},
		{"overlong ExpireAt", []byte{0xAC, 1, 0, 0x80, 0x00}, 0, ErrCorrupt},
		{"overlong ExpireAt 5", []byte{0xAC, 1, 0, 0x85, 0x00}, 0, ErrCorrupt},
		{"overflowing varint", append([]byte{0xAC, 1, 0}, bytes.Repeat([]byte{0xff}, 11)...), 0, ErrCorrupt},
		{"ExpireAt beyond int64", binary.AppendUvarint([]byte{0xAC, 1, 0}, math.MaxInt64+1), 0, ErrCorrupt},
		{"missing StaleUntil", []byte{0xAC, 1, flagStale, 1}, 0, ErrCorrupt},
		{"zero StaleUntil", []byte{0xAC, 1, flagStale, 0, 0}, 0, ErrCorrupt},
		{"StaleUntil before ExpireAt", []byte{0xAC, 1, flagStale, 5, 4}, 0, ErrCorrupt},
		{"StaleUntil beyond int64", binary.AppendUvarint([]byte{0xAC, 1, flagStale, 1}, math.MaxUint64), 0, ErrCorrupt},
		{"overlong StaleUntil", []byte{0xAC, 1, flagStale, 1, 0x82, 0x00}, 0, ErrCorrupt},
		{"missing Version", []byte{0xAC, 1, flagVersion, 1}, 0, ErrCorrupt},
		{"zero Version", []byte{0xAC, 1, flagVersion, 1, 0}, 0, ErrCorrupt},
		{"overlong Version", []byte{0xAC, 1, flagVersion, 1, 0x81, 0x80, 0x00}, 0, ErrCorrupt},
		{"null with payload", []byte{0xAC, 1, flagNull, 1, 'x'}, 0, ErrCorrupt},
		{"missing Stamp", []byte{0xAC, 1, flagStamp, 1}, 0, ErrCorrupt},
		{"zero Stamp", []byte{0xAC, 1, flagStamp, 1, 0}, 0, ErrCorrupt},
		{"overlong Stamp", []byte{0xAC, 1, flagStamp, 1, 0x81, 0x00}, 0, ErrCorrupt},
		{"missing tag count", []byte{0xAC, 1, flagTags, 1}, 0, ErrCorrupt},
		{"zero tags", []byte{0xAC, 1, flagTags, 1, 0}, 0, ErrCorrupt},
		{"more tags than bytes", []byte{0xAC, 1, flagTags, 1, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 'a'}, 0, ErrCorrupt},
		{"tag longer than the rest", []byte{0xAC, 1, flagTags, 1, 1, 5, 'a'}, 0, ErrCorrupt},
		{"empty tag", []byte{0xAC, 1, flagTags, 1, 2, 0, 1, 'a'}, 0, ErrCorrupt},
		{"repeated tag", []byte{0xAC, 1, flagTags, 1, 2, 1, 'a', 1, 'a'}, 0, ErrCorrupt},
		{"tags out of order", []byte{0xAC, 1, flagTags, 1, 2, 1, 'b', 1, 'a'}, 0, ErrCorrupt},
		{"tagged null with payload", []byte{0xAC, 1, flagNull | flagTags, 1, 1, 1, 'a', 'x'}, 0, ErrCorrupt},
		{"too large", valid, len(valid) - 1, ErrTooLarge},
		{"too large wins over corrupt", []byte{0, 0, 0}, 2, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, payload, err := Decode(tt.data, tt.maxSize)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode(%x) = %v, want %v", tt.data, err, tt.want)
			}
			if !sameHeader(h, Header{}) || payload != nil {
				t.Fatalf("Decode returned %+v, %q alongside an error", h, payload)
			}
		})
	}
	t.Run("at the limit", func(t *testing.T) {
		if _, _, err := Decode(valid, len(valid)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("every truncation of the header", func(t *testing.T) {
		header := AppendHeader(nil, Header{ExpireAt: 1 << 40, StaleUntil: 1 << 41, Version: 1 << 60, Stamp: 1 << 50, Tags: []string{"a", "bc"}})
		for n := range len(header) {
			if _, _, err := Decode(header[:n], 0); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decode(%x) = %v, want ErrCorrupt", header[:n], err)
			}
		}
	})
}

func TestPayloadAliasesInput(t *testing.T) {
	t.Parallel()
	data := append(AppendHeader(nil, Header{ExpireAt: 1}), "abc"...)
	_, payload, err := Decode(data, 0)
	if err != nil {
		t.Fatal(err)
	}
	if &payload[0] != &data[len(data)-3] {
		t.Fatal("payload is a copy, want a sub-slice of data")
	}
}

func TestZeroAllocs(t *testing.T) {
	h := Header{ExpireAt: 1_700_000_000_000, StaleUntil: 1_700_000_060_000, Version: 99}
	buf := make([]byte, 0, 64)
	data := append(AppendHeader(nil, h), "payload"...)
	corrupt := []byte{0xAC, 1, 0x80, 0}
	tests := []struct {
		name string
		fn   func()
	}{
		{"AppendHeader", func() { buf = AppendHeader(buf[:0], h) }},
		{"Decode", func() { _, _, _ = Decode(data, 1<<20) }},
		{"Decode corrupt", func() { _, _, _ = Decode(corrupt, 0) }},
	}
	for _, tt := range tests {
		if allocs := testing.AllocsPerRun(1000, tt.fn); allocs != 0 {
			t.Errorf("%s: %v allocs per run, want 0", tt.name, allocs)
		}
	}
}

// FuzzDecode checks that Decode never panics, that its errors are the documented
// sentinels, and that the format is canonical: whatever Decode accepts, AppendHeader
// of the decoded header followed by the payload reproduces byte for byte.
func FuzzDecode(f *testing.F) {
	f.Add(AppendHeader(nil, Header{}))
	f.Add(AppendHeader(nil, Header{Null: true, ExpireAt: 1_700_000_000_000}))
	f.Add(append(AppendHeader(nil, Header{ExpireAt: 1, StaleUntil: 2, Version: 3}), "payload"...))
	f.Add(append(AppendHeader(nil, Header{ExpireAt: math.MaxInt64, Version: math.MaxUint64}), 0xAC))
	f.Add([]byte{0xAC, 1, 0, 0x80, 0x00})
	f.Add([]byte{0xAC, 2, 0})
	f.Add(append(AppendHeader(nil, Header{ExpireAt: 1, Stamp: 1 << 50, Tags: []string{"a", "user:42"}}), "payload"...))
	f.Add([]byte{0xAC, 1, flagTags, 1, 2, 1, 'b', 1, 'a'})
	f.Fuzz(func(t *testing.T, data []byte) {
		h, payload, err := Decode(data, 0)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownVersion) {
				t.Fatalf("Decode(%x) = %v, not a sentinel", data, err)
			}
			return
		}
		if h.Null && len(payload) != 0 {
			t.Fatalf("null with payload %x", payload)
		}
		if !slices.IsSorted(h.Tags) || len(slices.Compact(slices.Clone(h.Tags))) != len(h.Tags) || slices.Contains(h.Tags, "") {
			t.Fatalf("Decode(%x) returned tags %q: not sorted, repeated or empty", data, h.Tags)
		}
		again := append(AppendHeader(nil, h), payload...)
		if !bytes.Equal(again, data) {
			t.Fatalf("not canonical: Decode(%x) = %+v, re-encoded %x", data, h, again)
		}
		if _, _, err := Decode(data, len(data)-1); len(data) > 1 && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("Decode with a smaller limit = %v, want ErrTooLarge", err)
		}
	})
}

func BenchmarkAppendHeader(b *testing.B) {
	h := Header{ExpireAt: 1_700_000_000_000, StaleUntil: 1_700_000_060_000, Version: 99}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendHeader(buf[:0], h)
	}
	b.ReportMetric(float64(len(buf)), "B/header")
}

func BenchmarkDecode(b *testing.B) {
	data := append(AppendHeader(nil, Header{ExpireAt: 1_700_000_000_000, StaleUntil: 1_700_000_060_000, Version: 99}), make([]byte, 100)...)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Decode(data, 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}

func TestTombstoneRoundTrip(t *testing.T) {
	t.Parallel()
	b := AppendHeader(nil, Header{Tombstone: true, ExpireAt: 5})
	h, payload, err := Decode(b, 0)
	if err != nil || !h.Tombstone || h.Null || len(payload) != 0 || h.ExpireAt != 5 {
		t.Fatalf("Decode(tombstone) = %+v %q %v", h, payload, err)
	}
}

func TestNormalizeTags(t *testing.T) {
	sorted := []string{"a", "b"}
	if got := NormalizeTags(sorted); &got[0] != &sorted[0] {
		t.Fatal("NormalizeTags copied tags that were canonical already")
	}
	if got := NormalizeTags([]string{"b", "a", "", "b"}); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("NormalizeTags = %q", got)
	}
	if got := NormalizeTags([]string{""}); got != nil {
		t.Fatalf("NormalizeTags of an empty tag = %q, want nil", got)
	}
	if a := testing.AllocsPerRun(100, func() { NormalizeTags(sorted) }); a != 0 {
		t.Fatalf("NormalizeTags of canonical tags allocates %v times", a)
	}
}

func TestTaggedHeaderAllocatesOnlyItsTags(t *testing.T) {
	data := append(AppendHeader(nil, Header{ExpireAt: 1, Stamp: 7, Tags: []string{"a", "b"}}), "payload"...)
	if a := testing.AllocsPerRun(1000, func() { _, _, _ = Decode(data, 0) }); a > 3 {
		t.Fatalf("Decode of a header with 2 tags: %v allocs, want at most 3 (the slice and the tags)", a)
	}
	stamped := append(AppendHeader(nil, Header{ExpireAt: 1, Stamp: 7}), "payload"...)
	if a := testing.AllocsPerRun(1000, func() { _, _, _ = Decode(stamped, 0) }); a != 0 {
		t.Fatalf("Decode of a stamped header without tags: %v allocs, want 0", a)
	}
}
