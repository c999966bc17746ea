package backendtest_test

import (
	"os"
	"testing"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/backendtest"
	"github.com/accelerator-go/accelerator/rueidisremote"
)

// A backend's own test runs the suite against a real server. Here the Remote is the
// default rueidis backend, connected to the server named by REDIS_URL; one Remote
// serves every subtest, since the suite keeps their keys apart.
func ExampleTestRemote() {
	testConformance := func(t *testing.T) {
		r, err := rueidisremote.NewFromURL(os.Getenv("REDIS_URL"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Close)
		backendtest.TestRemote(t, func(*testing.T) backend.Remote { return r })
		backendtest.TestPubSub(t, func(*testing.T) backend.PubSub { return r })
	}
	_ = testConformance // in a _test.go file: func TestConformance(t *testing.T) { ... }
}

// A Local backend is tested with a new, empty instance per subtest.
func ExampleTestLocal() {
	testConformance := func(t *testing.T) {
		backendtest.TestLocal(t, func(*testing.T) backend.Local[string, string] {
			return newMapLocal(noBug) // your backend, for example local.New[string, string](...)
		})
	}
	_ = testConformance
}
