package accelerator

import (
	"slices"
	"testing"
)

// TestDedupKeysKeepsTheFirstOfEach pins the batch dedup of the publisher: a hot key
// written by many writers at once travels once.
func TestDedupKeysKeepsTheFirstOfEach(t *testing.T) {
	in := [][]byte{[]byte("a"), []byte("b"), []byte("a"), {}, []byte("b"), {}, []byte("c")}
	got := dedupKeys(in)
	var s []string
	for _, k := range got {
		s = append(s, string(k))
	}
	if want := []string{"a", "b", "", "c"}; !slices.Equal(s, want) {
		t.Fatalf("dedupKeys = %q, want %q", s, want)
	}
}
