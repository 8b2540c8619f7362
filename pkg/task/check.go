package task

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Validation helpers. Each returns nil or a *PayloadError as an error (never a
// typed nil), so Validate methods chain them with firstError.

func invalid(field, format string, args ...any) error {
	return &PayloadError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// firstError returns the first non-nil error.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// required checks that v is not blank and is storable text.
func required(field, v string) error {
	if strings.TrimSpace(v) == "" {
		return invalid(field, "required")
	}
	return text(field, v)
}

// text checks that v, if set, can be stored in a PostgreSQL text column:
// PostgreSQL rejects NUL, and the task would otherwise fail on every retry.
func text(field, v string) error {
	if strings.IndexByte(v, 0) >= 0 {
		return invalid(field, `must not contain NUL (\u0000): PostgreSQL cannot store it`)
	}
	return nil
}

// isAbsent reports whether a raw JSON value is missing or null.
func isAbsent(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// jsonValue checks that raw, if present, is JSON that PostgreSQL's jsonb can
// store; if object is set it must be a JSON object.
func jsonValue(field string, raw json.RawMessage, object bool) error {
	if isAbsent(raw) {
		return nil
	}
	if !json.Valid(raw) {
		return invalid(field, "must be valid JSON")
	}
	if object {
		if kind := jsonKind(raw); kind != "object" {
			return invalid(field, "must be a JSON object, got %s", kind)
		}
	}
	if off, what := unstorableEscape(raw); off >= 0 {
		return invalid(field, "contains %s at offset %d, which PostgreSQL jsonb cannot store", what, off)
	}
	return nil
}

// jsonKind names the kind of a valid JSON value.
func jsonKind(raw []byte) string {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return "nothing"
	}
	switch t[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

// unstorableEscape finds, in valid JSON, the first string escape that jsonb
// rejects: \u0000 or a UTF-16 surrogate escape that is not part of a pair. It
// returns the offset of the escape and a description, or -1.
func unstorableEscape(b []byte) (int, string) {
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !inString {
			if c == '"' {
				inString = true
			}
			continue
		}
		switch c {
		case '"':
			inString = false
		case '\\':
			if i+1 >= len(b) {
				return -1, ""
			}
			if b[i+1] != 'u' {
				i++ // skip the escaped character
				continue
			}
			r, ok := hex4(b, i+2)
			if !ok {
				return -1, "" // not valid JSON; the caller has checked
			}
			switch {
			case r == 0:
				return i, `the escape \u0000 (NUL)`
			case r >= 0xD800 && r < 0xDC00:
				lo, ok := -1, false
				if i+7 < len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
					lo, ok = hex4(b, i+8)
				}
				if !ok || lo < 0xDC00 || lo >= 0xE000 {
					return i, "an unpaired surrogate escape"
				}
				i += 11 // both escapes
			case r >= 0xDC00 && r < 0xE000:
				return i, "an unpaired surrogate escape"
			default:
				i += 5
			}
		}
	}
	return -1, ""
}

// hex4 decodes the four hex digits at b[i:i+4].
func hex4(b []byte, i int) (int, bool) {
	if i < 0 || i+4 > len(b) {
		return 0, false
	}
	r := 0
	for _, c := range b[i : i+4] {
		r <<= 4
		switch {
		case '0' <= c && c <= '9':
			r |= int(c - '0')
		case 'a' <= c && c <= 'f':
			r |= int(c-'a') + 10
		case 'A' <= c && c <= 'F':
			r |= int(c-'A') + 10
		default:
			return 0, false
		}
	}
	return r, true
}

// positive checks that a required id is a positive integer.
func positive(field string, v int) error {
	switch {
	case v == 0:
		return invalid(field, "required (a positive integer)")
	case v < 0:
		return invalid(field, "must be a positive integer, got %d", v)
	}
	return nil
}
