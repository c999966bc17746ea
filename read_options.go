package accelerator

// ReadOption changes one read ([Cache.Get], [Cache.MGet]). Pass them as trailing
// arguments: c.Get(ctx, key, accelerator.DisableLoad()).
type ReadOption struct {
	flags readFlags
}

type readFlags uint8

const (
	flagAllowStale readFlags = 1 << iota
	flagDisableLoad
)

// AllowStale lets a read return a stale copy, kept past its expiry by the stale window,
// when the loader fails or times out, instead of the loader's error.
//
// NOTE: stale copies are kept only when the cache is configured with a stale window;
// until then AllowStale changes nothing.
func AllowStale() ReadOption { return ReadOption{flags: flagAllowStale} }

// DisableLoad makes a strict cache-only read: a miss in every layer returns not found
// without calling the loader.
func DisableLoad() ReadOption { return ReadOption{flags: flagDisableLoad} }

func readFlagsOf(opts []ReadOption) readFlags {
	var f readFlags
	for _, o := range opts {
		f |= o.flags
	}
	return f
}
