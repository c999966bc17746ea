package redistest

import (
	"fmt"
	"testing"
)

// ACLLogEntry is one entry of ACL LOG: a command, key or channel the server refused
// to an ACL user, or a failed authentication.
type ACLLogEntry struct {
	// Reason is "command", "key", "channel" or "auth".
	Reason string
	// Object is the refused command (such as "flushall" or "client|setinfo"), key or
	// channel.
	Object string
	// Username is the user that was refused.
	Username string
	// Count is how many times the same refusal happened.
	Count int64
}

// String returns the entry as "user: reason object (×count)".
func (e ACLLogEntry) String() string {
	return fmt.Sprintf("%s: %s %s (×%d)", e.Username, e.Reason, e.Object, e.Count)
}

// ACLLog returns the server's ACL LOG, newest first: every refusal since the server
// started or since [Server.ResetACLLog]. Refusals of commands whose errors the
// client ignores (rueidis ignores a refused CLIENT SETINFO, for instance) show up
// here too.
func (s *Server) ACLLog(t testing.TB) []ACLLogEntry {
	t.Helper()
	entries, _ := s.Do(t, "ACL", "LOG").([]any)
	out := make([]ACLLogEntry, 0, len(entries))
	for _, e := range entries {
		fields, _ := e.([]any)
		var entry ACLLogEntry
		for i := 0; i+1 < len(fields); i += 2 {
			name, _ := fields[i].(string)
			switch name {
			case "reason":
				entry.Reason, _ = fields[i+1].(string)
			case "object":
				entry.Object, _ = fields[i+1].(string)
			case "username":
				entry.Username, _ = fields[i+1].(string)
			case "count":
				entry.Count, _ = fields[i+1].(int64)
			}
		}
		out = append(out, entry)
	}
	return out
}

// ResetACLLog empties the server's ACL LOG.
func (s *Server) ResetACLLog(t testing.TB) {
	t.Helper()
	s.Do(t, "ACL", "LOG", "RESET")
}
