package tiptap

import (
	"strconv"
	"unicode/utf8"
)

// appendEscaped appends s to dst as the inside of a JSON string: quotes,
// backslashes and control characters escaped, NUL dropped (jsonb refuses
// \u0000), a no-break space written as a space, invalid UTF-8 replaced by
// U+FFFD.
func appendEscaped[S string | []byte](dst []byte, s S) []byte {
	const hex = "0123456789abcdef"
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\' {
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		switch {
		case c == '"':
			dst = append(dst, '\\', '"')
		case c == '\\':
			dst = append(dst, '\\', '\\')
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c == 0:
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		case c == 0xc2 && i+1 < len(s) && s[i+1] == 0xa0:
			dst = append(dst, ' ')
			i += 2
			start = i
			continue
		default:
			r, size := decodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, "\uFFFD"...)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
			start = i
			continue
		}
		i++
		start = i
	}
	return append(dst, s[start:]...)
}

// decodeRune is utf8.DecodeRune for a string or a byte slice.
func decodeRune[S string | []byte](s S) (rune, int) {
	var buf [utf8.UTFMax]byte
	n := copy(buf[:], s)
	return utf8.DecodeRune(buf[:n])
}

// appendString appends s as a JSON string.
func appendString[S string | []byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	dst = appendEscaped(dst, s)
	return append(dst, '"')
}

// appendNullable appends s as a JSON string, or null when ok is false.
func appendNullable[S string | []byte](dst []byte, s S, ok bool) []byte {
	if !ok {
		return append(dst, "null"...)
	}
	return appendString(dst, s)
}

// Marks, in the order of TipTap's schema (link, with priority 1000, comes
// before them), which is the order ProseMirror lists a text's marks in.
const (
	markBold = iota
	markCode
	markItalic
	markStrike
	markUnderline
	markCount
)

// markJSON returns the JSON of the mark m (one of the constants above).
func markJSON(m int) string {
	switch m {
	case markBold:
		return `{"type":"bold"}`
	case markCode:
		return `{"type":"code"}`
	case markItalic:
		return `{"type":"italic"}`
	case markStrike:
		return `{"type":"strike"}`
	default:
		return `{"type":"underline"}`
	}
}

// markSet is the marks of a text: a bit per mark constant, and the link as
// an index into converter.links plus one (0 for none).
type markSet struct {
	bits uint8
	link int32
}

// linkAttrs is the attributes of a link mark; target and rel hold TipTap's
// defaults unless the element had its own.
type linkAttrs struct {
	href, target, rel, class string
	hasClass                 bool
}

// appendMarks appends the "marks" member for m, nothing when m is empty.
func appendMarks(dst []byte, m markSet, links []linkAttrs) []byte {
	if m.bits == 0 && m.link == 0 {
		return dst
	}
	dst = append(dst, `,"marks":[`...)
	first := true
	if m.link > 0 {
		l := &links[m.link-1]
		dst = append(dst, `{"type":"link","attrs":{"href":`...)
		dst = appendString(dst, l.href)
		dst = append(dst, `,"target":`...)
		dst = appendString(dst, l.target)
		dst = append(dst, `,"rel":`...)
		dst = appendString(dst, l.rel)
		dst = append(dst, `,"class":`...)
		dst = appendNullable(dst, l.class, l.hasClass)
		dst = append(dst, "}}"...)
		first = false
	}
	for i := range markCount {
		if m.bits&(1<<i) == 0 {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, markJSON(i)...)
	}
	return append(dst, ']')
}

// appendInt appends n in decimal.
func appendInt(dst []byte, n int) []byte {
	return strconv.AppendInt(dst, int64(n), 10)
}
