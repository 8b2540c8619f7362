package tiptap_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/testplanit/tpi-workers/internal/tiptap"
)

// Shorthands for the expected documents.
const (
	emptyDoc = `{"type":"doc","content":[{"type":"paragraph"}]}`
	linkAttr = `"target":"_blank","rel":"noopener noreferrer nofollow","class":null`
)

func doc(blocks ...string) string {
	return `{"type":"doc","content":[` + strings.Join(blocks, ",") + `]}`
}

func para(inline ...string) string {
	if len(inline) == 0 {
		return `{"type":"paragraph"}`
	}
	return `{"type":"paragraph","content":[` + strings.Join(inline, ",") + `]}`
}

func node(typ string, content ...string) string {
	return `{"type":"` + typ + `","content":[` + strings.Join(content, ",") + `]}`
}

func item(content ...string) string { return node("listItem", content...) }

func text(s string, marks ...string) string {
	var buf strings.Builder
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	b := strings.TrimSuffix(buf.String(), "\n")
	if len(marks) == 0 {
		return `{"type":"text","text":` + string(b) + `}`
	}
	for i, m := range marks {
		if !strings.HasPrefix(m, "{") {
			marks[i] = `{"type":"` + m + `"}`
		}
	}
	return `{"type":"text","marks":[` + strings.Join(marks, ",") + `],"text":` + string(b) + `}`
}

const br = `{"type":"hardBreak"}`

