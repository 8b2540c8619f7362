package testmoimport

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The column types of staged rows. Testmo writes ids as numbers (some exports quote them),
// booleans as 0/1 or true/false, timestamps as "2024-05-01 10:00:00" strings in UTC. Each type
// accepts those spellings and null; anything else is an error naming what was found, so a row
// with a nonsense value fails the import with its dataset and row instead of importing a zero.

// ID is an integer id or count column; Valid is false for null or absent.
type ID struct {
	N     int64
	Valid bool
}

// UnmarshalJSON accepts a JSON integer, a string holding one, or null.
func (v *ID) UnmarshalJSON(b []byte) error {
	*v = ID{}
	if isNull(b) {
		return nil
	}
	s := unquote(b)
	if s == "" {
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// 12.0 is an integer too.
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != float64(int64(f)) {
			return fmt.Errorf("want an integer, got %s", clip(b))
		}
		n = int64(f)
	}
	*v = ID{N: n, Valid: true}
	return nil
}

// Flag is a boolean column: 0/1, true/false, "0"/"1"/"true"/"false"; null is false.
type Flag bool

// UnmarshalJSON accepts the spellings above.
func (f *Flag) UnmarshalJSON(b []byte) error {
	*f = false
	if isNull(b) {
		return nil
	}
	switch strings.ToLower(strings.TrimSpace(unquote(b))) {
	case "1", "true", "yes":
		*f = true
	case "0", "false", "no", "":
	default:
		return fmt.Errorf("want a boolean, got %s", clip(b))
	}
	return nil
}

// Text is a text column: a string, or a number or boolean as written; null is "".
type Text string

// UnmarshalJSON accepts a string, a number, a boolean or null.
func (t *Text) UnmarshalJSON(b []byte) error {
	*t = ""
	if isNull(b) {
		return nil
	}
	if b[0] == '"' {
		var s string
		if err := jsonUnmarshal(b, &s); err != nil {
			return err
		}
		*t = Text(strings.ReplaceAll(s, "\x00", ""))
		return nil
	}
	if b[0] == '{' || b[0] == '[' {
		return fmt.Errorf("want text, got %s", clip(b))
	}
	*t = Text(b)
	return nil
}

// Time is a timestamp column, always UTC; Valid is false for null or "".
type Time struct {
	T     time.Time
	Valid bool
}

// timeLayouts are the spellings Testmo uses, read as UTC.
var timeLayouts = []string{
	"2006-01-02 15:04:05",
	"2006-01-02 15:04:05.999999",
	time.RFC3339Nano,
	"2006-01-02T15:04:05",
	"2006-01-02",
}

// UnmarshalJSON accepts the layouts above (zone-less ones are UTC, never the process's zone)
// and Unix seconds as a number.
func (t *Time) UnmarshalJSON(b []byte) error {
	*t = Time{}
	if isNull(b) {
		return nil
	}
	if b[0] != '"' {
		n, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil {
			return fmt.Errorf("want a timestamp, got %s", clip(b))
		}
		*t = Time{T: time.Unix(n, 0).UTC(), Valid: true}
		return nil
	}
	s := strings.TrimSpace(unquote(b))
	if s == "" {
		return nil
	}
	for _, l := range timeLayouts {
		if v, err := time.ParseInLocation(l, s, time.UTC); err == nil {
			*t = Time{T: v.UTC(), Valid: true}
			return nil
		}
	}
	return fmt.Errorf("want a timestamp, got %s", clip(b))
}

// Or returns t's time, else def.
func (t Time) Or(def time.Time) time.Time {
	if t.Valid {
		return t.T
	}
	return def
}

// Ptr returns t's time, or nil (SQL NULL).
func (t Time) Ptr() *time.Time {
	if t.Valid {
		return &t.T
	}
	return nil
}

func isNull(b []byte) bool { return len(b) == 0 || bytes.Equal(b, []byte("null")) }

// unquote returns a JSON string's content (escapes are rare in ids and flags; a string with
// escapes is decoded properly), or the raw text of any other value.
func unquote(b []byte) string {
	if len(b) >= 2 && b[0] == '"' {
		if bytes.IndexByte(b, '\\') < 0 {
			return string(b[1 : len(b)-1])
		}
		var s string
		if jsonUnmarshal(b, &s) == nil {
			return s
		}
	}
	return string(b)
}

func clip(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}
