package backendtest

import (
	"bytes"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator/backend"
)

// TestBoundedReader runs the conformance suite of [backend.BoundedReader] against the
// backend that newRemote returns: values up to the limit come back whole, longer ones
// cut to their first limit+1 bytes, absent keys as nil, in order in a batch; a limit
// that is not positive is an error.
func TestBoundedReader(t *testing.T, newRemote func(t *testing.T) backend.Remote) {
	t.Run("cut", func(t *testing.T) {
		r := newRemote(t)
		br, ok := r.(backend.BoundedReader)
		if !ok {
			t.Fatalf("%T does not implement backend.BoundedReader", r)
		}
		ctx, p := testContext(t), prefix(t)
		long := bytes.Repeat([]byte("0123456789"), 100)
		short := []byte("short")
		for _, it := range []backend.Item{{Key: p + "long", Value: long, TTL: time.Minute}, {Key: p + "short", Value: short, TTL: time.Minute}} {
			if err := r.Set(ctx, it.Key, it.Value, it.TTL); err != nil {
				t.Fatalf("Set = %v", err)
			}
		}
		for _, tt := range []struct {
			key   string
			limit int
			want  []byte
		}{
			{p + "long", 10, long[:11]},
			{p + "long", len(long) - 1, long},
			{p + "long", len(long), long},
			{p + "long", 1 << 30, long},
			{p + "short", 5, short},
			{p + "short", 4, short},
			{p + "short", 1, short[:2]},
			{p + "absent", 10, nil},
		} {
			got, err := br.GetBounded(ctx, tt.key, tt.limit)
			if err != nil || !bytes.Equal(got, tt.want) || (tt.want == nil) != (got == nil) {
				t.Errorf("GetBounded(%d) = %q, %v; want %q", tt.limit, got, err, tt.want)
			}
		}
		got, err := br.MGetBounded(ctx, []string{p + "short", p + "absent", p + "long", p + "short"}, 10)
		want := [][]byte{short, nil, long[:11], short}
		if err != nil || len(got) != len(want) {
			t.Fatalf("MGetBounded = %d values, %v; want %d", len(got), err, len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) || (want[i] == nil) != (got[i] == nil) {
				t.Errorf("MGetBounded[%d] = %q, want %q", i, got[i], want[i])
			}
		}
		if got, err := br.MGetBounded(ctx, nil, 10); err != nil || len(got) != 0 {
			t.Errorf("MGetBounded(no keys) = %v, %v", got, err)
		}
		if _, err := br.GetBounded(ctx, p+"long", 0); err == nil {
			t.Error("GetBounded with limit 0 succeeded")
		}
		if _, err := br.MGetBounded(ctx, []string{p + "long"}, -1); err == nil {
			t.Error("MGetBounded with limit -1 succeeded")
		}
	})
}
