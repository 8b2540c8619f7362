package linear

import (
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"testing"
)

// FuzzDecodeGraphQL: any answer body either fails to decode or resolves
// every reference of the query exactly once (an issue or an error, or
// left for another request), without panicking; the transport's
// reclassification never panics either.
func FuzzDecodeGraphQL(f *testing.F) {
	for _, name := range []string{"entity-not-found.json", "ratelimited.json", "authentication-error.json", "validation-error.json"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint16(http.StatusOK))
	}
	issues, err := os.ReadFile("testdata/issues.json")
	if err != nil {
		f.Fatal(err)
	}
	var nodes []json.RawMessage
	if err := json.Unmarshal(issues, &nodes); err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"data":{"byId":{"nodes":`+string(issues)+`},"k0":`+string(nodes[0])+`,"k1":`+string(nodes[2])+`}}`), uint16(200))
	f.Add([]byte(`{"data":{"byId":{"nodes":[]},"k0":`+string(nodes[1])+`,"k1":null}}`), uint16(200))
	f.Add([]byte(`{"data":{"byId":{"nodes":[{"id":"9CFB482A-81E3-4154-B5B9-2C805E70A726","trashed":true}]},"k0":{"id":"x","labels":{"nodes":[{"name":""}]}},"k1":{"id":"y"}},"errors":[{"path":["k1","labels"],"message":"x"}]}`), uint16(400))
	f.Add([]byte(`{"data":null,"errors":[{"path":["k0"],"message":"Entity not found: Issue"},{"path":["k1",0],"message":"boom","extensions":{"code":"FORBIDDEN"}}]}`), uint16(400))
	f.Add([]byte(`{"errors":[{"path":[],"message":""}]}`), uint16(200))
	f.Add([]byte(`null`), uint16(200))

	refs := []string{"9cfb482a-81e3-4154-b5b9-2c805e70a726", "0e6c3a53-2b8e-4f67-9d1a-6b5e4c3d2a10", "ENG-12", "ENG-404"}
	f.Fuzz(func(t *testing.T, body []byte, status uint16) {
		_ = reclassify(int(status), body)
		a, err := decodeAnswer(body)
		if err != nil {
			return
		}
		q := buildQuery(refs)
		out := make(map[string]outcome)
		left, err := a.resolve(Provider, q, int(status), out)
		if err != nil {
			return
		}
		for _, r := range left {
			if !slices.Contains(refs, r) {
				t.Fatalf("left %q, not asked", r)
			}
			if _, ok := out[r]; ok {
				t.Fatalf("%q both answered and left", r)
			}
		}
		for r, o := range out {
			if !slices.Contains(refs, r) {
				t.Fatalf("answer for %q, not asked", r)
			}
			if (o.issue == nil) == (o.err == nil) {
				t.Fatalf("%q: issue %v and error %v", r, o.issue, o.err)
			}
			if o.issue != nil && (o.issue.ID == "" || o.issue.Labels == nil || o.issue.CustomFields == nil) {
				t.Fatalf("%q: issue %+v", r, o.issue)
			}
		}
		if a.data != nil && len(left) > 0 {
			t.Fatalf("data present but %v left unanswered", left)
		}
		if len(out)+len(left) != len(refs) {
			t.Fatalf("%d answered + %d left != %d asked", len(out), len(left), len(refs))
		}
	})
}
