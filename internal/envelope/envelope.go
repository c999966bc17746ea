// Package envelope frames every value that the cache stores in the remote layer (L2).
//
// An envelope is a small versioned header followed by the payload that the value's
// codec produced:
//
//	byte 0      magic 0xAC
//	byte 1      format version, 1
//	byte 2      flags: bit 0 null, bit 1 has StaleUntil, bit 2 has Version, bit 3
//	            tombstone, bit 4 has Stamp, bit 5 has Tags;
//	            any other bit set is an error
//	uvarint     ExpireAt, Unix milliseconds
//	uvarint     StaleUntil, Unix milliseconds, present only with flag bit 1
//	uvarint     Version, present only with flag bit 2
//	uvarint     Stamp, the area's invalidation clock, present only with flag bit 4
//	tags        present only with flag bit 5: a uvarint count, then for each tag a
//	            uvarint length and the tag's bytes; at least one tag, none empty, in
//	            strictly increasing byte order
//	payload     the codec's bytes, up to the end; empty when the null flag is set
//
// Uvarints are those of [encoding/binary]. The encoding is canonical: [AppendHeader]
// writes the one form that [Decode] accepts for a given [Header], so decoding and
// re-encoding any accepted input gives back the same bytes. In particular Decode
// rejects varints with redundant continuation bytes, an optional field that is flagged
// but zero (an empty tag list included), times beyond the int64 range, and tags that
// are empty, repeated or out of order.
//
// A new layout gets a new format version: Decode reports [ErrUnknownVersion] rather
// than guessing, so that a rolling deployment treats the other version's entries as
// misses.
package envelope

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

const (
	// Magic is the first byte of every envelope.
	Magic = 0xAC
	// FormatVersion is the layout version that this package writes and reads.
	FormatVersion = 1
	// MaxHeaderLen is the longest header that [AppendHeader] writes for a Header
	// without tags; the tags add their bytes and a varint for each, and one for
	// their count.
	MaxHeaderLen = 3 + 4*binary.MaxVarintLen64
)

const (
	flagNull    = 1 << 0
	flagStale   = 1 << 1
	flagVersion = 1 << 2
	flagTomb    = 1 << 3
	flagStamp   = 1 << 4
	flagTags    = 1 << 5
	knownFlags  = flagNull | flagStale | flagVersion | flagTomb | flagStamp | flagTags
)

// Errors that [Decode] returns, possibly wrapped with details; test them with
// [errors.Is].
var (
	// ErrCorrupt reports bytes that are not a well-formed envelope: a bad magic byte,
	// truncated or non-canonical data, unknown flags, a null with a payload, or a
	// StaleUntil before ExpireAt.
	ErrCorrupt = errors.New("envelope: corrupt")
	// ErrUnknownVersion reports an envelope written in a format version that this
	// package does not know, for example by a newer deployment.
	ErrUnknownVersion = errors.New("envelope: unknown format version")
	// ErrTooLarge reports an envelope longer than the caller's limit.
	ErrTooLarge = errors.New("envelope: too large")
)

// Errors wrapped once, so that Decode does not allocate on the common failures.
var (
	errTruncated   = fmt.Errorf("%w: truncated", ErrCorrupt)
	errMagic       = fmt.Errorf("%w: bad magic byte", ErrCorrupt)
	errFlags       = fmt.Errorf("%w: unknown flags", ErrCorrupt)
	errVarint      = fmt.Errorf("%w: overlong or overflowing varint", ErrCorrupt)
	errRange       = fmt.Errorf("%w: time out of range", ErrCorrupt)
	errZero        = fmt.Errorf("%w: optional field flagged but zero", ErrCorrupt)
	errStaleEarly  = fmt.Errorf("%w: StaleUntil before ExpireAt", ErrCorrupt)
	errNullPayload = fmt.Errorf("%w: null with a payload", ErrCorrupt)
	errTagOrder    = fmt.Errorf("%w: tags empty, repeated or out of order", ErrCorrupt)
)

