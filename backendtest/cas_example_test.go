package backendtest_test

import (
	"os"
	"testing"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/backendtest"
	"github.com/accelerator-go/accelerator/rueidisremote"
)

// A backend that implements backend.CompareAndSetter returns itself twice: the suite
// prepares and checks keys through its Remote side.
func ExampleTestCompareAndSetter() {
	testConformance := func(t *testing.T) {
		r, err := rueidisremote.NewFromURL(os.Getenv("REDIS_URL"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Close)
		backendtest.TestCompareAndSetter(t, func(*testing.T) (backend.CompareAndSetter, backend.Remote) {
			return r, r
		})
	}
	_ = testConformance // in a _test.go file: func TestConformance(t *testing.T) { ... }
}
