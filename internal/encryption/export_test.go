package encryption

// SetCacheSize changes how many derived keys k keeps.
func (k *Key) SetCacheSize(n int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.capacity = n
}

// Cached reports how many derived keys k keeps now.
func (k *Key) Cached() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.order.Len()
}

// NewFastKey is a Key deriving with 1 000 iterations instead of 100 000, for
// tests of the cache and of concurrency, which derive many keys (a
// derivation takes about a second under the race detector). Its values are
// not TestPlanIt's format.
func NewFastKey(secret string) *Key {
	k, err := NewKey(secret)
	if err != nil {
		panic(err)
	}
	k.iterations = 1000
	return k
}

// Seal encrypts plaintext under a given salt and nonce, so that fuzz seeds
// are the same in every fuzzing process.
func (k *Key) Seal(salt [SaltSize]byte, nonce [NonceSize]byte, plaintext []byte) (string, error) {
	return k.seal(salt, nonce, plaintext)
}
