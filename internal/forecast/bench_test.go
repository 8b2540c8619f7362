package forecast_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/forecast"
	"github.com/testplanit/tpi-workers/internal/forecast/forecastgen"
	"github.com/testplanit/tpi-workers/internal/postgres"
	"github.com/testplanit/tpi-workers/internal/testenv"
)

// benchData is the benchmarks' data set (forecastgen.Nightly: 100,000
// cases, 20,000 links, 2,000,000 results), generated once per test binary
// run, the first time a benchmark asks for it, and dropped by TestMain.
var benchData = testenv.BenchDatabase{Name: "tpi_forecast_bench", Fill: fillBenchData}

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
	if err := postgres.Seed(ctx, pool); err != nil {
		return err
	}
	base, err := forecastgen.LoadBase(ctx, pool)
	if err != nil {
		return err
	}
	rep, err := forecastgen.Generate(ctx, pool, base, forecastgen.Nightly)
	if err != nil {
		return err
	}
	_, err = pool.Exec(ctx, "VACUUM ANALYZE")
	fmt.Fprintf(os.Stderr, "forecast bench data: %+v\n", rep)
	return err
}

// BenchmarkForecastAll measures the whole nightly job (link groups, group
// means, case writes, run writes) on the Nightly data set, in its steady
// state: the forecasts were computed once before timing, so each operation
// reads everything and writes only what changed (nothing), as on a night
// where few results arrived. BenchmarkForecastAllCold rewrites every row.
//
// Each iteration also runs floorSQL, outside the timer, right before the
// job, so that "x_floor" compares the two under the same machine load.
func BenchmarkForecastAll(b *testing.B) {
	pool := benchPool(b)
	fc := &forecast.Forecaster{DB: pool}
	ctx := context.Background()
	if _, err := fc.All(ctx); err != nil { // warm: forecasts now current
		b.Fatal(err)
	}
	var job, floor time.Duration
	var last forecast.Stats
	n := 0
	for b.Loop() {
		b.StopTimer()
		floor += timeFloor(b, pool)
		b.StartTimer()
		t0 := time.Now()
		st, err := fc.All(ctx)
		if err != nil {
			b.Fatal(err)
		}
		job += time.Since(t0)
		last = st
		n++
	}
	reportJob(b, job, floor, n)
	b.ReportMetric(float64(last.Cases), "cases")
	b.ReportMetric(float64(last.CasesUpdated), "cases_written")
	b.ReportMetric(float64(last.Groups), "groups")
}

// BenchmarkForecastAllCold is the nightly job when every case and run
// forecast has to be written (the first run, or after a bulk import): the
// forecasts are cleared and the tables vacuumed outside the timer.
func BenchmarkForecastAllCold(b *testing.B) {
	pool := benchPool(b)
	fc := &forecast.Forecaster{DB: pool}
	ctx := context.Background()
	var job, floor time.Duration
	var last forecast.Stats
	n := 0
	for b.Loop() {
		b.StopTimer()
		for _, sql := range []string{
			`UPDATE "RepositoryCases" SET "forecastManual" = NULL, "forecastAutomated" = NULL`,
			`UPDATE "TestRuns" SET "forecastManual" = NULL, "forecastAutomated" = NULL`,
			`VACUUM ANALYZE "RepositoryCases", "TestRuns"`,
		} {
			if _, err := pool.Exec(ctx, sql); err != nil {
				b.Fatal(err)
			}
		}
		floor += timeFloor(b, pool)
		b.StartTimer()
		t0 := time.Now()
		st, err := fc.All(ctx)
		if err != nil {
			b.Fatal(err)
		}
		job += time.Since(t0)
		last = st
		n++
	}
	reportJob(b, job, floor, n)
	b.ReportMetric(float64(last.CasesUpdated), "cases_written")
	b.ReportMetric(float64(last.RunsUpdated), "runs_written")
}

func timeFloor(b *testing.B, pool *pgxpool.Pool) time.Duration {
	b.Helper()
	var n int64
	t0 := time.Now()
	if err := pool.QueryRow(context.Background(), floorSQL).Scan(&n); err != nil {
		b.Fatal(err)
	}
	return time.Since(t0)
}

func reportJob(b *testing.B, job, floor time.Duration, n int) {
	b.ReportMetric(job.Seconds()/float64(n), "s/op")
	b.ReportMetric(floor.Seconds()/float64(n), "floor_s/op")
	b.ReportMetric(job.Seconds()/floor.Seconds(), "x_floor")
}

// floorSQL is the least work any forecast implementation must do: read
// every sample once and aggregate it per case (sum and count, which the
// means need), with no groups and no writes. The outer sums keep PostgreSQL
// from pruning the per-case aggregates.
const floorSQL = `
	SELECT (SELECT count(*) FROM (
	          SELECT trc."repositoryCaseId", sum(r.elapsed) AS total, count(*) AS n
	          FROM "TestRunResults" r JOIN "TestRunCases" trc ON trc.id = r."testRunCaseId"
	          WHERE NOT r."isDeleted" AND r.elapsed > 0
	          GROUP BY 1) m WHERE m.total > 0 AND m.n > 0)
	     + (SELECT count(*) FROM (
	          SELECT "repositoryCaseId", sum(time) AS total, count(*) AS n
	          FROM "JUnitTestResult" WHERE time > 0
	          GROUP BY 1) a WHERE a.total > 0 AND a.n > 0)`

// BenchmarkForecastSQLFloor times floorSQL on the same data set.
func BenchmarkForecastSQLFloor(b *testing.B) {
	pool := benchPool(b)
	ctx := context.Background()
	start := time.Now()
	n := 0
	var groups int64
	for b.Loop() {
		if err := pool.QueryRow(ctx, floorSQL).Scan(&groups); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(time.Since(start).Seconds()/float64(n), "s/op")
	b.ReportMetric(float64(groups), "cases_with_samples")
}
