// Package markscript holds the Lua scripts of the invalidation marks (tags and Clear,
// see docs/tags.md), shared by the Redis backends so that both run the very same
// scripts.
//
// An area keeps, in keys that share one Redis Cluster hash slot, a logical clock and
// marks: the clock only goes up, and every mark is a value the clock once had. Values
// are decimal integers below 2^53, which Lua's numbers hold exactly.
//
// Both scripts take KEYS[1] = the clock, KEYS[2] = the reset mark (the area's clear
// mark), KEYS[3...] = marks, and ARGV[1] = the TTL of a mark they write, in
// milliseconds. Whenever a script finds the clock absent (the area is new, or Redis
// lost its keys: a FLUSHALL, a restart without persistence, a failover that lost the
// last writes), it creates it at the server's time in microseconds and raises the
// reset mark to it: every entry stamped before is then a miss, which is what keeps a
// lost mark from bringing an invalidated entry back. Starting from the server's time,
// the new clock is also above any value the lost one had handed out, unless it ran
// ahead of the time by more than the outage (a million raises a second).
//
// A mark that a script raises is written again with the TTL of ARGV[1], counted from
// then; the clock has no TTL. The scripts use GET, SET and TIME only.
package markscript

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/internal/slot"
)

// common is the part both scripts share: the time, the raising of a mark, and the
// creation of the clock.
const common = `
local ttl = tonumber(ARGV[1])
local function fmt(n) return string.format('%.0f', n) end
local function now()
  local t = redis.call('TIME')
  return math.max(1, tonumber(t[1]) * 1000000 + tonumber(t[2]))
end
local function raise(k, g)
  local v = tonumber(redis.call('GET', k) or '0') or 0
  redis.call('SET', k, fmt(math.max(v, g)), 'PX', ttl)
end
local c = tonumber(redis.call('GET', KEYS[1]) or '')
`

// Read returns the clock and the value of each mark of KEYS[3...], in order (0 for an
// absent mark, the raw bytes of a mark that is not a number), creating the clock first
// when it is absent (or not a number). The caller includes the reset mark among the
// marks it reads when it needs it.
const Read = common + `
if not c then
  c = now()
  redis.call('SET', KEYS[1], fmt(c))
  raise(KEYS[2], c)
end
local out = {fmt(c)}
for i = 3, #KEYS do
  out[#out + 1] = redis.call('GET', KEYS[i]) or '0'
end
return out
`

// Raise moves the clock to g = max(clock + 1, the server's time in microseconds,
// ARGV[2] + 1), raises every mark of KEYS[3...] to at least g (and the reset mark,
// when the clock had to be created), and returns g. ARGV[2] is a floor: the highest
// clock value the caller knows, so that a clock that went back (a Redis restored from
// an older snapshot) is moved past what the instances stamped with.
const Raise = common + `
local g = math.max(now(), (tonumber(ARGV[2]) or 0) + 1)
if c then
  g = math.max(g, c + 1)
else
  raise(KEYS[2], g)
end
redis.call('SET', KEYS[1], fmt(g))
for i = 3, #KEYS do
  raise(KEYS[i], g)
end
return fmt(g)
`

// Keys returns the KEYS of a script call for m: the clock, the reset mark, then m.Keys.
func Keys(m backend.Marks) []string {
	keys := make([]string, 0, 2+len(m.Keys))
	return append(append(keys, m.Clock, m.Reset), m.Keys...)
}

// TTLArg returns ARGV[1] for m: its TTL in milliseconds, rounded up, at least one.
func TTLArg(m backend.Marks) string {
	ms := int64((m.TTL + time.Millisecond - 1) / time.Millisecond)
	return strconv.FormatInt(max(ms, 1), 10)
}

// MaxValue is the highest value the scripts compute exactly (2^53, the integers a Lua
// number holds); FloorArg clamps a floor to it.
const MaxValue = 1 << 53

// FloorArg returns ARGV[2] of Raise for m.
func FloorArg(m backend.Marks) string {
	return strconv.FormatUint(min(m.Floor, MaxValue-2), 10)
}

// ErrCrossSlot reports a call whose keys do not share one Redis Cluster hash slot.
var ErrCrossSlot = errors.New("markscript: the keys of the marks are in different hash slots (a KeyPrefix or Area whose first '{' is followed by '}')")

// SameSlot returns ErrCrossSlot unless every key hashes to the slot of the first.
func SameSlot(keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	s := slot.Of(keys[0])
	for _, k := range keys[1:] {
		if slot.Of(k) != s {
			return ErrCrossSlot
		}
	}
	return nil
}

// ParseValue parses one value a script returned.
func ParseValue(s string) (uint64, error) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("markscript: a mark holds %q, not a number", truncate(s))
	}
	return v, nil
}

// ParseRead parses what Read returned: the clock, then the marks.
func ParseRead(vals []string, marks int) (uint64, []uint64, error) {
	if len(vals) != 1+marks {
		return 0, nil, fmt.Errorf("markscript: read returned %d values for %d marks", len(vals), marks)
	}
	clock, err := ParseValue(vals[0])
	if err != nil {
		return 0, nil, err
	}
	out := make([]uint64, marks)
	for i, v := range vals[1:] {
		if out[i], err = ParseValue(v); err != nil {
			return 0, nil, err
		}
	}
	return clock, out, nil
}

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
