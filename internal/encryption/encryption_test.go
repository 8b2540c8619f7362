package encryption_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/testplanit/tpi-workers/internal/encryption"
)

// vectors.json is made by testdata/make-vectors.mjs, with Node's crypto
// exactly as TestPlanIt encrypts (`node make-vectors.mjs generate`).
type vectorFile struct {
	Key     string `json:"key"`
	Vectors []struct {
		Name      string `json:"name"`
		Plaintext string `json:"plaintext"`
		Blob      string `json:"blob"`
	} `json:"vectors"`
}

func loadVectors(tb testing.TB) vectorFile {
	tb.Helper()
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		tb.Fatal(err)
	}
	var vf vectorFile
	if err := json.Unmarshal(b, &vf); err != nil {
		tb.Fatal(err)
	}
	if vf.Key == "" || len(vf.Vectors) < 5 {
		tb.Fatalf("testdata/vectors.json: key %q and %d vectors; regenerate it with make-vectors.mjs", vf.Key, len(vf.Vectors))
	}
	return vf
}

func newKey(tb testing.TB, secret string) *encryption.Key {
	tb.Helper()
	k, err := encryption.NewKey(secret)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func TestDecryptNodeVectors(t *testing.T) {
	t.Parallel()
	vf := loadVectors(t)
	k := newKey(t, vf.Key)
	for _, v := range vf.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			got, err := k.Decrypt(v.Blob)
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			if !bytes.Equal(got, []byte(v.Plaintext)) {
				t.Fatalf("Decrypt = %q, want %q", got, v.Plaintext)
			}
			s, err := k.DecryptString(v.Blob)
			if err != nil || s != v.Plaintext {
				t.Fatalf("DecryptString = %q, %v; want %q", s, err, v.Plaintext)
			}
		})
	}
}

func TestDecryptEmptyPlaintextIsEmptyNotNil(t *testing.T) {
	t.Parallel()
	k := encryption.NewFastKey("k")
	blob, err := k.Encrypt(nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := k.Decrypt(blob)
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("Decrypt(Encrypt(nil)) = %#v, %v; want empty non-nil slice", got, err)
	}
}

func TestEncryptFormat(t *testing.T) {
	t.Parallel()
	k := newKey(t, "format key")
	plain := []byte("hello, TestPlanIt")
	a, err := k.Encrypt(plain)
	if err != nil {
		t.Fatal(err)
	}
	b, err := k.Encrypt(plain)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatal("two encryptions of the same plaintext are equal: salt and nonce must be random")
	}
	raw, err := base64.StdEncoding.DecodeString(a) // padded standard base64, as Node writes
	if err != nil {
		t.Fatalf("Encrypt output is not padded standard base64: %v", err)
	}
	if want := encryption.SaltSize + encryption.NonceSize + encryption.TagSize + len(plain); len(raw) != want {
		t.Fatalf("decoded length %d, want %d (salt ‖ iv ‖ tag ‖ ciphertext)", len(raw), want)
	}
	for _, blob := range []string{a, b} {
		got, err := k.Decrypt(blob)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("Decrypt(Encrypt(p)) = %q, %v", got, err)
		}
	}
}

