// Package browsertest tests the dashboard of package admin in a real browser: a
// headless Chromium, driven through the DevTools protocol by chromedp, loads the
// page against running caches (on a redis-server the test starts) and checks what it
// shows. It is a module of its own so
// that the core does not depend on chromedp.
//
// Run go test -update in this directory to rewrite docs/img/dashboard.png, the
// screenshot the README shows.
package browsertest
