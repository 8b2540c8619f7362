// Package tiptap is internal to the tpi-workers fleet: it converts rich text
// to the TipTap (ProseMirror) JSON documents that TestPlanIt stores in its
// rich-text columns (case steps, expected results, notes, docs, comments).
//
// [FromHTML] does what TestPlanIt's Testmo importer does with happy-dom and
// TipTap's StarterKit (headings 1 to 4, plus the link, underline and image
// extensions): it reads HTML as a browser would and keeps what the schema
// can hold. The documents it makes are valid for that schema: doc,
// blockquote and lists are never empty, a list holds list items only, a
// list item starts with a paragraph, text nodes are never empty, adjacent
// text with the same marks is one node. [Text] wraps plain text.
//
// # Nodes and marks
//
//   - p → paragraph; h1–h4 → heading {"level":n}, h5 and h6 → level 4;
//     ul → bulletList; ol → orderedList {"start":n} (1 without a start
//     attribute, as TipTap fills it); li → listItem; blockquote →
//     blockquote; pre → codeBlock {"language":…} (the "language-x" class of
//     its first element, else of the pre, else null); br → hardBreak; hr →
//     horizontalRule; img → image {"src","alt","title"} (a block node, as in
//     TipTap; data: images are dropped, as TipTap's allowBase64 false does).
//   - b, strong → bold; i, em → italic; s, del, strike → strike; u →
//     underline; code → code, which excludes every other mark as TipTap's
//     does; a[href] → link {"href","target","rel","class"} with TipTap's
//     defaults, unless the href has a scheme TipTap refuses (javascript:).
//     Marks are listed in schema order: link, bold, code, italic, strike,
//     underline.
//   - Tables become one paragraph per row, its non-empty cells joined by
//     " | ". Other elements keep their content; div, section and the other
//     block-level elements end the paragraph they interrupt. script, style,
//     title, noscript, object, template and iframe are dropped with their
//     content.
//
// White space is collapsed as a browser (and ProseMirror's DOMParser) does:
// runs become one space, dropped at the start and end of a block and after
// a hard break; a no-break space counts as a space. Inside pre it is kept.
// NUL characters are dropped (PostgreSQL's jsonb refuses \u0000) and
// invalid UTF-8 becomes U+FFFD.
//
// Malformed HTML is read leniently, after the HTML standard's main rules: a
// p, li or heading is closed by what closes it in a browser, an end tag
// closes what was opened inside its element, formatting left open there is
// opened again after it, and an end tag that matches nothing is ignored.
// Nesting deeper than a few dozen lists or blockquotes is flattened.
package tiptap

import (
	"strings"

	"golang.org/x/net/html"
)

// FromHTML returns the TipTap JSON document for the HTML src, compact, as
// TestPlanIt stores it. Empty or white-space-only src gives the document of
// an empty editor, {"type":"doc","content":[{"type":"paragraph"}]}. src
// without any tag is read as plain text (see [Text]) after its character
// references are decoded. Every input has a document: the error is always
// nil, for callers that treat conversions uniformly.
func FromHTML(src string) ([]byte, error) {
	return AppendFromHTML(make([]byte, 0, 4*len(src)+128), src), nil // JSON is 3 to 5 times the HTML
}

// AppendFromHTML appends the document [FromHTML] returns for src to dst and
// returns the extended buffer, for loops that convert many strings into one
// reused buffer.
func AppendFromHTML(dst []byte, src string) []byte {
	if !hasMarkup(src) {
		if strings.IndexByte(src, '&') >= 0 {
			src = html.UnescapeString(src)
		}
		return AppendText(dst, src)
	}
	c := converter{out: dst}
	return c.convert(src)
}

// Text returns the TipTap JSON document holding the plain text src: one
// paragraph per block of lines (blocks are separated by blank lines), a
// hardBreak between the lines of a block, trailing white space of each line
// dropped. Nothing in src is markup. Empty or white-space-only src gives
// the document of an empty editor.
func Text(src string) []byte {
	return AppendText(make([]byte, 0, len(src)+64), src)
}

// AppendText appends the document [Text] returns for src to dst and returns
// the extended buffer.
func AppendText(dst []byte, src string) []byte {
	dst = append(dst, `{"type":"doc","content":[`...)
	paragraphs, inParagraph := 0, false
	for len(src) > 0 {
		line := src
		next := len(src)
		if i := strings.IndexAny(src, "\r\n"); i >= 0 {
			line, next = src[:i], i+1
			if src[i] == '\r' && next < len(src) && src[next] == '\n' {
				next++
			}
		}
		src = src[next:]
		line = strings.TrimRight(line, " \t\f\x00")
		if isBlank(line) {
			if inParagraph {
				dst = append(dst, "]}"...)
				inParagraph = false
			}
			continue
		}
		switch {
		case inParagraph:
			dst = append(dst, `,{"type":"hardBreak"},`...)
		case paragraphs > 0:
			dst = append(dst, `,{"type":"paragraph","content":[`...)
		default:
			dst = append(dst, `{"type":"paragraph","content":[`...)
		}
		if !inParagraph {
			paragraphs++
			inParagraph = true
		}
		dst = append(dst, `{"type":"text","text":"`...)
		dst = appendEscaped(dst, line)
		dst = append(dst, `"}`...)
	}
	switch {
	case inParagraph:
		dst = append(dst, "]}"...)
	case paragraphs == 0:
		dst = append(dst, `{"type":"paragraph"}`...)
	}
	return append(dst, "]}"...)
}

// isBlank reports whether line holds nothing but ASCII white space and NUL
// characters.
func isBlank(line string) bool {
	for i := 0; i < len(line); i++ {
		if !isSpace(line[i]) && line[i] != 0 {
			return false
		}
	}
	return true
}

// hasMarkup reports whether the HTML tokenizer would find a tag, a comment
// or a doctype in s: a '<' followed by a letter, '/', '!' or '?'.
func hasMarkup(s string) bool {
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 || i+1 >= len(s) {
			return false
		}
		switch c := s[i+1]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '/', c == '!', c == '?':
			return true
		}
		s = s[i+1:]
	}
}

// IsHTML reports whether s looks like HTML rich text rather than plain text:
// whether it holds an opening or closing tag of the elements rich-text
// editors write (p, br, div, ul, ol, li, h1–h6, strong, b, em, i, u, s, a,
// code, pre, blockquote, table, tr, td, th, span, img, hr), in any case,
// followed by white space, '/' or '>' or the end of s.
func IsHTML(s string) bool {
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			return false
		}
		s = s[i+1:]
		name := s
		if len(name) > 0 && name[0] == '/' {
			name = name[1:]
		}
		n := 0
		var buf [11]byte // blockquote and one more
		for n < len(name) && n < len(buf) && isAlnum(name[n]) {
			buf[n] = name[n] | 0x20 // ASCII lower case; digits are unchanged
			n++
		}
		if n == 0 || n == len(buf) {
			continue
		}
		if n < len(name) {
			switch name[n] {
			case ' ', '\t', '\n', '\r', '\f', '/', '>':
			default:
				continue
			}
		}
		if isEditorTag(string(buf[:n])) {
			return true
		}
	}
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// isEditorTag reports whether name (lower case) is one of the tags IsHTML
// looks for.
func isEditorTag(name string) bool {
	switch name {
	case "p", "br", "div", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6",
		"strong", "b", "em", "i", "u", "s", "a", "code", "pre", "blockquote",
		"table", "tr", "td", "th", "span", "img", "hr":
		return true
	}
	return false
}
