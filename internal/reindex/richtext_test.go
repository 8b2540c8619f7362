package reindex

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// p and d build TipTap JSON for the tests.
func p(inline ...string) string {
	return `{"type":"paragraph","content":[` + strings.Join(inline, ",") + `]}`
}

func d(blocks ...string) string {
	return `{"type":"doc","content":[` + strings.Join(blocks, ",") + `]}`
}

func tx(s string) string { b, _ := json.Marshal(s); return `{"type":"text","text":` + string(b) + `}` }

func TestRichTextJSON(t *testing.T) {
	t.Parallel()
	stringified := func(doc string) string { b, _ := json.Marshal(doc); return string(b) }
	for _, tc := range []struct {
		name, in, want string
	}{
		{"SQL NULL", "", ""},
		{"JSON null", "null", ""},
		{"number", "42", ""},
		{"array", `[{"type":"text","text":"x"}]`, ""},
		{"empty doc", `{"type":"doc","content":[]}`, ""},
		{"doc without content", `{"type":"doc"}`, ""},
		{"one paragraph", d(p(tx("Open the cart"))), "Open the cart"},
		{"marks split a word, not the text", d(p(tx("Open the "), `{"type":"text","marks":[{"type":"bold"}],"text":"ca"}`, tx("rt"))), "Open the cart"},
		{"blocks are separated", d(`{"type":"heading","attrs":{"level":2},"content":[`+tx("Title")+`]}`, p(tx("First line"))), "Title First line"},
		{"hard break", d(p(tx("Pay"), `{"type":"hardBreak"}`, tx("with Visa"))), "Pay with Visa"},
		{"nested list", d(`{"type":"bulletList","content":[{"type":"listItem","content":[` + p(tx("one")) + `]},{"type":"listItem","content":[` + p(tx("two")) + `]}]}`), "one two"},
		{"empty paragraphs add nothing", d(p(), p(tx("a")), p(), p(tx("b")), p()), "a b"},
		{"text wins over content", `{"type":"x","text":"own","content":[` + tx("child") + `]}`, "own"},
		{"empty text falls back to content", `{"text":"","content":[` + tx("child") + `]}`, "child"},
		{"non-string text ignored", `{"text":5,"content":[` + tx("child") + `]}`, "child"},
		{"last duplicate member wins", `{"text":"first","text":7,"content":[` + tx("c") + `]}`, "c"},
		{"string children kept", `{"type":"doc","content":["raw ", "strings"]}`, "raw strings"},
		{"image and mention have no text", d(p(tx("see"), `{"type":"mention","attrs":{"id":"u1","label":"Ada"}}`, tx(" here")), `{"type":"image","attrs":{"src":"x.png"}}`), "see here"},
		{"whitespace inside text kept", d(p(tx("  two  spaces\n"))), "  two  spaces\n"},
		{"escapes decoded", d(p(tx("quote \" tab \t é ✓ \U0001F600"))), "quote \" tab \t é ✓ \U0001F600"},
		{"unicode escapes", `{"text":"\u00e9\ud83d\ude00\ud800x"}`, "é\U0001F600\uFFFDx"},
		{"string holding a document", stringified(d(p(tx("Enter the password")))), "Enter the password"},
		{"string holding plain text", `"Type SAVE10"`, "Type SAVE10"},
		{"string holding a number stays text", `"42"`, "42"},
		{"string holding broken JSON stays text", `"{\"type\": \"doc\""`, `{"type": "doc"`},
		{"string holding an array stays text", `"[1, 2]"`, "[1, 2]"},
		{"white space around", " \n" + d(p(tx("x"))) + "\t ", "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var raw []byte
			if tc.in != "" {
				raw = []byte(tc.in)
			}
			if got := richTextJSON(raw); got != tc.want {
				t.Errorf("richTextJSON(%s) = %q, want %q", tc.in, got, tc.want)
			}
			if got, want := richTextJSON(raw), refRichTextJSON(raw); got != want {
				t.Errorf("richTextJSON(%s) = %q, reference %q", tc.in, got, want)
			}
		})
	}
}

