package reindex

import (
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Rich text in TestPlanIt is TipTap (ProseMirror) JSON: a "doc" node whose
// "content" holds block nodes (paragraph, heading, lists, ...) down to "text"
// nodes. Columns hold it in two shapes, depending on which screen wrote them:
// as a JSON object in a Json column, or as a JSON string containing the
// serialised document (JSON.stringify before the write), and TEXT columns
// ("Projects".note and docs) hold the serialised document as plain text.
//
// The original flattens with extractTextFromNode (utils/extractTextFromJson.ts):
// a node's "text" if it is a non-empty string, else its "content" children
// joined with nothing between them, else "". That glues words across block
// boundaries ("Title" + "First line" becomes "TitleFirst line"), which the
// search analyzer then cannot find, and it indexes the stringified shape as
// raw JSON text. richTextJSON and richTextString keep its rules with two
// fixes: a node with content that is neither text nor a hard break (a block:
// paragraph, heading, list item, table cell, ...) is separated from its
// neighbours by one space, as is a "hardBreak"; and a string that holds a
// serialised JSON object is flattened as the document it is.
//
// The flattener reads the JSON once, writing text as it goes and taking it
// back when a later member decides otherwise (a non-empty "text" after
// "content", a second "content"), so it allocates nothing but its result.
// Its grammar and limits are encoding/json's (FuzzRichText holds it to an
// implementation on encoding/json).

// maxRichDepth is the nesting depth beyond which a document is refused, as
// encoding/json refuses it.
const maxRichDepth = 10000

// richTextJSON returns the plain text of a rich-text Json column as
// PostgreSQL returns it (nil for SQL NULL): a JSON object is flattened, a
// JSON string is handled by [richTextString], anything else (null, a number,
// a boolean, an array, invalid JSON) has no text.
func richTextJSON(raw []byte) string {
	p := richFlattener{in: raw}
	p.space()
	if p.i >= len(raw) {
		return ""
	}
	switch raw[p.i] {
	case '"':
		start := p.i
		if !p.skipString() {
			return ""
		}
		end := p.i
		if !p.atEnd() {
			return ""
		}
		return richTextString(string(appendUnquoted(nil, raw[start:end])))
	case '{':
		if _, ok := p.object(); !ok || !p.atEnd() {
			return ""
		}
		return string(p.out)
	default:
		return ""
	}
}

// richTextString returns the plain text of s: the flattened document when s
// is a serialised JSON object, s itself otherwise (plain text, or JSON that
// is not an object, or not valid).
func richTextString(s string) string {
	i := 0
	for i < len(s) && isJSONSpace(s[i]) {
		i++
	}
	if i == len(s) || s[i] != '{' {
		return s
	}
	p := richFlattener{in: []byte(s), i: i}
	if _, ok := p.object(); !ok || !p.atEnd() {
		return s
	}
	return string(p.out)
}

// richFlattener parses in from position i and writes the text into out;
// sep asks for a space before the next text.
type richFlattener struct {
	in    []byte
	i     int
	depth int
	out   []byte
	sep   bool
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (p *richFlattener) space() {
	for p.i < len(p.in) && isJSONSpace(p.in[p.i]) {
		p.i++
	}
}

// atEnd reports whether only white space is left.
func (p *richFlattener) atEnd() bool {
	p.space()
	return p.i == len(p.in)
}

func (p *richFlattener) enter() bool {
	p.depth++
	return p.depth <= maxRichDepth
}

// writeString writes the JSON string token in[start:end] as text: nothing
// when it is empty, else after a space if one is due.
func (p *richFlattener) writeString(start, end int) {
	if end-start <= 2 { // ""
		return
	}
	if p.sep && len(p.out) > 0 {
		p.out = append(p.out, ' ')
	}
	p.sep = false
	p.out = appendUnquoted(p.out, p.in[start:end])
}

// object flattens the node at p.i ('{'). block reports that it counts as a
// block for its parent: it has a "content" array and no non-empty "text".
func (p *richFlattener) object() (block, ok bool) {
	if !p.enter() {
		return false, false
	}
	p.i++
	start, sepStart := len(p.out), p.sep
	textStart, textEnd := -1, -1 // the last "text" member, when a string
	hard, hasContent := false, false
	p.space()
	if p.i < len(p.in) && p.in[p.i] == '}' {
		p.i++
		p.depth--
		return false, true
	}
	for {
		if p.i >= len(p.in) || p.in[p.i] != '"' {
			return false, false
		}
		keyStart := p.i
		if !p.skipString() {
			return false, false
		}
		key := p.in[keyStart:p.i]
		p.space()
		if p.i >= len(p.in) || p.in[p.i] != ':' {
			return false, false
		}
		p.i++
		p.space()
		if p.i >= len(p.in) {
			return false, false
		}
		isString := p.in[p.i] == '"'
		switch {
		case tokenIs(key, "text"):
			textStart = p.i
			if !p.skipValue() {
				return false, false
			}
			textEnd = p.i
			if !isString {
				textStart, textEnd = -1, -1
			}
		case tokenIs(key, "type"):
			valueStart := p.i
			if !p.skipValue() {
				return false, false
			}
			hard = isString && tokenIs(p.in[valueStart:p.i], "hardBreak")
		case tokenIs(key, "content"):
			// A later member replaces an earlier one: take back what the
			// earlier one wrote.
			p.out = p.out[:start]
			if p.in[p.i] == '[' {
				hasContent = true
				// A block is separated from what precedes it.
				p.sep = true
				if !p.content() {
					return false, false
				}
			} else {
				hasContent = false
				p.sep = sepStart
				if !p.skipValue() {
					return false, false
				}
			}
		default:
			if !p.skipValue() {
				return false, false
			}
		}
		p.space()
		if p.i >= len(p.in) {
			return false, false
		}
		if p.in[p.i] == '}' {
			p.i++
			break
		}
		if p.in[p.i] != ',' {
			return false, false
		}
		p.i++
		p.space()
	}
	p.depth--
	switch {
	case textStart >= 0 && textEnd-textStart > 2: // a non-empty text wins
		p.out, p.sep = p.out[:start], sepStart
		p.writeString(textStart, textEnd)
		return false, true
	case hard:
		p.out, p.sep = p.out[:start], true
		return hasContent, true
	case !hasContent:
		p.sep = sepStart
		return false, true
	default:
		return true, true
	}
}

// content flattens a "content" array at p.i: strings are text, objects are
// nodes, a block is followed by a separator.
func (p *richFlattener) content() bool {
	if !p.enter() {
		return false
	}
	p.i++
	p.space()
	if p.i < len(p.in) && p.in[p.i] == ']' {
		p.i++
		p.depth--
		return true
	}
	for {
		if p.i >= len(p.in) {
			return false
		}
		switch p.in[p.i] {
		case '"':
			start := p.i
			if !p.skipString() {
				return false
			}
			p.writeString(start, p.i)
		case '{':
			block, ok := p.object()
			if !ok {
				return false
			}
			if block {
				p.sep = true
			}
		default:
			if !p.skipValue() {
				return false
			}
		}
		p.space()
		if p.i >= len(p.in) {
			return false
		}
		if p.in[p.i] == ']' {
			p.i++
			p.depth--
			return true
		}
		if p.in[p.i] != ',' {
			return false
		}
		p.i++
		p.space()
	}
}

// skipValue checks the value at p.i and moves past it, writing nothing.
func (p *richFlattener) skipValue() bool {
	if p.i >= len(p.in) {
		return false
	}
	switch c := p.in[p.i]; c {
	case '{', '[':
		return p.skipContainer(c)
	case '"':
		return p.skipString()
	case 't':
		return p.literal("true")
	case 'f':
		return p.literal("false")
	case 'n':
		return p.literal("null")
	default:
		return p.number()
	}
}

// skipContainer checks the object or array at p.i.
func (p *richFlattener) skipContainer(open byte) bool {
	if !p.enter() {
		return false
	}
	closer := byte(']')
	if open == '{' {
		closer = '}'
	}
	p.i++
	p.space()
	if p.i < len(p.in) && p.in[p.i] == closer {
		p.i++
		p.depth--
		return true
	}
	for {
		if open == '{' {
			if p.i >= len(p.in) || p.in[p.i] != '"' || !p.skipString() {
				return false
			}
			p.space()
			if p.i >= len(p.in) || p.in[p.i] != ':' {
				return false
			}
			p.i++
			p.space()
		}
		if !p.skipValue() {
			return false
		}
		p.space()
		if p.i >= len(p.in) {
			return false
		}
		if p.in[p.i] == closer {
			p.i++
			p.depth--
			return true
		}
		if p.in[p.i] != ',' {
			return false
		}
		p.i++
		p.space()
	}
}

func (p *richFlattener) literal(word string) bool {
	if len(p.in)-p.i < len(word) || string(p.in[p.i:p.i+len(word)]) != word {
		return false
	}
	p.i += len(word)
	return true
}

// number checks -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (p *richFlattener) number() bool {
	b, i := p.in, p.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	p.i = i
	return true
}

// skipString checks the string token at p.i ('"') and moves past it:
// no control character, valid escapes.
func (p *richFlattener) skipString() bool {
	b := p.in
	for i := p.i + 1; i < len(b); {
		switch c := b[i]; {
		case c == '"':
			p.i = i + 1
			return true
		case c < ' ':
			return false
		case c == '\\':
			if i+1 >= len(b) {
				return false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if hex4(b[i+2:]) < 0 {
					return false
				}
				i += 6
			default:
				return false
			}
		default:
			i++
		}
	}
	return false
}

// tokenIs reports whether the checked string token tok decodes to s.
func tokenIs(tok []byte, s string) bool {
	if len(tok) == len(s)+2 && string(tok[1:len(tok)-1]) == s {
		return true
	}
	for _, c := range tok {
		if c == '\\' {
			var buf [32]byte
			return string(appendUnquoted(buf[:0], tok)) == s
		}
	}
	return false
}

// appendUnquoted appends the value of the checked string token tok (with
// its quotes) to dst, decoded as encoding/json decodes it: invalid UTF-8
// and unpaired surrogates become U+FFFD.
func appendUnquoted(dst, tok []byte) []byte {
	s := tok[1 : len(tok)-1]
	i := 0
	for i < len(s) {
		c := s[i]
		if c == '\\' || c >= utf8.RuneSelf {
			break
		}
		i++
	}
	dst = append(dst, s[:i]...)
	for i < len(s) {
		c := s[i]
		switch {
		case c == '\\':
			switch e := s[i+1]; e {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r := hex4(s[i+2:])
				i += 6
				if utf16.IsSurrogate(r) {
					// A valid pair is one rune; anything else is U+FFFD and
					// what follows is read on its own.
					if i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
						if d := utf16.DecodeRune(r, hex4(s[i+2:])); d != unicode.ReplacementChar {
							dst = utf8.AppendRune(dst, d)
							i += 6
							continue
						}
					}
					r = unicode.ReplacementChar
				}
				dst = utf8.AppendRune(dst, r)
				continue
			default: // " \ /
				dst = append(dst, e)
			}
			i += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			dst = utf8.AppendRune(dst, r) // U+FFFD for an invalid byte
			i += size
		}
	}
	return dst
}

// hex4 decodes four hex digits at the start of b, or returns -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}
