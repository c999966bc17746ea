// Package keyenc lays out the Redis keys of the remote layer (L2):
//
//	prefix + escape(area) + ":" + key
//
// where escape replaces `\` with `\\` and `:` with `\:`. The prefix is matched
// literally; after it, the first unescaped ':' ends the area, and every byte after that
// is the key, which needs no escaping. So two different (area, key) pairs never share a
// Redis key under one prefix, and [Parse] recovers both from the full key.
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
