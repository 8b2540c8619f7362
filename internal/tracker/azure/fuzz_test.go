package azure

import (
	"os"
	"strings"
	"testing"
	"unicode"
)

// FuzzDecodeBatch: any answer either fails to decode or gives work items
// that normalize without panicking into issues with the invariants the sync
// relies on.
func FuzzDecodeBatch(f *testing.F) {
	fixture, err := os.ReadFile("testdata/workitemsbatch.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(fixture)
	f.Add([]byte(`{"count":2,"value":[null,{"id":1,"fields":null,"_links":null}]}`))
	f.Add([]byte(`{"value":[{"id":3,"fields":{"System.Tags":";;a ; ;b;","System.AssignedTo":"X <y@z>","System.CreatedBy":{"id":7},"System.Description":"<ol><li>a<pre> b </pre></ol><a href=x>"}}]}`))
	f.Add([]byte(`{"value":[{"id":-1},{"id":1e3},{"id":"4"}]}`))
	f.Add([]byte(`{"value":[]} trailing`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		items, err := decodeBatch(body)
		if err != nil {
			if items != nil {
				t.Fatalf("items with error %v", err)
			}
			return
		}
		for _, w := range items {
			if w == nil || w.ID <= 0 {
				t.Fatalf("decodeBatch kept %+v", w)
			}
			is := normalize(w, "https://dev.azure.com/org/P")
			if is.ID == "" || is.Key != is.ID || is.URL == "" || is.Labels == nil || is.CustomFields == nil {
				t.Fatalf("normalized %+v", is)
			}
			for _, l := range is.Labels {
				if l == "" || l != strings.TrimSpace(l) || strings.Contains(l, ";") {
					t.Fatalf("label %q", l)
				}
			}
			d := is.Description
			if d != strings.TrimFunc(d, unicode.IsSpace) || strings.Contains(d, "\n\n\n") {
				t.Fatalf("description %q has untrimmed space or blank line runs", d)
			}
			for k := range is.CustomFields {
				if mapped(k) {
					t.Fatalf("custom field %s is a mapped field", k)
				}
			}
		}
	})
}
