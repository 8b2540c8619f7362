// Package encryption is internal to the tpi-workers fleet: it reads and writes
// TestPlanIt's encrypted credentials, the format of testplanit/utils/encryption.ts
// (reference section 7.1), so the sync worker can use "Integration".credentials
// and "UserIntegrationAuth".accessToken/refreshToken, and write refreshed OAuth
// tokens back in a form the web app reads.
//
// A value is the standard base64 of salt(32) ‖ iv(16) ‖ gcmTag(16) ‖
// ciphertext: AES-256-GCM with a 16-byte nonce, under the key
// PBKDF2-HMAC-SHA256(ENCRYPTION_KEY, salt, 100 000 iterations, 32 bytes).
//
// Unlike the original, which silently falls back to a hard-coded development
// key when ENCRYPTION_KEY is unset, [NewKey] refuses an empty secret.
//
// Errors never contain the secret, the encrypted value or the plaintext.
package encryption

import (
	"container/list"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
)

// The format's constants (testplanit/utils/encryption.ts).
const (
	SaltSize   = 32
	NonceSize  = 16
	TagSize    = 16
	KeySize    = 32
	Iterations = 100_000
	// headerSize is what precedes the ciphertext.
	headerSize = SaltSize + NonceSize + TagSize
)

// DefaultCacheSize is how many derived keys a [Key] keeps (one per salt, so
// one per encrypted value): deriving one costs 100 000 PBKDF2 iterations,
// tens of milliseconds, and the same values are decrypted on every sync. An
// entry (salt and ready AES-GCM cipher) takes well under a kilobyte.
const DefaultCacheSize = 1024

var (
	// ErrNoKey means NewKey was given an empty secret: ENCRYPTION_KEY is unset.
	ErrNoKey = errors.New("encryption: ENCRYPTION_KEY is empty; refusing to use a default key")
	// ErrMalformed means the value is not an encrypted credential at all:
	// not base64, or too short to hold salt, nonce and tag.
	ErrMalformed = errors.New("encryption: value is not an encrypted credential")
	// ErrDecrypt means the value has the right shape but does not
	// authenticate: it was encrypted under another ENCRYPTION_KEY, or it was
	// altered.
	ErrDecrypt = errors.New("encryption: cannot decrypt: wrong ENCRYPTION_KEY or corrupted value")
)

// Key decrypts and encrypts values under one ENCRYPTION_KEY. It caches the
// keys it derives, per salt, in a bounded least-recently-used map. It is safe
// for concurrent use. Printing a Key never shows the secret.
type Key struct {
	secret     string
	iterations int // Iterations; tests of the cache lower it

	mu       sync.Mutex
	capacity int
	order    *list.List // of *entry, most recently used first
	bySalt   map[[SaltSize]byte]*list.Element
}

type entry struct {
	salt [SaltSize]byte
	aead cipher.AEAD
}

// NewKey returns a Key for the secret (the ENCRYPTION_KEY environment
// variable of the web app). An empty secret is refused with [ErrNoKey].
func NewKey(secret string) (*Key, error) {
	if secret == "" {
		return nil, ErrNoKey
	}
	return &Key{
		secret:     secret,
		iterations: Iterations,
		capacity:   DefaultCacheSize,
		order:      list.New(),
		bySalt:     make(map[[SaltSize]byte]*list.Element),
	}, nil
}

// String hides the secret from fmt's %v and %s.
func (k *Key) String() string { return "encryption.Key{redacted}" }

// GoString hides the secret from fmt's %#v.
func (k *Key) GoString() string { return k.String() }

// LogValue hides the secret from log/slog.
func (k *Key) LogValue() slog.Value { return slog.StringValue(k.String()) }

