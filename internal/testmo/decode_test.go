package testmo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/testplanit/tpi-workers/internal/testmo"
	"github.com/testplanit/tpi-workers/internal/testmo/testmogen"
)

// recorder is a Visitor that keeps what it sees (for small exports).
type recorder struct {
	events   []string
	rows     map[string][]string // dataset -> rows as JSON
	schema   map[string]string
	snapshot map[string]int
	failOn   string // dataset whose first row fails
}

func newRecorder() *recorder {
	return &recorder{rows: map[string][]string{}, schema: map[string]string{}, snapshot: map[string]int{}}
}

func (r *recorder) BeginDataset(_ context.Context, ds *testmo.Dataset) error {
	r.events = append(r.events, "begin "+ds.Name)
	return nil
}

func (r *recorder) Row(_ context.Context, row *testmo.Row) error {
	name := row.Dataset().Name
	if name == r.failOn {
		return errors.New("visitor refused")
	}
	r.rows[name] = append(r.rows[name], string(row.AppendJSON(nil)))
	return nil
}

func (r *recorder) SnapshotRow(_ context.Context, row *testmo.Row) error {
	r.snapshot[row.Dataset().Name]++
	return nil
}

func (r *recorder) EndDataset(_ context.Context, ds *testmo.Dataset) error {
	r.events = append(r.events, fmt.Sprintf("end %s %d", ds.Name, ds.Rows))
	if ds.Schema != nil {
		r.schema[ds.Name] = string(ds.Schema)
	}
	return nil
}

func decodeString(t *testing.T, in string) (*recorder, testmo.Summary, error) {
	t.Helper()
	rec := newRecorder()
	sum, err := testmo.Decode(context.Background(), strings.NewReader(in), rec)
	return rec, sum, err
}

