//go:build !race

package benchmarks

// raceEnabled reports whether the test binary was built with -race, under which
// sync.Pool drops items at random and allocation counts mean nothing.
const raceEnabled = false
