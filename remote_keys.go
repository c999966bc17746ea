package accelerator

// The layout of remote keys: KeyPrefix + escaped Area + ":" + the encoded key (see
// internal/keyenc). The escaping makes the layout injective: two (area, key) pairs
// never share a remote key.

// appendRemoteKey appends the remote key of key to dst.
func (c *cache[K, V]) appendRemoteKey(dst []byte, key K) []byte {
	dst = append(dst, c.areaKey...)
	return c.cfg.KeyEncoder.AppendKey(dst, key)
}

// remoteKey returns the remote key of key.
func (c *cache[K, V]) remoteKey(key K) string {
	var kb [128]byte
	return string(c.appendRemoteKey(kb[:0], key))
}

// remoteKeys returns the remote keys of keys.
func (c *cache[K, V]) remoteKeys(keys []K) []string {
	rkeys := make([]string, len(keys))
	for i, k := range keys {
		rkeys[i] = c.remoteKey(k)
	}
	return rkeys
}
