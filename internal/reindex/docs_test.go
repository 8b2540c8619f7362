package reindex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.json from the documents produced")

// collect returns every document of kind k for projectID.
func collect(t testing.TB, src *Source, k Kind, projectID int) []Doc {
	t.Helper()
	var docs []Doc
	if err := src.Docs(t.Context(), k, projectID, func(d Doc) error {
		docs = append(docs, d)
		return nil
	}); err != nil {
		t.Fatalf("Docs(%s, %d): %v", k, projectID, err)
	}
	return docs
}

// renderGolden renders documents as the golden files hold them: an
// indented JSON array of {_id, projectId, _source}, members in the order
// the documents have them.
func renderGolden(t testing.TB, docs []Doc) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteByte('[')
	for i, d := range docs {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"_id":%s,"projectId":%d,"_source":`, strconv.Quote(d.ID), d.ProjectID)
		b.Write(d.Body)
		b.WriteByte('}')
	}
	b.WriteByte(']')
	var out bytes.Buffer
	if err := json.Indent(&out, b.Bytes(), "", "  "); err != nil {
		t.Fatalf("documents are not valid JSON: %v\n%s", err, b.Bytes())
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// TestGoldenDocs builds every kind's documents from the fixture and compares
// them byte for byte with testdata/golden/<kind>.json (go test -update
// rewrites them; review the diff against reference section 5.2).
func TestGoldenDocs(t *testing.T) {
	t.Parallel()
	pool, _ := fixturePool(t)
	src := NewSource(pool, 0)
	for _, k := range Kinds() {
		t.Run(string(k), func(t *testing.T) {
			docs := collect(t, src, k, 0)
			for _, d := range docs {
				var head struct {
					ID        int `json:"id"`
					ProjectID int `json:"projectId"`
				}
				if err := json.Unmarshal(d.Body, &head); err != nil {
					t.Fatalf("document %s: %v", d.ID, err)
				}
				wantProject := head.ProjectID
				if k == KindProjects {
					wantProject = head.ID
				}
				if strconv.Itoa(head.ID) != d.ID || wantProject != d.ProjectID {
					t.Errorf("Doc{ID: %s, ProjectID: %d} but body id %d, projectId %d", d.ID, d.ProjectID, head.ID, head.ProjectID)
				}
			}
			got := renderGolden(t, docs)
			path := filepath.Join("testdata", "golden", string(k)+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s differs from the documents built (-golden +got):\n%s", path, diff)
			}
		})
	}
}

// TestDocsRowSelection checks which rows make documents, per kind and
// project filter (0: all projects).
func TestDocsRowSelection(t *testing.T) {
	t.Parallel()
	pool, _ := fixturePool(t)
	src := NewSource(pool, 0)
	want := map[Kind]map[int][]string{
		// Archived case 3 and the deleted project's case 6 never; deleted case 2 always.
		KindRepositoryCases: {0: {"1", "2", "4", "5"}, 1: {"1", "2", "4"}, 2: {"5"}, 3: nil, 4: nil},
		KindSharedSteps:     {0: {"1", "2", "3"}, 1: {"1", "2"}, 2: {"3"}, 3: nil},
		KindTestRuns:        {0: {"1", "2"}, 1: {"1", "2"}, 2: nil, 3: nil},
		KindSessions:        {0: {"1", "2"}, 1: {"1"}, 2: {"2"}, 3: nil},
		KindMilestones:      {0: {"1", "2", "3"}, 1: {"1", "2"}, 2: {"3"}, 3: nil},
		// Every project, the deleted one too; a filter keeps that project alone.
		KindProjects: {0: {"1", "2", "3"}, 1: {"1"}, 3: {"3"}, 9: nil},
		// 3 reaches only a deleted run, 5 only the deleted project.
		KindIssues: {0: {"1", "2", "4", "6", "7"}, 1: {"1", "4", "6"}, 2: {"2", "7"}, 3: nil},
	}
	for _, k := range Kinds() {
		for project, ids := range want[k] {
			t.Run(fmt.Sprintf("%s/project=%d", k, project), func(t *testing.T) {
				var got []string
				for _, d := range collect(t, src, k, project) {
					got = append(got, d.ID)
				}
				if diff := cmp.Diff(ids, got); diff != "" {
					t.Errorf("document ids (-want +got):\n%s", diff)
				}
				var fromIDs []string
				if err := src.IDs(t.Context(), k, project, func(id string) error {
					fromIDs = append(fromIDs, id)
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(ids, fromIDs); diff != "" {
					t.Errorf("IDs (-want +got):\n%s", diff)
				}
				n, err := src.Count(t.Context(), k, project)
				if err != nil {
					t.Fatal(err)
				}
				if n != int64(len(ids)) {
					t.Errorf("Count = %d, want %d", n, len(ids))
				}
			})
		}
	}
}

// TestIssueProjects checks the project an issue's document names: its own,
// else the one its links reach within the filter.
func TestIssueProjects(t *testing.T) {
	t.Parallel()
	pool, _ := fixturePool(t)
	src := NewSource(pool, 0)
	for project, want := range map[int]map[string]int{
		0: {"1": 1, "2": 2, "4": 1, "6": 1, "7": 2},
		1: {"1": 1, "4": 1, "6": 1},
		2: {"2": 2, "7": 2},
	} {
		got := map[string]int{}
		for _, d := range collect(t, src, KindIssues, project) {
			got[d.ID] = d.ProjectID
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("project %d: issue -> projectId (-want +got):\n%s", project, diff)
		}
	}
}

// TestDocsKeysetPaging reads every kind with pages of 1, 2 and 3 rows and
// checks that the documents are those of a single page, in the same order:
// nothing lost or repeated at page boundaries, caches carried across pages.
func TestDocsKeysetPaging(t *testing.T) {
	t.Parallel()
	pool, _ := fixturePool(t)
	for _, k := range Kinds() {
		for _, project := range []int{0, 1} {
			want := renderGolden(t, collect(t, NewSource(pool, 1000), k, project))
			for _, size := range []int{1, 2, 3} {
				got := renderGolden(t, collect(t, NewSource(pool, size), k, project))
				if diff := cmp.Diff(string(want), string(got)); diff != "" {
					t.Errorf("%s, project %d, batch size %d (-one page +paged):\n%s", k, project, size, diff)
				}
			}
			var ids []string
			if err := NewSource(pool, 1).IDs(t.Context(), k, project, func(id string) error {
				ids = append(ids, id)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			var docIDs []string
			for _, d := range collect(t, NewSource(pool, 2), k, project) {
				docIDs = append(docIDs, d.ID)
			}
			if !slices.Equal(ids, docIDs) {
				t.Errorf("%s, project %d: IDs with pages of %d = %v, documents %v", k, project, idPageFactor, ids, docIDs)
			}
		}
	}
}

// TestDocsStopsAtEmitError: the first error from emit ends Docs and IDs
// and comes back unchanged.
func TestDocsStopsAtEmitError(t *testing.T) {
	t.Parallel()
	pool, _ := fixturePool(t)
	src := NewSource(pool, 2)
	stop := errors.New("stop")
	calls := 0
	err := src.Docs(t.Context(), KindRepositoryCases, 0, func(Doc) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 3 {
		t.Errorf("Docs returned %v after %d calls, want the emit error after 3", err, calls)
	}
	calls = 0
	err = src.IDs(t.Context(), KindIssues, 0, func(string) error {
		calls++
		return stop
	})
	if err != stop || calls != 1 {
		t.Errorf("IDs returned %v after %d calls, want the emit error after 1", err, calls)
	}
}

func TestDocsRefusesBadArguments(t *testing.T) {
	t.Parallel()
	pool, _ := fixturePool(t)
	src := NewSource(pool, 0)
	emit := func(Doc) error { t.Error("emit called"); return nil }
	if err := src.Docs(t.Context(), "cases", 0, emit); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("Docs(cases) = %v, want ErrUnknownKind", err)
	}
	if _, err := src.Count(t.Context(), "all", 0); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("Count(all) = %v, want ErrUnknownKind", err)
	}
	if err := src.Docs(t.Context(), KindProjects, -1, emit); err == nil {
		t.Error("Docs with project -1: no error")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := src.Docs(ctx, KindRepositoryCases, 0, emit); !errors.Is(err, context.Canceled) {
		t.Errorf("Docs on a canceled context = %v, want context.Canceled", err)
	}
}

func TestKinds(t *testing.T) {
	t.Parallel()
	want := map[Kind]string{
		KindProjects: "projects", KindRepositoryCases: "repository-cases", KindSharedSteps: "shared-steps",
		KindTestRuns: "test-runs", KindSessions: "sessions", KindIssues: "issues", KindMilestones: "milestones",
	}
	kinds := Kinds()
	if len(kinds) != len(want) || kinds[0] != KindProjects {
		t.Fatalf("Kinds() = %v", kinds)
	}
	for _, k := range kinds {
		if got := k.IndexSuffix(); got != want[k] || !k.Valid() {
			t.Errorf("%s.IndexSuffix() = %q, want %q", k, got, want[k])
		}
	}
	if Kind("all").Valid() || Kind("all").IndexSuffix() != "" {
		t.Error(`Kind("all") is valid`)
	}
	kinds[0] = "changed"
	if Kinds()[0] != KindProjects {
		t.Error("Kinds returns a shared slice")
	}
}

// queryCounter counts the statements a pool sends (BEGIN and COMMIT
// included).
type queryCounter struct{ n atomic.Int64 }

func (c *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TestQueriesPerBatchDoNotGrow builds the documents of 10 cases and of
// 1,000 cases, each in one page, and checks they take the same number of
// statements; then, with pages of 100, that no page takes more than the
// first (field and shared-group definitions are read once per call).
func TestQueriesPerBatchDoNotGrow(t *testing.T) {
	t.Parallel()
	pool, url := testenv.Postgres(t)
	ctx := t.Context()
	base, err := writeGenBase(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	small, err := genProject(ctx, pool, base, "small", 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	large, err := genProject(ctx, pool, base, "large", 1000, 2)
	if err != nil {
		t.Fatal(err)
	}

	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	var counter queryCounter
	cfg.ConnConfig.Tracer = &counter
	traced, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer traced.Close()

	count := func(batch int, project int32) (queries int64, docs int) {
		src := NewSource(traced, batch)
		before := counter.n.Load()
		err := src.Docs(ctx, KindRepositoryCases, int(project), func(Doc) error { docs++; return nil })
		if err != nil {
			t.Fatal(err)
		}
		return counter.n.Load() - before, docs
	}
	qSmall, nSmall := count(1001, small)
	qLarge, nLarge := count(1001, large)
	if nSmall != 10 || nLarge != 1000 {
		t.Fatalf("built %d and %d documents, want 10 and 1000", nSmall, nLarge)
	}
	if qSmall != qLarge {
		t.Errorf("10 cases took %d statements, 1,000 cases %d: the count grows with the cases", qSmall, qLarge)
	}
	if qSmall > 8 {
		t.Errorf("one page took %d statements, want at most 8 (BEGIN, 6 queries, COMMIT)", qSmall)
	}
	// 1,000 cases in pages of 100: 10 full pages and an empty one.
	qPaged, _ := count(100, large)
	if max := 10*qLarge + 3; qPaged > max {
		t.Errorf("1,000 cases in pages of 100 took %d statements, want at most %d", qPaged, max)
	}
	t.Logf("statements: 10 cases %d, 1,000 cases %d, 1,000 cases in pages of 100: %d", qSmall, qLarge, qPaged)
}
