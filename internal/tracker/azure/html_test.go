package azure

import "testing"

func TestHTMLToText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", ""},
		{"plain text", "  just   text\n here ", "just text here"},
		{"entities", "Tom &amp; Jerry &lt;3&nbsp;&quot;x&quot; &#x1F600;", `Tom & Jerry <3 "x" 😀`},
		{"Azure editor lines", "<div>first</div><div><br></div><div>second</div><div>third</div>", "first\n\nsecond\nthird"},
		{"div ending in br", "<div>a<br></div><div>b</div>", "a\nb"},
		{"br inside text", "one<br>two<br/>three", "one\ntwo\nthree"},
		{"many br", "a<br><br><br><br>b", "a\n\nb"},
		{"paragraphs", "<p>Para one.</p><p>Para <b>two</b>.</p>", "Para one.\n\nPara two."},
		{"inline spacing", "<span>a</span> <span>b</span><i>c</i>", "a bc"},
		{"lists", "<ul><li>x</li><li>y<ol><li>n1</li><li>n2</li></ol></li></ul>after", "- x\n- y\n\n  1. n1\n  2. n2\n\nafter"},
		{"link with other text", `see <a href="https://example.com/a?b=1&amp;c=2">docs</a>.`, "see docs <https://example.com/a?b=1&c=2>."},
		{"link spelled out", `<a href="https://example.com">https://example.com</a>`, "https://example.com"},
		{"relative link", `<a href="/_workitems/edit/3">#3</a>`, "#3"},
		{"javascript link", `<a href="javascript:alert(1)">x</a>`, "x"},
		{"script and style dropped", "<style>p{color:red}</style>a<script>alert('x')</script>b", "ab"},
		{"pre keeps spacing", "<p>code:</p><pre>  if x {\n    y()\n  }</pre><p>end</p>", "code:\n\n  if x {\n    y()\n  }\n\nend"},
		{"table", "<table><tr><th>k</th><th>v</th></tr><tr><td>a</td><td>1</td></tr></table>", "k v\na 1"},
		{"image only", `<img src="https://dev.azure.com/x.png" alt="shot">`, ""},
		{"headings", "<h1>Title</h1>body", "Title\n\nbody"},
		{"unclosed tags", "<div><p>open <b>bold", "open bold"},
		{"stray lt", "a < b and c > d", "a < b and c > d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := htmlToText(tc.in); got != tc.want {
				t.Errorf("htmlToText(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}
