package slot

import (
	"testing"
)

func TestOf(t *testing.T) {
	t.Parallel()
	// Expected values come from CLUSTER KEYSLOT on a real Redis 7 server and from the
	// Redis Cluster specification.
	tests := []struct {
		key  string
		want uint16
	}{
		{"", 0},
		{"foo", 12182},
		{"bar", 5061},
		{"hello", 866},
		{"123456789", 12739}, // the CRC16/XMODEM check value 0x31C3 modulo 16384
		{"{user1000}.following", 3443},
		{"{user1000}.followers", 3443},
		{"user1000", 3443},
		{"foo{}{bar}", 8363},    // empty first tag: the whole key is hashed
		{"foo{{bar}}zap", 4015}, // tag is "{bar"
		{"foo{bar}{zap}", 5061}, // only the first tag counts: "bar"
		{"{bar", 4015},          // no closing brace: the whole key
		{"bar}", 6624},          // no opening brace: the whole key
		{"\x00\xff{\x00}", 0},   // tag is a single NUL byte
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := Of(tt.key); got != tt.want {
				t.Errorf("Of(%q) = %d, want %d", tt.key, got, tt.want)
			}
		})
	}
}

func TestOfHashTagSharesSlot(t *testing.T) {
	t.Parallel()
	// Keys that share a hash tag must land in one slot, whatever surrounds the tag.
	base := Of("tag")
	for _, key := range []string{"{tag}", "{tag}:a", "x{tag}y", "{tag}{other}", "prefix:{tag}:suffix"} {
		if got := Of(key); got != base {
			t.Errorf("Of(%q) = %d, want %d (slot of the tag)", key, got, base)
		}
	}
}

func TestOfInRange(t *testing.T) {
	t.Parallel()
	for i := range 10000 {
		key := string(rune(i)) + "k"
		if got := Of(key); got >= Count {
			t.Fatalf("Of(%q) = %d, out of range", key, got)
		}
	}
}

func FuzzOf(f *testing.F) {
	f.Add("foo")
	f.Add("{user1000}.following")
	f.Add("a{b}c")
	f.Fuzz(func(t *testing.T, key string) {
		got := Of(key)
		if got >= Count {
			t.Fatalf("Of(%q) = %d, out of range", key, got)
		}
		if tag := hashTag(key); tag != key && Of("{"+tag+"}") != got {
			t.Fatalf("Of(%q) = %d, differs from the slot of its tag %q", key, got, tag)
		}
	})
}

func BenchmarkOf(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = Of("accelerator:users:{1234567}:profile")
	}
}
