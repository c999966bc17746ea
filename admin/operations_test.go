package admin_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/admin"
	"github.com/accelerator-go/accelerator/metrics"
)

// TestOperationsNamesOnlyRealMetrics keeps the runbook honest: every metric it names
// exists, with the labels it uses, and every diagnostic field it points at is in the
// diagnostics document.
func TestOperationsNamesOnlyRealMetrics(t *testing.T) {
	raw, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	descs := make(map[string]metrics.Desc)
	for _, d := range metrics.All() {
		descs[d.Name] = d
	}
	uses := regexp.MustCompile(`(accelerator_cache_[a-z_]+)(\{([^}]*)\})?`).FindAllStringSubmatch(doc, -1)
	named := make(map[string]bool)
	for _, u := range uses {
		d, ok := descs[u[1]]
		if !ok {
			t.Errorf("docs/operations.md names %s, which does not exist", u[1])
			continue
		}
		named[u[1]] = true
		for m := range strings.SplitSeq(u[3], ",") {
			label := strings.TrimSpace(regexp.MustCompile(`[!=~]`).Split(m, 2)[0])
			if label != "" && label != "area" && !slices.Contains(d.Labels, label) {
				t.Errorf("docs/operations.md uses the label %q of %s, which has %v", label, u[1], d.Labels)
			}
		}
	}
	if len(named) < 15 {
		t.Errorf("the runbook names only %d metrics", len(named))
	}

	// The diagnostic fields, as the runbook writes them: `remote.state`, `config.x`.
	c, err := accelerator.New(accelerator.Options[string, string]{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st := c.Status()
	st.RemoteBackend, st.RemoteProbe = "*x.Remote", &accelerator.RemoteProbe{At: time.Now()}
	st.Subscriber = accelerator.SubscriberState{Enabled: true, Flushes: map[string]uint64{}}
	js, err := json.Marshal(admin.Diagnose(st))
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(js, &fields); err != nil {
		t.Fatal(err)
	}
	paths := regexp.MustCompile("`((?:config|remote|invalidation|loads|local|last_errors)(?:\\.[a-z_]+)*)`").FindAllStringSubmatch(doc, -1)
	for _, p := range paths {
		var v any = fields
		for part := range strings.SplitSeq(p[1], ".") {
			m, ok := v.(map[string]any)
			if !ok {
				v = nil
				break
			}
			if v, ok = m[part]; !ok {
				break
			}
		}
		if v == nil && p[1] != "last_errors" {
			t.Errorf("docs/operations.md points at the diagnostic field %s, which does not exist", p[1])
		}
	}
	if len(paths) < 10 {
		t.Errorf("the runbook points at only %d diagnostic fields", len(paths))
	}

	for _, section := range []string{"hit ratio is falling", "Load storms", "breaker is open", "subscriber flaps",
		"Decode errors", "ErrNotBroadcast", "L1 is full", "Redis memory", "hot key", "Slow loads",
		"Capacity planning", "codec or envelope change", "Changing a key prefix"} {
		if !strings.Contains(doc, "## "+section) && !strings.Contains(doc, "### "+section) &&
			!regexp.MustCompile(`(?m)^#+ .*`+regexp.QuoteMeta(section)).MatchString(doc) {
			t.Errorf("docs/operations.md has no section on %q", section)
		}
	}
}