// Header is the metadata that precedes a payload.
type Header struct {
	// Null marks a cached absence: the loader reported that the key has no value. A
	// null envelope has no payload.
	Null bool
	// Tombstone marks a deleted key: it reads as absent, and it makes a fill that
	// started before the delete fail its compare-and-set. Its payload is empty.
	Tombstone bool
	// ExpireAt is when the value stops being fresh, in Unix milliseconds.
	ExpireAt int64
	// StaleUntil is when the value stops being servable as stale, in Unix
	// milliseconds; 0 means no stale window. When set it is at least ExpireAt.
	StaleUntil int64
	// Version is the value's version, for conditional writes; 0 means none.
	Version uint64
	// Stamp is the area's invalidation clock as the writer knew it when it wrote the
	// value, or began the load that produced it (see docs/tags.md); 0 means none.
	Stamp uint64
	// Tags are the value's tags; AppendHeader writes them sorted, without
	// duplicates and without empty tags, and Decode returns them so.
	Tags []string
}

// AppendHeader appends the encoding of h to dst and returns the extended slice; the
// caller then appends the payload (nothing for a null) with its codec, so the value is
// written once.
//
// AppendHeader never fails: it writes a normalized h that [Decode] accepts. A negative
// ExpireAt becomes 0 (both are long past), a StaleUntil that is not positive or is
// before ExpireAt becomes 0 (either way the stale window is empty), and the tags are
// sorted, without duplicates or empty tags (a sorted copy is made only when they are
// not so already).
func AppendHeader(dst []byte, h Header) []byte {
	h = normalize(h)
	var flags byte
	if h.Tombstone {
		flags |= flagTomb
	}
	if h.Null {
		flags |= flagNull
	}
	if h.StaleUntil != 0 {
		flags |= flagStale
	}
	if h.Version != 0 {
		flags |= flagVersion
	}
	if h.Stamp != 0 {
		flags |= flagStamp
	}
	if len(h.Tags) != 0 {
		flags |= flagTags
	}
	dst = append(dst, Magic, FormatVersion, flags)
	dst = binary.AppendUvarint(dst, uint64(h.ExpireAt))
	if h.StaleUntil != 0 {
		dst = binary.AppendUvarint(dst, uint64(h.StaleUntil))
	}
	if h.Version != 0 {
		dst = binary.AppendUvarint(dst, h.Version)
	}
	if h.Stamp != 0 {
		dst = binary.AppendUvarint(dst, h.Stamp)
	}
	if len(h.Tags) != 0 {
		dst = binary.AppendUvarint(dst, uint64(len(h.Tags)))
		for _, t := range h.Tags {
			dst = binary.AppendUvarint(dst, uint64(len(t)))
			dst = append(dst, t...)
		}
	}
	return dst
}

// NormalizeTags returns tags sorted in byte order, without duplicates and without
// empty tags: tags itself when it is so already, else a new slice.
func NormalizeTags(tags []string) []string {
	canonical := true
	for i, t := range tags {
		if t == "" || i > 0 && tags[i-1] >= t {
			canonical = false
			break
		}
	}
	if canonical {
		return tags
	}
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		if t != "" {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) == 0 {
		return nil
	}
	return out
}

// normalize returns the form of h that AppendHeader writes.
func normalize(h Header) Header {
	h.ExpireAt = max(h.ExpireAt, 0)
	if h.StaleUntil <= 0 || h.StaleUntil < h.ExpireAt {
		h.StaleUntil = 0
	}
	h.Tags = NormalizeTags(h.Tags)
	return h
}

