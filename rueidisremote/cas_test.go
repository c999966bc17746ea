package rueidisremote_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/internal/redistest"
	"github.com/accelerator-go/accelerator/rueidisremote"
)

func sum(b string) string {
	h := sha1.Sum([]byte(b))
	return hex.EncodeToString(h[:])
}

func TestCompareAndSet(t *testing.T) {
	srv := redistest.Start(t)
	r, err := rueidisremote.NewFromURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	srv.Do(t, "SET", "held", "old")
	got, err := r.CompareAndSet(ctx, []backend.CASItem{
		{Key: "absent", Expect: "", Value: []byte("a"), TTL: time.Minute},
		{Key: "absent2", Expect: sum("x"), Value: []byte("a"), TTL: time.Minute},
		{Key: "held", Expect: sum("old"), Value: []byte("new"), TTL: time.Minute},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !got[0] || got[1] || !got[2] {
		t.Fatalf("CompareAndSet = %v, want [true false true]", got)
	}
	if v := srv.Do(t, "GET", "held"); v != "new" {
		t.Fatalf("held = %v", v)
	}
	got, _ = r.CompareAndSet(ctx, []backend.CASItem{{Key: "held", Expect: sum("old"), Value: []byte("stale"), TTL: time.Minute}})
	if got[0] || srv.Do(t, "GET", "held") != "new" {
		t.Fatal("a compare-and-set against a changed value wrote")
	}
	if pttl, _ := srv.Do(t, "PTTL", "absent").(int64); pttl <= 0 || pttl > 60000 {
		t.Fatalf("PTTL = %d", pttl)
	}
}
