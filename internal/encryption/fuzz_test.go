package encryption_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/testplanit/tpi-workers/internal/encryption"
)

// FuzzDecrypt: Decrypt never panics, fails only with ErrMalformed or
// ErrDecrypt, and returns a plaintext only for a value that decodes to one
// of the genuine values' bytes (base64 spelling may vary, content may not).
//
// The fuzzed key derives with 1 000 PBKDF2 iterations (NewFastKey) so that
// inputs with a changed salt cost milliseconds, not a second under the
// fuzzer's instrumentation; parsing and authentication are the same code.
// The seeds are the Node vectors' plaintexts encrypted under that key.
func FuzzDecrypt(f *testing.F) {
	vf := loadVectors(f)
	k := encryption.NewFastKey(vf.Key)
	genuine := make(map[string]string) // decoded bytes → plaintext
	for n, v := range vf.Vectors {
		// Fixed salt and nonce: every fuzzing process must build the same
		// genuine values.
		var salt [encryption.SaltSize]byte
		var nonce [encryption.NonceSize]byte
		salt[0], nonce[0] = byte(n), byte(n)
		blob, err := k.Seal(salt, nonce, []byte(v.Plaintext))
		if err != nil {
			f.Fatal(err)
		}
		raw, err := base64.StdEncoding.DecodeString(blob)
		if err != nil {
			f.Fatal(err)
		}
		genuine[string(raw)] = v.Plaintext
		f.Add(blob)
		if n > 0 {
			continue
		}
		// One-byte changes in each region of the first value as seeds
		// (each changed salt costs a key derivation).
		for _, i := range []int{0, encryption.SaltSize, encryption.SaltSize + encryption.NonceSize, len(raw) - 1} {
			m := bytes.Clone(raw)
			m[i] ^= 0x01
			f.Add(base64.StdEncoding.EncodeToString(m))
		}
		f.Add(blob[:len(blob)-4])
	}
	f.Add("")
	f.Add("====")
	f.Add(strings.Repeat("A", 86))

	f.Fuzz(func(t *testing.T, blob string) {
		got, err := k.Decrypt(blob)
		if err != nil {
			if got != nil {
				t.Fatalf("Decrypt returned %q with error %v", got, err)
			}
			if !errors.Is(err, encryption.ErrMalformed) && !errors.Is(err, encryption.ErrDecrypt) {
				t.Fatalf("unexpected error class: %v", err)
			}
			if len(blob) >= 8 && strings.Contains(err.Error(), blob) {
				t.Fatalf("error %q quotes the input", err)
			}
			return
		}
		raw, derr := base64.RawStdEncoding.DecodeString(strings.TrimRight(strings.TrimSpace(blob), "="))
		if derr != nil {
			t.Fatalf("Decrypt accepted %q, which is not base64", blob)
		}
		want, ok := genuine[string(raw)]
		if !ok {
			t.Fatalf("Decrypt returned plaintext %q for a modified value", got)
		}
		if string(got) != want {
			t.Fatalf("Decrypt = %q, want %q", got, want)
		}
	})
}
