package keyenc

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/accelerator-go/accelerator/internal/slot"
)

func TestAppend(t *testing.T) {
	t.Parallel()
	tests := []struct {
		prefix, area, key string
		want              string
	}{
		{"app:", "users", "42", "app:users:42"},
		{"", "", "", ":"},
		{"p", "a:b", "k", `pa\:b:k`},
		{"p", `a\b`, "k", `pa\\b:k`},
		{"p", `\:`, ":\\", `p\\\::` + ":\\"},
		{"p", "area", "k:with:colons", "parea:k:with:colons"},
		{"p:", ":", "", `p:\::`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			got := Append([]byte("dst|"), tt.prefix, tt.area, []byte(tt.key))
			if string(got) != "dst|"+tt.want {
				t.Fatalf("Append = %q, want %q", got, "dst|"+tt.want)
			}
			area, key, err := Parse(got[len("dst|"):], tt.prefix)
			if err != nil || area != tt.area || string(key) != tt.key {
				t.Fatalf("Parse = %q, %q, %v; want %q, %q", area, key, err, tt.area, tt.key)
			}
		})
	}
}

func TestAppendIsAppendAreaPlusKey(t *testing.T) {
	t.Parallel()
	area := AppendArea(nil, "app:", `we:ird\area`)
	full := Append(nil, "app:", `we:ird\area`, []byte("key"))
	if !bytes.Equal(append(area, "key"...), full) {
		t.Fatalf("AppendArea + key = %q, Append = %q", append(area, "key"...), full)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, full, prefix string
		want               error
	}{
		{"wrong prefix", "other:a:k", "app:", ErrPrefix},
		{"shorter than prefix", "ap", "app:", ErrPrefix},
		{"no separator", "app:area", "app:", ErrMalformed},
		{"empty after prefix", "app:", "app:", ErrMalformed},
		{"escaped separator only", `app:area\:k`, "app:", ErrMalformed},
		{"bad escape", `app:a\bc:k`, "app:", ErrMalformed},
		{"trailing backslash", `app:a\`, "app:", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := Parse([]byte(tt.full), tt.prefix); !errors.Is(err, tt.want) {
				t.Fatalf("Parse(%q) = %v, want %v", tt.full, err, tt.want)
			}
		})
	}
}

func TestParseKeyAliasesInput(t *testing.T) {
	t.Parallel()
	full := Append(nil, "p", "a", []byte("key"))
	_, key, err := Parse(full, "p")
	if err != nil {
		t.Fatal(err)
	}
	if &key[0] != &full[len(full)-3] {
		t.Fatal("key is a copy, want a sub-slice of full")
	}
}

func TestAppendKeyZeroAllocs(t *testing.T) {
	area := AppendArea(nil, "app:", "users")
	buf := make([]byte, 0, 64)
	key := []byte("12345")
	tests := []struct {
		name string
		fn   func()
	}{
		{"append key after area", func() { buf = append(append(buf[:0], area...), key...) }},
		{"Append", func() { buf = Append(buf[:0], "app:", `us:ers`, key) }},
	}
	for _, tt := range tests {
		if allocs := testing.AllocsPerRun(1000, tt.fn); allocs != 0 {
			t.Errorf("%s: %v allocs per run, want 0", tt.name, allocs)
		}
	}
}

// FuzzKeyRoundTrip checks that Parse inverts Append for any inputs, and that two
// different (area, key) pairs never produce the same bytes under one prefix.
func FuzzKeyRoundTrip(f *testing.F) {
	f.Add("app:", "users", []byte("42"), "users", []byte("43"))
	f.Add("", "a:b", []byte("c"), "a", []byte("b:c"))
	f.Add("p", `a\`, []byte(":b"), `a\:b`, []byte(""))
	f.Add("p", `a\\`, []byte("b"), `a\`, []byte(`\:b`))
	f.Add("p:", "", []byte(":"), ":", []byte(""))
	f.Fuzz(func(t *testing.T, prefix, a1 string, k1 []byte, a2 string, k2 []byte) {
		e1 := Append(nil, prefix, a1, k1)
		e2 := Append([]byte("dst"), prefix, a2, k2)
		if string(e2[:3]) != "dst" {
			t.Fatalf("Append overwrote dst: %q", e2)
		}
		e2 = e2[3:]
		area, key, err := Parse(e1, prefix)
		if err != nil || area != a1 || !bytes.Equal(key, k1) {
			t.Fatalf("Parse(%q) = %q, %q, %v; want %q, %q", e1, area, key, err, a1, k1)
		}
		same := a1 == a2 && bytes.Equal(k1, k2)
		if !same && bytes.Equal(e1, e2) {
			t.Fatalf("(%q, %q) and (%q, %q) both encode to %q", a1, k1, a2, k2, e1)
		}
	})
}

// FuzzParse checks that Parse never panics and accepts only what Append produces:
// re-encoding a parsed key gives back the same bytes.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`app:us\:ers:42`), "app:")
	f.Add([]byte(`app:a\\:`), "app:")
	f.Add([]byte(`app:a\x:k`), "app:")
	f.Add([]byte(`app:`), "app:")
	f.Fuzz(func(t *testing.T, full []byte, prefix string) {
		area, key, err := Parse(full, prefix)
		if err != nil {
			if !errors.Is(err, ErrPrefix) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%q) = %v, not a sentinel", full, err)
			}
			return
		}
		if again := Append(nil, prefix, area, key); !bytes.Equal(again, full) {
			t.Fatalf("Parse(%q) = %q, %q; Append gives %q", full, area, key, again)
		}
	})
}

func BenchmarkAppend(b *testing.B) {
	key := []byte("1234567890")
	buf := make([]byte, 0, 64)
	b.Run("area precomputed", func(b *testing.B) {
		area := AppendArea(nil, "app:", "users")
		b.ReportAllocs()
		for b.Loop() {
			buf = append(append(buf[:0], area...), key...)
		}
	})
	b.Run("Append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = Append(buf[:0], "app:", "users", key)
		}
	})
	b.Run("Append escaped", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = Append(buf[:0], "app:", `tenant:1\users`, key)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	full := Append(nil, "app:", "users", []byte("1234567890"))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Parse(full, "app:"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestAppendMeta(t *testing.T) {
	t.Parallel()
	tests := []struct {
		prefix, area, name string
		want               string
	}{
		{"app:", "users", "clock", `app:users\#{users}clock`},
		{"app:", "users", "tag:user:42", `app:users\#{users}tag:user:42`},
		{"p", "a:b", "clear", `pa\:b\#{a\:b}clear`},
		{"p", `a\b`, "clock", `pa\\b\#{a\\b}clock`},
		{"p", "{x}", "clock", `p{x}\#{x}clock`},
		{"p", "{}", "clock", `p{}\#{#}clock`},
		{"", "", "clock", `\#{#}clock`},
	}
	for _, tt := range tests {
		got := AppendMeta([]byte("dst|"), tt.prefix, tt.area, tt.name)
		if string(got) != "dst|"+tt.want {
			t.Errorf("AppendMeta(%q, %q, %q) = %q, want %q", tt.prefix, tt.area, tt.name, got, "dst|"+tt.want)
		}
	}
}

// words returns every string of at most n bytes over alphabet.
func words(alphabet string, n int) []string {
	out := []string{""}
	last := []string{""}
	for range n {
		var next []string
		for _, w := range last {
			for i := range len(alphabet) {
				next = append(next, w+alphabet[i:i+1])
			}
		}
		out = append(out, next...)
		last = next
	}
	return out
}

// TestMetaKeysAreNotDataKeys checks, over every area, key and name of up to three
// bytes drawn from the bytes that matter to the layout, that no meta key is a data key
// of any area, that no meta key starts with an area's data-key prefix (what
// server-assisted invalidation tracks), and that two meta keys are equal only for the
// same area and name.
func TestMetaKeysAreNotDataKeys(t *testing.T) {
	t.Parallel()
	ws := words(`a\:#{}`, 3)
	for _, prefix := range []string{"", "p:", `\`, "{"} {
		data := make(map[string]bool)
		var areaPrefixes []string
		for _, area := range ws {
			areaPrefixes = append(areaPrefixes, string(AppendArea(nil, prefix, area)))
			for _, key := range ws {
				data[string(Append(nil, prefix, area, []byte(key)))] = true
			}
		}
		meta := make(map[string][2]string)
		for _, area := range ws {
			for _, name := range ws {
				m := string(AppendMeta(nil, prefix, area, name))
				if data[m] {
					t.Fatalf("prefix %q: meta key %q of area %q, name %q is a data key", prefix, m, area, name)
				}
				if was, ok := meta[m]; ok {
					t.Fatalf("prefix %q: meta key %q of area %q, name %q is also that of area %q, name %q", prefix, m, area, name, was[0], was[1])
				}
				meta[m] = [2]string{area, name}
				for _, ap := range areaPrefixes {
					if strings.HasPrefix(m, ap) {
						t.Fatalf("prefix %q: meta key %q starts with the data-key prefix %q", prefix, m, ap)
					}
				}
			}
		}
	}
}

// TestMetaKeysShareASlot checks that the meta keys of an area hash to one Redis
// Cluster slot whenever MetaKeysShareSlot says so, and that it says so for every
// prefix and area without "{}".
func TestMetaKeysShareASlot(t *testing.T) {
	t.Parallel()
	ws := words(`a\:{}`, 3)
	for _, prefix := range []string{"", "app:", "{app}:", "{", "}", "a{b"} {
		for _, area := range ws {
			share := MetaKeysShareSlot(prefix, area)
			if !strings.Contains(prefix+area, "{}") && !share {
				t.Errorf("MetaKeysShareSlot(%q, %q) = false without \"{}\"", prefix, area)
			}
			if !share {
				continue
			}
			want := slot.Of(string(AppendMeta(nil, prefix, area, "clock")))
			for _, name := range []string{"clear", "tag:", "tag:{x}", "tag:}", "tag:user:42"} {
				if got := slot.Of(string(AppendMeta(nil, prefix, area, name))); got != want {
					t.Fatalf("prefix %q, area %q: %q is in slot %d, the clock in %d", prefix, area, name, got, want)
				}
			}
		}
	}
}
