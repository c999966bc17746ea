package rueidisremote_test

import (
	"testing"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/backendtest"
	"github.com/accelerator-go/accelerator/internal/redistest"
	"github.com/accelerator-go/accelerator/rueidisremote"
)

// TestMarkStoreConformance runs the backendtest suite for backend.MarkStore on a
// standalone server, over RESP3 and RESP2, and on a 3-master cluster.
func TestMarkStoreConformance(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		remote func(t *testing.T) *rueidisremote.Remote
	}{
		{"standalone", func(t *testing.T) *rueidisremote.Remote { return newRemote(t, redistest.Start(t).URL()) }},
		{"standalone RESP2", func(t *testing.T) *rueidisremote.Remote {
			return newRemote(t, redistest.Start(t).URL()+"?protocol=2")
		}},
		{"cluster", func(t *testing.T) *rueidisremote.Remote { return newClusterRemote(t, redistest.StartCluster(t, 3)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := tt.remote(t)
			backendtest.TestMarkStore(t, func(*testing.T) (backend.MarkStore, backend.Remote) { return r, r })
		})
	}
}
