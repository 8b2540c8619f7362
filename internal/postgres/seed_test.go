package postgres_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/postgres"
	"github.com/testplanit/tpi-workers/internal/testenv"
)

var seededTables = []string{
	"ColorFamily", "Color", "FieldIcon", "Status", "Workflows", "MilestoneTypes", "Templates", "Roles",
	"AppConfig", "User", "UserPreferences", "Projects", "Repositories", "RepositoryFolders",
	"RepositoryCases", "RepositoryCaseLink", "Milestones", "Sessions", "TestRuns", "TestRunCases",
	"TestRunResults", "JUnitTestSuite", "JUnitTestResult",
}

func rowCounts(t *testing.T, pool *pgxpool.Pool) map[string]int {
	t.Helper()
	counts := make(map[string]int)
	for _, table := range seededTables {
		var n int
		if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM "`+table+`"`).Scan(&n); err != nil {
			t.Fatalf("counting %s: %v", table, err)
		}
		counts[table] = n
	}
	return counts
}

func TestSeedIsIdempotent(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	ctx := t.Context()

	if err := postgres.Seed(ctx, pool); err != nil {
		t.Fatalf("first Seed: %v", err)
	}
	first := rowCounts(t, pool)
	for table, n := range first {
		if n == 0 {
			t.Errorf("Seed left %q empty", table)
		}
	}
	if err := postgres.Seed(ctx, pool); err != nil {
		t.Fatalf("second Seed: %v", err)
	}
	if diff := cmp.Diff(first, rowCounts(t, pool)); diff != "" {
		t.Errorf("second Seed changed row counts (-first +second):\n%s", diff)
	}
}

func TestSeedConcurrent(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)

	errs := make(chan error, 3)
	for range 3 {
		go func() { errs <- postgres.Seed(t.Context(), pool) }()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent Seed: %v", err)
		}
	}
	var users, statuses int
	if err := pool.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM "User"), (SELECT count(*) FROM "Status")`).
		Scan(&users, &statuses); err != nil {
		t.Fatal(err)
	}
	if users != 3 || statuses != 7 {
		t.Errorf("after 3 concurrent seeds: %d users, %d statuses; want 3 and 7", users, statuses)
	}
}

func TestSeedContent(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	ctx := t.Context()
	if err := postgres.Seed(ctx, pool); err != nil {
		t.Fatalf("Seed: %v", err)
	}

	type status struct {
		System                      string
		Success, Failure, Completed bool
	}
	rows, err := pool.Query(ctx, `SELECT "systemName", "isSuccess", "isFailure", "isCompleted" FROM "Status" ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var got []status
	for rows.Next() {
		var s status
		if err := rows.Scan(&s.System, &s.Success, &s.Failure, &s.Completed); err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	want := []status{
		{"untested", false, false, false},
		{"passed", true, false, true},
		{"failed", false, true, true},
		{"retest", false, false, false},
		{"blocked", false, false, false},
		{"skipped", false, false, true},
		{"exception", false, true, true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}

	var mode string
	if err := pool.QueryRow(ctx, `SELECT value->>'defaultMode' FROM "AppConfig" WHERE key = 'notificationSettings'`).
		Scan(&mode); err != nil || mode != "IN_APP" {
		t.Errorf("notificationSettings.defaultMode = %q, %v; want IN_APP", mode, err)
	}

	var prefMode, locale, tz string
	err = pool.QueryRow(ctx,
		`SELECT p."notificationMode"::text, p.locale::text, p.timezone
		 FROM "UserPreferences" p JOIN "User" u ON u.id = p."userId" WHERE u.email = 'alice@example.com'`).
		Scan(&prefMode, &locale, &tz)
	if err != nil || prefMode != "IN_APP_EMAIL_DAILY" || locale != "fr_FR" || tz != "Europe/Paris" {
		t.Errorf("alice's preferences = %s %s %s (%v); want IN_APP_EMAIL_DAILY fr_FR Europe/Paris", prefMode, locale, tz, err)
	}

	var ids []string
	rows, err = pool.Query(ctx, `SELECT id FROM "User" UNION ALL SELECT id FROM "UserPreferences"`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for _, id := range ids {
		if len(id) != postgres.CUIDLength && len(id) != 36 {
			t.Errorf("seeded id %q is neither a cuid nor a uuid", id)
		}
	}

	// The forecast worker needs a run with a pending case (no status) and a linked case group.
	var pending, links int
	if err := pool.QueryRow(ctx,
		`SELECT (SELECT count(*) FROM "TestRunCases" WHERE "statusId" IS NULL),
		        (SELECT count(*) FROM "RepositoryCaseLink" WHERE type = 'SAME_TEST_DIFFERENT_SOURCE')`).
		Scan(&pending, &links); err != nil {
		t.Fatal(err)
	}
	if pending != 1 || links != 1 {
		t.Errorf("pending run cases = %d, links = %d; want 1 and 1", pending, links)
	}

	// The "Roles" sequence was moved past the fixed ids.
	var next int
	if err := pool.QueryRow(ctx, `INSERT INTO "Roles" (name) VALUES ('tester') RETURNING id`).Scan(&next); err != nil || next != 3 {
		t.Errorf("next role id = %d, %v; want 3", next, err)
	}
}
