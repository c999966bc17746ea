package redistest

import (
	"net/url"
	"strconv"
	"testing"
	"time"
)

// StartReplica starts a redis-server like [Start] that replicates master
// (--replicaof, and --masterauth when master has a password), and waits until its
// link to master is up and the initial synchronisation is done. It is killed when the
// test ends.
//
// It sets master's repl-diskless-sync-delay to 0 first, so that the synchronisation
// starts at once instead of after the default five seconds.
//
// opts apply to the replica; give it the master's password with [WithPassword] too if
// it may be promoted and clients must keep authenticating the same way.
func StartReplica(t testing.TB, master *Server, opts ...Option) *Server {
	t.Helper()
	master.Do(t, "CONFIG", "SET", "repl-diskless-sync-delay", "0")
	args := []string{"--replicaof", "127.0.0.1", strconv.Itoa(master.Port())}
	if master.password != "" {
		args = append(args, "--masterauth", master.password)
	}
	s := Start(t, append([]Option{WithArgs(args...)}, opts...)...)
	deadline := time.Now().Add(startTimeout)
	for {
		info := s.Info(t, "replication")
		if info["role"] == "slave" && info["master_link_status"] == "up" && info["master_sync_in_progress"] == "0" {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: replica %s of %s not in sync after %v: %v", s.Addr(), master.Addr(), startTimeout, info)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Role returns the server's replication role, "master" or "slave", from INFO
// replication.
func (s *Server) Role(t testing.TB) string {
	t.Helper()
	return s.Info(t, "replication")["role"]
}

// UserURL returns a redis:// URL for the server that authenticates as the ACL user
// user with password, such as "redis://app:pw@127.0.0.1:port".
func (s *Server) UserURL(user, password string) string {
	u := url.URL{Scheme: "redis", Host: s.Addr(), User: url.UserPassword(user, password)}
	return u.String()
}
