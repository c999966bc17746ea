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

// TestCompareAndSetOfAbsentKeysIsSetNX pins the fast path: a fill of a key that was
// seen absent is a SET NX (a few microseconds of Redis CPU, against several for the
// script); an absent-expecting item whose key holds an empty value, which the script
// counts as absent, falls back to the script and is written; a taken key is not.
func TestCompareAndSetOfAbsentKeysIsSetNX(t *testing.T) {
	srv := redistest.Start(t)
	r, err := rueidisremote.NewFromURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	srv.Do(t, "SET", "empty", "")
	srv.Do(t, "SET", "taken", "v")
	before := srv.CommandStats(t)
	got, err := r.CompareAndSet(ctx, []backend.CASItem{
		{Key: "a", Value: []byte("1"), TTL: time.Minute},
		{Key: "b", Value: []byte("2"), TTL: time.Minute},
		{Key: "empty", Value: []byte("3"), TTL: time.Minute},
		{Key: "taken", Value: []byte("4"), TTL: time.Minute},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !got[0] || !got[1] || !got[2] || got[3] {
		t.Fatalf("CompareAndSet = %v, want [true true true false]", got)
	}
	after := srv.CommandStats(t)
	// Four SET NX, then the script for the two whose SET NX found the key taken; the
	// script's own SET, for "empty", is counted as a SET call too.
	if sets, evals := after["set"].Calls-before["set"].Calls, after["eval"].Calls-before["eval"].Calls; sets != 5 || evals != 2 {
		t.Fatalf("%d SET and %d EVAL calls, want 5 and 2", sets, evals)
	}
	if v := srv.Do(t, "GET", "taken"); v != "v" {
		t.Fatalf("taken = %v, want it untouched", v)
	}
}
