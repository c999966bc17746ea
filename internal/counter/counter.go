// Package counter provides a striped counter: cheap to increment from many goroutines
// at once, read rarely.
package counter

import (
	"runtime"
	"sync/atomic"
	"unsafe"
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

// Add adds delta, to the stripe of the calling goroutine (see stripe).
func (c *Counter) Add(delta uint64) {
	c.cells[stripe()&c.mask].n.Add(delta)
}

// stripe picks a stripe for the calling goroutine from the address of its stack, as
// otter's read buffers do: it costs a multiplication, stays the same while the
// goroutine runs, and differs between goroutines that run at the same time (their
// stacks are apart), so that concurrent increments mostly touch different cache
// lines. A stack that grows moves, which only moves the goroutine to another stripe.
func stripe() uint32 {
	var x byte
	// The bits below the minimum stack size (2 KiB) depend on the call depth, not on
	// the goroutine; the multiplication carries the others into the high bits.
	h := uint64(uintptr(unsafe.Pointer(&x))>>11) * 0x9e3779b97f4a7c15
	return uint32(h >> 32)
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
