package tiptap_test

import (
	"testing"

	"github.com/testplanit/tpi-workers/internal/tiptap"
)

// FuzzFromHTML holds FromHTML and Text to valid documents of the schema
// for any input.
func FuzzFromHTML(f *testing.F) {
	for _, s := range []string{
		"",
		"plain\ntext\n\n&amp;",
		`<p>Open <strong>/login</strong> and enter <em>user</em></p><ul><li>a</li><li>b</li></ul>`,
		"<ol start=x><li><ul><li>x<li><h5>y</h5></ul><img src=a></ol>",
		"<table><tr><td>a<td><p>b<img src=x>c</table><pre><code class=language-go>\x00\n x</pre>",
		"<b><i><a href=/x>a<p>b</b>c<code>d<br></code><blockquote><li>e<hr>",
		"<script>x</script><object><p>o</object><p>\xff\xfe&nbsp;\u2028",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := tiptap.FromHTML(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkDoc(got); err != nil {
			t.Fatalf("FromHTML(%q): %v", s, err)
		}
		if err := checkDoc(tiptap.Text(s)); err != nil {
			t.Fatalf("Text(%q): %v", s, err)
		}
		tiptap.IsHTML(s)
	})
}
