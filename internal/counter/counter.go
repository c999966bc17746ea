// Package counter provides a striped counter: cheap to increment from many goroutines
// at once, read rarely.
package counter

import (
	"math/rand/v2"
	"runtime"
	"sync/atomic"
)

const cacheLine = 64

type cell struct {
	n atomic.Uint64
	_ [cacheLine - 8]byte
}

// Counter is a monotonically increasing count spread over several cache lines, so that
// concurrent increments rarely touch the same one. The zero value is not usable: build
// it with [New].
type Counter struct {
	cells []cell
	mask  uint32
}

// New returns a counter with a number of stripes fit for this machine.
func New() *Counter {
	n := 1
	for n < 2*runtime.GOMAXPROCS(0) && n < 64 {
		n <<= 1
	}
	return &Counter{cells: make([]cell, n), mask: uint32(n - 1)}
}

// Add adds delta.
func (c *Counter) Add(delta uint64) {
	c.cells[rand.Uint32()&c.mask].n.Add(delta)
}

// Inc adds one.
func (c *Counter) Inc() { c.Add(1) }

// Load returns the sum of all stripes. It is not a consistent snapshot when increments
// race with it, but never misses an increment that happened before it started.
func (c *Counter) Load() uint64 {
	var sum uint64
	for i := range c.cells {
		sum += c.cells[i].n.Load()
	}
	return sum
}
