package invmsg

import (
	"bytes"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	src := [IDLen]byte{1, 2, 3}
	for _, m := range []Message{
		{Kind: Keys, Source: src, Seq: 1, Keys: [][]byte{[]byte("a"), {}, []byte("b:c\x00")}},
		{Kind: Keys, Source: src, Seq: 1 << 40, Keys: [][]byte{}},
		{Kind: Flush, Source: src, Seq: 9},
		{Kind: Ping, Source: src},
		{Kind: Tags, Source: src, Seq: 4, Clock: 1_700_000_000_000_000, Tags: [][]byte{[]byte("user:42"), []byte("t")}},
		{Kind: Clear, Source: src, Seq: 5, Clock: 7},
	} {
		got, err := Decode(Append(nil, &m))
		if err != nil {
			t.Fatalf("Decode(Append(%+v)): %v", m, err)
		}
		if got.Kind != m.Kind || got.Source != m.Source || got.Seq != m.Seq || got.Clock != m.Clock ||
			len(got.Keys) != len(m.Keys) || len(got.Tags) != len(m.Tags) {
			t.Fatalf("round trip %+v -> %+v", m, got)
		}
		for i := range m.Keys {
			if !bytes.Equal(got.Keys[i], m.Keys[i]) {
				t.Fatalf("key %d: %q, want %q", i, got.Keys[i], m.Keys[i])
			}
		}
		for i := range m.Tags {
			if !bytes.Equal(got.Tags[i], m.Tags[i]) {
				t.Fatalf("tag %d: %q, want %q", i, got.Tags[i], m.Tags[i])
			}
		}
	}
}

func TestMalformed(t *testing.T) {
	t.Parallel()
	good := Append(nil, &Message{Kind: Keys, Seq: 1, Keys: [][]byte{[]byte("key")}})
	tagsMsg := Append(nil, &Message{Kind: Tags, Seq: 1, Clock: 9, Tags: [][]byte{[]byte("t")}})
	for name, b := range map[string][]byte{
		"empty":              nil,
		"bad magic":          append([]byte{0}, good[1:]...),
		"bad version":        append([]byte{magic, 9}, good[2:]...),
		"bad kind":           append([]byte{magic, version, 7}, good[3:]...),
		"truncated":          good[:len(good)-1],
		"trailing":           append(append([]byte{}, good...), 0),
		"huge count":         append(append([]byte{}, good[:3+IDLen+1]...), 0xff, 0xff, 0x03),
		"ping payload":       append(Append(nil, &Message{Kind: Ping}), 1),
		"tags without clock": append([]byte{magic, version, byte(Tags)}, append(make([]byte, IDLen), 1)...),
		"tags truncated":     tagsMsg[:len(tagsMsg)-1],
		"tags trailing":      append(append([]byte{}, tagsMsg...), 0),
		"clear trailing":     append(Append(nil, &Message{Kind: Clear, Seq: 1, Clock: 2}), 0),
		"clear no clock":     append([]byte{magic, version, byte(Clear)}, append(make([]byte, IDLen), 1)...),
	} {
		if _, err := Decode(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Append(nil, &Message{Kind: Keys, Seq: 3, Keys: [][]byte{[]byte("a"), []byte("bc")}}))
	f.Add(Append(nil, &Message{Kind: Flush, Seq: 1}))
	f.Add(Append(nil, &Message{Kind: Tags, Seq: 2, Clock: 5, Tags: [][]byte{[]byte("t")}}))
	f.Add(Append(nil, &Message{Kind: Clear, Seq: 3, Clock: 6}))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		if again := Append(nil, &m); !bytes.Equal(again, b) && m.Kind == Keys {
			// Varints may be written longer than needed; the decoded message must
			// still round-trip through its canonical form.
			if m2, err := Decode(again); err != nil || m2.Seq != m.Seq || len(m2.Keys) != len(m.Keys) {
				t.Fatalf("canonical form of %x does not decode back", b)
			}
		}
	})
}
