// Package invmsg encodes the messages of cross-instance invalidation.
//
// Layout: byte 0 is the magic 0xA1, byte 1 the format version (1), byte 2 the kind,
// then the 16-byte id of the sending instance, then a uvarint sequence number (per
// sender, starting at 1, for every kind but Ping; 0 for Ping), then:
//
//   - for Keys, a list: a uvarint count and, for each key, a uvarint length and the
//     key's encoded bytes (as the cache's KeyEncoder wrote them, without prefix and
//     area);
//   - for Tags, the uvarint value of the area's invalidation clock that the tags were
//     raised to, then the tags as a list;
//   - for Clear, the uvarint clock value that the area's clear mark was raised to.
//
// Tags and Clear came after the first release of the format: a reader that does not
// know them rejects them as malformed (and drops its L1), so the version stays 1.
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
	// Tags says that the tags it carries were raised to the clock value it carries:
	// every entry carrying one of them and stamped earlier is a miss.
	Tags
	// Clear says that the area's clear mark was raised to the clock value it
	// carries: every entry of the area stamped earlier is a miss.
	Clear
)

// ErrMalformed reports bytes that are not a message of this format.
var ErrMalformed = errors.New("invmsg: malformed message")

// Message is one invalidation message.
type Message struct {
	Kind   Kind
	Source [IDLen]byte
	Seq    uint64
	Keys   [][]byte
	// Clock is the clock value of a Tags or Clear message.
	Clock uint64
	// Tags are the tags of a Tags message.
	Tags [][]byte
}

// Append appends the encoding of m to dst.
func Append(dst []byte, m *Message) []byte {
	dst = append(dst, magic, version, byte(m.Kind))
	dst = append(dst, m.Source[:]...)
	dst = binary.AppendUvarint(dst, m.Seq)
	switch m.Kind {
	case Keys:
		return appendList(dst, m.Keys)
	case Tags:
		dst = binary.AppendUvarint(dst, m.Clock)
		return appendList(dst, m.Tags)
	case Clear:
		return binary.AppendUvarint(dst, m.Clock)
	}
	return dst
}

func appendList(dst []byte, list [][]byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(list)))
	for _, k := range list {
		dst = binary.AppendUvarint(dst, uint64(len(k)))
		dst = append(dst, k...)
	}
	return dst
}

// Decode parses data. The keys and tags of the result are sub-slices of data.
func Decode(data []byte) (Message, error) {
	var m Message
	if len(data) < 3+IDLen || data[0] != magic || data[1] != version {
		return m, ErrMalformed
	}
	m.Kind = Kind(data[2])
	if m.Kind < Keys || m.Kind > Clear {
		return m, ErrMalformed
	}
	copy(m.Source[:], data[3:3+IDLen])
	rest := data[3+IDLen:]
	var ok bool
	if m.Seq, rest, ok = uvarint(rest); !ok {
		return m, ErrMalformed
	}
	switch m.Kind {
	case Keys:
		m.Keys, rest, ok = decodeList(rest)
	case Tags:
		if m.Clock, rest, ok = uvarint(rest); ok {
			m.Tags, rest, ok = decodeList(rest)
		}
	case Clear:
		m.Clock, rest, ok = uvarint(rest)
	}
	if !ok || len(rest) != 0 {
		return Message{}, ErrMalformed
	}
	return m, nil
}

// decodeList parses a count and as many length-prefixed byte strings.
func decodeList(b []byte) ([][]byte, []byte, bool) {
	n, rest, ok := uvarint(b)
	if !ok || n > uint64(len(rest)) {
		return nil, b, false
	}
	list := make([][]byte, 0, n)
	for range n {
		var l uint64
		if l, rest, ok = uvarint(rest); !ok || l > uint64(len(rest)) {
			return nil, b, false
		}
		list = append(list, rest[:l:l])
		rest = rest[l:]
	}
	return list, rest, true
}

func uvarint(b []byte) (uint64, []byte, bool) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, b, false
	}
	return v, b[n:], true
}
