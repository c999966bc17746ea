// Package casscript holds the Lua scripts of the compare-and-set fills and of the load
// lease, shared by the Redis backends so that both run the very same scripts.
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

// ReleaseSource deletes KEYS[1] if it holds ARGV[1] (a lease token), and returns 1
// when it did, 0 otherwise: a lease is released only by its holder, never once it
// expired and another instance took it. It touches one key.
const ReleaseSource = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`
