package accelerator

import "time"

// WriteOption changes one write ([Cache.Set], [Cache.MSet]). Pass them as trailing
// arguments: c.Set(ctx, key, value, accelerator.WithTags("user:42")).
type WriteOption struct {
	tags []string
	ttl  time.Duration
}

// WithTags attaches tags to the entries written: [Cache.InvalidateTag] of any of them
// makes those entries a miss on every instance.
func WithTags(tags ...string) WriteOption { return WriteOption{tags: tags} }

// WithTTL makes the entries written stay fresh for ttl, as the TTL of a [Loaded]
// does: in place of [Options.RemoteTTL] and, in ModeLocal, of [Options.LocalTTL] (with
// a remote layer, L1 keeps them for the shorter of ttl and LocalTTL), kept within
// [Options.MinLoaderTTL] and [Options.MaxLoaderTTL].
func WithTTL(ttl time.Duration) WriteOption { return WriteOption{ttl: ttl} }

// writeSettings is what the options of one write add up to.
type writeSettings struct {
	tags []string
	ttl  time.Duration
}

func writeSettingsOf(opts []WriteOption) writeSettings {
	var s writeSettings
	for _, o := range opts {
		s.tags = append(s.tags, o.tags...)
		if o.ttl != 0 {
			s.ttl = o.ttl
		}
	}
	return s
}
