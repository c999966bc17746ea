package rueidisremote_test

import (
	"testing"

	"github.com/redis/rueidis"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/backendtest"
	"github.com/accelerator-go/accelerator/internal/redistest"
	"github.com/accelerator-go/accelerator/rueidisremote"
)

// TestCompareAndSetterConformance runs the backendtest suites for
// backend.CompareAndSetter and backend.Leaser on a standalone server, over RESP3 and
// RESP2, and on a 3-master cluster, where a batch spans every node.
func TestCompareAndSetterConformance(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		remote func(t *testing.T) *rueidisremote.Remote
	}{
		{"standalone", func(t *testing.T) *rueidisremote.Remote { return newRemote(t, redistest.Start(t).URL()) }},
		{"standalone RESP2", func(t *testing.T) *rueidisremote.Remote {
			return newRemote(t, redistest.Start(t).URL()+"?protocol=2")
		}},
		{"cluster", func(t *testing.T) *rueidisremote.Remote {
			r := newClusterRemote(t, redistest.StartCluster(t, 3))
			if got := r.Client().Mode(); got != rueidis.ClientModeCluster {
				t.Fatalf("Mode() = %v, want cluster", got)
			}
			return r
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := tt.remote(t)
			backendtest.TestCompareAndSetter(t, func(*testing.T) (backend.CompareAndSetter, backend.Remote) { return r, r })
			t.Run("Leaser", func(t *testing.T) {
				backendtest.TestLeaser(t, func(*testing.T) (backend.Leaser, backend.Remote) { return r, r })
			})
		})
	}
}
