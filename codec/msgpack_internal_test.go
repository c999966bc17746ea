package codec

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// TestCheckMsgpackAcceptsLibraryOutput checks that the pre-decode check accepts every
// type code that msgpack/v5 writes, and rejects every strict prefix of it.
func TestCheckMsgpackAcceptsLibraryOutput(t *testing.T) {
	values := []any{
		nil, true, false,
		0, 1, 127, 128, 255, 256, 65535, 65536, math.MaxUint32, uint64(math.MaxUint64),
		-1, -32, -33, -128, -129, -32768, -32769, math.MinInt32, int64(math.MinInt64),
		float32(1.5), 2.5,
		"", "x", strings.Repeat("s", 31), strings.Repeat("s", 32), strings.Repeat("s", 256), strings.Repeat("s", 70000),
		[]byte{}, []byte{1}, bytes.Repeat([]byte{2}, 256), bytes.Repeat([]byte{3}, 70000),
		[]int{}, make([]int, 15), make([]int, 16), make([]int, 70000),
		map[string]int{}, map[string]int{"a": 1}, bigMap(16), bigMap(70000),
		time.Unix(1, 0), time.Unix(1, 1), time.Unix(1<<35, 5), time.Time{},
		msgpack.RawMessage{0xd4, 0x01, 0x02},
		[]any{map[string]any{"nested": []any{1, "two", 3.0}}},
	}
	for _, v := range values {
		data, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatalf("Marshal(%T): %v", v, err)
		}
		if err := checkMsgpack(data); err != nil {
			t.Errorf("checkMsgpack(%T %.40x) = %v", v, data, err)
		}
		for _, n := range prefixLens(len(data)) {
			if checkMsgpack(data[:n]) == nil {
				t.Errorf("checkMsgpack accepted a %d-byte prefix of %T %.40x", n, v, data)
				break
			}
		}
	}
}

// TestCheckMsgpackExt covers the ext codes that msgpack/v5 does not write for
// built-in types.
func TestCheckMsgpackExt(t *testing.T) {
	tests := [][]byte{
		{0xd4, 1, 0},
		{0xd5, 1, 0, 0},
		{0xd6, 1, 0, 0, 0, 0},
		{0xd7, 1, 0, 0, 0, 0, 0, 0, 0, 0},
		append([]byte{0xd8, 1}, make([]byte, 16)...),
		{0xc7, 2, 1, 0, 0},
		{0xc8, 0, 2, 1, 0, 0},
		{0xc9, 0, 0, 0, 2, 1, 0, 0},
		{0xc7, 0, 1},
	}
	for _, data := range tests {
		if err := checkMsgpack(data); err != nil {
			t.Errorf("checkMsgpack(%x) = %v", data, err)
		}
		if err := checkMsgpack(data[:len(data)-1]); err == nil {
			t.Errorf("checkMsgpack accepted truncated %x", data[:len(data)-1])
		}
	}
}

// prefixLens returns the lengths of the strict prefixes to try: all of them for short
// encodings, a sample for long ones (the check is linear, so all would be quadratic).
func prefixLens(n int) []int {
	if n <= 1024 {
		lens := make([]int, n)
		for i := range lens {
			lens[i] = i
		}
		return lens
	}
	return []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, n / 2, n - 2, n - 1}
}

func bigMap(n int) map[string]int {
	m := make(map[string]int, n)
	for i := range n {
		m[strings.Repeat("k", i%7)+string(rune('a'+i%26))+string(rune(i))] = i
	}
	return m
}

// BenchmarkCheckMsgpack measures the pre-decode check that Unmarshal pays for safety.
func BenchmarkCheckMsgpack(b *testing.B) {
	small, _ := Msgpack[map[string]any]{}.Append(nil, map[string]any{
		"id": 1234567, "name": "Ada Lovelace", "email": "ada@example.com",
		"tags": []string{"admin", "math"}, "created_at": time.Unix(1714566896, 789), "score": 98.25,
	})
	large, _ := Msgpack[map[string]any]{}.Append(nil, map[string]any{"bio": strings.Repeat("x", 10<<10), "tags": make([]int, 100)})
	for _, c := range []struct {
		name string
		data []byte
	}{{"small", small}, {"10KB", large}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.data)))
			for b.Loop() {
				if err := checkMsgpack(c.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
