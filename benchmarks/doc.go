// Package benchmarks measures accelerator side by side with the other Go
// multi-level caches (jetcache-go, eko/gocache, go-redis/cache, sturdyc) and with
// the raw floors (a bare otter Get, a bare GET or MGET plus decode on rueidis and on
// go-redis), on the same workloads, in one run.
//
// It is a module of its own so that the competitors never enter the core's go.mod.
// The benchmarks are in the test files; scripts/bench.sh runs them against a private
// redis-server and turns the results into tables of ratios, and cmd/benchreport is
// the tool it uses for that. docs/performance.md explains the workloads and how to
// read the tables.
package benchmarks
