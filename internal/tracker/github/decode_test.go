package github

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf8"
)

// fuzzTargets are what the fuzzed answers are read against: the aliases of
// graphql_batch.json (r0.i0-i2 in one repository, r1.i3 in another).
func fuzzTargets() []target {
	return []target{
		{"octo-org", "octo-repo", 1347},
		{"octo-org", "octo-repo", 9999},
		{"octo-org", "octo-repo", 1348},
		{"octo-org", "gone", 1},
	}
}

// FuzzDecodeGraphQL feeds GraphQL (and REST) answers to the decoders and
// the mapping to results: never a panic, one outcome per target, valid
// UTF-8 out.
func FuzzDecodeGraphQL(f *testing.F) {
	names, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(names) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"data":{"r0":{"i0":{"number":1,"labels":{"nodes":[null]},"assignees":{"nodes":[null,{"login":"x"}]}}}},"errors":[{"path":[0,"r0",1.5,null]}]}`))
	f.Add([]byte(`{"data":{"r0":[1],"r1":"x"},"errors":[{"type":"NOT_FOUND","path":["r1"]}]}`))
	targets := fuzzTargets()
	now := time.Unix(1700000000, 0)
	f.Fuzz(func(t *testing.T, body []byte) {
		if g, err := decodeGraphQL(body); err == nil {
			h := http.Header{"X-Ratelimit-Reset": {"1700000100"}}
			outs, err := g.outcomes(targets, h, now)
			if err == nil && len(outs) != len(targets) {
				t.Fatalf("%d outcomes for %d targets", len(outs), len(targets))
			}
			for _, o := range outs {
				if o.issue != nil {
					checkIssue(t, o.issue.Title, o.issue.Description, o.issue.Key)
				}
			}
		}
		if r, err := decodeREST(body); err == nil {
			is := r.normalize(targets[0])
			checkIssue(t, is.Title, is.Description, is.Key)
		}
	})
}

func checkIssue(t *testing.T, ss ...string) {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			t.Errorf("invalid UTF-8 %q", s)
		}
	}
}

func TestParseRef(t *testing.T) {
	c := &Client{owner: "def", repo: "repo"}
	for ref, want := range map[string]target{
		"o/r#1":                                {"o", "r", 1},
		"#2":                                   {"def", "repo", 2},
		"3":                                    {"def", "repo", 3},
		"https://github.com/o/r/issues/4":      {"o", "r", 4},
		"https://github.com/o/r/pull/5/":       {"o", "r", 5},
		"https://ghe.example.com/o/r/issues/6": {"o", "r", 6},
		"https://api.github.com/repos/o/r/issues/7":         {"o", "r", 7},
		"https://ghe.example.com/api/v3/repos/o/r/issues/8": {"o", "r", 8},
		"https://github.com/acme/repos/issues/9":            {"acme", "repos", 9},
		"o/r.js#10":                                         {"o", "r.js", 10},
	} {
		got, err := c.parseRef(ref)
		if err != nil || got != want {
			t.Errorf("parseRef(%q) = %+v, %v; want %+v", ref, got, err, want)
		}
	}
	for _, ref := range []string{"", "#", "o/r#-1", "o/r#1x", "o#1", "o/r/s#1", "https://github.com/o/r", "https://github.com/o/r/issues/x",
		"bad owner/r#1", "o/r r#1", "#2147483648", "o/..#1"} {
		if _, err := c.parseRef(ref); err == nil {
			t.Errorf("parseRef(%q) accepted", ref)
		}
	}
}
