package accelerator

// Clock is a source of time for a cache, in nanoseconds since the Unix epoch (see
// [Options.Clock]). It must be safe for concurrent use, cheap (an L1 hit reads it),
// and never go backwards.
type Clock interface {
	NowNano() int64
}
