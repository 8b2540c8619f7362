package email

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	xhtml "golang.org/x/net/html"
)

// unsafeHTML parses s as a browser would and names the first
// active element (script, iframe, svg...), event handler attribute or
// javascript: URL.
func unsafeHTML(s string) string {
	z := xhtml.NewTokenizer(strings.NewReader(s))
	for {
		switch z.Next() {
		case xhtml.ErrorToken:
			return ""
		case xhtml.StartTagToken, xhtml.SelfClosingTagToken:
			name, more := z.TagName()
			switch string(name) {
			case "script", "iframe", "object", "embed", "form", "svg", "math":
				return "a <" + string(name) + "> element"
			}
			for more {
				var k, v []byte
				k, v, more = z.TagAttr()
				key := strings.ToLower(string(k))
				val := strings.ToLower(strings.Join(strings.Fields(string(v)), ""))
				if strings.HasPrefix(key, "on") {
					return "an event handler " + key
				}
				if (key == "href" || key == "src") && (strings.HasPrefix(val, "javascript:") || strings.HasPrefix(val, "data:text/html")) {
					return "a " + key + " " + val
				}
			}
		}
	}
}

// FuzzRenderNotification renders arbitrary notification data (producer
// input, announcement HTML included) for every type: rendering never fails
// and never lets a script or event handler through.
func FuzzRenderNotification(f *testing.F) {
	for _, n := range fixtures() {
		f.Add(n.Type, string(n.Data))
	}
	f.Add("SYSTEM_ANNOUNCEMENT", `{"htmlContent":"<img src=x onerror=alert(1)><svg onload=alert(1)><a href=\"javascript:x\">y</a>"}`)
	f.Add("SYSTEM_ANNOUNCEMENT", `{"richContent":"{\"type\":\"doc\",\"content\":[{\"type\":\"text\",\"text\":\"<script>\"}]}"}`)
	f.Add("COMMENT_MENTION", `{"projectId":"1\"><script>","hasProjectAccess":true,"entityType":"TestRun","testRunId":2}`)
	r, err := NewRenderer("https://tpi.example.com")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, typ, data string) {
		n := Notification{ID: "n", Type: typ, Title: "t", Message: "m", Data: json.RawMessage(data), CreatedAt: time.Unix(0, 0)}
		for _, l := range []Locale{"en_US", "es_ES", "fr_FR"} {
			rc := Recipient{UserID: "u", Name: "n", Email: "e@example.com", Locale: l}
			out, err := r.Notification("", rc, n, time.Unix(0, 0))
			if err != nil {
				t.Fatal(err)
			}
			if bad := unsafeHTML(out.HTML); bad != "" {
				t.Fatalf("HTML has %s:\n%s", bad, out.HTML)
			}
			if _, err := r.Digest("", rc, []Notification{n}, time.Unix(0, 0)); err != nil {
				t.Fatal(err)
			}
		}
	})
}
