package local_test

import (
	"testing"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/backendtest"
	"github.com/accelerator-go/accelerator/local"
)

func TestConformance(t *testing.T) {
	backendtest.TestLocal(t, func(t *testing.T) backend.Local[string, string] {
		s, err := local.New(local.Options[string, string]{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return s
	})
}

func TestWeightBound(t *testing.T) {
	s, err := local.New(local.Options[string, string]{
		MaximumWeight: 1000,
		Weigher:       func(_ string, v string) uint32 { return uint32(len(v)) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	big := make([]byte, 100)
	for i := range 100 {
		s.Set(string(rune('a'+i%26))+string(rune('A'+i/26)), backend.Entry[string]{Value: string(big), ExpireAt: 1 << 62})
	}
	if w := s.WeightedSize(); w > 1000 {
		t.Fatalf("weighted size %d exceeds the bound 1000", w)
	}
}

func TestOptionConflicts(t *testing.T) {
	w := func(string, int) uint32 { return 1 }
	for _, o := range []local.Options[string, int]{
		{MaximumSize: -1},
		{MaximumSize: 10, MaximumWeight: 10, Weigher: w},
		{MaximumWeight: 10},
		{Weigher: w},
	} {
		if _, err := local.New(o); err == nil {
			t.Errorf("New(%+v) accepted conflicting options", o)
		}
	}
}
