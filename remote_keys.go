package accelerator

// The layout of remote keys: KeyPrefix + escaped Area + ":" + the encoded key (see
// internal/keyenc). The escaping makes the layout injective: two (area, key) pairs
// never share a remote key.

// appendRemoteKey appends the remote key of key to dst.
func (c *cache[K, V]) appendRemoteKey(dst []byte, key K) []byte {
	dst = append(dst, c.areaKey...)
	return c.cfg.KeyEncoder.AppendKey(dst, key)
}

// remoteKey returns the remote key of key. It is built in a pooled buffer (one on the
// stack would escape through the key encoder, an interface): the string is its only
// allocation.
func (c *cache[K, V]) remoteKey(key K) string {
	bp := c.bufs.Get().(*[]byte)
	b := c.appendRemoteKey((*bp)[:0], key)
	s := string(b)
	if cap(b) <= maxPooledKeyBuf {
		*bp = b[:0]
		c.bufs.Put(bp)
	}
	return s
}

// maxPooledKeyBuf bounds the buffers remoteKey keeps for the next key.
const maxPooledKeyBuf = 4 << 10

// remoteKeys returns the remote keys of keys.
func (c *cache[K, V]) remoteKeys(keys []K) []string {
	rkeys := make([]string, len(keys))
	for i, k := range keys {
		rkeys[i] = c.remoteKey(k)
	}
	return rkeys
}