// Decode parses the envelope in data and returns its header and payload. The payload
// is a sub-slice of data, not a copy.
//
// When maxSize > 0, an envelope longer than maxSize bytes is rejected with
// [ErrTooLarge] before it is parsed. Other failures wrap [ErrCorrupt] or
// [ErrUnknownVersion]. Decode never panics, and allocates only for the tags of a
// tagged value, and to describe an unknown version or an oversized input.
func Decode(data []byte, maxSize int) (Header, []byte, error) {
	if maxSize > 0 && len(data) > maxSize {
		return Header{}, nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), maxSize)
	}
	if len(data) == 0 {
		return Header{}, nil, errTruncated
	}
	if data[0] != Magic {
		return Header{}, nil, errMagic
	}
	if len(data) < 2 {
		return Header{}, nil, errTruncated
	}
	if data[1] != FormatVersion {
		return Header{}, nil, fmt.Errorf("%w: %d", ErrUnknownVersion, data[1])
	}
	if len(data) < 3 {
		return Header{}, nil, errTruncated
	}
	h, n, err := decodeFields(data[2], data[3:])
	if err != nil {
		return Header{}, nil, err
	}
	payload := data[3+n:]
	if (h.Null || h.Tombstone) && len(payload) != 0 {
		return Header{}, nil, errNullPayload
	}
	return h, payload, nil
}

// decodeFields parses the varint fields that flags announce at the start of b, and
// returns the header and the number of bytes read.
func decodeFields(flags byte, b []byte) (Header, int, error) {
	if flags&^knownFlags != 0 {
		return Header{}, 0, errFlags
	}
	h := Header{Null: flags&flagNull != 0, Tombstone: flags&flagTomb != 0}
	expire, off, err := uvarint(b, 0)
	if err != nil {
		return Header{}, 0, err
	}
	if expire > math.MaxInt64 {
		return Header{}, 0, errRange
	}
	h.ExpireAt = int64(expire)
	if flags&flagStale != 0 {
		stale, n, err := uvarint(b, off)
		if err != nil {
			return Header{}, 0, err
		}
		if err := checkStale(stale, h.ExpireAt); err != nil {
			return Header{}, 0, err
		}
		h.StaleUntil, off = int64(stale), n
	}
	if flags&flagVersion != 0 {
		version, n, err := uvarint(b, off)
		if err != nil {
			return Header{}, 0, err
		}
		if version == 0 {
			return Header{}, 0, errZero
		}
		h.Version, off = version, n
	}
	if flags&flagStamp != 0 {
		stamp, n, err := uvarint(b, off)
		if err != nil {
			return Header{}, 0, err
		}
		if stamp == 0 {
			return Header{}, 0, errZero
		}
		h.Stamp, off = stamp, n
	}
	if flags&flagTags != 0 {
		tags, n, err := decodeTags(b, off)
		if err != nil {
			return Header{}, 0, err
		}
		h.Tags, off = tags, n
	}
	return h, off, nil
}

// decodeTags parses the tag list at b[off:] and returns it with the offset just past
// it.
func decodeTags(b []byte, off int) ([]string, int, error) {
	count, off, err := uvarint(b, off)
	if err != nil {
		return nil, 0, err
	}
	if count == 0 {
		return nil, 0, errZero
	}
	// Each tag takes at least two bytes: checked before allocating.
	if count > uint64(len(b)-off)/2 {
		return nil, 0, errTruncated
	}
	tags := make([]string, count)
	for i := range tags {
		var l uint64
		if l, off, err = uvarint(b, off); err != nil {
			return nil, 0, err
		}
		if l > uint64(len(b)-off) {
			return nil, 0, errTruncated
		}
		tag := b[off : off+int(l)]
		if l == 0 || i > 0 && tags[i-1] >= string(tag) {
			return nil, 0, errTagOrder
		}
		tags[i] = string(tag)
		off += int(l)
	}
	return tags, off, nil
}

// checkStale validates a present StaleUntil against ExpireAt.
func checkStale(stale uint64, expireAt int64) error {
	switch {
	case stale == 0:
		return errZero
	case stale > math.MaxInt64:
		return errRange
	case int64(stale) < expireAt:
		return errStaleEarly
	}
	return nil
}

// uvarint reads the canonical uvarint at b[off:] and returns it with the offset just
// past it. A varint whose last byte is zero could have been shorter, so it is
// rejected: otherwise two inputs would decode to the same header.
func uvarint(b []byte, off int) (uint64, int, error) {
	v, n := binary.Uvarint(b[off:])
	if n == 0 {
		return 0, 0, errTruncated
	}
	if n < 0 || (n > 1 && b[off+n-1] == 0) {
		return 0, 0, errVarint
	}
	return v, off + n, nil
}