func TestRichTextString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"Native apps", "Native apps"},
		{d(p(tx("Project Documentation")), p(tx("Links"))), "Project Documentation Links"},
		{"  " + d(p(tx("x"))), "x"},
		{"{not json", "{not json"},
		{`{"a":1} trailing`, `{"a":1} trailing`},
		{"[1]", "[1]"},
	} {
		if got := richTextString(tc.in); got != tc.want {
			t.Errorf("richTextString(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRichTextRefusesWhatEncodingJSONRefuses(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat(`{"content":[`, maxRichDepth/2+1) + strings.Repeat(`]}`, maxRichDepth/2+1)
	for _, in := range []string{
		`{"text":"x"`, `{"text":"x",}`, `{"text":'x'}`, `{"text":"x"}}`, `{"text":"\x"}`,
		`{"n":01}`, `{"n":1.}`, `{"n":-}`, `{"n":1e}`, `{"b":tru}`, "{\"text\":\"a\x01b\"}", deep,
	} {
		if json.Valid([]byte(in)) {
			t.Fatalf("test input %.40q is valid JSON", in)
		}
		if p := (richFlattener{in: []byte(in)}); p.skipValue() && p.atEnd() {
			t.Errorf("skipValue accepted %.40q", in)
		}
		if got := richTextString(in); got != in {
			t.Errorf("richTextString(%.40q) = %.40q, want the input back", in, got)
		}
	}
	nested := strings.Repeat(`{"content":[`, 100) + tx("deep") + strings.Repeat(`]}`, 100)
	if got := richTextJSON([]byte(nested)); got != "deep" {
		t.Errorf("100 levels: %q", got)
	}
}

// FuzzRichText checks the flattener against refRichText*, a plain
// implementation of the same rules on encoding/json's decoding, and that
// what it returns from JSON is valid UTF-8.
func FuzzRichText(f *testing.F) {
	for _, s := range []string{
		d(p(tx("Open the cart"))), d(p(tx("a"), `{"type":"hardBreak"}`, tx("b")), p()),
		`"` + strings.ReplaceAll(d(p(tx("x"))), `"`, `\"`) + `"`, `{"text":"\ud800"}`, `{"content":[1,"s",null,{"text":"t"}]}`,
		`"plain"`, `[]`, `{"text":"a","text":"b"}`, "\"\" ", "{\"text\":\"\xff\"}", `{"content":{"text":"x"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, want := richTextString(string(data)), refRichTextString(string(data)); got != want {
			t.Fatalf("richTextString(%q) = %q, reference %q", data, got, want)
		}
		if !json.Valid(data) {
			return
		}
		got := richTextJSON(data)
		if want := refRichTextJSON(data); got != want {
			t.Fatalf("richTextJSON(%q) = %q, reference %q", data, got, want)
		}
		if !utf8.ValidString(got) {
			t.Fatalf("richTextJSON(%q) = %q: invalid UTF-8", data, got)
		}
	})
}

// refDecode decodes valid JSON with encoding/json (numbers kept as text,
// so that 1e400 is no error).
func refDecode(b []byte) (any, bool) {
	if !json.Valid(b) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	return v, true
}

// refRichTextJSON is richTextJSON written on encoding/json.
func refRichTextJSON(raw []byte) string {
	v, ok := refDecode(raw)
	if !ok {
		return ""
	}
	switch x := v.(type) {
	case string:
		return refRichTextString(x)
	case map[string]any:
		var f refFlattener
		f.node(x)
		return f.b.String()
	}
	return ""
}

func refRichTextString(s string) string {
	if !strings.HasPrefix(strings.TrimLeft(s, " \t\n\r"), "{") {
		return s
	}
	v, ok := refDecode([]byte(s))
	m, isObject := v.(map[string]any)
	if !ok || !isObject {
		return s
	}
	var f refFlattener
	f.node(m)
	return f.b.String()
}

type refFlattener struct {
	b   strings.Builder
	sep bool
}

func (f *refFlattener) write(s string) {
	if s == "" {
		return
	}
	if f.sep && f.b.Len() > 0 {
		f.b.WriteByte(' ')
	}
	f.sep = false
	f.b.WriteString(s)
}

func refText(m map[string]any) string { s, _ := m["text"].(string); return s }

func (f *refFlattener) node(v any) {
	switch x := v.(type) {
	case string:
		f.write(x)
	case map[string]any:
		if s := refText(x); s != "" {
			f.write(s)
			return
		}
		if typ, _ := x["type"].(string); typ == "hardBreak" {
			f.sep = true
			return
		}
		content, _ := x["content"].([]any)
		for _, c := range content {
			cm, isObject := c.(map[string]any)
			_, hasContent := cm["content"].([]any)
			block := isObject && hasContent && refText(cm) == ""
			if block {
				f.sep = true
			}
			f.node(c)
			if block {
				f.sep = true
			}
		}
	}
}