// TestNodeDecryptsGoValues runs the original algorithm in Node on values
// that Go encrypted: the web app must read the tokens the sync worker
// writes back.
func TestNodeDecryptsGoValues(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not on PATH (%v): this test checks that TestPlanIt's Node code decrypts what Go encrypts; install Node ≥ 18 (no npm packages needed)", err)
	}
	const secret = "go→node interop key"
	k := newKey(t, secret)
	plains := []string{
		`{"email":"a@example.com","apiToken":"tok"}`,
		"gho_0123456789abcdefghijklmnopqrstuvwxyz",
		"Grüße 🔑 \x00 end " + strings.Repeat("x", 3000),
		"",
	}
	blobs := make([]string, len(plains))
	for i, p := range plains {
		if blobs[i], err = k.Encrypt([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	// One blob under another key: Node must refuse it, proving the check
	// is real.
	other := newKey(t, "another key")
	wrong, err := other.Encrypt([]byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	in, _ := json.Marshal(append(blobs, wrong))

	cmd := exec.CommandContext(t.Context(), node, "testdata/make-vectors.mjs", "decrypt")
	cmd.Env = append(os.Environ(), "TPI_ENCRYPTION_KEY="+secret)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node make-vectors.mjs decrypt: %v\n%s", err, stderr.String())
	}
	var res []struct {
		Plaintext *string `json:"plaintext"`
		Error     string  `json:"error"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("node output: %v\n%s", err, out)
	}
	if len(res) != len(plains)+1 {
		t.Fatalf("node returned %d results, want %d", len(res), len(plains)+1)
	}
	for i, p := range plains {
		if res[i].Plaintext == nil {
			t.Errorf("node could not decrypt Go value %d: %s", i, res[i].Error)
			continue
		}
		got, err := base64.StdEncoding.DecodeString(*res[i].Plaintext)
		if err != nil || string(got) != p {
			t.Errorf("node decrypted value %d to %q (%v), want %q", i, got, err, p)
		}
	}
	if last := res[len(plains)]; last.Plaintext != nil || last.Error == "" {
		t.Errorf("node decrypted a value made under another key: %+v", last)
	}
}

func TestNewKeyRefusesEmpty(t *testing.T) {
	t.Parallel()
	k, err := encryption.NewKey("")
	if !errors.Is(err, encryption.ErrNoKey) || k != nil {
		t.Fatalf("NewKey(\"\") = %v, %v; want nil, ErrNoKey", k, err)
	}
}

// assertClean fails when err's text holds any of the secrets.
func assertClean(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && len(s) >= 4 && strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains %q", err, s)
		}
	}
}

func TestDecryptWrongKey(t *testing.T) {
	t.Parallel()
	vf := loadVectors(t)
	wrong := newKey(t, vf.Key+"x")
	for _, v := range vf.Vectors[:2] {
		got, err := wrong.Decrypt(v.Blob)
		if !errors.Is(err, encryption.ErrDecrypt) || got != nil {
			t.Fatalf("%s: Decrypt under the wrong key = %q, %v; want ErrDecrypt", v.Name, got, err)
		}
		if !strings.Contains(err.Error(), "wrong ENCRYPTION_KEY or corrupted value") {
			t.Errorf("error %q does not say what to check", err)
		}
		assertClean(t, err, vf.Key, v.Blob, v.Plaintext, v.Blob[:16])
	}
}

func TestDecryptTampered(t *testing.T) {
	t.Parallel()
	vf := loadVectors(t)
	k := newKey(t, vf.Key)
	v := vf.Vectors[0]
	raw, err := base64.StdEncoding.DecodeString(v.Blob)
	if err != nil {
		t.Fatal(err)
	}
	h := encryption.SaltSize + encryption.NonceSize + encryption.TagSize
	cases := map[string]func([]byte) []byte{
		"salt":             func(b []byte) []byte { b[3] ^= 0x01; return b },
		"iv":               func(b []byte) []byte { b[encryption.SaltSize+5] ^= 0x80; return b },
		"tag":              func(b []byte) []byte { b[encryption.SaltSize+encryption.NonceSize] ^= 0x10; return b },
		"ciphertext":       func(b []byte) []byte { b[h] ^= 0x01; return b },
		"last byte":        func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b },
		"truncated":        func(b []byte) []byte { return b[:len(b)-1] },
		"appended":         func(b []byte) []byte { return append(b, 0) },
		"tag and ct moved": func(b []byte) []byte { return append(append(append([]byte{}, b[:h-16]...), b[h:]...), b[h-16:h]...) },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			blob := base64.StdEncoding.EncodeToString(mutate(bytes.Clone(raw)))
			got, err := k.Decrypt(blob)
			if !errors.Is(err, encryption.ErrDecrypt) || got != nil {
				t.Fatalf("Decrypt(tampered) = %q, %v; want ErrDecrypt", got, err)
			}
			assertClean(t, err, vf.Key, blob, v.Plaintext)
		})
	}
}

func TestDecryptMalformed(t *testing.T) {
	t.Parallel()
	k := newKey(t, "k")
	short := base64.StdEncoding.EncodeToString(make([]byte, 63))
	for name, blob := range map[string]string{
		"empty":           "",
		"spaces":          "   ",
		"not base64":      "this is {not} base64!",
		"bad char at end": strings.Repeat("A", 100) + "*",
		"too short":       short,
		"plain json":      `{"apiToken":"abcdefgh"}`,
	} {
		t.Run(name, func(t *testing.T) {
			got, err := k.Decrypt(blob)
			if !errors.Is(err, encryption.ErrMalformed) || got != nil {
				t.Fatalf("Decrypt = %q, %v; want ErrMalformed", got, err)
			}
			assertClean(t, err, blob, "abcdefgh", "input byte", "offset")
		})
	}
}

func TestDecryptToleratesNodeBase64Leniency(t *testing.T) {
	t.Parallel()
	vf := loadVectors(t)
	k := newKey(t, vf.Key)
	v := vf.Vectors[0]
	for _, blob := range []string{
		strings.TrimRight(v.Blob, "="),
		"  " + v.Blob + "\n",
	} {
		if got, err := k.Decrypt(blob); err != nil || string(got) != v.Plaintext {
			t.Fatalf("Decrypt(%q…) = %q, %v", blob[:10], got, err)
		}
	}
}

func TestKeyNeverPrintsSecret(t *testing.T) {
	t.Parallel()
	const secret = "super-secret-encryption-key"
	k := newKey(t, secret)
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("key", "k", k)
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%+v", k), fmt.Sprintf("%#v", k), logged.String()} {
		if strings.Contains(s, secret) {
			t.Errorf("printed key %q shows the secret", s)
		}
	}
}

func TestCacheIsBounded(t *testing.T) {
	t.Parallel()
	k := encryption.NewFastKey("cache")
	k.SetCacheSize(3)
	blobs := make([]string, 6)
	for i := range blobs {
		var err error
		if blobs[i], err = k.Encrypt([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if n := k.Cached(); n > 3 {
			t.Fatalf("after %d values the cache holds %d keys, want ≤ 3", i+1, n)
		}
	}
	// Evicted keys are derived again.
	for i, blob := range blobs {
		got, err := k.Decrypt(blob)
		if err != nil || !bytes.Equal(got, []byte{byte(i)}) {
			t.Fatalf("Decrypt(blob %d) = %v, %v", i, got, err)
		}
	}
	if n := k.Cached(); n != 3 {
		t.Fatalf("cache holds %d keys, want 3", n)
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	k := encryption.NewFastKey("concurrent")
	k.SetCacheSize(3) // force evictions under concurrency
	plains := []string{"a", "bb", "ccc", "dddd", "eeeee"}
	shared := make([]string, len(plains)) // values every goroutine decrypts
	for i, p := range plains {
		var err error
		if shared[i], err = k.Encrypt([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 256)
	for g := range 8 {
		wg.Go(func() {
			for i := range 10 {
				j := (g + i) % len(plains)
				got, err := k.DecryptString(shared[j])
				if err != nil || got != plains[j] {
					errs <- fmt.Errorf("shared %d: %q, %v", j, got, err)
				}
				blob, err := k.Encrypt([]byte(plains[j]))
				if err != nil {
					errs <- err
					continue
				}
				if got, err := k.DecryptString(blob); err != nil || got != plains[j] {
					errs <- fmt.Errorf("round trip %d: %q, %v", j, got, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := k.Cached(); n > 3 {
		t.Errorf("cache holds %d keys, want ≤ 3", n)
	}
}

func TestDecodeCredentials(t *testing.T) {
	t.Parallel()
	vf := loadVectors(t)
	k := newKey(t, vf.Key)
	fast := encryption.NewFastKey("credentials")
	encrypted := func(plain string) []byte {
		blob, err := fast.Encrypt([]byte(plain))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(map[string]string{"encrypted": blob})
		return b
	}
	var nodeCreds string
	for _, v := range vf.Vectors {
		if v.Name == "api-token credentials" {
			b, _ := json.Marshal(map[string]string{"encrypted": v.Blob})
			nodeCreds = string(b)
		}
	}
	if nodeCreds == "" {
		t.Fatal(`vectors.json has no "api-token credentials" vector`)
	}

	tests := []struct {
		name    string
		key     *encryption.Key
		raw     string
		want    map[string]any
		wantErr error
	}{
		{name: "encrypted by Node", key: k, raw: nodeCreds,
			want: map[string]any{"email": "qa.lead@example.com", "apiToken": "ATATT3xFfGF0-test-token-0123456789"}},
		{name: "encrypted by Go", key: fast, raw: string(encrypted(`{"personalAccessToken":"pat-1"}`)),
			want: map[string]any{"personalAccessToken": "pat-1"}},
		{name: "plain", key: k, raw: ` {"email":"e@x","apiToken":"t"} `,
			want: map[string]any{"email": "e@x", "apiToken": "t"}},
		{name: "plain without key", key: nil, raw: `{"personalAccessToken":"p"}`,
			want: map[string]any{"personalAccessToken": "p"}},
		{name: "JSON string holding JSON", key: k, raw: `"{\"apiToken\":\"t\"}"`,
			want: map[string]any{"apiToken": "t"}},
		{name: "JSON string holding encrypted", key: fast, raw: mustMarshal(t, string(encrypted(`{"apiToken":"t2"}`))),
			want: map[string]any{"apiToken": "t2"}},
		{name: "encrypted without key", key: nil, raw: nodeCreds, wantErr: encryption.ErrNoKey},
		{name: "encrypted under another key", key: k, raw: string(encrypted(`{"apiToken":"hunter2"}`)), wantErr: encryption.ErrDecrypt},
		{name: "encrypted not a string", key: k, raw: `{"encrypted":42}`, wantErr: encryption.ErrCredentials},
		{name: "encrypted not base64", key: fast, raw: `{"encrypted":"%%%"}`, wantErr: encryption.ErrMalformed},
		{name: "decrypted not an object", key: fast, raw: string(encrypted(`hunter2-not-json`)), wantErr: encryption.ErrCredentials},
		{name: "decrypted array", key: fast, raw: string(encrypted(`["hunter2-in-array"]`)), wantErr: encryption.ErrCredentials},
		{name: "empty", key: k, raw: ``, wantErr: encryption.ErrCredentials},
		{name: "null", key: k, raw: `null`, wantErr: encryption.ErrCredentials},
		{name: "array", key: k, raw: `["hunter2-plain"]`, wantErr: encryption.ErrCredentials},
		{name: "broken JSON", key: k, raw: `{"apiToken":"hunter2-broken"`, wantErr: encryption.ErrCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encryption.DecodeCredentials(tt.key, []byte(tt.raw))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || got != nil {
					t.Fatalf("DecodeCredentials = %v, %v; want %v", got, err, tt.wantErr)
				}
				assertClean(t, err, "hunter2", vf.Key, "ATATT3x")
				return
			}
			if err != nil {
				t.Fatalf("DecodeCredentials: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("DecodeCredentials (-want +got):\n%s", diff)
			}
		})
	}
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func BenchmarkDecrypt(b *testing.B) {
	vf := loadVectors(b)
	blob := vf.Vectors[0].Blob
	b.Run("cached", func(b *testing.B) {
		k := newKey(b, vf.Key)
		if _, err := k.Decrypt(blob); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := k.Decrypt(blob); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("derive", func(b *testing.B) {
		for b.Loop() {
			k := newKey(b, vf.Key)
			if _, err := k.Decrypt(blob); err != nil {
				b.Fatal(err)
			}
		}
	})
}
