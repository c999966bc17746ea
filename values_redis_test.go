package accelerator_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/internal/redistest"
)

// A write of a value over MaxValueSize fails with ErrValueTooLarge and stores nothing,
// in either layer: not the oversized value, and not the other values of its MSet.
func TestOversizedWritesStoreNothing(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	big := strings.Repeat("x", 200)
	c := newCache(t, accelerator.Options[string, string]{Area: "ovw", Remote: newRemote(t, srv.URL()), MaxValueSize: 100})
	l2 := newCache(t, accelerator.Options[string, string]{Area: "ovw", Mode: accelerator.ModeRemote, Remote: newRemote(t, srv.URL())})
	ctx := context.Background()
	if err := c.Set(ctx, "k", "small"); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "k", big); !errors.Is(err, accelerator.ErrValueTooLarge) {
		t.Fatalf("Set of 200 bytes with MaxValueSize 100 = %v, want ErrValueTooLarge", err)
	}
	if err := c.MSet(ctx, map[string]string{"a": "fits", "b": big}); !errors.Is(err, accelerator.ErrValueTooLarge) {
		t.Fatalf("MSet with one oversized value = %v, want ErrValueTooLarge", err)
	}
	for _, cc := range []struct {
		name string
		c    *accelerator.Cache[string, string]
	}{{"L1", c}, {"L2", l2}} {
		if v, _, _ := cc.c.Get(ctx, "k", accelerator.DisableLoad()); v != "small" {
			t.Errorf("%s holds %d bytes for k after the refused Set, want the earlier value", cc.name, len(v))
		}
		if m, _ := cc.c.MGet(ctx, []string{"a", "b"}, accelerator.DisableLoad()); len(m) != 0 {
			t.Errorf("%s holds %d keys of the refused MSet, want none", cc.name, len(m))
		}
	}
}

// A loaded value over MaxValueSize is returned to its reader, but cached nowhere: the
// next read loads again.
func TestOversizedLoadIsReturnedButNotCached(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	big := strings.Repeat("x", 200)
	ld := &countingLoader[string, string]{data: map[string]string{"k": big}}
	c := newCache(t, accelerator.Options[string, string]{Area: "ovl", Remote: newRemote(t, srv.URL()), MaxValueSize: 100, Loader: ld})
	l2 := newCache(t, accelerator.Options[string, string]{Area: "ovl", Mode: accelerator.ModeRemote, Remote: newRemote(t, srv.URL())})
	ctx := context.Background()
	for i := range 2 {
		if v, found, err := c.Get(ctx, "k"); err != nil || !found || v != big {
			t.Fatalf("read %d = %d bytes, %v, %v; want the loaded value", i, len(v), found, err)
		}
	}
	if n := ld.calls.Load(); n != 2 {
		t.Fatalf("two reads made %d loads, want 2 (the value must not be cached)", n)
	}
	if _, found, _ := l2.Get(ctx, "k", accelerator.DisableLoad()); found {
		t.Fatal("the oversized value reached L2")
	}
	if m := c.MetricsSnapshot(); m.OversizedValues != 2 {
		t.Fatalf("OversizedValues = %d, want 2", m.OversizedValues)
	}
}
