package reindex

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// jsonWriter appends one JSON document to b, members in the order they are
// written, as JSON.stringify writes the original's object literals. A Go
// pointer that is nil is written as null, which is what the original sends
// for a NULL column; a member the original leaves undefined (and
// JSON.stringify therefore drops) is simply not written.
type jsonWriter struct {
	b []byte
	// comma: a value was written at the current level, so the next key or
	// element needs a comma first.
	comma bool
}

func (w *jsonWriter) open(c byte) {
	w.sep()
	w.b = append(w.b, c)
	w.comma = false
}

func (w *jsonWriter) close(c byte) {
	w.b = append(w.b, c)
	w.comma = true
}

// sep writes the comma before an array element or key, if one is due.
func (w *jsonWriter) sep() {
	if w.comma {
		w.b = append(w.b, ',')
		w.comma = false
	}
}

// key writes "k": (k is a constant ASCII name, not escaped).
func (w *jsonWriter) key(k string) {
	w.sep()
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
}

func (w *jsonWriter) str(s string) {
	w.sep()
	w.b = appendJSONString(w.b, s)
	w.comma = true
}

func (w *jsonWriter) int(n int64) {
	w.sep()
	w.b = strconv.AppendInt(w.b, n, 10)
	w.comma = true
}

func (w *jsonWriter) bool(v bool) {
	w.sep()
	w.b = strconv.AppendBool(w.b, v)
	w.comma = true
}

func (w *jsonWriter) null() {
	w.sep()
	w.b = append(w.b, "null"...)
	w.comma = true
}

// float writes f as JavaScript prints a number; NaN and infinities, which
// JSON cannot hold, as null (as JSON.stringify does).
func (w *jsonWriter) float(f float64) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		w.null()
		return
	}
	w.sep()
	w.b = appendJSNumber(w.b, f)
	w.comma = true
}

// time writes t as Date.prototype.toJSON does: UTC, milliseconds, "Z".
func (w *jsonWriter) time(t time.Time) {
	w.sep()
	w.b = append(w.b, '"')
	w.b = appendISOTime(w.b, t)
	w.b = append(w.b, '"')
	w.comma = true
}

// rawString writes the text in b as a JSON string.
func (w *jsonWriter) rawString(b []byte) {
	w.sep()
	w.b = appendJSONString(w.b, b)
	w.comma = true
}

// Members: key and value in one call.

func (w *jsonWriter) kStr(k, v string)            { w.key(k); w.str(v) }
func (w *jsonWriter) kInt(k string, v int64)      { w.key(k); w.int(v) }
func (w *jsonWriter) kBool(k string, v bool)      { w.key(k); w.bool(v) }
func (w *jsonWriter) kTime(k string, v time.Time) { w.key(k); w.time(v) }

// kStrOrNull writes v, or null when v is nil.
func (w *jsonWriter) kStrOrNull(k string, v *string) {
	w.key(k)
	if v == nil {
		w.null()
		return
	}
	w.str(*v)
}

// kIntOrNull writes v, or null when v is nil.
func (w *jsonWriter) kIntOrNull(k string, v *int32) {
	w.key(k)
	if v == nil {
		w.null()
		return
	}
	w.int(int64(*v))
}

// kFloatOrNull writes v, or null when v is nil.
func (w *jsonWriter) kFloatOrNull(k string, v *float64) {
	w.key(k)
	if v == nil {
		w.null()
		return
	}
	w.float(*v)
}

// kTimeOrNull writes v, or null when v is nil.
func (w *jsonWriter) kTimeOrNull(k string, v *time.Time) {
	w.key(k)
	if v == nil {
		w.null()
		return
	}
	w.time(*v)
}

// kStrIfSet writes v only when it is not nil: the original's optional
// relation names (configuration?.name, ...) are undefined, hence absent,
// when the relation is.
func (w *jsonWriter) kStrIfSet(k string, v *string) {
	if v != nil {
		w.kStr(k, *v)
	}
}

// appendISOTime appends t in UTC as 2006-01-02T15:04:05.000Z, truncated to
// the millisecond like a JavaScript Date.
func appendISOTime(b []byte, t time.Time) []byte {
	return t.UTC().Truncate(time.Millisecond).AppendFormat(b, "2006-01-02T15:04:05.000Z")
}

// appendJSNumber appends f as JavaScript's Number.prototype.toString does
// for a finite number: integers without a fraction, the shortest digits that
// round-trip, exponent notation below 1e-6 and from 1e21 on.
func appendJSNumber(b []byte, f float64) []byte {
	if f == 0 {
		return append(b, '0') // also -0
	}
	if a := math.Abs(f); a >= 1e21 || a < 1e-6 {
		s := strconv.FormatFloat(f, 'e', -1, 64) // 1e+21, 1.5e-07
		mant, exp := s, ""
		for i := 0; i < len(s); i++ {
			if s[i] == 'e' {
				mant, exp = s[:i], s[i+1:]
				break
			}
		}
		b = append(b, mant...)
		b = append(b, 'e', exp[0])
		digits := exp[1:]
		for len(digits) > 1 && digits[0] == '0' {
			digits = digits[1:]
		}
		return append(b, digits...)
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}

// jsNumberString is appendJSNumber as a string.
func jsNumberString(f float64) string { return string(appendJSNumber(nil, f)) }

// appendJSONString appends s as a JSON string: quote, backslash and control
// characters escaped (the short forms where JSON has them), invalid UTF-8
// replaced by U+FFFD, everything else as is.
func appendJSONString[S ~string | ~[]byte](b []byte, s S) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= ' ' && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
			if r == utf8.RuneError && size == 1 {
				b = append(b, s[start:i]...)
				b = append(b, "\ufffd"...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