// Decrypt returns the plaintext of a value encrypted by TestPlanIt (or by
// [Key.Encrypt]). Errors: [ErrMalformed] when blob is not base64 or is too
// short, [ErrDecrypt] when it does not authenticate under this key.
func (k *Key) Decrypt(blob string) ([]byte, error) {
	raw, err := decodeBase64(blob)
	if err != nil {
		return nil, err
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrMalformed)
	}
	if len(raw) < headerSize {
		return nil, fmt.Errorf("%w: too short (%d bytes; an encrypted value has at least %d)", ErrMalformed, len(raw), headerSize)
	}
	salt := [SaltSize]byte(raw[:SaltSize])
	nonce := raw[SaltSize : SaltSize+NonceSize]
	tag := raw[SaltSize+NonceSize : headerSize]
	ciphertext := raw[headerSize:]

	aead, err := k.aead(salt)
	if err != nil {
		return nil, err
	}
	// Go's AEAD wants the tag after the ciphertext; the format puts it
	// before.
	sealed := make([]byte, 0, len(ciphertext)+TagSize)
	sealed = append(append(sealed, ciphertext...), tag...)
	plain, err := aead.Open(nil, nonce, sealed, nil)
	if err != nil {
		return nil, ErrDecrypt
	}
	if plain == nil {
		plain = []byte{}
	}
	return plain, nil
}

// DecryptString is [Key.Decrypt] for text values such as OAuth tokens.
func (k *Key) DecryptString(blob string) (string, error) {
	b, err := k.Decrypt(blob)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// Encrypt encrypts plaintext with a fresh random salt and nonce, in the form
// TestPlanIt's decrypt reads.
func (k *Key) Encrypt(plaintext []byte) (string, error) {
	var salt [SaltSize]byte
	var nonce [NonceSize]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return "", fmt.Errorf("encryption: reading random salt: %w", err)
	}
	if _, err := rand.Read(nonce[:]); err != nil {
		return "", fmt.Errorf("encryption: reading random nonce: %w", err)
	}
	return k.seal(salt, nonce, plaintext)
}

// seal encrypts plaintext under salt and nonce.
func (k *Key) seal(salt [SaltSize]byte, nonce [NonceSize]byte, plaintext []byte) (string, error) {
	aead, err := k.aead(salt)
	if err != nil {
		return "", err
	}
	sealed := aead.Seal(nil, nonce[:], plaintext, nil) // ciphertext ‖ tag
	ciphertext, tag := sealed[:len(sealed)-TagSize], sealed[len(sealed)-TagSize:]
	out := make([]byte, 0, headerSize+len(ciphertext))
	out = append(out, salt[:]...)
	out = append(out, nonce[:]...)
	out = append(out, tag...)
	out = append(out, ciphertext...)
	return base64.StdEncoding.EncodeToString(out), nil
}

// aead returns the cipher for salt, from the cache or freshly derived. Two
// goroutines missing the same salt at once both derive it; the result is the
// same and only one copy is kept.
func (k *Key) aead(salt [SaltSize]byte) (cipher.AEAD, error) {
	k.mu.Lock()
	if el, ok := k.bySalt[salt]; ok {
		k.order.MoveToFront(el)
		a := el.Value.(*entry).aead
		k.mu.Unlock()
		return a, nil
	}
	k.mu.Unlock()

	dk, err := pbkdf2.Key(sha256.New, k.secret, salt[:], k.iterations, KeySize)
	if err != nil {
		return nil, fmt.Errorf("encryption: deriving key: %w", err)
	}
	block, err := aes.NewCipher(dk)
	if err != nil {
		return nil, fmt.Errorf("encryption: %w", err)
	}
	a, err := cipher.NewGCMWithNonceSize(block, NonceSize)
	if err != nil {
		return nil, fmt.Errorf("encryption: %w", err)
	}

	k.mu.Lock()
	defer k.mu.Unlock()
	if el, ok := k.bySalt[salt]; ok {
		k.order.MoveToFront(el)
		return el.Value.(*entry).aead, nil
	}
	k.bySalt[salt] = k.order.PushFront(&entry{salt: salt, aead: a})
	for k.order.Len() > k.capacity {
		last := k.order.Back()
		k.order.Remove(last)
		delete(k.bySalt, last.Value.(*entry).salt)
	}
	return a, nil
}

// decodeBase64 reads standard base64 as Node's Buffer.from(s, "base64")
// writes it, tolerating missing padding and surrounding white space. Its
// error says neither where nor what the bad input was.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	raw, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: not valid base64", ErrMalformed)
	}
	return raw, nil
}
