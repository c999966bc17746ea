package browsertest

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/admin"
	"github.com/accelerator-go/accelerator/rueidisremote"
)

var update = flag.Bool("update", false, "rewrite docs/img/dashboard.png")

const screenshotPath = "../../docs/img/dashboard.png"

// chromium returns the path of a Chromium, or skips the test (fails it with
// ACCELERATOR_REQUIRE_INTEGRATION=1).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("ACCELERATOR_REQUIRE_INTEGRATION") == "1" {
		t.Fatal("chromium not found, and ACCELERATOR_REQUIRE_INTEGRATION=1 (apt-get install chromium)")
	}
	t.Skip("chromium not found; install the Debian package chromium")
	return ""
}

// redisServer starts a redis-server of its own on a free loopback port and returns
// its URL, or skips the test (fails it with ACCELERATOR_REQUIRE_INTEGRATION=1).
func redisServer(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("ACCELERATOR_REQUIRE_INTEGRATION") == "1" {
			t.Fatal("redis-server not found, and ACCELERATOR_REQUIRE_INTEGRATION=1")
		}
		t.Skip("redis-server not found")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return "redis://" + addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server did not listen on %s: %v", addr, err)
		}
	}
}

// browser starts a headless Chromium with a fresh profile and no network of its
// own, and returns a tab.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromium(t)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.WindowSize(1200, 900),
	)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	// A busy machine may take long to start the browser; nothing here waits longer.
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancelTimeout)
	return ctx
}

// pollSignal wraps h and signals every request of caches.json, so that the test can
// move in step with the page's polls instead of sleeping.
func pollSignal(h http.Handler) (http.Handler, <-chan struct{}) {
	polls := make(chan struct{}, 64)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		if strings.HasSuffix(r.URL.Path, "/caches.json") && r.Header.Get("X-Test") == "" {
			select {
			case polls <- struct{}{}:
			default:
			}
		}
	}), polls
}

func waitPoll(t *testing.T, polls <-chan struct{}) {
	t.Helper()
	select {
	case <-polls:
	case <-time.After(time.Minute):
		t.Fatal("the page stopped polling caches.json")
	}
}

// shown is one number on the page: the element's data-path in the JSON view of its
// cache, and its text.
type shown struct {
	Area string `json:"area"`
	Path string `json:"path"`
	Text string `json:"text"`
}

const readShown = `Array.from(document.querySelectorAll('section.cache [data-path]')).map(e => ({
	area: e.closest('section.cache').dataset.area, path: e.dataset.path, text: e.textContent }))`

