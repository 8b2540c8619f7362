package azure

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// htmlToText flattens the HTML of a rich-text field (System.Description)
// into plain text: block elements and <br> become line breaks, paragraphs
// are separated by a blank line, list items get "- " or "1. ", links keep
// their target in angle brackets when it differs from their text, script and
// style are dropped, entities are decoded and white space outside <pre> is
// collapsed. Text that is not HTML comes back with its white space
// collapsed.
func htmlToText(s string) string {
	if !strings.ContainsAny(s, "<&") {
		return strings.Join(strings.Fields(s), " ")
	}
	var w textWriter
	z := html.NewTokenizer(strings.NewReader(s))
	var lists []listState // open <ul>/<ol>
	var links []linkState // open <a>
	skip := 0             // depth inside <script>/<style>
	pre := 0              // depth inside <pre>
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		tok := z.Token()
		switch tt {
		case html.TextToken:
			if skip > 0 {
				continue
			}
			if n := len(links); n > 0 {
				links[n-1].text.WriteString(tok.Data)
			}
			if pre > 0 {
				w.raw(tok.Data)
			} else {
				w.text(tok.Data)
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			selfClosing := tt == html.SelfClosingTagToken
			switch tok.DataAtom {
			case atom.Script, atom.Style, atom.Template, atom.Noscript:
				if !selfClosing {
					skip++
				}
			case atom.Br:
				w.lineBreak()
			case atom.Hr:
				w.paragraph()
			case atom.Pre:
				w.paragraph()
				if !selfClosing {
					pre++
				}
			case atom.Ul, atom.Ol:
				w.paragraph()
				if !selfClosing {
					lists = append(lists, listState{ordered: tok.DataAtom == atom.Ol})
				}
			case atom.Li:
				w.line()
				marker := "- "
				if n := len(lists); n > 0 && lists[n-1].ordered {
					lists[n-1].count++
					marker = strconv.Itoa(lists[n-1].count) + ". "
				}
				w.raw(strings.Repeat("  ", max(len(lists)-1, 0)) + marker)
			case atom.A:
				if !selfClosing {
					links = append(links, linkState{href: attr(tok, "href")})
				}
			case atom.Td, atom.Th:
				w.space = true
			default:
				if isParagraph(tok.DataAtom) {
					w.paragraph()
				} else if isLine(tok.DataAtom) {
					w.line()
				}
			}
		case html.EndTagToken:
			switch tok.DataAtom {
			case atom.Script, atom.Style, atom.Template, atom.Noscript:
				skip = max(skip-1, 0)
			case atom.Pre:
				pre = max(pre-1, 0)
				w.paragraph()
			case atom.Ul, atom.Ol:
				if n := len(lists); n > 0 {
					lists = lists[:n-1]
				}
				w.paragraph()
			case atom.Li:
				w.line()
			case atom.A:
				if n := len(links); n > 0 {
					l := links[n-1]
					links = links[:n-1]
					if target := strings.TrimSpace(l.href); showTarget(target, l.text.String()) {
						w.text(" <" + target + ">")
					}
				}
			case atom.Td, atom.Th:
				w.space = true
			default:
				if isParagraph(tok.DataAtom) {
					w.paragraph()
				} else if isLine(tok.DataAtom) {
					w.line()
				}
			}
		}
	}
	return w.String()
}

type listState struct {
	ordered bool
	count   int
}

type linkState struct {
	href string
	text strings.Builder
}

// isParagraph: blocks separated from their neighbours by a blank line.
func isParagraph(a atom.Atom) bool {
	switch a {
	case atom.P, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6,
		atom.Blockquote, atom.Table, atom.Figure, atom.Dl:
		return true
	}
	return false
}

// isLine: blocks on lines of their own.
func isLine(a atom.Atom) bool {
	switch a {
	case atom.Div, atom.Tr, atom.Section, atom.Article, atom.Header, atom.Footer,
		atom.Dt, atom.Dd, atom.Caption, atom.Figcaption, atom.Address:
		return true
	}
	return false
}

// showTarget reports whether a link's target adds to its text: a web or
// mail address that the text does not already spell.
func showTarget(target, text string) bool {
	lower := strings.ToLower(target)
	if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") && !strings.HasPrefix(lower, "mailto:") {
		return false
	}
	text = strings.TrimSpace(text)
	return text != target && "mailto:"+text != target
}

func attr(t html.Token, name string) string {
	for _, a := range t.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

// textWriter assembles the text: line breaks asked for by blocks are held
// until the next text, so neighbouring blocks do not pile up blank lines.
type textWriter struct {
	b        strings.Builder
	newlines int  // line breaks the output must end with before more text
	space    bool // a space is due before the next word
}

// line asks for the next text to start a new line.
func (w *textWriter) line() { w.newlines = max(w.newlines, 1) }

// paragraph asks for a blank line before the next text.
func (w *textWriter) paragraph() { w.newlines = max(w.newlines, 2) }

// lineBreak is <br>: one more line break, always.
func (w *textWriter) lineBreak() {
	w.flush()
	w.b.WriteByte('\n')
	w.space = false
}

// flush writes the line breaks due, counting those already written; none at
// the very start.
func (w *textWriter) flush() {
	if w.b.Len() == 0 {
		w.newlines = 0
		return
	}
	have := 0
	s := w.b.String()
	for i := len(s) - 1; i >= 0 && s[i] == '\n'; i-- {
		have++
	}
	for ; have < w.newlines; have++ {
		w.b.WriteByte('\n')
	}
	if w.newlines > 0 {
		w.space = false
	}
	w.newlines = 0
}

// text writes s with its white space collapsed.
func (w *textWriter) text(s string) {
	words := strings.Fields(s)
	if len(words) == 0 {
		if s != "" {
			w.space = true
		}
		return
	}
	if unicode.IsSpace(firstRune(s)) {
		w.space = true
	}
	w.flush()
	if w.space && w.b.Len() > 0 && !strings.HasSuffix(w.b.String(), "\n") && !strings.HasSuffix(w.b.String(), " ") {
		w.b.WriteByte(' ')
	}
	w.b.WriteString(strings.Join(words, " "))
	w.space = unicode.IsSpace(lastRune(s))
}

// raw writes s as it is (inside <pre>, list markers).
func (w *textWriter) raw(s string) {
	if s == "" {
		return
	}
	w.flush()
	if w.space && w.b.Len() > 0 && !strings.HasSuffix(w.b.String(), "\n") && !strings.HasSuffix(w.b.String(), " ") {
		w.b.WriteByte(' ')
	}
	w.space = false
	w.b.WriteString(s)
}

// String is the text with trailing spaces cut from each line, at most one
// blank line in a row, and no blank lines at either end.
func (w *textWriter) String() string {
	lines := strings.Split(w.b.String(), "\n")
	out := make([]string, 0, len(lines))
	blank := 0
	for _, l := range lines {
		l = strings.TrimRightFunc(l, unicode.IsSpace)
		if l == "" {
			blank++
			if blank > 1 {
				continue
			}
		} else {
			blank = 0
		}
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}

func firstRune(s string) rune {
	r, _ := utf8.DecodeRuneInString(s)
	return r
}

func lastRune(s string) rune {
	r, _ := utf8.DecodeLastRuneInString(s)
	return r
}
