package task

import (
	"encoding/json"
	"testing"
)

func TestUnstorableEscape(t *testing.T) {
	tests := []struct {
		in   string
		off  int
		what string
	}{
		{`{"a":"plain"}`, -1, ""},
		{`{"a":"\u0041\n\"\\u0000"}`, -1, ""}, // \\u0000 is a backslash then "u0000"
		{`{"a":"\u0000"}`, 6, `the escape \u0000 (NUL)`},
		{`{"\u0000":1}`, 2, `the escape \u0000 (NUL)`},
		{`["\ud83d\ude00"]`, -1, ""},
		{`["\uD83D\uDE00"]`, -1, ""},
		{`["\ud83d"]`, 2, "an unpaired surrogate escape"},
		{`["\ud83dx"]`, 2, "an unpaired surrogate escape"},
		{`["\ud83d\u0041"]`, 2, "an unpaired surrogate escape"},
		{`["\ud83d\ud83d\ude00"]`, 2, "an unpaired surrogate escape"},
		{`["\ude00"]`, 2, "an unpaired surrogate escape"},
		{`["ok","\ud800\udfff","\u0000"]`, 22, `the escape \u0000 (NUL)`},
		{`{"a":1,"b":[true,null,"x\\"]}`, -1, ""},
	}
	for _, tt := range tests {
		if !json.Valid([]byte(tt.in)) {
			t.Fatalf("test input %s is not valid JSON", tt.in)
		}
		off, what := unstorableEscape([]byte(tt.in))
		if off != tt.off || what != tt.what {
			t.Errorf("unstorableEscape(%s) = %d, %q; want %d, %q", tt.in, off, what, tt.off, tt.what)
		}
	}
}

func TestJSONValue(t *testing.T) {
	for in, want := range map[string]string{
		``:               "",
		`null`:           "",
		` null `:         "",
		`{}`:             "",
		`[]`:             "invalid payload: data: must be a JSON object, got array",
		`1`:              "invalid payload: data: must be a JSON object, got number",
		`true`:           "invalid payload: data: must be a JSON object, got boolean",
		`{"a":`:          "invalid payload: data: must be valid JSON",
		`{"a":"\u0000"}`: `invalid payload: data: contains the escape \u0000 (NUL) at offset 6, which PostgreSQL jsonb cannot store`,
	} {
		err := jsonValue("data", json.RawMessage(in), true)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("jsonValue(%q) = %q, want %q", in, got, want)
		}
	}
}
