package backendtest_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/backendtest"
)

// casBug names a deliberate contract violation of the reference CompareAndSetter.
type casBug string

const (
	casNoBug            casBug = ""
	casIgnoresExpect    casBug = "ignores-expect"
	casAbsentAlwaysSet  casBug = "absent-always-set"
	casEmptyIsWildcard  casBug = "empty-expect-is-wildcard"
	casResultsReversed  casBug = "results-reversed"
	casNotAtomic        casBug = "not-atomic"
	casKeepsTTL         casBug = "keeps-ttl"
	casRetainsValue     casBug = "retains-value"
	casIgnoresCtx       casBug = "ignores-ctx"
	casWritesOnMismatch casBug = "writes-on-mismatch-reports-false"
)

// memCAS is the reference CompareAndSetter over a memRemote: the suite must pass
// against it and fail against each of its bugs.
type memCAS struct {
	r   *memRemote
	bug casBug
}

func (c *memCAS) CompareAndSet(ctx context.Context, items []backend.CASItem) ([]bool, error) {
	if c.bug != casIgnoresCtx {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	done := make([]bool, len(items))
	for i, it := range items {
		done[i] = c.one(it)
	}
	if c.bug == casResultsReversed {
		slices.Reverse(done)
	}
	return done, nil
}

func (c *memCAS) one(it backend.CASItem) bool {
	c.r.mu.Lock()
	cur, ok := c.r.m[it.Key]
	if ok && time.Now().After(cur.exp) {
		ok = false
	}
	if c.bug == casNotAtomic {
		// Checks and writes in two steps, another writer may come in between.
		c.r.mu.Unlock()
		time.Sleep(time.Millisecond)
		c.r.mu.Lock()
	}
	defer c.r.mu.Unlock()
	var match bool
	switch {
	case c.bug == casIgnoresExpect:
		match = true
	case !ok:
		match = it.Expect == "" || c.bug == casAbsentAlwaysSet
	default:
		h := sha1.Sum(cur.v)
		match = hex.EncodeToString(h[:]) == it.Expect || (it.Expect == "" && c.bug == casEmptyIsWildcard)
	}
	if !match && c.bug != casWritesOnMismatch {
		return false
	}
	v := it.Value
	if c.bug != casRetainsValue {
		v = bytes.Clone(v)
	}
	exp := time.Now().Add(it.TTL)
	if ok && c.bug == casKeepsTTL {
		exp = cur.exp
	}
	c.r.m[it.Key] = memValue{v: v, exp: exp}
	return match
}

func TestReferenceCompareAndSetter(t *testing.T) {
	t.Parallel()
	r := newMemRemote(noBug)
	cas := &memCAS{r: r}
	backendtest.TestCompareAndSetter(t, func(*testing.T) (backend.CompareAndSetter, backend.Remote) { return cas, r })
}

// envCASBug selects the broken CompareAndSetter that TestBrokenCompareAndSetter runs
// the suite against.
const envCASBug = "BACKENDTEST_CAS_BUG"

// TestBrokenCompareAndSetter runs the suite against a broken CompareAndSetter when
// envCASBug names one; it is meant to fail, and runs only in the child processes of
// TestCASSuiteCatchesBugs.
func TestBrokenCompareAndSetter(t *testing.T) {
	b := casBug(os.Getenv(envCASBug))
	if b == casNoBug {
		t.Skip("runs only as a child of TestCASSuiteCatchesBugs")
	}
	backendtest.TestCompareAndSetter(t, func(*testing.T) (backend.CompareAndSetter, backend.Remote) {
		r := newMemRemote(noBug)
		return &memCAS{r: r, bug: b}, r
	})
}

// TestCASSuiteCatchesBugs checks that the CompareAndSetter suite's assertions can
// fail: each broken backend must fail the subtest that covers its bug.
func TestCASSuiteCatchesBugs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		bug     casBug
		subtest string
	}{
		{casIgnoresExpect, "MismatchSkips"},
		{casAbsentAlwaysSet, "AbsentExpectValueSkips"},
		{casEmptyIsWildcard, "PresentExpectEmptySkips"},
		{casResultsReversed, "BatchInOrder"},
		{casNotAtomic, "OneWinner"},
		{casKeepsTTL, "MatchWritesWithTTL"},
		{casRetainsValue, "ValueNotRetained"},
		{casIgnoresCtx, "ContextDone"},
		{casWritesOnMismatch, "MismatchSkips"},
	}
	for _, tt := range tests {
		t.Run(string(tt.bug), func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenCompareAndSetter$/^"+tt.subtest+"$", "-test.v")
			cmd.Env = append(os.Environ(), envCASBug+"="+string(tt.bug))
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("suite passed against a CompareAndSetter with bug %s (err %v); output:\n%s", tt.bug, err, out)
			}
			if want := "--- FAIL: TestBrokenCompareAndSetter/" + tt.subtest; !strings.Contains(string(out), want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		})
	}
}
