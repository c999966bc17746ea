package redistest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestStartReplica(t *testing.T) {
	t.Parallel()
	master := Start(t, WithPassword("pw"))
	master.Do(t, "SET", "before", "1")
	replica := StartReplica(t, master, WithPassword("pw"))
	if got := master.Role(t); got != "master" {
		t.Errorf("master role = %q", got)
	}
	if got := replica.Role(t); got != "slave" {
		t.Errorf("replica role = %q", got)
	}
	if got := replica.Do(t, "GET", "before"); got != "1" {
		t.Errorf("replica GET before = %#v, want the synchronised value", got)
	}
	master.Do(t, "SET", "after", "2")
	if got := master.Do(t, "WAIT", "1", "5000"); got != int64(1) {
		t.Fatalf("WAIT = %#v, want 1 replica", got)
	}
	if got := replica.Do(t, "GET", "after"); got != "2" {
		t.Errorf("replica GET after = %#v", got)
	}
	_, err := replica.Exec(context.Background(), "SET", "k", "v")
	var re ReplyError
	if !errors.As(err, &re) || !strings.HasPrefix(string(re), "READONLY") {
		t.Errorf("SET on the replica: %v, want READONLY", err)
	}
}

func TestACLLogAndUserURL(t *testing.T) {
	t.Parallel()
	s := Start(t)
	s.Do(t, "ACL", "SETUSER", "app", "on", ">p@ss:word", "~app:*", "+get")
	if got, want := s.UserURL("app", "p@ss:word"), "redis://app:p%40ss%3Aword@"+s.Addr(); got != want {
		t.Errorf("UserURL = %q, want %q", got, want)
	}
	app := &Server{port: s.port}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Each Exec is a connection of its own: only AUTH itself can be checked this way.
	if _, err := app.Exec(ctx, "AUTH", "app", "p@ss:word"); err != nil {
		t.Fatalf("AUTH app: %v", err)
	}
	if len(s.ACLLog(t)) != 0 {
		t.Fatalf("ACL LOG not empty at start: %v", s.ACLLog(t))
	}
	_, _ = app.Exec(ctx, "AUTH", "app", "wrong")
	log := s.ACLLog(t)
	if len(log) != 1 || log[0].Reason != "auth" || log[0].Username != "app" || log[0].Count != 1 {
		t.Errorf("ACL LOG = %v, want one failed auth of app", log)
	}
	s.ResetACLLog(t)
	if log := s.ACLLog(t); len(log) != 0 {
		t.Errorf("ACL LOG after reset = %v", log)
	}
}
