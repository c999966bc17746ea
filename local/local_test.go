package local_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/backendtest"
	"github.com/accelerator-go/accelerator/local"
)

func TestConformance(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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

// clockFunc adapts a function to [local.Clock].
type clockFunc func() int64

func (f clockFunc) NowNano() int64 { return f() }

// TestStoreExpiresOnItsClock: a store judges deadlines by the clock it is given, so
// that a cache on a fake clock sees its entries go when that clock passes their
// deadline (the later of ExpireAt and StaleUntil), not when the real time does.
func TestStoreExpiresOnItsClock(t *testing.T) {
	t.Parallel()
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	s, err := local.New(local.Options[string, string]{Clock: clockFunc(now.Load)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	minute := int64(time.Minute)
	s.Set("fresh", backend.Entry[string]{Value: "v", ExpireAt: now.Load() + minute})
	s.Set("stale", backend.Entry[string]{Value: "v", ExpireAt: now.Load() + minute, StaleUntil: now.Load() + 2*minute})
	s.Set("past", backend.Entry[string]{Value: "v", ExpireAt: now.Load()})

	if _, ok := s.Get("past"); ok {
		t.Error("an entry set at its deadline was kept")
	}
	now.Add(minute - 1)
	if _, ok := s.Get("fresh"); !ok {
		t.Fatal("an entry went before its deadline")
	}
	now.Add(1)
	if _, ok := s.Get("fresh"); ok {
		t.Fatal("an entry was served once its clock passed ExpireAt")
	}
	if _, ok := s.Get("stale"); !ok {
		t.Fatal("an entry went before the end of its stale window")
	}
	now.Add(minute)
	if _, ok := s.Get("stale"); ok {
		t.Fatal("an entry was served once its clock passed StaleUntil")
	}
}
