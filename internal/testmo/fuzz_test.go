package testmo_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/testplanit/tpi-workers/internal/testmo"
	"github.com/testplanit/tpi-workers/internal/testmo/testmogen"
)

// FuzzDecode: whatever the input, Decode never panics and either succeeds or returns a
// *FormatError (a bytes.Reader cannot fail, the context is never canceled, the visitor
// never refuses).
func FuzzDecode(f *testing.F) {
	seeds := []string{
		``, `{}`, `[]`, `null`, `"x"`, `{} {}`,
		`{"meta":{"a":[1]},"datasets":{"projects":{"schema":{"id":"id"},"data":[{"id":10,"name":"Web"}]}}}`,
		`{"entities":{"tags":{"columns":["id"],"rows":[{"id":1}]}}}`,
		`{"users":{"records":[{"id":1}],"schema":{}},"roles":{"items":[{"id":2}]}}`,
		`{"fields":{"fields":{"id":"int"},"data":[{"id":1,"type":8}]}}`,
		`{"run_result_attachments":{"data":[{"id":1},{"x":{"y":[]}}]}}`,
		`{"repositories":{"data":[{"id":1,"is_snapshot":0},{"id":2,"is_snapshot":"true"}]},"repository_cases":{"data":[{"id":1,"repo_id":2},{"id":2,"repo_id":1}]}}`,
		`[{"name":"users","rows":[{"id":1}]}]`,
		`{"runs":{"data":[{"id":1},[2]]}}`,
		`{"runs":{"data":{"id":1}}}`,
		`{"runs":[1]}`,
		"{\"runs\":{\"data\":[{\"name\":\"a\xffb\"}]}}",
		`{"runs":{"data":[{"id":1,"id":2}]}}`,
		`{"runs":{"data":[{"a":` + string(bytes.Repeat([]byte(`[`), 70)) + string(bytes.Repeat([]byte(`]`), 70)) + `}]}}`,
		`{"runs":{"data":[{"id":1},{"id":`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	var gen bytes.Buffer
	if _, err := testmogen.Generate(context.Background(), &gen, testmogen.Config{TargetBytes: 8 << 10, Seed: 1}); err != nil {
		f.Fatal(err)
	}
	f.Add(gen.Bytes())
	f.Add(gen.Bytes()[:gen.Len()/2])

	d := testmo.Decoder{Limits: testmo.Limits{MaxValueBytes: 4 << 10, MaxRowBytes: 8 << 10}}
	f.Fuzz(func(t *testing.T, in []byte) {
		rec := newRecorder()
		_, err := d.Decode(context.Background(), bytes.NewReader(in), rec)
		if err == nil {
			return
		}
		var fe *testmo.FormatError
		if !errors.As(err, &fe) {
			t.Fatalf("error %v (%T) is not a *FormatError", err, err)
		}
		if fe.Offset < 0 || fe.Offset > int64(len(in)) {
			t.Fatalf("error %q: offset %d outside the input (%d bytes)", fe, fe.Offset, len(in))
		}
		if fe.Row >= 0 && fe.Dataset == "" {
			t.Fatalf("error %q names a row but no dataset", fe)
		}
	})
}
