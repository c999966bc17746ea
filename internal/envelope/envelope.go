// Package envelope frames every value that the cache stores in the remote layer (L2).
//
// An envelope is a small versioned header followed by the payload that the value's
// codec produced:
//
//	byte 0      magic 0xAC
//	byte 1      format version, 1
//	byte 2      flags: bit 0 null, bit 1 has StaleUntil, bit 2 has Version, bit 3
//	            tombstone;
//	            any other bit set is an error
//	uvarint     ExpireAt, Unix milliseconds
//	uvarint     StaleUntil, Unix milliseconds, present only with flag bit 1
//	uvarint     Version, present only with flag bit 2
//	payload     the codec's bytes, up to the end; empty when the null flag is set
//
// Uvarints are those of [encoding/binary]. The encoding is canonical: [AppendHeader]
// writes the one form that [Decode] accepts for a given [Header], so decoding and
// re-encoding any accepted input gives back the same bytes. In particular Decode
// rejects varints with redundant continuation bytes, an optional field that is flagged
// but zero, and times beyond the int64 range.
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
)

const (
	// Magic is the first byte of every envelope.
	Magic = 0xAC
	// FormatVersion is the layout version that this package writes and reads.
	FormatVersion = 1
	// MaxHeaderLen is the longest header that [AppendHeader] writes.
	MaxHeaderLen = 3 + 3*binary.MaxVarintLen64
)

const (
	flagNull    = 1 << 0
	flagStale   = 1 << 1
	flagVersion = 1 << 2
	flagTomb    = 1 << 3
	knownFlags  = flagNull | flagStale | flagVersion | flagTomb
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
}

// AppendHeader appends the encoding of h to dst and returns the extended slice; the
// caller then appends the payload (nothing for a null) with its codec, so the value is
// written once.
//
// AppendHeader never fails: it writes a normalized h that [Decode] accepts. A negative
// ExpireAt becomes 0 (both are long past), and a StaleUntil that is not positive or is
// before ExpireAt becomes 0 (either way the stale window is empty).
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
	dst = append(dst, Magic, FormatVersion, flags)
	dst = binary.AppendUvarint(dst, uint64(h.ExpireAt))
	if h.StaleUntil != 0 {
		dst = binary.AppendUvarint(dst, uint64(h.StaleUntil))
	}
	if h.Version != 0 {
		dst = binary.AppendUvarint(dst, h.Version)
	}
	return dst
}

// normalize returns the form of h that AppendHeader writes.
func normalize(h Header) Header {
	h.ExpireAt = max(h.ExpireAt, 0)
	if h.StaleUntil <= 0 || h.StaleUntil < h.ExpireAt {
		h.StaleUntil = 0
	}
	return h
}

// Decode parses the envelope in data and returns its header and payload. The payload
// is a sub-slice of data, not a copy.
//
// When maxSize > 0, an envelope longer than maxSize bytes is rejected with
// [ErrTooLarge] before it is parsed. Other failures wrap [ErrCorrupt] or
// [ErrUnknownVersion]. Decode never panics, and allocates only to describe an unknown
// version or an oversized input.
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
	return h, off, nil
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
