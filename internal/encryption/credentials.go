package encryption

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrCredentials means "Integration".credentials (or its decrypted content)
// is not a JSON object. The error never quotes the value.
var ErrCredentials = errors.New("encryption: credentials are not a JSON object")

// DecodeCredentials reads the JSONB of "Integration".credentials, which
// TestPlanIt stores either encrypted, as {"encrypted": "<base64>"}, or as
// plain JSON, and returns the credentials object (for API keys and PATs:
// email, apiToken, personalAccessToken). A JSONB string holding such JSON is
// read too. k may be nil when the value is not encrypted.
//
// Errors: [ErrCredentials] when a value is not a JSON object, [ErrNoKey]
// when the value is encrypted and k is nil, and [Key.Decrypt]'s errors.
func DecodeCredentials(k *Key, raw []byte) (map[string]any, error) {
	obj, err := decodeObject(raw, true)
	if err != nil {
		return nil, err
	}
	enc, ok := obj["encrypted"]
	if !ok {
		return obj, nil
	}
	blob, ok := enc.(string)
	if !ok {
		return nil, fmt.Errorf("%w: \"encrypted\" is not a string", ErrCredentials)
	}
	if k == nil {
		return nil, ErrNoKey
	}
	plain, err := k.Decrypt(blob)
	if err != nil {
		return nil, err
	}
	obj, err = decodeObject(plain, false)
	if err != nil {
		return nil, fmt.Errorf("decrypted credentials: %w", err)
	}
	return obj, nil
}

// decodeObject parses a JSON object; when unwrap is set, a JSON string is
// parsed once more (credentials saved as a JSON-encoded string). The JSON
// decoder's own errors are dropped: they quote the input.
func decodeObject(raw []byte, unwrap bool) (map[string]any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, fmt.Errorf("%w: empty", ErrCredentials)
	}
	if unwrap && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, ErrCredentials
		}
		return decodeObject([]byte(s), false)
	}
	var obj map[string]any
	if raw[0] != '{' || json.Unmarshal(raw, &obj) != nil || obj == nil {
		return nil, ErrCredentials
	}
	return obj, nil
}
