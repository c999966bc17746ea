package codec_test

import (
	"testing"

	"github.com/accelerator-go/accelerator/codec"
)

// BenchmarkCodecs measures the L2 write path (Append into a reused buffer), the read
// path (Unmarshal into a fresh value) and both, for a ~100 B and a ~10 KB User. The
// "B/value" metric is the encoded size.
func BenchmarkCodecs(b *testing.B) {
	sizes := []struct {
		name string
		v    User
	}{{"small", smallUser()}, {"10KB", largeUser()}}
	codecs := []struct {
		name string
		c    codec.Codec[User]
	}{{"JSON", codec.JSON[User]{}}, {"Msgpack", codec.Msgpack[User]{}}}
	for _, s := range sizes {
		for _, c := range codecs {
			enc, err := c.c.Append(nil, s.v)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(s.name+"/"+c.name+"/Append", func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(enc)))
				buf := make([]byte, 0, 2*len(enc))
				for b.Loop() {
					buf, _ = c.c.Append(buf[:0], s.v)
				}
				b.ReportMetric(float64(len(enc)), "B/value")
			})
			b.Run(s.name+"/"+c.name+"/Unmarshal", func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(enc)))
				for b.Loop() {
					var u User
					if err := c.c.Unmarshal(enc, &u); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(enc)), "B/value")
			})
			b.Run(s.name+"/"+c.name+"/RoundTrip", func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(enc)))
				buf := make([]byte, 0, 2*len(enc))
				for b.Loop() {
					buf, _ = c.c.Append(buf[:0], s.v)
					var u User
					if err := c.c.Unmarshal(buf, &u); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(enc)), "B/value")
			})
		}
	}
}
