package accelerator_test

import (
	"strings"
	"testing"

	"github.com/accelerator-go/accelerator"
)

// TestServerAssistedInvalidationNeedsBroadcastAndATracker pins the validation of
// Options.ServerAssistedInvalidation: it adds to BroadcastInvalidation, and needs a
// Remote that implements backend.Tracker.
func TestServerAssistedInvalidationNeedsBroadcastAndATracker(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts accelerator.Options[string, string]
		want string
	}{
		{"without broadcast", accelerator.Options[string, string]{Remote: nopRemote{}, ServerAssistedInvalidation: true}, "requires BroadcastInvalidation"},
		{"without a tracker", accelerator.Options[string, string]{Remote: nopRemote{}, ServerAssistedInvalidation: true}, "backend.Tracker"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := accelerator.New(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}