func TestFromHTML(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", emptyDoc},
		{"white space", " \n\t \r\n ", emptyDoc},
		{"empty tags", "<div> </div>", emptyDoc},
		{"plain text", "first line\nsecond line  \r\n\n\n  indented &amp; escaped",
			doc(para(text("first line"), br, text("second line")), para(text("  indented & escaped")))},
		{"typical step",
			`<p>Open <strong>/login</strong> and enter <em>user</em></p><ul><li>a</li><li>b</li></ul>`,
			doc(para(text("Open "), text("/login", "bold"), text(" and enter "), text("user", "italic")),
				node("bulletList", item(para(text("a"))), item(para(text("b")))))},
		{"nested lists",
			"<ul>\n  <li>a\n    <ol start=\"3\"><li>b</li><li><p>c</p></li></ol>\n  </li>\n  <li>d</li>\n</ul>",
			doc(node("bulletList",
				item(para(text("a")), `{"type":"orderedList","attrs":{"start":3},"content":[`+
					item(para(text("b")))+","+item(para(text("c")))+`]}`),
				item(para(text("d")))))},
		{"list item starting with a list",
			"<ol><li><ul><li>x</li></ul></li></ol>",
			doc(`{"type":"orderedList","attrs":{"start":1},"content":[` +
				item(para(), node("bulletList", item(para(text("x"))))) + `]}`)},
		{"list items without a list, empty list",
			"<li>a<li>b</li><ul></ul>",
			doc(node("bulletList", item(para(text("a"))), item(para(text("b")))),
				node("bulletList", item(para())))},
		{"marks combined",
			"<p><strong><em>bi</em> b</strong> <u>u</u> <s>s</s><del>d</del><b>a<code>c</code></b></p>",
			doc(para(text("bi", "bold", "italic"), text(" b", "bold"), text(" "), text("u", "underline"),
				text(" "), text("sd", "strike"), text("a", "bold"), text("c", "code")))},
		{"links",
			`<p><a href="https://x.test/?a=1&amp;b=2"><b>x</b>y</a> <a href="javascript:alert(1)">bad</a> <a target="_self" class="c" href="/rel">r</a></p>`,
			doc(para(
				text("x", `{"type":"link","attrs":{"href":"https://x.test/?a=1&b=2",`+linkAttr+`}}`, "bold"),
				text("y", `{"type":"link","attrs":{"href":"https://x.test/?a=1&b=2",`+linkAttr+`}}`),
				text(" bad "),
				text("r", `{"type":"link","attrs":{"href":"/rel","target":"_self","rel":"noopener noreferrer nofollow","class":"c"}}`)))},
		{"hard breaks", "<p>a <br>  b<br/><b>c<br>d</b></p><br>",
			doc(para(text("a"), br, text("b"), br, text("c", "bold"), `{"type":"hardBreak","marks":[{"type":"bold"}]}`,
				text("d", "bold")), para(br))},
		{"headings", "<h1>One</h1><h2> Two <i>i</i> </h2><h4>4</h4><h5>5</h5><h6></h6>",
			doc(`{"type":"heading","attrs":{"level":1},"content":[`+text("One")+`]}`,
				`{"type":"heading","attrs":{"level":2},"content":[`+text("Two ")+","+text("i", "italic")+`]}`,
				`{"type":"heading","attrs":{"level":4},"content":[`+text("4")+`]}`,
				`{"type":"heading","attrs":{"level":4},"content":[`+text("5")+`]}`,
				`{"type":"heading","attrs":{"level":4}}`)},
		{"entities", "<p>Tom&nbsp;&amp;&nbsp;Jerry &lt;3 &quot;q&quot; &eacute;&#x1F600;&copy</p>",
			doc(para(text(`Tom & Jerry <3 "q" é😀©`)))},
		{"escaping", "<p>\"q\" \\ \x01\x7f \xffx\x00y</p>",
			doc(para(text("\"q\" \\ \x01\x7f \uFFFDxy")))},
		{"blocks and top-level text", "text<div>in <span>div</span></div>tail<p></p><section><p>p</p>after</section>",
			doc(para(text("text")), para(text("in div")), para(text("tail")), para(), para(text("p")), para(text("after")))},
		{"blockquote", "<blockquote>q<p>p</p></blockquote><blockquote></blockquote>",
			doc(node("blockquote", para(text("q")), para(text("p"))), node("blockquote", para()))},
		{"code block", "<pre>\n  keep\n\tall  </pre><pre class=\"x\"><code class=\"hl language-go\">x<b>y</b><br>z</code></pre><pre></pre>",
			doc(`{"type":"codeBlock","attrs":{"language":null},"content":[`+text("  keep\n\tall  ")+`]}`,
				`{"type":"codeBlock","attrs":{"language":"go"},"content":[`+text("xy\nz")+`]}`,
				`{"type":"codeBlock","attrs":{"language":null}}`)},
		{"image and rule", `<p>a<img src="x.png" alt="A">b</p><hr><img src="data:image/png;base64,AA"><img alt="no src">`,
			doc(para(text("a")), `{"type":"image","attrs":{"src":"x.png","alt":"A","title":null}}`, para(text("b")),
				`{"type":"horizontalRule"}`)},
		{"table", "<table><thead><tr><th>Name</th><th> Value </th></tr></thead>\n<tbody><tr><td><b>a</b></td><td></td><td><p>b</p><p>c</p></td></tr><tr><td> </td></tr></tbody></table>after",
			doc(para(text("Name | Value")), para(text("a", "bold"), text(" | b c")), para(text("after")))},
		{"dropped elements", "<script/>x()</script><style>p{color:red}</style><p>a<script>alert('<p>x</p>')</script>b<object><p>o</p></object></p><title>t</title>",
			doc(para(text("ab")))},
		{"unclosed tags", "<p>one <b>bold<p>two<ul><li>i<li>j</ul><i>k",
			doc(para(text("one "), text("bold", "bold")), para(text("two", "bold")),
				node("bulletList", item(para(text("i", "bold"))), item(para(text("j", "bold")))),
				para(text("k", "bold", "italic")))},
		{"misnested marks", "<p><b>a<i>b</b>c</i></p>",
			doc(para(text("a", "bold"), text("b", "bold", "italic"), text("c", "italic")))},
		{"stray end tags", "</p></ul>a</b></div>",
			doc(para(text("a")))},
		{"unknown tags", `<p><span style="x">a</span><font color="red">b</font><data>c</data> <x-y>d</x-y></p>`,
			doc(para(text("abc d")))},
		{"comments and doctype", "<!DOCTYPE html><html><body><!-- c --><p>a</p></body></html>",
			doc(para(text("a")))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tiptap.FromHTML(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("FromHTML(%q) (-want +got):\n%s", tt.in, diff)
			}
			if !json.Valid([]byte(tt.want)) {
				t.Errorf("the expected document is not valid JSON")
			}
			if err := checkDoc(got); err != nil {
				t.Errorf("FromHTML(%q): %v", tt.in, err)
			}
		})
	}
}

