package jira

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestADFToText(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"empty doc", `{"type":"doc","version":1,"content":[]}`, ""},
		{"paragraphs", `{"type":"doc","version":1,"content":[
			{"type":"paragraph","content":[{"type":"text","text":"one"}]},
			{"type":"paragraph","content":[{"type":"text","text":"two "},{"type":"text","text":"bold","marks":[{"type":"strong"}]}]}]}`,
			"one\ntwo bold"},
		{"hard break", `{"type":"doc","content":[{"type":"paragraph","content":[
			{"type":"text","text":"a"},{"type":"hardBreak"},{"type":"text","text":"b"}]}]}`, "a\nb"},
		{"empty paragraph keeps a blank line", `{"type":"doc","content":[
			{"type":"paragraph","content":[{"type":"text","text":"a"}]},{"type":"paragraph"},
			{"type":"paragraph","content":[{"type":"text","text":"b"}]}]}`, "a\n\nb"},
		{"ordered list from 3", `{"type":"doc","content":[{"type":"orderedList","attrs":{"order":3},"content":[
			{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"c"}]}]},
			{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"d"}]},
				{"type":"paragraph","content":[{"type":"text","text":"more d"}]}]}]}]}`,
			"3. c\n4. d\n   more d"},
		{"mention emoji date status card", `{"type":"doc","content":[{"type":"paragraph","content":[
			{"type":"mention","attrs":{"id":"abc","text":"@Jane"}},{"type":"text","text":" "},
			{"type":"emoji","attrs":{"shortName":":smile:"}},{"type":"text","text":" "},
			{"type":"date","attrs":{"timestamp":1700000000000}},{"type":"text","text":" "},
			{"type":"status","attrs":{"text":"DONE","color":"green"}},{"type":"text","text":" "},
			{"type":"inlineCard","attrs":{"url":"https://x.test/1"}}]}]}`,
			"@Jane :smile: 2023-11-14 DONE https://x.test/1"},
		{"tasks", `{"type":"doc","content":[{"type":"taskList","attrs":{"localId":"1"},"content":[
			{"type":"taskItem","attrs":{"localId":"2","state":"DONE"},"content":[{"type":"text","text":"done"}]},
			{"type":"taskItem","attrs":{"localId":"3","state":"TODO"},"content":[{"type":"text","text":"todo"}]}]}]}`,
			"[x] done\n[ ] todo"},
		{"blockquote and expand", `{"type":"doc","content":[
			{"type":"blockquote","content":[{"type":"paragraph","content":[{"type":"text","text":"quoted"}]}]},
			{"type":"expand","attrs":{"title":"More"},"content":[{"type":"paragraph","content":[{"type":"text","text":"hidden"}]}]},
			{"type":"blockCard","attrs":{"url":"https://x.test/2"}}]}`,
			"quoted\nhidden\nhttps://x.test/2"},
		{"unknown inline and block nodes", `{"type":"doc","content":[
			{"type":"paragraph","content":[{"type":"text","text":"x"},{"type":"futureInline","content":[{"type":"text","text":"y"}]}]},
			{"type":"futureBlock","content":[{"type":"paragraph","content":[{"type":"text","text":"z"}]}]}]}`,
			"xy\nz"},
		{"not ADF: loose text", `{"type":"doc","content":{"type":"paragraph","text":"odd"}}`, "odd"},
		{"not an object", `[1,2]`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := adfToText([]byte(tc.doc)); got != tc.want {
				t.Errorf("adfToText = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestADFDeep checks that deep nesting neither overflows nor turns
// quadratic: text deeper than maxADFDepth is kept, flat.
func TestADFDeep(t *testing.T) {
	const depth = 2000 // 8000 JSON levels: encoding/json stops at 10000
	var b strings.Builder
	for range depth {
		b.WriteString(`{"type":"bulletList","content":[{"type":"listItem","content":[`)
	}
	b.WriteString(`{"type":"paragraph","content":[{"type":"text","text":"deep"}]}`)
	for range depth {
		b.WriteString(`]}]}`)
	}
	start := time.Now()
	got := adfToText([]byte(b.String()))
	if !strings.HasSuffix(got, "deep") {
		t.Errorf("deep text lost: %q", got[max(0, len(got)-40):])
	}
	if len(got) > 2000 {
		t.Errorf("len = %d: indentation grew with depth", len(got))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestParseTime(t *testing.T) {
	for in, want := range map[string]time.Time{
		"2024-01-02T15:04:05.000+0000":  time.Date(2024, 1, 2, 15, 4, 5, 0, time.UTC),
		"2024-01-02T15:04:05.250-0500":  time.Date(2024, 1, 2, 20, 4, 5, 250e6, time.UTC),
		"2024-01-02T15:04:05+0200":      time.Date(2024, 1, 2, 13, 4, 5, 0, time.UTC),
		"2024-01-02T15:04:05.123456Z":   time.Date(2024, 1, 2, 15, 4, 5, 123456e3, time.UTC),
		"2024-01-02T15:04:05.000+05:30": time.Date(2024, 1, 2, 9, 34, 5, 0, time.UTC),
		"yesterday":                     {},
		"":                              {},
	} {
		got := parseTime(in)
		if !got.Equal(want) || (!got.IsZero() && got.Location() != time.UTC) {
			t.Errorf("parseTime(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestRefForms(t *testing.T) {
	for ref, want := range map[string]string{
		"10001": "id", "1": "id", "0": "", "012": "", "-1": "",
		"PROJ-1": "key", "proj-12": "key", "AB_2-3": "key", "A1-7": "key",
		"1A-2": "", "PROJ": "", "PROJ-": "", "PROJ-x": "", "PROJ-1-2": "", `PR"OJ-1`: "", "PROJ-1 OR x": "", "": "",
	} {
		got := ""
		switch {
		case isID(ref):
			got = "id"
		case isKey(ref):
			got = "key"
		}
		if got != want {
			t.Errorf("%q: %q, want %q", ref, got, want)
		}
	}
}

// seeds are the testdata fixtures.
func seeds(f *testing.F) [][]byte {
	f.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(names) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	var out [][]byte
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzDecodeSearch feeds search and issue answers to the decoders and the
// normalization: they must never panic, and what they produce is valid
// UTF-8.
func FuzzDecodeSearch(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := decodeSearch(body)
		if err == nil {
			for _, r := range p.Issues {
				checkIssue(t, r)
			}
		}
		if r, err := decodeIssue(body); err == nil {
			checkIssue(t, r)
		}
	})
}

func checkIssue(t *testing.T, r rawIssue) {
	is := normalize(r, "https://acme.atlassian.net")
	for _, s := range []string{is.Title, is.Description, is.Status, is.Priority} {
		if !utf8.ValidString(s) {
			t.Errorf("invalid UTF-8 %q", s)
		}
	}
	if !is.CreatedAt.IsZero() && is.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt not UTC: %v", is.CreatedAt)
	}
}

// FuzzADF feeds documents to adfToText: never a panic, always valid UTF-8.
func FuzzADF(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Add([]byte(`{"type":"doc","content":[{"type":"orderedList","attrs":{"order":1e300},"content":[{"type":"listItem"}]}]}`))
	f.Add([]byte(`{"type":"date","attrs":{"timestamp":"99999999999999999999"}}`))
	f.Add([]byte(`{"type":"date","attrs":{"timestamp":-1e20}}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		if s := adfToText(doc); !utf8.ValidString(s) {
			t.Errorf("invalid UTF-8 %q", s)
		}
		// As a description field: string, object or anything else.
		_ = description(doc)
	})
}
