// Package slot computes Redis Cluster hash slots, so that a backend can split a batch
// into single-slot commands before sending it.
//
// The algorithm is the one in the Redis Cluster specification: CRC16 (XMODEM) of the
// key modulo 16384, where a key that holds a non-empty hash tag ("{...}") is hashed on
// the tag alone.
package slot

// Count is the number of hash slots in a Redis Cluster.
const Count = 16384

// Of returns the hash slot of key.
//
// When key contains a '{' followed later by a '}' with at least one byte between
// them, only the bytes between the first '{' and the first '}' after it are hashed.
func Of(key string) uint16 {
	return crc16(hashTag(key)) & (Count - 1)
}

// hashTag returns the part of key that Redis Cluster hashes.
func hashTag(key string) string {
	for i := 0; i < len(key); i++ {
		if key[i] != '{' {
			continue
		}
		for j := i + 1; j < len(key); j++ {
			if key[j] != '}' {
				continue
			}
			if j == i+1 {
				return key
			}
			return key[i+1 : j]
		}
		return key
	}
	return key
}

// crc16 is CRC-16/XMODEM (polynomial 0x1021, initial value 0), as used by Redis.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc = crc<<8 ^ table[byte(crc>>8)^s[i]]
	}
	return crc
}

var table = func() (t [256]uint16) {
	for i := range t {
		crc := uint16(i) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
				continue
			}
			crc <<= 1
		}
		t[i] = crc
	}
	return t
}()