func TestAppendFromHTML(t *testing.T) {
	t.Parallel()
	buf := []byte("prefix")
	buf = tiptap.AppendFromHTML(buf, "<p>a</p>")
	buf = tiptap.AppendFromHTML(buf, "b")
	want := "prefix" + doc(para(text("a"))) + doc(para(text("b")))
	if string(buf) != want {
		t.Errorf("got %s, want %s", buf, want)
	}
}

// TestTextRoundTrip converts HTML and reads the text back as the reindex
// worker's flattener does (text nodes, a space between blocks and at a
// hard break), which must give the text a reader sees.
func TestTextRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"<p>Open <strong>/login</strong> and enter <em>user</em></p><ul><li>a</li><li>b</li></ul>",
			"Open /login and enter user a b"},
		{"<h2>Title</h2><p>First<br>line</p>", "Title First line"},
		{"<table><tr><td>a</td><td>b</td></tr></table>", "a | b"},
		{"<pre>x  y</pre><blockquote><p>q</p></blockquote>", "x  y q"},
		{"plain\ntext\n\nagain", "plain text again"},
		{"", ""},
	}
	for _, tt := range tests {
		got, err := tiptap.FromHTML(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if text := flatten(t, got); text != tt.want {
			t.Errorf("FromHTML(%q) reads %q, want %q", tt.in, text, tt.want)
		}
	}
}

func TestText(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", emptyDoc},
		{"\n \n", emptyDoc},
		{"Login <b> & \"quotes\"", doc(para(text(`Login <b> & "quotes"`)))},
		{"a\r\nb\rc\n\n\nd\x00", doc(para(text("a"), br, text("b"), br, text("c")), para(text("d")))},
	}
	for _, tt := range tests {
		got := tiptap.Text(tt.in)
		if diff := cmp.Diff(tt.want, string(got)); diff != "" {
			t.Errorf("Text(%q) (-want +got):\n%s", tt.in, diff)
		}
		if err := checkDoc(got); err != nil {
			t.Errorf("Text(%q): %v", tt.in, err)
		}
	}
}

