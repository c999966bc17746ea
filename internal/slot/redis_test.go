package slot_test

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/accelerator-go/accelerator/internal/redistest"
	"github.com/accelerator-go/accelerator/internal/slot"
)

// TestOfMatchesRedis compares Of with CLUSTER KEYSLOT on a real server, for tagged,
// untagged and binary keys.
func TestOfMatchesRedis(t *testing.T) {
	t.Parallel()
	// A node with cluster support answers CLUSTER KEYSLOT without forming a cluster.
	s := redistest.Start(t, redistest.WithArgs("--cluster-enabled", "yes"))
	rng := rand.New(rand.NewPCG(1, 2))
	keys := []string{"", "{", "}", "{}", "{}{a}", "a{b}c{d}", "accelerator:users:{42}:v1", "\xff\xfe{\x00\x01}"}
	for i := range 300 {
		b := make([]byte, rng.IntN(24))
		for j := range b {
			b[j] = "ab{}:\x00\xff"[rng.IntN(7)]
		}
		keys = append(keys, string(b), "key:"+strconv.Itoa(i))
	}
	for _, key := range keys {
		want := s.Do(t, "CLUSTER", "KEYSLOT", key).(int64)
		if got := slot.Of(key); int64(got) != want {
			t.Errorf("Of(%q) = %d, CLUSTER KEYSLOT = %d", key, got, want)
		}
	}
}
