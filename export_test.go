package accelerator

// WeakenProtocol turns parts of the per-key protocol off on c, for the tests that show
// the checker catches what each part prevents: noDetach keeps loads and shared reads
// joinable across writes; noWriteLock lets writes of one key overlap and install in
// any order.
func WeakenProtocol[K comparable, V any](c *Cache[K, V], noDetach, noWriteLock bool) {
	var w weakening
	if noDetach {
		w |= weakNoDetach
	}
	if noWriteLock {
		w |= weakNoWriteLock
	}
	c.c.weak = w
}

// WeakenSharedReads lets readers of a key share an L2 read while a write of the key is
// in flight, for the test that shows why they must not.
func WeakenSharedReads[K comparable, V any](c *Cache[K, V]) {
	c.c.weak |= weakSharedReadsInWrites
}
