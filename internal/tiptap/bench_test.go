package tiptap_test

import (
	"testing"

	"github.com/testplanit/tpi-workers/internal/tiptap"
)

// step is a typical Testmo case step.
const step = `<p>Open <strong>/login</strong> and enter <em>user</em></p><ul><li>a</li><li>b</li></ul>`

// step300 is a longer step, about 300 bytes.
const step300 = `<p>Open <strong>/login</strong> in the browser and enter <em>user</em> and its password, ` +
	`then press <code>Sign in</code>.</p><ul><li>The dashboard opens</li><li>The <a href="https://example.com/help">help</a> ` +
	`link is shown</li></ul><p>Expected:<br>no error&nbsp;message.</p>`

func BenchmarkFromHTML(b *testing.B) {
	for _, bc := range []struct{ name, in string }{{"step", step}, {"step300", step300}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.in)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tiptap.FromHTML(bc.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendFromHTML(b *testing.B) {
	b.SetBytes(int64(len(step300)))
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		buf = tiptap.AppendFromHTML(buf[:0], step300)
	}
}