// TestDashboardShowsWhatTheJSONSays loads the dashboard in Chromium against two
// caches on a real Redis under a changing load, waits until a load shows, and checks that every
// number the page shows equals the JSON view's.
func TestDashboardShowsWhatTheJSONSays(t *testing.T) {
	ctx := browser(t)
	url := redisServer(t)
	remote := func() *rueidisremote.Remote {
		r, err := rueidisremote.NewFromURL(url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Close)
		return r
	}
	users, err := accelerator.New(accelerator.Options[int, string]{
		Area: "users", Remote: remote(), BroadcastInvalidation: true, LocalMaxEntries: 64,
		Loader: accelerator.LoaderFunc[int, string](func(_ context.Context, id int) (string, bool, error) {
			if id%97 == 0 {
				return "", false, fmt.Errorf("database timeout")
			}
			return "user " + strconv.Itoa(id), id%13 != 0, nil
		}),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer users.Close()
	flags, err := accelerator.New(accelerator.Options[string, bool]{Area: "flags", LocalMaxEntries: 100, Remote: remote()})
	if err != nil {
		t.Fatal(err)
	}
	defer flags.Close()

	h, polls := pollSignal(admin.NewHandler(users, flags))
	mux := http.NewServeMux()
	mux.Handle("/debug/cache/", http.StripPrefix("/debug/cache", h))
	hs := httptest.NewServer(mux)
	defer hs.Close()

	if err := chromedp.Do(ctx, chromedp.Navigate(hs.URL+"/debug/cache/")); err != nil {
		t.Fatal(err)
	}
	// Between polls, a load whose hit ratio changes: the chart gets a line.
	bg := context.Background()
	for round := range 6 {
		waitPoll(t, polls)
		keys := 40 + 30*round
		for i := range 400 {
			users.Get(bg, i%keys)
		}
		flags.Set(bg, "flag-"+strconv.Itoa(round), true)
		for range 50 {
			flags.Get(bg, "flag-0")
		}
	}
	// The caches are idle now: once the page has drawn its next poll, it shows the
	// JSON's numbers, and rates over the last round.
	var got []shown
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		got, err = chromedp.Run(ctx, chromedp.Evaluate[[]shown](readShown))
		if err != nil {
			t.Fatal(err)
		}
		if pageShows(got, "users", "metrics.counters.loads", users.MetricsSnapshot().Loads) || time.Now().After(deadline) {
			break
		}
	}
	if !pageShows(got, "users", "metrics.counters.loads", users.MetricsSnapshot().Loads) || users.MetricsSnapshot().Loads == 0 {
		t.Fatalf("the page never showed the loads: %+v", got)
	}

	// The page has just drawn the last round: the screenshot shows rates.
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	out := screenshotPath
	if !*update {
		out = shotDir(t) + "/dashboard.png"
	}
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", out, len(png))

	// The caches are idle, but their subscriber keeps pinging Redis: on a busy machine
	// a late ping may move a number between the page's poll and the test's. A
	// difference must then be gone once the page has polled again; one that stays is a
	// failure.
	var diffs []string
	compared := 0
	for attempt := 0; ; attempt++ {
		diffs, compared = compare(got, fetchJSON(t, hs.URL+"/debug/cache/caches.json?probe=0"))
		if len(diffs) == 0 || attempt == 3 {
			break
		}
		t.Logf("attempt %d: %v", attempt, diffs)
		got = nextRender(ctx, t, polls)
	}
	for _, d := range diffs {
		t.Error(d)
	}
	if compared < 60 {
		t.Fatalf("only %d numbers compared", compared)
	}
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"users", "flags", "L1 hit ratio", "loads in flight", "Last error of each kind", "load"} {
		if !strings.Contains(strings.ToLower(text), strings.ToLower(want)) {
			t.Errorf("the page does not say %q", want)
		}
	}
	if strings.Contains(text, "database timeout") || strings.Contains(text, "user 1") {
		t.Error("the page shows an error text or a value")
	}
	lines, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('section.cache svg.chart path').length`))
	if err != nil || lines == 0 {
		t.Fatalf("no line on the charts (%v)", err)
	}

	// On a phone-width screen the page does not scroll sideways.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile)); err != nil {
		t.Fatal(err)
	}
	width, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	if err != nil {
		t.Fatal(err)
	}
	if width > 390 {
		t.Errorf("at 390 px the page is %d px wide", width)
	}
	phone, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	phonePath := shotDir(t) + "/dashboard-phone.png"
	if err := os.WriteFile(phonePath, phone, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("phone-width screenshot: %s", phonePath)
}

// shotDir is where the screenshots go: ACCELERATOR_SCREENSHOT_DIR (for CI to keep
// them), or a directory the test removes.
func shotDir(t *testing.T) string {
	if d := os.Getenv("ACCELERATOR_SCREENSHOT_DIR"); d != "" {
		return d
	}
	return t.TempDir()
}

// compare returns the numbers of the page that differ from the JSON view's, and how
// many it compared.
func compare(got []shown, doc map[string]any) (diffs []string, compared int) {
	for _, s := range got {
		want, ok := lookup(doc, s.Area, s.Path)
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s %s: shown as %q, not in the JSON view", s.Area, s.Path, s.Text))
		case s.Text != want:
			diffs = append(diffs, fmt.Sprintf("%s %s: page shows %q, JSON says %s", s.Area, s.Path, s.Text, want))
		default:
			compared++
		}
	}
	return diffs, compared
}

// nextRender waits for the page's next poll and for the page to draw it, and returns
// the numbers it shows.
func nextRender(ctx context.Context, t *testing.T, polls <-chan struct{}) []shown {
	t.Helper()
	const status = `document.getElementById('status').textContent`
	before, err := chromedp.Run(ctx, chromedp.Evaluate[string](status))
	if err != nil {
		t.Fatal(err)
	}
	waitPoll(t, polls)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		now, err := chromedp.Run(ctx, chromedp.Evaluate[string](status))
		if err != nil {
			t.Fatal(err)
		}
		if now != before {
			break
		}
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[[]shown](readShown))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func pageShows(got []shown, area, path string, v uint64) bool {
	for _, s := range got {
		if s.Area == area && s.Path == path {
			return s.Text == strconv.FormatUint(v, 10)
		}
	}
	return false
}

func fetchJSON(t *testing.T, url string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("X-Test", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// lookup returns the number at path ("metrics.counters.loads") in the view of the
// cache of area, as the page writes it.
func lookup(doc map[string]any, area, path string) (string, bool) {
	caches, _ := doc["caches"].([]any)
	for _, c := range caches {
		var v any = c
		if m, _ := c.(map[string]any); m["area"] != area {
			continue
		}
		for part := range strings.SplitSeq(path, ".") {
			switch x := v.(type) {
			case map[string]any:
				v = x[part]
			case []any:
				i, err := strconv.Atoi(part)
				if err != nil || i >= len(x) {
					return "", false
				}
				v = x[i]
			default:
				return "", false
			}
		}
		if n, ok := v.(float64); ok {
			return strconv.FormatFloat(n, 'f', -1, 64), true
		}
		return "", false
	}
	return "", false
}
