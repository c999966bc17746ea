// Package benchmarks measures accelerator side by side with the other Go
// multi-level caches (jetcache-go, eko/gocache, go-redis/cache, sturdyc) and with
// the raw floors (a bare otter Get, a bare GET or MGET plus decode on rueidis and on
// go-redis, a map lookup plus decode for the in-memory L2), on the same workloads.
//
// It is a module of its own so that the competitors never enter the core's go.mod.
// The benchmarks are in the test files. scripts/bench.sh compiles them once and runs
// every contender of a workload in a process of its own, round after round with the
// order rotated, and cmd/benchreport turns the rounds into the tables of
// docs/performance.md. TestDeterministicGate checks the figures that noise cannot
// fake (allocations, Redis round trips and instructions per operation) against
// baseline.json; TestSmoke runs every workload once. docs/performance.md explains the
// workloads, the figures and the gate.
package benchmarks
