// Package casscript holds the Lua script of the compare-and-set fills, shared by the
// Redis backends so that both run the very same script.
package casscript

// Source writes ARGV[2] with a TTL of ARGV[3] milliseconds at KEYS[1] if the key holds
// a value whose SHA-1 (lowercase hex) is ARGV[1], or is absent (or holds the empty
// value, which the cache never writes and its bounded reads cannot tell from an
// absent key) and ARGV[1] is empty; it returns 1 when it wrote, 0 otherwise. It touches one key, so it runs on any node
// of a cluster.
const Source = `
local v = redis.call('GET', KEYS[1])
if v and v ~= '' then
  if redis.sha1hex(v) ~= ARGV[1] then return 0 end
elseif ARGV[1] ~= '' then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`