func generate(t testing.TB, dir string, cfg testmogen.Config) (string, testmogen.Report) {
	t.Helper()
	path := filepath.Join(dir, "export.json")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := testmogen.Generate(context.Background(), f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path, rep
}

// fkParents says which dataset each foreign-key column points at, per dataset.
func fkParent(dataset, col string) string {
	switch col {
	case "project_id":
		return "projects"
	case "repo_id":
		return "repositories"
	case "folder_id":
		return "repository_folders"
	case "case_id":
		if strings.HasPrefix(dataset, "automation_") {
			return "automation_cases"
		}
		return "repository_cases"
	case "run_id":
		if strings.HasPrefix(dataset, "automation_") {
			return "automation_runs"
		}
		return "runs"
	case "test_id":
		if strings.HasPrefix(dataset, "automation_") {
			return "automation_run_tests"
		}
		return "run_tests"
	case "result_id":
		if strings.HasPrefix(dataset, "session_") {
			return "session_results"
		}
		return "run_results"
	case "milestone_id":
		return "milestones"
	case "session_id":
		return "sessions"
	case "issue_id":
		return "issues"
	case "tag_id":
		return "tags"
	case "field_id":
		return "fields"
	case "value_id":
		return "field_values"
	case "status_id":
		return "statuses"
	case "state_id":
		return "states"
	case "template_id":
		return "templates"
	case "config_id":
		return "configs"
	case "type_id":
		return "milestone_types"
	case "target_id":
		return "issue_targets"
	case "user_id", "created_by", "assignee_id":
		return "users"
	case "group_id":
		return "groups"
	case "role_id":
		return "roles"
	case "parent_id", "root_id":
		return dataset
	}
	return ""
}

// fkChecker checks every foreign key points at a row already seen.
type fkChecker struct {
	ids  map[string]map[int64]bool
	errs []string
	rows map[string]int64
}

func (c *fkChecker) BeginDataset(context.Context, *testmo.Dataset) error { return nil }
func (c *fkChecker) EndDataset(context.Context, *testmo.Dataset) error   { return nil }
func (c *fkChecker) Row(_ context.Context, r *testmo.Row) error {
	ds := r.Dataset().Name
	c.rows[ds]++
	for i := range r.Len() {
		col, v := r.Name(i), r.Value(i)
		if v.IsNull() {
			continue
		}
		if col == "id" {
			id, ok := v.Int()
			if !ok {
				return fmt.Errorf("%s row %d: id %s is not an integer", ds, r.Index(), v)
			}
			if c.ids[ds] == nil {
				c.ids[ds] = map[int64]bool{}
			}
			c.ids[ds][id] = true
			continue
		}
		parent := fkParent(ds, col)
		if parent == "" {
			continue
		}
		id, ok := v.Int()
		if !ok {
			return fmt.Errorf("%s row %d: %s %s is not an integer", ds, r.Index(), col, v)
		}
		// Every key, parent_id and root_id included, names a row already seen.
		if !c.ids[parent][id] && len(c.errs) < 20 {
			c.errs = append(c.errs, fmt.Sprintf("%s row %d: %s=%d has no row in %s", ds, r.Index(), col, id, parent))
		}
	}
	return nil
}

func TestGeneratedExportDecodes(t *testing.T) {
	for _, container := range []string{"datasets", "entities", "none"} {
		t.Run(container, func(t *testing.T) {
			t.Parallel()
			path, rep := generate(t, t.TempDir(), testmogen.Config{TargetBytes: 2 << 20, Seed: 7, Container: container})
			if rep.Bytes < 1<<20 || rep.Bytes > 3<<20 {
				t.Errorf("generated %d bytes, asked for about 2 MiB", rep.Bytes)
			}
			if n := len(rep.Datasets); n < 40 {
				t.Errorf("generated %d datasets, want about 40 or more", n)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			fk := &fkChecker{ids: map[string]map[int64]bool{}, rows: map[string]int64{}}
			d := testmo.Decoder{KeepSnapshotRows: true}
			sum, err := d.Decode(context.Background(), f, fk)
			if err != nil {
				t.Fatal(err)
			}
			if len(fk.errs) > 0 {
				t.Errorf("dangling foreign keys:\n%s", strings.Join(fk.errs, "\n"))
			}
			if sum.Bytes+1 != rep.Bytes { // the generator ends with a newline
				t.Errorf("decoded %d bytes, generator wrote %d", sum.Bytes, rep.Bytes)
			}

			// Counts, with the snapshot rule on.
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			rec := newRecorder()
			sum, err = testmo.Decode(context.Background(), f, rec)
			if err != nil {
				t.Fatal(err)
			}
			var want, got []testmo.DatasetSummary
			var results, total int64
			for _, d := range rep.Datasets {
				att := strings.Contains(d.Name, "attachment")
				want = append(want, testmo.DatasetSummary{Name: d.Name, Rows: d.Rows, Skipped: d.Snapshot, Attachment: att})
				passed := int64(len(rec.rows[d.Name]))
				if wantPassed := d.Rows - d.Snapshot; att && passed != 0 || !att && passed != wantPassed {
					t.Errorf("%s: visitor saw %d rows, want %d", d.Name, passed, wantPassed)
				}
				if int64(rec.snapshot[d.Name]) != d.Snapshot {
					t.Errorf("%s: SnapshotRow saw %d rows, want %d", d.Name, rec.snapshot[d.Name], d.Snapshot)
				}
				if d.Name == "run_results" {
					results = d.Rows
				}
				total += d.Rows
			}
			got = sum.Datasets
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("dataset summaries (-generator +decoder):\n%s", diff)
			}
			if sum.Rows != total || sum.Rows != rep.Rows() {
				t.Errorf("total rows %d, generator %d", sum.Rows, rep.Rows())
			}
			for _, d := range rep.Datasets {
				if d.Rows > results {
					t.Errorf("%s has %d rows, more than run_results (%d): results should dominate", d.Name, d.Rows, results)
				}
			}
			if rec.schema["repository_cases"] == "" {
				t.Error("no schema passed for repository_cases")
			}
		})
	}
}

func TestGeneratorDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	cfg := testmogen.Config{TargetBytes: 200 << 10, Seed: 3}
	if _, err := testmogen.Generate(context.Background(), &a, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := testmogen.Generate(context.Background(), &b, cfg); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("same seed, different output")
	}
	cfg.Seed = 4
	var c bytes.Buffer
	if _, err := testmogen.Generate(context.Background(), &c, cfg); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Bytes(), c.Bytes()) {
		t.Error("different seeds, same output")
	}
}

