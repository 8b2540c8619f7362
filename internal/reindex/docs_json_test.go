package reindex

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

func TestAppendJSNumber(t *testing.T) {
	t.Parallel()
	// What JavaScript's String(n) prints.
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{0, "0"}, {math.Copysign(0, -1), "0"}, {1, "1"}, {-7, "-7"}, {2.5, "2.5"}, {0.30000000000000004, "0.30000000000000004"},
		{1.25, "1.25"}, {12.345, "12.345"}, {123456789012, "123456789012"}, {1e20, "100000000000000000000"},
		{1e21, "1e+21"}, {1.5e22, "1.5e+22"}, {-2e300, "-2e+300"}, {0.000001, "0.000001"}, {1e-7, "1e-7"},
		{1.5e-7, "1.5e-7"}, {5e-324, "5e-324"},
	} {
		if got := jsNumberString(tc.in); got != tc.want {
			t.Errorf("jsNumberString(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "plain", `quote " backslash \ slash /`, "ctl \x00\x01\x1f\b\f\n\r\t", "é ✓ \U0001F600",
		"<html>&amp;</html>", "line\u2028sep", "bad \xff utf8", "\xed\xa0\x80"} {
		b := appendJSONString(nil, in)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Errorf("appendJSONString(%q) = %s: %v", in, b, err)
			continue
		}
		want := string([]rune(in)) // invalid UTF-8 becomes U+FFFD, as in encoding/json
		if back != want {
			t.Errorf("appendJSONString(%q) decodes to %q, want %q", in, back, want)
		}
	}
	if got := string(appendJSONString(nil, "a\tb\"<")); got != `"a\tb\"<"` {
		t.Errorf("short escapes, no HTML escaping: got %s", got)
	}
}

func TestJSONWriter(t *testing.T) {
	t.Parallel()
	var w jsonWriter
	name := "x"
	var none *string
	n := int32(3)
	f := math.NaN()
	at := time.Date(2024, 3, 2, 12, 0, 0, 789_999_999, time.FixedZone("CET", 3600))
	w.open('{')
	w.kInt("id", 1)
	w.kStrOrNull("a", &name)
	w.kStrOrNull("b", none)
	w.kStrIfSet("c", none)
	w.kIntOrNull("n", &n)
	w.kFloatOrNull("f", &f)
	w.kTime("t", at)
	w.key("arr")
	w.open('[')
	w.open('{')
	w.kBool("ok", true)
	w.close('}')
	w.open('{')
	w.close('}')
	w.str("s")
	w.close(']')
	w.close('}')
	want := `{"id":1,"a":"x","b":null,"n":3,"f":null,"t":"2024-03-02T11:00:00.789Z","arr":[{"ok":true},{},"s"]}`
	if got := string(w.b); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
