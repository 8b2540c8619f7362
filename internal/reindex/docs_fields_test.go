package reindex

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestBuildCustomField covers every field type's document entry and search
// text, beside what the original's transformCustomFieldValue gives.
func TestBuildCustomField(t *testing.T) {
	t.Parallel()
	flag, red := "flag", "#dc2626"
	options := []fieldOption{{id: 1, name: "High", icon: &flag, colorValue: &red}, {id: 2, name: "Low"}}
	field := func(typ string) *caseField {
		f := &caseField{id: 7, name: "F", typ: typ}
		if typ == "Dropdown" || typ == "Multi-Select" || typ == "Select" {
			f.options = options
		}
		return f
	}
	for _, tc := range []struct {
		typ, raw   string
		nilRaw     bool
		want       string // the entry, "" when dropped
		searchText string
	}{
		{typ: "Text String", nilRaw: true},
		{typ: "Text String", raw: `null`},
		{typ: "Text String", raw: `""`},
		{typ: "Text String", raw: `"REQ-42"`, want: `{"fieldId":7,"fieldName":"F","fieldType":"Text String","valueKeyword":"REQ-42","value":"REQ-42"}`, searchText: "REQ-42"},
		{typ: "Link", raw: `"https://x.example"`, want: `{"fieldId":7,"fieldName":"F","fieldType":"Link","valueKeyword":"https://x.example","value":"https://x.example"}`, searchText: "https://x.example"},
		{typ: "Text Long", raw: d(p(tx("Logged in")), p(tx("Cart"))), want: `{"fieldId":7,"fieldName":"F","fieldType":"Text Long","value":"Logged in Cart"}`, searchText: "Logged in Cart"},
		{typ: "Text Long", raw: `"plain words"`, want: `{"fieldId":7,"fieldName":"F","fieldType":"Text Long","value":"plain words"}`, searchText: "plain words"},
		{typ: "Text Long", raw: `{"type":"doc","content":[]}`},
		{typ: "Checkbox", raw: `true`, want: `{"fieldId":7,"fieldName":"F","fieldType":"Checkbox","valueBoolean":true,"value":"true"}`, searchText: "F"},
		{typ: "Checkbox", raw: `false`, want: `{"fieldId":7,"fieldName":"F","fieldType":"Checkbox","valueBoolean":false,"value":"false"}`},
		{typ: "Checkbox", raw: `"false"`, want: `{"fieldId":7,"fieldName":"F","fieldType":"Checkbox","valueBoolean":false,"value":"false"}`},
		{typ: "Date", raw: `"2024-03-15"`, want: `{"fieldId":7,"fieldName":"F","fieldType":"Date","valueDate":"2024-03-15T00:00:00.000Z","value":"2024-03-15T00:00:00.000Z"}`, searchText: "2024-03-15T00:00:00.000Z"},
		{typ: "Date", raw: `"2024-03-15T10:20:30.5+02:00"`, want: `{"fieldId":7,"fieldName":"F","fieldType":"Date","valueDate":"2024-03-15T08:20:30.500Z","value":"2024-03-15T08:20:30.500Z"}`, searchText: "2024-03-15T08:20:30.500Z"},
		{typ: "Date", raw: `1710460800000`, want: `{"fieldId":7,"fieldName":"F","fieldType":"Date","valueDate":"2024-03-15T00:00:00.000Z","value":"2024-03-15T00:00:00.000Z"}`, searchText: "2024-03-15T00:00:00.000Z"},
		{typ: "Date", raw: `"soon"`},
		{typ: "Number", raw: `"2.50"`, want: `{"fieldId":7,"fieldName":"F","fieldType":"Number","valueNumeric":2.5,"value":"2.50"}`, searchText: "2.5"},
		{typ: "Number", raw: `"abc"`, want: `{"fieldId":7,"fieldName":"F","fieldType":"Number","value":"abc"}`},
		{typ: "Integer", raw: `5`, want: `{"fieldId":7,"fieldName":"F","fieldType":"Integer","valueNumeric":5,"value":"5"}`, searchText: "5"},
		{typ: "Integer", raw: `0`, want: `{"fieldId":7,"fieldName":"F","fieldType":"Integer","valueNumeric":0,"value":"0"}`, searchText: "0"},
		{typ: "Dropdown", raw: `1`, want: `{"fieldId":7,"fieldName":"F","fieldType":"Dropdown","value":"1","fieldOption":{"id":1,"name":"High","icon":{"name":"flag"},"iconColor":{"value":"#dc2626"}}}`, searchText: "High"},
		{typ: "Dropdown", raw: `"2"`, want: `{"fieldId":7,"fieldName":"F","fieldType":"Dropdown","value":"2","fieldOption":{"id":2,"name":"Low"}}`, searchText: "Low"},
		{typ: "Dropdown", raw: `9`, want: `{"fieldId":7,"fieldName":"F","fieldType":"Dropdown","value":"9"}`},
		{typ: "Multi-Select", raw: `[2, 1]`, want: `{"fieldId":7,"fieldName":"F","fieldType":"Multi-Select","valueArray":["2","1"],"value":"2 1","fieldOptions":[{"id":1,"name":"High","icon":{"name":"flag"},"iconColor":{"value":"#dc2626"}},{"id":2,"name":"Low"}]}`, searchText: "High Low"},
		{typ: "Multi-Select", raw: `"[1]"`, want: `{"fieldId":7,"fieldName":"F","fieldType":"Multi-Select","valueArray":["1"],"value":"1","fieldOptions":[{"id":1,"name":"High","icon":{"name":"flag"},"iconColor":{"value":"#dc2626"}},{"id":2,"name":"Low"}]}`, searchText: "High"},
		{typ: "Multi-Select", raw: `[]`},
		{typ: "Multi-Select", raw: `[null, 2]`, want: `{"fieldId":7,"fieldName":"F","fieldType":"Multi-Select","valueArray":["null","2"],"value":" 2","fieldOptions":[{"id":1,"name":"High","icon":{"name":"flag"},"iconColor":{"value":"#dc2626"}},{"id":2,"name":"Low"}]}`, searchText: "Low"},
		{typ: "Steps", raw: `"see steps"`, want: `{"fieldId":7,"fieldName":"F","fieldType":"Steps","value":"see steps"}`, searchText: "see steps"},
		{typ: "Steps", raw: `false`},
		{typ: "Unknown", raw: `{"b":1,"a":[true]}`, want: `{"fieldId":7,"fieldName":"F","fieldType":"Unknown","value":"{\"a\":[true],\"b\":1}"}`, searchText: `{"a":[true],"b":1}`},
	} {
		var raw []byte
		if !tc.nilRaw {
			raw = []byte(tc.raw)
		}
		cf, ok := buildCustomField(field(tc.typ), raw)
		if !ok {
			if tc.want != "" {
				t.Errorf("%s %s: dropped, want %s", tc.typ, tc.raw, tc.want)
			}
			continue
		}
		var w jsonWriter
		cf.write(&w)
		if got := string(w.b); got != tc.want {
			t.Errorf("%s %s:\n got  %s\n want %s", tc.typ, tc.raw, got, tc.want)
		}
		if got := cf.searchText(); got != tc.searchText {
			t.Errorf("%s %s: search text %q, want %q", tc.typ, tc.raw, got, tc.searchText)
		}
	}
}

// FuzzDecodeJSON holds decodeJSON to encoding/json's decoding into an any.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`"REQ-42"`, ` 5 `, `-0.5e3`, `1e400`, `true`, `null `, `[3, 5]`, `{"a":[1]}`,
		`"\u00e9\ud800"`, "\"\xff\"", `01`, `"a" "b"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, ok := decodeJSON(data)
		var want any
		wantOK := json.Unmarshal(data, &want) == nil
		if ok != wantOK || (ok && !reflect.DeepEqual(got, want)) {
			t.Fatalf("decodeJSON(%q) = %#v, %v; encoding/json %#v, %v", data, got, ok, want, wantOK)
		}
	})
}
