package main

import (
	"strings"
	"testing"

	"github.com/accelerator-go/accelerator/internal/redistest"
)

// TestRun: the demo runs against a password-protected Redis; a wrong password is an
// authentication error (main exits 1) and an unreachable Redis is not; no output or
// error shows the password.
func TestRun(t *testing.T) {
	const secret = "TWOLEVELSECRET"
	s := redistest.Start(t, redistest.WithPassword(secret))
	check := func(what, text string) {
		t.Helper()
		if strings.Contains(text, secret) || strings.Contains(text, "WRONGSECRET") {
			t.Errorf("%s shows the password: %q", what, text)
		}
	}

	var out strings.Builder
	if err := run(&out, "redis://:"+secret+"@"+s.Addr()); err != nil {
		t.Fatalf("run with the right password = %v", err)
	}
	if !strings.Contains(out.String(), "source queries=1") {
		t.Errorf("output = %q, want one source query", out.String())
	}
	check("output", out.String())

	out.Reset()
	err := run(&out, "redis://:WRONGSECRET@"+s.Addr())
	if err == nil || !strings.Contains(err.Error(), "authentication failed") || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Errorf("run with a wrong password = %v, want an authentication error", err)
	} else {
		check("error", err.Error())
	}
	check("output", out.String())

	out.Reset()
	if err := run(&out, "redis://:"+secret+"@127.0.0.1:1?dial_timeout=200ms"); err != nil {
		t.Errorf("run with nobody listening = %v, want nil (nothing to do)", err)
	}
	if !strings.Contains(out.String(), "unreachable") {
		t.Errorf("output = %q, want it to say Redis is unreachable", out.String())
	}
	check("output", out.String())

	out.Reset()
	err = run(&out, "redis://:"+secret+"@127.0.0.1:notaport")
	if err == nil {
		t.Error("run with a malformed URL succeeded")
	} else {
		check("error", err.Error())
	}
}