func TestShapes(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		rows   map[string][]string
		schema map[string]string
		events []string
	}{
		{
			name: "reference example with meta and datasets container",
			in: `{"meta":{"source":"testmo","nested":{"a":[1,2,{"b":null}]}},"datasets":{
				"projects":{"schema":{"id":"id","name":"string"},"data":[{"id":10,"name":"Web"}]},
				"runs":{"data":[{"id":500,"project_id":10,"name":"Sprint 1","is_closed":0}]}}}`,
			rows: map[string][]string{
				"projects": {`{"id":10,"name":"Web"}`},
				"runs":     {`{"id":500,"project_id":10,"name":"Sprint 1","is_closed":0}`},
			},
			schema: map[string]string{"projects": `{"id":"id","name":"string"}`},
			events: []string{"begin projects", "end projects 1", "begin runs", "end runs 1"},
		},
		{
			name:   "entities container, summary ignored, columns and rows keys",
			in:     `{"summary":{"rows":3},"entities":{"tags":{"columns":["id","name"],"rows":[{"id":1,"name":"a"},{"id":2,"name":"b"}]}}}`,
			rows:   map[string][]string{"tags": {`{"id":1,"name":"a"}`, `{"id":2,"name":"b"}`}},
			schema: map[string]string{"tags": `["id","name"]`},
		},
		{
			name:   "top-level datasets, records and items keys, schema after rows",
			in:     `{"users":{"records":[{"id":1,"email":"a@x"}],"schema":{"id":"int"}},"roles":{"items":[{"id":2}]}}`,
			rows:   map[string][]string{"users": {`{"id":1,"email":"a@x"}`}, "roles": {`{"id":2}`}},
			schema: map[string]string{"users": `{"id":"int"}`},
		},
		{
			name:   "a dataset named fields, with its own fields schema",
			in:     `{"datasets":{"fields":{"fields":{"id":"int","type":"int"},"data":[{"id":1,"type":8},{"id":2,"type":9}]},"field_values":{"data":[{"id":1,"field_id":1}]}}}`,
			rows:   map[string][]string{"fields": {`{"id":1,"type":8}`, `{"id":2,"type":9}`}, "field_values": {`{"id":1,"field_id":1}`}},
			schema: map[string]string{"fields": `{"id":"int","type":"int"}`},
		},
		{
			name:   "attachments counted, not passed",
			in:     `{"run_result_attachments":{"data":[{"id":1},{"id":2,"x":{"deep":[1]}},{"id":3}]},"Case_Attachments":{"data":[]}}`,
			rows:   map[string][]string{},
			events: []string{"begin run_result_attachments", "end run_result_attachments 3", "begin Case_Attachments", "end Case_Attachments 0"},
		},
		{
			name: "snapshot repository rule",
			in: `{"repositories":{"data":[{"id":1,"is_snapshot":0},{"id":2,"is_snapshot":1},{"id":3,"is_snapshot":"TRUE"},{"id":4,"is_snapshot":"false"}]},
				"repository_cases":{"data":[{"id":10,"repo_id":1},{"id":11,"repo_id":2},{"id":12,"repo_id":3},{"id":13,"repo_id":4},{"id":14,"repo_id":null},{"id":15}]},
				"repository_case_tags":{"data":[{"case_id":11,"tag_id":1,"repo_id":2}]},
				"runs":{"data":[{"id":1,"repo_id":2}]}}`,
			rows: map[string][]string{
				"repositories":         {`{"id":1,"is_snapshot":0}`, `{"id":4,"is_snapshot":"false"}`},
				"repository_cases":     {`{"id":10,"repo_id":1}`, `{"id":13,"repo_id":4}`, `{"id":14,"repo_id":null}`, `{"id":15}`},
				"repository_case_tags": {`{"case_id":11,"tag_id":1,"repo_id":2}`},
				"runs":                 {`{"id":1,"repo_id":2}`},
			},
		},
		{
			name: "repository rows kept while no master repository is known",
			in:   `{"repository_cases":{"data":[{"id":10,"repo_id":1}]}}`,
			rows: map[string][]string{"repository_cases": {`{"id":10,"repo_id":1}`}},
		},
		{
			name: "nested values accepted as raw JSON, strings with escapes, unknown keys skipped",
			in:   `{"x":{"note":"ignored","data":[{"a":{"b":[1,{"c":"d"}]},"s":"é\u00e9\"\n","n":-1.5e3,"t":true,"z":null}],"extra":{"y":[[]]}}}`,
			rows: map[string][]string{"x": {`{"a":{"b":[1,{"c":"d"}]},"s":"é\u00e9\"\n","n":-1.5e3,"t":true,"z":null}`}},
		},
		{
			name:   "scalar top-level keys ignored, empty dataset",
			in:     ` {"version":3,"exported_at":"2024-01-01","empty":{}} `,
			rows:   map[string][]string{},
			events: []string{"begin empty", "end empty 0"},
		},
		{
			name:   "our extension: array of {name, rows}",
			in:     `[{"name":"users","schema":{"id":"int"},"rows":[{"id":1}]},{"dataset":"tags","data":[{"id":2},{"id":3}]}]`,
			rows:   map[string][]string{"users": {`{"id":1}`}, "tags": {`{"id":2}`, `{"id":3}`}},
			schema: map[string]string{"users": `{"id":"int"}`},
		},
		{
			name: "our extension inside the container",
			in:   `{"meta":{},"datasets":[{"name":"users","data":[{"id":1}]}]}`,
			rows: map[string][]string{"users": {`{"id":1}`}},
		},
		{
			name: "escaped column names",
			in:   `{"d":{"data":[{"na\u006De":1,"a\"b":2},{"name":3}]}}`,
			rows: map[string][]string{"d": {`{"name":1,"a\"b":2}`, `{"name":3}`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, _, err := decodeString(t, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.rows, rec.rows); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
			if tt.schema != nil {
				if diff := cmp.Diff(tt.schema, rec.schema); diff != "" {
					t.Errorf("schema (-want +got):\n%s", diff)
				}
			}
			if tt.events != nil {
				if diff := cmp.Diff(tt.events, rec.events); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestSnapshotSummary(t *testing.T) {
	rec, sum, err := decodeString(t, `{"repositories":{"data":[{"id":1,"is_snapshot":0},{"id":2,"is_snapshot":1}]},"repository_folders":{"data":[{"id":5,"repo_id":2},{"id":6,"repo_id":1}]}}`)
	if err != nil {
		t.Fatal(err)
	}
	want := []testmo.DatasetSummary{{Name: "repositories", Rows: 2, Skipped: 1}, {Name: "repository_folders", Rows: 2, Skipped: 1}}
	if diff := cmp.Diff(want, sum.Datasets); diff != "" {
		t.Error(diff)
	}
	if rec.snapshot["repository_folders"] != 1 || rec.snapshot["repositories"] != 1 {
		t.Errorf("SnapshotRow calls: %v", rec.snapshot)
	}
	d := testmo.Decoder{KeepSnapshotRows: true}
	sum, err = d.Decode(context.Background(), strings.NewReader(`{"repositories":{"data":[{"id":2,"is_snapshot":1}]}}`), newRecorder())
	if err != nil || sum.Datasets[0].Skipped != 0 {
		t.Errorf("KeepSnapshotRows: %+v, %v", sum, err)
	}
}

// wantFormatError checks err is a *FormatError naming dataset and row.
func wantFormatError(t *testing.T, err error, dataset string, row int64, reason string) *testmo.FormatError {
	t.Helper()
	var fe *testmo.FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T), want *FormatError", err, err)
	}
	if fe.Dataset != dataset || fe.Row != row {
		t.Errorf("error %q: dataset %q row %d, want dataset %q row %d", fe, fe.Dataset, fe.Row, dataset, row)
	}
	if fe.Offset < 0 {
		t.Errorf("error %q: offset %d", fe, fe.Offset)
	}
	if !strings.Contains(fe.Error(), reason) {
		t.Errorf("error %q does not say %q", fe, reason)
	}
	return fe
}

func TestBadInput(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 80) + "1" + strings.Repeat("}", 80)
	tests := []struct {
		name    string
		in      string
		dataset string
		row     int64
		reason  string
		offset  int64 // checked when non-zero
	}{
		{"empty", ``, "", -1, "empty", 0},
		{"only whitespace", "  \n", "", -1, "empty", 0},
		{"top level array of numbers", `[1,2]`, "", -1, "dataset entry is a number", 0},
		{"top level string", `"x"`, "", -1, "is a string, not a JSON object", 0},
		{"top level number", `42`, "", -1, "not a JSON object", 0},
		{"trailing data", `{} {}`, "", -1, "data after the end", 0},
		{"trailing garbage", `{}x`, "", -1, "invalid JSON", 0},
		{"row not an object", `{"runs":{"data":[{"id":1},[2]]}}`, "runs", 1, "row is an array, not a JSON object", 0},
		{"row is a number", `{"runs":{"data":[{"id":1},{"id":2},3]}}`, "runs", 2, "row is a number, not a JSON object", 34},
		{"attachment row not an object", `{"attachments":{"data":["a"]}}`, "attachments", 0, "row is a string", 0},
		{"rows not an array", `{"runs":{"data":{"id":1}}}`, "runs", -1, `"data" is an object, not an array of rows`, 0},
		{"rows a string", `{"runs":{"rows":"x"}}`, "runs", -1, `"rows" is a string`, 0},
		{"dataset an array", `{"runs":[{"id":1}]}`, "runs", -1, "dataset is an array", 0},
		{"dataset twice", `{"datasets":{"runs":{"data":[]}},"runs":{"data":[]}}`, "runs", -1, "appears twice", 0},
		{"duplicate dataset key", `{"runs":{"data":[]},"runs":{"data":[]}}`, "", -1, "duplicate", 0},
		{"truncated in row", `{"runs":{"data":[{"id":1},{"id":`, "runs", 1, "truncated", 0},
		{"truncated after rows", `{"runs":{"data":[{"id":1}]`, "runs", -1, "truncated", 0},
		{"truncated in string", `{"runs":{"data":[{"name":"abc`, "runs", 0, "truncated", 0},
		{"invalid UTF-8 in value", "{\"runs\":{\"data\":[{\"name\":\"a\xffb\"}]}}", "runs", 0, "UTF-8", 0},
		{"invalid UTF-8 in column name", "{\"runs\":{\"data\":[{\"n\xc3\":1}]}}", "runs", 0, "UTF-8", 0},
		{"invalid UTF-8 in dataset name", "{\"ru\xffns\":{\"data\":[]}}", "", -1, "UTF-8", 0},
		{"syntax error in row", `{"runs":{"data":[{"id":1,}]}}`, "runs", 0, "invalid JSON", 0},
		{"missing colon", `{"runs":{"data":[{"id" 1}]}}`, "runs", 0, "invalid JSON", 0},
		{"duplicate column", `{"runs":{"data":[{"id":1,"id":2}]}}`, "runs", 0, "duplicate", 0},
		{"deep nested value in row", `{"runs":{"data":[{"id":1},{"x":` + deep + `}]}}`, "runs", 1, "deeper than 64", 0},
		{"deep value in meta", `{"meta":` + deep + `}`, "", -1, "deeper than 64", 0},
		{"deep schema", `{"runs":{"schema":` + deep + `}}`, "runs", -1, "deeper than 64", 0},
		{"deep attachment row", `{"attachments":{"data":[` + deep + `]}}`, "attachments", 0, "deeper than 64", 0},
		{"entry without name", `[{"data":[]}]`, "", -1, "rows before its \"name\"", 0},
		{"entry with no name at all", `[{"schema":{}}]`, "", -1, "no \"name\"", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := decodeString(t, tt.in)
			fe := wantFormatError(t, err, tt.dataset, tt.row, tt.reason)
			if tt.offset != 0 && fe.Offset != tt.offset {
				t.Errorf("offset %d, want %d", fe.Offset, tt.offset)
			}
			if fe.Offset > int64(len(tt.in)) {
				t.Errorf("offset %d beyond the input (%d bytes)", fe.Offset, len(tt.in))
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	_, _, err := decodeString(t, `{"repository_cases":{"data":[{"id":1},{"id":2},7]}}`)
	want := `testmo export: dataset "repository_cases" row 2 (byte 46): row is a number, not a JSON object`
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}

func TestSizeLimits(t *testing.T) {
	big := strings.Repeat("x", 300<<10)
	d := testmo.Decoder{Limits: testmo.Limits{MaxValueBytes: 100 << 10, MaxRowBytes: 200 << 10}}
	for _, tt := range []struct {
		name, in, dataset string
		row               int64
		reason            string
	}{
		{"string", `{"runs":{"data":[{"id":1},{"s":"` + big + `"}]}}`, "runs", 1, "larger than 102400 bytes"},
		{"number", `{"runs":{"data":[{"n":1` + strings.Repeat("0", 300<<10) + `}]}}`, "runs", 0, "larger than 102400 bytes"},
		{"column name", `{"runs":{"data":[{"` + big + `":1}]}}`, "runs", 0, "larger than 102400 bytes"},
		{"dataset name", `{"` + big + `":{}}`, "", -1, "larger than 102400 bytes"},
		{"meta string", `{"meta":{"a":"` + big + `"}}`, "", -1, "larger than 102400 bytes"},
		{"row", `{"runs":{"data":[{"a":"` + big[:90<<10] + `","b":"` + big[:90<<10] + `","c":"` + big[:90<<10] + `"}]}}`, "runs", 0, "row is larger than 204800 bytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := d.Decode(context.Background(), strings.NewReader(tt.in), newRecorder())
			fe := wantFormatError(t, err, tt.dataset, tt.row, tt.reason)
			if !errors.Is(fe, testmo.ErrValueTooLarge) {
				t.Errorf("%v does not wrap ErrValueTooLarge", fe)
			}
		})
	}
	// Just under the limit passes.
	in := `{"runs":{"data":[{"s":"` + big[:90<<10] + `"}]}}`
	if _, err := d.Decode(context.Background(), strings.NewReader(in), newRecorder()); err != nil {
		t.Errorf("90 KiB string with a 100 KiB limit: %v", err)
	}
}

func TestTruncatedGeneratedExport(t *testing.T) {
	path, rep := generate(t, t.TempDir(), testmogen.Config{TargetBytes: 256 << 10, Seed: 11})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data = bytes.TrimSpace(data)
	for _, cut := range []int{1, 50, 1000, len(data) / 3, len(data) / 2, len(data) - 300, len(data) - 1} {
		_, _, err := decodeString(t, string(data[:cut]))
		var fe *testmo.FormatError
		if !errors.As(err, &fe) {
			t.Fatalf("cut at %d: %v, want *FormatError", cut, err)
		}
		if !strings.Contains(fe.Reason, "truncated") {
			t.Errorf("cut at %d: %q does not say truncated", cut, fe)
		}
		if fe.Offset > int64(cut) || fe.Offset < int64(cut)-64<<10 {
			t.Errorf("cut at %d: offset %d", cut, fe.Offset)
		}
	}
	// A cut in the middle of the run_results rows names the dataset and a row.
	i := bytes.Index(data, []byte(`"run_results":`))
	cut := i + 20000
	_, _, err = decodeString(t, string(data[:cut]))
	var fe *testmo.FormatError
	if !errors.As(err, &fe) || fe.Dataset != "run_results" || fe.Row <= 0 {
		t.Errorf("cut inside run_results: %v", err)
	}
	if rep.Bytes != int64(len(data))+1 {
		t.Errorf("report says %d bytes, file has %d", rep.Bytes, len(data)+1)
	}
}

func TestInvalidUTF8InGeneratedExport(t *testing.T) {
	path, _ := generate(t, t.TempDir(), testmogen.Config{TargetBytes: 256 << 10, Seed: 12})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, []byte(`"repository_cases":`))
	j := i + bytes.Index(data[i:], []byte(`"name":"Verify `))                                   // first row
	j = j + bytes.Index(data[j+200:], []byte(`"name":"Verify `)) + 200 + len(`"name":"Verify `) // second row
	data[j] = 0xff
	_, _, err = decodeString(t, string(data))
	fe := wantFormatError(t, err, "repository_cases", 1, "UTF-8")
	if fe.Offset < int64(j)-1 || fe.Offset > int64(j)+1 {
		t.Errorf("offset %d, flipped byte at %d", fe.Offset, j)
	}
}

// brokenReader fails after n bytes.
type brokenReader struct {
	r io.Reader
	n int
}

var errBroken = errors.New("connection reset")

func (b *brokenReader) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, errBroken
	}
	if len(p) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= n
	return n, err
}

func TestReadErrorIsNotFormatError(t *testing.T) {
	var buf bytes.Buffer
	if _, err := testmogen.Generate(context.Background(), &buf, testmogen.Config{TargetBytes: 100 << 10}); err != nil {
		t.Fatal(err)
	}
	_, err := testmo.Decode(context.Background(), &brokenReader{r: &buf, n: 50_000}, newRecorder())
	var re *testmo.ReadError
	var fe *testmo.FormatError
	if !errors.As(err, &re) || errors.As(err, &fe) || !errors.Is(err, errBroken) {
		t.Errorf("got %v (%T), want a *ReadError wrapping the reader's error", err, err)
	}
}

func TestVisitorError(t *testing.T) {
	rec := newRecorder()
	rec.failOn = "runs"
	_, err := testmo.Decode(context.Background(), strings.NewReader(`{"runs":{"data":[{"id":1}]}}`), rec)
	var fe *testmo.FormatError
	if err == nil || errors.As(err, &fe) || !strings.Contains(err.Error(), "visitor refused") || !strings.Contains(err.Error(), `"runs" row 0`) {
		t.Errorf("got %v", err)
	}
}

// cancelVisitor cancels the context after n rows.
type cancelVisitor struct {
	cancel context.CancelFunc
	n      int
	rows   int
}

func (c *cancelVisitor) BeginDataset(context.Context, *testmo.Dataset) error { return nil }
func (c *cancelVisitor) EndDataset(context.Context, *testmo.Dataset) error   { return nil }
func (c *cancelVisitor) Row(context.Context, *testmo.Row) error {
	if c.rows++; c.rows == c.n {
		c.cancel()
	}
	return nil
}

func TestCancel(t *testing.T) {
	var buf bytes.Buffer
	if _, err := testmogen.Generate(context.Background(), &buf, testmogen.Config{TargetBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v := &cancelVisitor{cancel: cancel, n: 1000}
	d := testmo.Decoder{CheckEvery: 100}
	_, err := d.Decode(ctx, bytes.NewReader(buf.Bytes()), v)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if v.rows > 1000+100 {
		t.Errorf("%d rows after cancel at 1000, checking every 100", v.rows)
	}
	// Canceled before the start.
	if _, err := testmo.Decode(ctx, bytes.NewReader(buf.Bytes()), newRecorder()); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context: %v", err)
	}
}

func TestValue(t *testing.T) {
	for _, tt := range []struct {
		v      string
		kind   testmo.Kind
		n      int64
		nOK    bool
		b, bOK bool
		text   string
	}{
		{`12`, testmo.KindNumber, 12, true, false, false, "12"},
		{`1`, testmo.KindNumber, 1, true, true, true, "1"},
		{`0`, testmo.KindNumber, 0, true, false, true, "0"},
		{`-7`, testmo.KindNumber, -7, true, false, false, "-7"},
		{`1.5`, testmo.KindNumber, 0, false, false, false, "1.5"},
		{`9223372036854775807`, testmo.KindNumber, 9223372036854775807, true, false, false, "9223372036854775807"},
		{`9223372036854775808`, testmo.KindNumber, 0, false, false, false, "9223372036854775808"},
		{`"42"`, testmo.KindString, 42, true, false, false, "42"},
		{`"True"`, testmo.KindString, 0, false, true, true, "True"},
		{`"a\"b\u00e9"`, testmo.KindString, 0, false, false, false, `a"bé`},
		{`true`, testmo.KindTrue, 0, false, true, true, "true"},
		{`false`, testmo.KindFalse, 0, false, false, true, "false"},
		{`null`, testmo.KindNull, 0, false, false, false, ""},
		{`{"a":1}`, testmo.KindObject, 0, false, false, false, `{"a":1}`},
		{`[1]`, testmo.KindArray, 0, false, false, false, `[1]`},
	} {
		v := testmo.Value(tt.v)
		n, nOK := v.Int()
		b, bOK := v.Bool()
		if v.Kind() != tt.kind || n != tt.n || nOK != tt.nOK || b != tt.b || bOK != tt.bOK || v.Text() != tt.text {
			t.Errorf("%s: kind %c int %d,%v bool %v,%v text %q", tt.v, v.Kind(), n, nOK, b, bOK, v.Text())
		}
	}
}

// rowCounter counts rows and touches every value.
type rowCounter struct {
	rows  int64
	bytes int64
}

func (c *rowCounter) BeginDataset(context.Context, *testmo.Dataset) error { return nil }
func (c *rowCounter) EndDataset(context.Context, *testmo.Dataset) error   { return nil }
func (c *rowCounter) Row(_ context.Context, r *testmo.Row) error {
	c.rows++
	for i := range r.Len() {
		c.bytes += int64(len(r.Value(i)))
	}
	return nil
}

func TestMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and decodes a 200 MB export")
	}
	path, rep := generate(t, t.TempDir(), testmogen.Config{TargetBytes: 200 << 20, Seed: 1})
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	c := &rowCounter{}
	sum, err := testmo.Decode(context.Background(), f, c)
	close(done)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	if sum.Rows != rep.Rows() {
		t.Errorf("decoded %d rows, generated %d", sum.Rows, rep.Rows())
	}
	const limit = 32 << 20
	t.Logf("export %d MB, %d rows; heap in use before %.1f MB, peak %.1f MB", rep.Bytes>>20, sum.Rows, float64(base.HeapInuse)/(1<<20), float64(peak.Load())/(1<<20))
	if p := peak.Load(); p > limit {
		t.Errorf("peak HeapInuse %d MB, want under %d MB", p>>20, limit>>20)
	}
}
