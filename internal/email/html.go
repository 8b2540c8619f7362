package email

import (
	"encoding/json"
	"html"
	"strconv"
	"strings"

	"github.com/microcosm-cc/bluemonday"
	xhtml "golang.org/x/net/html"
)

// newPolicy is the sanitizer for announcement HTML: bluemonday's policy
// for user-generated content (no scripts, styles, event handlers, forms or
// javascript: URLs; links get rel="nofollow noopener").
func newPolicy() *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	p.RequireNoFollowOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	return p
}

func (r *Renderer) sanitize(s string) string { return r.policy.Sanitize(s) }

// tiptapToHTML renders a TipTap (ProseMirror) JSON document, given as an
// object or as a JSON string, to HTML; ok is false when v is not one. The
// result is sanitized by the caller.
func tiptapToHTML(v any) (string, bool) {
	if s, isStr := v.(string); isStr {
		var doc any
		if err := json.Unmarshal([]byte(s), &doc); err != nil {
			return "", false
		}
		v = doc
	}
	doc, ok := v.(map[string]any)
	if !ok || doc["type"] != "doc" {
		return "", false
	}
	var b strings.Builder
	writeNodes(&b, doc["content"])
	return b.String(), true
}

func writeNodes(b *strings.Builder, v any) {
	nodes, _ := v.([]any)
	for _, n := range nodes {
		if m, ok := n.(map[string]any); ok {
			writeNode(b, m)
		}
	}
}

func attr(n map[string]any, key string) string {
	attrs, _ := n["attrs"].(map[string]any)
	switch v := attrs[key].(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

func writeNode(b *strings.Builder, n map[string]any) {
	wrap := func(tag string) {
		b.WriteString("<" + tag + ">")
		writeNodes(b, n["content"])
		b.WriteString("</" + tag + ">")
	}
	switch n["type"] {
	case "paragraph":
		wrap("p")
	case "heading":
		lvl := attr(n, "level")
		if lvl < "1" || lvl > "6" || len(lvl) != 1 {
			lvl = "2"
		}
		wrap("h" + lvl)
	case "bulletList":
		wrap("ul")
	case "orderedList":
		wrap("ol")
	case "listItem":
		wrap("li")
	case "blockquote":
		wrap("blockquote")
	case "codeBlock":
		b.WriteString("<pre><code>")
		writeNodes(b, n["content"])
		b.WriteString("</code></pre>")
	case "horizontalRule":
		b.WriteString("<hr>")
	case "hardBreak":
		b.WriteString("<br>")
	case "image":
		b.WriteString(`<img src="` + html.EscapeString(attr(n, "src")) + `" alt="` + html.EscapeString(attr(n, "alt")) + `">`)
	case "text":
		s, _ := n["text"].(string)
		text := html.EscapeString(s)
		marks, _ := n["marks"].([]any)
		for _, mk := range marks {
			m, _ := mk.(map[string]any)
			switch m["type"] {
			case "bold":
				text = "<strong>" + text + "</strong>"
			case "italic":
				text = "<em>" + text + "</em>"
			case "strike":
				text = "<s>" + text + "</s>"
			case "underline":
				text = "<u>" + text + "</u>"
			case "code":
				text = "<code>" + text + "</code>"
			case "link":
				text = `<a href="` + html.EscapeString(attr(m, "href")) + `">` + text + "</a>"
			}
		}
		b.WriteString(text)
	default:
		writeNodes(b, n["content"])
	}
}

// htmlToText turns sanitized HTML into plain text for the text/plain part:
// block elements become line breaks, links keep their target in brackets.
func htmlToText(s string) string {
	z := xhtml.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	var href []string
	nl := func() {
		if b.Len() > 0 && !strings.HasSuffix(b.String(), "\n") {
			b.WriteByte('\n')
		}
	}
	for {
		switch z.Next() {
		case xhtml.ErrorToken:
			return strings.TrimSpace(collapseBlankLines(b.String()))
		case xhtml.TextToken:
			raw := string(z.Text())
			space := func() {
				if cur := b.String(); cur != "" && !strings.HasSuffix(cur, " ") && !strings.HasSuffix(cur, "\n") {
					b.WriteByte(' ')
				}
			}
			f := strings.Fields(raw)
			if len(f) == 0 {
				if raw != "" {
					space()
				}
				continue
			}
			if raw[0] == ' ' || raw[0] == '\n' || raw[0] == '\t' {
				space()
			}
			b.WriteString(strings.Join(f, " "))
			if last := raw[len(raw)-1]; last == ' ' || last == '\n' || last == '\t' {
				b.WriteByte(' ')
			}
		case xhtml.StartTagToken, xhtml.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			switch string(name) {
			case "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "ul", "ol", "tr":
				nl()
			case "br":
				b.WriteByte('\n')
			case "li":
				nl()
				b.WriteString("- ")
			case "a":
				target := ""
				for hasAttr {
					var k, v []byte
					k, v, hasAttr = z.TagAttr()
					if string(k) == "href" {
						target = string(v)
					}
				}
				href = append(href, target)
			}
		case xhtml.EndTagToken:
			name, _ := z.TagName()
			switch string(name) {
			case "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "ul", "ol", "li", "tr":
				nl()
			case "a":
				if n := len(href); n > 0 {
					if href[n-1] != "" {
						b.WriteString(" [" + href[n-1] + "]")
					}
					href = href[:n-1]
				}
			}
		}
	}
}

func collapseBlankLines(s string) string {
	lines := strings.Split(s, "\n")
	out := lines[:0]
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" && len(out) > 0 && out[len(out)-1] == "" {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}
