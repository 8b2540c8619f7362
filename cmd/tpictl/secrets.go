package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/testplanit/tpi-workers/internal/dashboard"
)

// cmdHashPassword reads a password from the first line of stdin and prints
// its bcrypt hash for DASHBOARD_PASSWORD_HASH or
// DASHBOARD_VIEWER_PASSWORD_HASH.
func cmdHashPassword(_ context.Context, c *cli, args []string) error {
	if len(args) != 0 {
		return errUsage
	}
	line, err := bufio.NewReader(c.in).ReadString('\n')
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		if err != nil {
			return errors.New("hash-password: no password on stdin (echo -n 'secret' | tpictl hash-password)")
		}
		return errors.New("hash-password: empty password")
	}
	if len(pw) < 12 {
		return errors.New("hash-password: use at least 12 characters")
	}
	h, err := dashboard.HashPassword(pw)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.out, h)
	return nil
}

// cmdNewToken prints a random token and the SHA-256 hash to configure.
func cmdNewToken(_ context.Context, c *cli, args []string) error {
	if len(args) != 0 {
		return errUsage
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	tok := "tpiw_" + base64.RawURLEncoding.EncodeToString(b)
	fmt.Fprintf(c.out, "token: %s\nhash:  %s\n", tok, dashboard.HashToken(tok))
	fmt.Fprintln(c.out, "Give the token to the caller; put the hash in DASHBOARD_TOKEN_HASH, DASHBOARD_VIEWER_TOKEN_HASH or DASHBOARD_PRODUCER_TOKEN_HASH.")
	return nil
}

// redacted replaces a secret in what tpictl shows.
const redacted = "[redacted]"

// secretKeyParts are the parts of a JSON key, lower-cased and without "_",
// "-" and ".", whose value is a secret: password, apiToken, access_token,
// clientSecret, apiKey, credentials, Authorization, cookie, ...
var secretKeyParts = []string{
	"password", "passwd", "passphrase", "secret", "token", "apikey", "accesskey",
	"privatekey", "credential", "authorization", "cookie", "sessionid",
}

// isSecretKey reports whether a JSON key names a secret, whatever its case
// and separators.
func isSecretKey(key string) bool {
	k := strings.NewReplacer("_", "", "-", "", ".", "").Replace(strings.ToLower(key))
	if k == "auth" || k == "pwd" {
		return true
	}
	for _, p := range secretKeyParts {
		if strings.Contains(k, p) {
			return true
		}
	}
	return false
}

// secretShapes match secrets in free text (an error message, a string value
// under an innocent key); each keeps its groups 1 and 2 (if any) and hides
// what lies between them.
var secretShapes = []*regexp.Regexp{
	// The password of a URL: scheme://user:secret@host.
	regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@]*:)[^\s@/?#]+(@)`),
	// An Authorization header's credentials.
	regexp.MustCompile(`(?i)(\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{8,}`),
	// password=..., token=..., api_key=... in a query string or a DSN.
	regexp.MustCompile(`(?i)(\b[a-z_]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key)=)[^\s&;,]+`),
	// A JWT.
	regexp.MustCompile(`()\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*`),
	// Provider tokens by prefix: GitHub, GitLab, Slack, AWS access keys, the
	// dashboard's own tokens, sk- API keys.
	regexp.MustCompile(`()\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,}|xox[abposr]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|tpiw_[A-Za-z0-9_-]{20,}|sk-[A-Za-z0-9_-]{20,})`),
}

// redactText hides the secrets of known shape in s.
func redactText(s string) string {
	for _, re := range secretShapes {
		s = re.ReplaceAllString(s, "${1}"+redacted+"${2}")
	}
	return s
}

// redactJSON returns doc, a JSON document, indented with prefix before
// each line but the first, with the value of every secret-named key replaced
// by "[redacted]" at any depth, and secrets of known shape hidden in the
// other strings (also inside a string that holds JSON itself). Keys come out
// sorted. ok is false when doc is not JSON: the caller must then not show
// it, as it may hold secrets in any shape.
func redactJSON(doc []byte, prefix string) (out string, ok bool) {
	v, ok := decodeJSON(doc)
	if !ok {
		return "", false
	}
	return encodeJSON(redactValue(v), prefix, true), true
}

// decodeJSON decodes one JSON document, keeping numbers as written.
func decodeJSON(doc []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, false
	}
	return v, true
}

// encodeJSON encodes a decoded document, indented or compact, without
// escaping <, > and &.
func encodeJSON(v any, prefix string, indented bool) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if indented {
		enc.SetIndent(prefix, "  ")
	}
	if err := enc.Encode(v); err != nil {
		return redacted // unreachable for a decoded document
	}
	return strings.TrimRight(b.String(), "\n")
}

// redactValue redacts a decoded JSON value in place and returns it.
func redactValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if isSecretKey(k) {
				v[k] = redacted
			} else {
				v[k] = redactValue(e)
			}
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = redactValue(e)
		}
		return v
	case string:
		if t := strings.TrimSpace(v); strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") {
			if inner, ok := decodeJSON([]byte(t)); ok {
				return encodeJSON(redactValue(inner), "", false)
			}
		}
		return redactText(v)
	default:
		return v
	}
}
