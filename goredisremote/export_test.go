package goredisremote

import "time"

// SetPingInterval sets how long a subscription of r may stay silent before Subscribe
// sends a PING, so that tests of a silent server do not wait for the default.
func SetPingInterval(r *Remote, d time.Duration) { r.pingInterval = d }
