package reindex

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/testenv"
)

// benchCases is the size of the benchmarks' data set.
const benchCases = 100_000

// benchData is the benchmarks' data set: one project of benchCases cases
// (genProject: about 3.2 steps, 2 tags and 5 custom field values per case,
// a tenth of the cases with a shared step), generated with COPY once per
// test binary run, the first time a benchmark asks for it, in a database of
// its own that TestMain drops.
var benchData = testenv.BenchDatabase{Name: "tpi_reindex_bench", Fill: fillBenchData}

// TestMain drops the benchmarks' database, if one was made. (This package's
// only TestMain: add process-wide set-up here.)
func TestMain(m *testing.M) {
	code := m.Run()
	benchData.Drop()
	os.Exit(code)
}

func benchPool(b *testing.B) *pgxpool.Pool {
	b.Helper()
	return benchData.Pool(b)
}

func fillBenchData(ctx context.Context, pool *pgxpool.Pool) error {
	start := time.Now()
	base, err := writeGenBase(ctx, pool)
	if err != nil {
		return err
	}
	if _, err := genProject(ctx, pool, base, "Bench", benchCases, 1); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE"); err != nil {
		return err
	}
	var cases, steps, tags, values int64
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM "RepositoryCases"), (SELECT count(*) FROM "Steps"),
		(SELECT count(*) FROM "_RepositoryCasesToTags"), (SELECT count(*) FROM "CaseFieldValues")`).Scan(&cases, &steps, &tags, &values); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "reindex bench data: %d cases, %d steps, %d tag links, %d field values in %s\n",
		cases, steps, tags, values, time.Since(start).Round(time.Second))
	return nil
}

// BenchmarkBuildCaseDocs builds every case document of the data set (all
// projects, the default page size) into a sink that only counts them, and
// reports docs/s. Each iteration also runs the floor (caseFloorSQL) outside
// the timer, right before, so that x_floor compares the two under the same
// machine load.
func BenchmarkBuildCaseDocs(b *testing.B) {
	pool := benchPool(b)
	ctx := context.Background()
	src := NewSource(pool, 0)
	var build, floor time.Duration
	var docs, bytes int64
	n := 0
	for b.Loop() {
		b.StopTimer()
		floor += timeCaseFloor(b, pool)
		b.StartTimer()
		t0 := time.Now()
		err := src.Docs(ctx, KindRepositoryCases, 0, func(d Doc) error {
			docs++
			bytes += int64(len(d.Body))
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		build += time.Since(t0)
		n++
	}
	b.ReportMetric(build.Seconds()/float64(n), "s/op")
	b.ReportMetric(float64(docs)/build.Seconds(), "docs/s")
	b.ReportMetric(float64(bytes)/float64(docs), "B/doc")
	b.ReportMetric(floor.Seconds()/float64(n), "floor_s/op")
	b.ReportMetric(build.Seconds()/floor.Seconds(), "x_floor")
}

// caseFloorSQL reads the rows the case documents are made of, each once,
// in one streaming query, and builds nothing: every non-archived case of a
// project that is not deleted with its project, template, state, icon,
// color, creator and folder names, then every tag link with its tag name,
// every non-deleted step with its JSON, every custom field value with its
// JSON (UNION ALL, sequential scans, no ordering, no aggregation). The
// client only walks the raw row bytes. Of the ways to read this data in
// one query it is the fastest found (correlated subqueries per case and
// per-case aggregates both take 1.5 to 2 times as long).
const caseFloorSQL = `
SELECT 1, c.id, c."projectId", c."repositoryId", c."folderId", c."templateId", c."stateId", c.estimate,
       c."forecastManual", c."forecastAutomated", c.automated, c."isArchived", c."isDeleted", c."createdAt", c.name,
       c."className", c.source::text, p.name, p."iconUrl", t."templateName", w.name, fi.name, col.value, u.id,
       u.name, u.image, f.name, NULL::jsonb, NULL::jsonb
FROM "RepositoryCases" c
JOIN "Projects" p ON p.id = c."projectId"
JOIN "Templates" t ON t.id = c."templateId"
JOIN "Workflows" w ON w.id = c."stateId"
JOIN "FieldIcon" fi ON fi.id = w."iconId"
JOIN "Color" col ON col.id = w."colorId"
JOIN "User" u ON u.id = c."creatorId"
JOIN "RepositoryFolders" f ON f.id = c."folderId"
WHERE NOT c."isArchived" AND NOT p."isDeleted"
UNION ALL
SELECT 2, j."A", tg.id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, tg.name,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM "_RepositoryCasesToTags" j JOIN "Tags" tg ON tg.id = j."B"
UNION ALL
SELECT 3, s."testCaseId", s.id, s."order", s."sharedStepGroupId", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, s.step, s."expectedResult"
FROM "Steps" s WHERE NOT s."isDeleted"
UNION ALL
SELECT 4, v."testCaseId", v."fieldId", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, v.value, NULL
FROM "CaseFieldValues" v`

// readCaseFloor runs caseFloorSQL and returns the rows and bytes read.
func readCaseFloor(b *testing.B, pool *pgxpool.Pool) (rows, bytes int64) {
	b.Helper()
	r, err := pool.Query(context.Background(), caseFloorSQL)
	if err != nil {
		b.Fatal(err)
	}
	for r.Next() {
		rows++
		for _, v := range r.RawValues() {
			bytes += int64(len(v))
		}
	}
	if err := r.Err(); err != nil {
		b.Fatal(err)
	}
	return rows, bytes
}

func timeCaseFloor(b *testing.B, pool *pgxpool.Pool) time.Duration {
	b.Helper()
	t0 := time.Now()
	readCaseFloor(b, pool)
	return time.Since(t0)
}

// BenchmarkCaseDocsSQLFloor times caseFloorSQL alone on the same data set:
// the least any implementation must do to read what the case documents
// hold.
func BenchmarkCaseDocsSQLFloor(b *testing.B) {
	pool := benchPool(b)
	var elapsed time.Duration
	var rows, bytes int64
	n := 0
	for b.Loop() {
		t0 := time.Now()
		r, by := readCaseFloor(b, pool)
		elapsed += time.Since(t0)
		rows, bytes = r, by
		n++
	}
	b.ReportMetric(elapsed.Seconds()/float64(n), "s/op")
	b.ReportMetric(float64(rows), "rows")
	b.ReportMetric(float64(rows)*float64(n)/elapsed.Seconds(), "rows/s")
	b.ReportMetric(float64(bytes)/float64(rows), "B/row")
}
