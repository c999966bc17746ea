// Package invmsg encodes the messages of cross-instance invalidation.
//
// Layout: byte 0 is the magic 0xA1, byte 1 the format version (1), byte 2 the kind,
// then the 16-byte id of the sending instance, then a uvarint sequence number (per
// sender, starting at 1, for Keys and Flush messages; 0 for Ping), then for Keys a
// uvarint count and, for each key, a uvarint length and the key's encoded bytes (as
// the cache's KeyEncoder wrote them, without prefix and area).
package invmsg

import (
	"encoding/binary"
	"errors"
)

const (
	magic   = 0xA1
	version = 1
	// IDLen is the length of an instance id.
	IDLen = 16
)

// Kind says what a message asks.
type Kind uint8

const (
	// Keys invalidates the keys it carries.
	Keys Kind = iota + 1
	// Flush invalidates every key of the area.
	Flush
	// Ping carries nothing: a sender sees its own pings come back, which proves its
	// subscription alive.
	Ping
)

// ErrMalformed reports bytes that are not a message of this format.
var ErrMalformed = errors.New("invmsg: malformed message")

// Message is one invalidation message.
type Message struct {
	Kind   Kind
	Source [IDLen]byte
	Seq    uint64
	Keys   [][]byte
}

// Append appends the encoding of m to dst.
func Append(dst []byte, m *Message) []byte {
	dst = append(dst, magic, version, byte(m.Kind))
	dst = append(dst, m.Source[:]...)
	dst = binary.AppendUvarint(dst, m.Seq)
	if m.Kind != Keys {
		return dst
	}
	dst = binary.AppendUvarint(dst, uint64(len(m.Keys)))
	for _, k := range m.Keys {
		dst = binary.AppendUvarint(dst, uint64(len(k)))
		dst = append(dst, k...)
	}
	return dst
}

// Decode parses data. The keys of the result are sub-slices of data.
func Decode(data []byte) (Message, error) {
	var m Message
	if len(data) < 3+IDLen || data[0] != magic || data[1] != version {
		return m, ErrMalformed
	}
	m.Kind = Kind(data[2])
	if m.Kind < Keys || m.Kind > Ping {
		return m, ErrMalformed
	}
	copy(m.Source[:], data[3:3+IDLen])
	rest := data[3+IDLen:]
	var ok bool
	if m.Seq, rest, ok = uvarint(rest); !ok {
		return m, ErrMalformed
	}
	if m.Kind != Keys {
		if len(rest) != 0 {
			return m, ErrMalformed
		}
		return m, nil
	}
	n, rest, ok := uvarint(rest)
	if !ok || n > uint64(len(rest)) {
		return m, ErrMalformed
	}
	m.Keys = make([][]byte, 0, n)
	for range n {
		var l uint64
		if l, rest, ok = uvarint(rest); !ok || l > uint64(len(rest)) {
			return m, ErrMalformed
		}
		m.Keys = append(m.Keys, rest[:l:l])
		rest = rest[l:]
	}
	if len(rest) != 0 {
		return m, ErrMalformed
	}
	return m, nil
}

func uvarint(b []byte) (uint64, []byte, bool) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, b, false
	}
	return v, b[n:], true
}
