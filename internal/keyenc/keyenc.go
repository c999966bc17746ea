// Package keyenc lays out the Redis keys of the remote layer (L2):
//
//	prefix + escape(area) + ":" + key
//
// where escape replaces `\` with `\\` and `:` with `\:`. The prefix is matched
// literally; after it, the first unescaped ':' ends the area, and every byte after that
// is the key, which needs no escaping. So two different (area, key) pairs never share a
// Redis key under one prefix, and [Parse] recovers both from the full key.
//
// The keys of an area's invalidation marks (tags and Clear) are laid out by
// [AppendMeta] outside that space:
//
//	prefix + escape(area) + `\#` + "{" + slot tag + "}" + name
//
// A backslash followed by '#' never occurs in escape(area), and no data key has one
// before its area's ':', so no meta key is a data key of any area, or starts with the
// prefix of an area's data keys. The lease keys of the load lease share the `\#`
// (`\#lease:` + key): the '{' after it keeps the two apart.
package keyenc

import (
	"errors"
	"fmt"
	"strings"
)

// Errors that [Parse] returns; test them with [errors.Is].
var (
	// ErrPrefix reports a key that does not start with the expected prefix.
	ErrPrefix = errors.New("keyenc: key does not start with the prefix")
	// ErrMalformed reports a key whose area has a bad escape or no terminating ':'.
	ErrMalformed = errors.New("keyenc: malformed key")
)

// AppendArea appends prefix + escape(area) + ":" to dst and returns the extended
// slice. The cache computes it once per area and appends each key after it on the hot
// path.
func AppendArea(dst []byte, prefix, area string) []byte {
	dst = append(dst, prefix...)
	for {
		i := strings.IndexAny(area, `\:`)
		if i < 0 {
			break
		}
		dst = append(dst, area[:i]...)
		dst = append(dst, '\\', area[i])
		area = area[i+1:]
	}
	dst = append(dst, area...)
	return append(dst, ':')
}

// Append appends prefix + escape(area) + ":" + key to dst and returns the extended
// slice.
func Append(dst []byte, prefix, area string, key []byte) []byte {
	return append(AppendArea(dst, prefix, area), key...)
}

// Parse inverts [Append]: it returns the area and the key of full, a key built with
// prefix. The key is a sub-slice of full, not a copy.
//
// Parse accepts exactly the outputs of Append: it reports [ErrPrefix] when full does
// not start with prefix, and [ErrMalformed] when the area has a '\' not followed by
// '\' or ':', or no unescaped ':'.
func Parse(full []byte, prefix string) (area string, key []byte, err error) {
	if len(full) < len(prefix) || string(full[:len(prefix)]) != prefix {
		return "", nil, ErrPrefix
	}
	rest := full[len(prefix):]
	for i, c := range rest {
		switch c {
		case ':':
			return string(rest[:i]), rest[i+1:], nil
		case '\\':
			return parseEscaped(rest)
		}
	}
	return "", nil, errNoSeparator
}

var (
	errNoSeparator = fmt.Errorf("%w: no ':' after the area", ErrMalformed)
	errBadEscape   = fmt.Errorf(`%w: '\' not followed by '\' or ':'`, ErrMalformed)
)

// parseEscaped parses an escaped area and the key after it.
func parseEscaped(rest []byte) (string, []byte, error) {
	area := make([]byte, 0, len(rest))
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if c == ':' {
			return string(area), rest[i+1:], nil
		}
		if c == '\\' {
			i++
			if i == len(rest) || (rest[i] != '\\' && rest[i] != ':') {
				return "", nil, errBadEscape
			}
			c = rest[i]
		}
		area = append(area, c)
	}
	return "", nil, errNoSeparator
}

// AppendMeta appends the key of the area's meta value name (the invalidation clock, a
// mark) to dst: prefix + escape(area) + `\#{` + slot tag + "}" + name.
//
// The slot tag, escape(area) without its braces ("#" when nothing is left), puts the
// braces that make Redis Cluster hash only part of a key ("hash tags") into every meta
// key of the area at the same place: they all share one hash slot, so that one script
// can read or raise several of them, and a node that loses one loses all. Only a
// prefix + escape(area) whose first '{' is followed at once by '}' defeats this (Redis
// then hashes whole keys); see [MetaKeysShareSlot].
//
// No meta key is a data key ([Append]) of any area under the same prefix. Read from
// the end of the prefix, escape(area) is a run of ordinary bytes (neither '\\' nor
// ':') and of the pairs `\\` and `\:`; a data key's run is followed by ':', a meta
// key's by `\#`, a pair that escape never writes. So the byte after the run tells the
// two kinds apart, and the run, which is the area, is read the same way in both. Two
// meta keys are equal only for the same area and name, since the rest of the key is
// fixed by the area.
func AppendMeta(dst []byte, prefix, area, name string) []byte {
	dst = AppendArea(dst, prefix, area)
	dst = dst[:len(dst)-1] // the ':' that ends a data key's area
	start := len(dst) - escapedLen(area)
	dst = append(dst, '\\', '#', '{')
	n := len(dst)
	for _, c := range dst[start : n-3] {
		if c != '{' && c != '}' {
			dst = append(dst, c)
		}
	}
	if len(dst) == n {
		dst = append(dst, '#')
	}
	dst = append(dst, '}')
	return append(dst, name...)
}

// escapedLen returns the length of escape(area).
func escapedLen(area string) int {
	return len(area) + strings.Count(area, `\`) + strings.Count(area, ":")
}

// MetaKeysShareSlot reports whether the meta keys of area under prefix ([AppendMeta])
// share one Redis Cluster hash slot: true unless the first '{' of prefix +
// escape(area) is followed at once by '}'.
func MetaKeysShareSlot(prefix, area string) bool {
	head := AppendArea(nil, prefix, area)
	i := strings.IndexByte(string(head), '{')
	return i < 0 || i+1 >= len(head) || head[i+1] != '}'
}
