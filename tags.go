package accelerator

import (
	"context"
	"fmt"
	"slices"

	"github.com/accelerator-go/accelerator/internal/envelope"
	"github.com/accelerator-go/accelerator/internal/invmsg"
)

// InvalidateTag makes every entry that carries tag a miss, in every layer and on every
// instance; it is [Cache.InvalidateTags] of one tag.
func (c *Cache[K, V]) InvalidateTag(ctx context.Context, tag string) error {
	return c.c.invalidateTags(ctx, []string{tag})
}

// InvalidateTags makes every entry that carries one of tags a miss, in every layer and
// on every instance, without looking for the entries: entries get tags from
// [WithTags] on a write, or from the [Loaded.Tags] of an [EntryLoader]. It raises
// each tag's invalidation mark in Redis to a new value of the area's logical clock
// (one round trip), then publishes one message on the invalidation bus; an entry is
// compared with the marks of its tags when it is read. Entries that no tag names are
// untouched, and old copies in L2 are left to expire.
//
// On this instance, a read that starts after InvalidateTags returned does not return
// an entry written, or loaded, before it was called. Another instance does so at
// once when the message reaches it, and in any case for reads that start more than
// [Options.InvalidationMarkMaxAge] after InvalidateTags returned, lost message or
// not (docs/tags.md). Without L2 the marks live in the instance, and so does the
// invalidation.
//
// It returns the remote error when the marks could not be raised (the tags may or
// may not be invalidated: retry), an error wrapping [ErrNotBroadcast] when the marks
// were raised but the message could not be published (other instances then honour
// it within InvalidationMarkMaxAge), and [ErrTagsUnsupported] when the L2 backend
// cannot keep marks. Empty tags are ignored.
func (c *Cache[K, V]) InvalidateTags(ctx context.Context, tags ...string) error {
	return c.c.invalidateTags(ctx, tags)
}

// Clear makes every entry of the cache's area a miss, in L1 and L2 and on every
// instance, at the cost of one round trip and one message whatever the number of
// entries: it raises the area's clear mark in Redis to a new value of its logical
// clock, drops this instance's L1, and publishes a message on which every other
// instance drops its L1. An entry read from L2 is compared with the clear mark; the
// old entries are left in Redis to expire. Other areas are untouched.
//
// On this instance, a read that starts after Clear returned does not return an entry
// written, or loaded, before it was called. On another instance, L1 is dropped when
// the message arrives, or when the invalidation bus finds that messages may have
// been lost; L2 entries are misses for reads that start more than
// [Options.InvalidationMarkMaxAge] after Clear returned (docs/tags.md). Without
// [Options.BroadcastInvalidation], another instance drops its L1 the next time it
// reads the clear mark, at the latest when its entries expire.
//
// Its errors are those of [Cache.InvalidateTags].
func (c *Cache[K, V]) Clear(ctx context.Context) error {
	return c.c.clearArea(ctx)
}

func (c *cache[K, V]) invalidateTags(ctx context.Context, tags []string) (err error) {
	if c.closed.Load() {
		return ErrClosed
	}
	tags = envelope.NormalizeTags(tags)
	ctx, sp := c.startSpan(ctx, OpInvalidateTags, len(tags))
	defer func() { endSpan(sp, SpanEnd{Err: err}) }()
	if len(tags) == 0 {
		return nil
	}
	var msgs []invmsg.Message
	switch c.marks.mode {
	case marksNone:
		return ErrTagsUnsupported
	case marksLocal:
		c.marks.raised(tags, c.marks.tick())
	case marksRemote:
		for chunk := range slices.Chunk(tags, c.cfg.MaxBatchKeys) {
			keys := make([]string, len(chunk))
			for i, t := range chunk {
				keys[i] = string(c.marks.tagKey) + t
			}
			g, err := c.marks.raise(ctx, keys, 0)
			if err != nil {
				return err
			}
			c.marks.raised(chunk, g)
			msgs = append(msgs, invmsg.Message{Kind: invmsg.Tags, Clock: g, Tags: bytesOf(chunk)})
		}
	}
	// A load or an L2 read in flight began before the invalidation: a read that
	// starts from now on must not join it.
	c.detachAll()
	c.metrics.tagInvalidations.Add(uint64(len(tags)))
	return c.publishMarks(ctx, msgs)
}

func (c *cache[K, V]) clearArea(ctx context.Context) (err error) {
	if c.closed.Load() {
		return ErrClosed
	}
	ctx, sp := c.startSpan(ctx, OpClear, 0)
	defer func() { endSpan(sp, SpanEnd{Err: err}) }()
	var msgs []invmsg.Message
	switch c.marks.mode {
	case marksNone:
		return ErrTagsUnsupported
	case marksLocal:
		c.marks.cleared(c.marks.tick())
	case marksRemote:
		g, err := c.marks.raise(ctx, []string{c.marks.clearKey}, 0)
		if err != nil {
			return err
		}
		c.marks.cleared(g)
		msgs = append(msgs, invmsg.Message{Kind: invmsg.Clear, Clock: g})
	}
	c.flushLocal()
	c.detachAll()
	c.metrics.clears.Add(1)
	return c.publishMarks(ctx, msgs)
}

// publishMarks broadcasts the Tags or Clear messages of an invalidation, when the
// cache has the invalidation bus.
func (c *cache[K, V]) publishMarks(ctx context.Context, msgs []invmsg.Message) error {
	if c.inv == nil {
		return nil
	}
	for _, m := range msgs {
		if err := c.inv.publishMessage(ctx, m); err != nil {
			return fmt.Errorf("%w (the marks were raised: other instances honour them within InvalidationMarkMaxAge)", err)
		}
	}
	return nil
}

// detachAll makes every load and shared L2 read in flight invisible to the readers
// that come after, as a write does for its keys.
func (c *cache[K, V]) detachAll() {
	c.loads.ForgetAll()
	c.remoteReads.ForgetAll()
}

func bytesOf(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}