func TestIsHTML(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{"", false},
		{"plain text", false},
		{"a < b and c > d", false},
		{"x<y", false},
		{"<parameter> value", false},
		{"<section>x</section>", false},
		{"<p>x</p>", true},
		{"<P class=x>", true},
		{"line<br/>next", true},
		{"<br>", true},
		{"<H3>t", true},
		{"<h7>t", false},
		{"see <a href='x'>", true},
		{"<strong", true},
		{"text</span>", true},
		{"<img src=x>", true},
		{"<blockquote>", true},
	}
	for _, tt := range tests {
		if got := tiptap.IsHTML(tt.in); got != tt.want {
			t.Errorf("IsHTML(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestDepth checks that deep nesting is flattened, not followed.
func TestDepth(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		strings.Repeat("<ul><li>x", 10000),
		strings.Repeat("<blockquote>", 10000) + "q",
		strings.Repeat("<b><i>", 10000) + "t" + strings.Repeat("</p>", 100),
		strings.Repeat("<div><p>a<table><tr><td>", 3000),
	} {
		got, err := tiptap.FromHTML(in)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkDoc(got); err != nil {
			t.Fatalf("FromHTML(%.30q…): %v", in, err)
		}
		if d := depth(got); d > 200 {
			t.Errorf("FromHTML(%.30q…) nests %d deep", in, d)
		}
	}
}

// pmNode is a node of a TipTap document.
type pmNode struct {
	Type    string           `json:"type"`
	Attrs   map[string]any   `json:"attrs"`
	Content []pmNode         `json:"content"`
	Marks   []map[string]any `json:"marks"`
	Text    *string          `json:"text"`
}

// flatten reads the text of the document b with the rules of the reindex
// worker's flattener.
func flatten(t *testing.T, b []byte) string {
	t.Helper()
	var root pmNode
	if err := json.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sep := false
	var walk func(n pmNode)
	walk = func(n pmNode) {
		switch {
		case n.Text != nil && *n.Text != "":
			if sep && out.Len() > 0 {
				out.WriteByte(' ')
			}
			sep = false
			out.WriteString(*n.Text)
		case n.Type == "hardBreak":
			sep = true
		case n.Content != nil:
			sep = true
			for _, c := range n.Content {
				walk(c)
			}
			sep = true
		}
	}
	walk(root)
	return out.String()
}

// checkDoc checks that b is a document TipTap's StarterKit schema (with
// link, underline and image) accepts, in the normal form ProseMirror makes.
func checkDoc(b []byte) error {
	if !json.Valid(b) {
		return fmt.Errorf("invalid JSON: %s", b)
	}
	var root pmNode
	if err := json.Unmarshal(b, &root); err != nil {
		return err
	}
	if root.Type != "doc" {
		return fmt.Errorf("top node %q", root.Type)
	}
	if err := checkBlocks(root.Content, "doc"); err != nil {
		return fmt.Errorf("%w in %s", err, b)
	}
	return nil
}

func checkBlocks(nodes []pmNode, parent string) error {
	if len(nodes) == 0 {
		return fmt.Errorf("empty %s", parent)
	}
	for i, n := range nodes {
		if n.Marks != nil || n.Text != nil {
			return fmt.Errorf("block %s with marks or text", n.Type)
		}
		if parent == "bulletList" || parent == "orderedList" {
			if n.Type != "listItem" {
				return fmt.Errorf("%s in a list", n.Type)
			}
		} else if n.Type == "listItem" || parent == "listItem" && i == 0 && n.Type != "paragraph" {
			return fmt.Errorf("%s first in %s", n.Type, parent)
		}
		var err error
		switch n.Type {
		case "paragraph":
			err = checkInline(n.Content, true)
		case "heading":
			if l, ok := n.Attrs["level"].(float64); !ok || l < 1 || l > 4 {
				return fmt.Errorf("heading attrs %v", n.Attrs)
			}
			err = checkInline(n.Content, true)
		case "codeBlock":
			if _, ok := n.Attrs["language"]; !ok || len(n.Attrs) != 1 {
				return fmt.Errorf("codeBlock attrs %v", n.Attrs)
			}
			err = checkInline(n.Content, false)
		case "blockquote", "bulletList", "listItem":
			err = checkBlocks(n.Content, n.Type)
		case "orderedList":
			if _, ok := n.Attrs["start"].(float64); !ok {
				return fmt.Errorf("orderedList attrs %v", n.Attrs)
			}
			err = checkBlocks(n.Content, n.Type)
		case "horizontalRule":
			if n.Content != nil {
				return fmt.Errorf("horizontalRule with content")
			}
		case "image":
			if _, ok := n.Attrs["src"].(string); !ok || n.Content != nil {
				return fmt.Errorf("image %v", n.Attrs)
			}
		default:
			return fmt.Errorf("block %q", n.Type)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func checkInline(nodes []pmNode, marks bool) error {
	if nodes != nil && len(nodes) == 0 {
		return fmt.Errorf(`"content":[]`)
	}
	prev := ""
	for _, n := range nodes {
		if n.Content != nil {
			return fmt.Errorf("inline %s with content", n.Type)
		}
		if len(n.Marks) > 0 && !marks {
			return fmt.Errorf("marks in a code block")
		}
		m, err := json.Marshal(n.Marks)
		if err != nil {
			return err
		}
		if err := checkMarks(n.Marks); err != nil {
			return err
		}
		switch n.Type {
		case "text":
			if n.Text == nil || *n.Text == "" || strings.ContainsRune(*n.Text, 0) {
				return fmt.Errorf("text %v", n.Text)
			}
			if prev == string(m) {
				return fmt.Errorf("adjacent text nodes with the same marks %s", m)
			}
			prev = string(m)
		case "hardBreak":
			if !marks {
				return fmt.Errorf("hardBreak in a code block")
			}
			prev = ""
		default:
			return fmt.Errorf("inline %q", n.Type)
		}
	}
	return nil
}

func checkMarks(marks []map[string]any) error {
	order := map[string]int{"link": 0, "bold": 1, "code": 2, "italic": 3, "strike": 4, "underline": 5}
	last := -1
	for _, m := range marks {
		typ, _ := m["type"].(string)
		rank, ok := order[typ]
		if !ok || rank <= last {
			return fmt.Errorf("marks %v", marks)
		}
		if typ == "code" && len(marks) > 1 {
			return fmt.Errorf("code with other marks")
		}
		last = rank
	}
	return nil
}

// depth returns the nesting depth of the JSON b.
func depth(b []byte) int {
	d, most, inString := 0, 0, false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			d++
			most = max(most, d)
		case c == '}' || c == ']':
			d--
		}
	}
	return most
}
