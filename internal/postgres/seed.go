package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// seedLockID is the key of the transaction advisory lock that serializes concurrent Seed calls.
const seedLockID int64 = 0x7470695f73656564 // "tpi_seed"

// Seed fills a database migrated with [MigrateAll] with a small demo data set. It is idempotent:
// every row is looked up by its natural key first and inserted (with ON CONFLICT DO NOTHING
// where the table has a unique key) only when missing, all in one transaction, so running it
// twice leaves the same rows. Like every writer of ours, it supplies the cuid/uuid ids and
// "updatedAt" values that Prisma would have filled on the client.
//
// What it creates (names are stable, so tests can look rows up by them):
//   - the 7 statuses of TestPlanIt's seed with lower-case "systemName" (untested, passed, failed,
//     retest, blocked, skipped, exception) and their isSuccess/isFailure/isCompleted flags, plus
//     the colors, icons, workflow states (scopes CASES, RUNS, SESSIONS), milestone types and
//     "Default Template" they need; roles "user" (id 1, default) and "admin" (id 2);
//   - AppConfig 'notificationSettings' = {"defaultMode": "IN_APP"};
//   - users admin@example.com (ADMIN, USE_GLOBAL), alice@example.com (USER, IN_APP_EMAIL_DAILY,
//     Europe/Paris, fr_FR) and bob@example.com (USER, IN_APP_EMAIL_IMMEDIATE), each with
//     UserPreferences; their password is "!", which matches no bcrypt hash, so nobody can log in;
//   - project "Demo Project" with a repository, folder "Checkout" and five cases (four MANUAL,
//     one JUNIT) where "Pay with credit card" and the JUNIT case are linked
//     SAME_TEST_DIFFERENT_SOURCE;
//   - milestone "Release 1.0" due (completedAt) three days after the first seeding, with
//     notifyDaysBefore 5; in it the open run "Release 1.0 regression" (one case passed, one
//     failed, one retest, one without status) with results, and session "Exploratory: checkout"
//     assigned to bob; two completed JUNIT runs "CI build 41" and "CI build 42" with a suite and
//     a JUnit result each for the automated case.
func Seed(ctx context.Context, pool *pgxpool.Pool) error {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", seedLockID); err != nil {
			return fmt.Errorf("taking the seed lock: %w", err)
		}
		s := seeder{tx: tx, now: time.Now().UTC()}
		return s.run(ctx)
	})
	if err != nil {
		return fmt.Errorf("postgres: seed: %w", err)
	}
	return nil
}

// seeder holds the transaction and the ids that later rows refer to.
type seeder struct {
	tx  pgx.Tx
	now time.Time // UTC: pgx writes timestamp (without time zone) columns as wall-clock time

	colors    map[string][]int // family name -> color ids by shade order
	icons     map[string]int
	statuses  map[string]int // systemName -> id
	workflows map[string]int // scope + "/" + name -> id
	msTypes   map[string]int
	template  int
	roles     map[string]int
	users     map[string]string // email -> id
	cases     map[string]int
}

// ensure returns the id of the row that sel finds; if none, it runs ins (an INSERT ...
// RETURNING id) and returns the new id. An insert that returns nothing (ON CONFLICT DO NOTHING)
// is followed by one more look-up.
func ensure[T any](ctx context.Context, tx pgx.Tx, what, sel string, selArgs []any, ins string, insArgs ...any) (T, error) {
	var id T
	found, err := scanOne(ctx, tx, &id, sel, selArgs...)
	if err != nil || found {
		return id, wrapSeed(what, err)
	}
	found, err = scanOne(ctx, tx, &id, ins, insArgs...)
	if err != nil || found {
		return id, wrapSeed(what, err)
	}
	found, err = scanOne(ctx, tx, &id, sel, selArgs...)
	if err == nil && !found {
		err = errors.New("insert skipped by a conflict, yet no row matches")
	}
	return id, wrapSeed(what, err)
}

func scanOne(ctx context.Context, tx pgx.Tx, dst any, sql string, args ...any) (bool, error) {
	err := tx.QueryRow(ctx, sql, args...).Scan(dst)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

func wrapSeed(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (s *seeder) exec(ctx context.Context, what, sql string, args ...any) error {
	_, err := s.tx.Exec(ctx, sql, args...)
	return wrapSeed(what, err)
}

func (s *seeder) run(ctx context.Context) error {
	steps := []func(context.Context) error{
		s.seedColorsAndIcons,
		s.seedCatalogs,
		s.seedUsers,
		s.seedProject,
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Color families and shades from TestPlanIt's seed (testplanit/prisma/seed.ts).
var seedColorFamilies = []struct {
	name   string
	order  int
	shades []string
}{
	{"Black", 1, []string{"#333435", "#6C6D6E", "#838485", "#9A9B9C", "#B1B2B3", "#C8C9CA"}},
	{"Red", 2, []string{"#8D2007", "#BD2B0A", "#ED360C", "#F44B25", "#F66F51", "#F88F77"}},
	{"Orange", 3, []string{"#783702", "#A54C03", "#D76304", "#FA7C14", "#FB9846", "#FCB478"}},
	{"Yellow", 4, []string{"#664400", "#996600", "#CC8800", "#FFAA00", "#FFBB33", "#FFCC66"}},
	{"Green", 5, []string{"#164621", "#206530", "#2A843F", "#36AB51", "#51C86C", "#7BD590"}},
	{"Blue", 6, []string{"#0A4C57", "#0E6B7C", "#128BA1", "#16ABC5", "#27CAE7", "#55D5EC"}},
	{"Indigo", 7, []string{"#134664", "#195D84", "#1F74A4", "#258AC4", "#58A5D1", "#8CC1DF"}},
	{"Violet", 8, []string{"#372C77", "#493A9C", "#5D4CBD", "#786AC8", "#8C80D0", "#A79EDB"}},
	{"Pink", 9, []string{"#632243", "#7A2A53", "#983468", "#BE4182", "#CB679B", "#D88DB4"}},
}

var seedIcons = []string{
	"package-plus", "circle-arrow-right", "package-check", "message-square-dashed", "list-checks",
	"archive", "refresh-cw", "rocket", "goal",
}

func (s *seeder) seedColorsAndIcons(ctx context.Context) error {
	s.colors = make(map[string][]int)
	for _, fam := range seedColorFamilies {
		famID, err := ensure[int](ctx, s.tx, "color family "+fam.name,
			`SELECT id FROM "ColorFamily" WHERE name = $1`, []any{fam.name},
			`INSERT INTO "ColorFamily" (name, "order") VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING id`,
			fam.name, fam.order)
		if err != nil {
			return err
		}
		for i, value := range fam.shades {
			id, err := ensure[int](ctx, s.tx, "color "+value,
				`SELECT id FROM "Color" WHERE "colorFamilyId" = $1 AND "order" = $2`, []any{famID, i},
				`INSERT INTO "Color" ("colorFamilyId", value, "order") VALUES ($1, $2, $3)
				 ON CONFLICT DO NOTHING RETURNING id`,
				famID, value, i)
			if err != nil {
				return err
			}
			s.colors[fam.name] = append(s.colors[fam.name], id)
		}
	}
	s.icons = make(map[string]int)
	for _, name := range seedIcons {
		id, err := ensure[int](ctx, s.tx, "icon "+name,
			`SELECT id FROM "FieldIcon" WHERE name = $1`, []any{name},
			`INSERT INTO "FieldIcon" (name) VALUES ($1) ON CONFLICT DO NOTHING RETURNING id`, name)
		if err != nil {
			return err
		}
		s.icons[name] = id
	}
	return nil
}

// Statuses from TestPlanIt's seed, with their lower-case system names and flags.
var seedStatuses = []struct {
	name, systemName, aliases   string
	success, failure, completed bool
	colorFamily                 string
	shade                       int
}{
	{"Untested", "untested", "", false, false, false, "Black", 5},
	{"Passed", "passed", "ok,success", true, false, true, "Green", 3},
	{"Failed", "failed", "failure", false, true, true, "Red", 3},
	{"Retest", "retest", "", false, false, false, "Yellow", 3},
	{"Blocked", "blocked", "", false, false, false, "Black", 3},
	{"Skipped", "skipped", "", false, false, true, "Violet", 3},
	{"Exception", "exception", "error", false, true, true, "Orange", 3},
}

// A few of TestPlanIt's default workflow states per scope.
var seedWorkflows = []struct {
	scope, name, icon, color, kind string
	order                          int
	isDefault                      bool
}{
	{"CASES", "Draft", "message-square-dashed", "Yellow", "NOT_STARTED", 1, true},
	{"CASES", "Active", "list-checks", "Green", "IN_PROGRESS", 4, false},
	{"CASES", "Archived", "archive", "Black", "DONE", 6, false},
	{"RUNS", "New", "package-plus", "Yellow", "NOT_STARTED", 1, true},
	{"RUNS", "In Progress", "circle-arrow-right", "Blue", "IN_PROGRESS", 2, false},
	{"RUNS", "Done", "package-check", "Green", "DONE", 4, false},
	{"SESSIONS", "New", "package-plus", "Yellow", "NOT_STARTED", 1, true},
	{"SESSIONS", "In Progress", "circle-arrow-right", "Blue", "IN_PROGRESS", 2, false},
	{"SESSIONS", "Done", "package-check", "Green", "DONE", 4, false},
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *seeder) seedCatalogs(ctx context.Context) error {
	s.statuses = make(map[string]int)
	for _, st := range seedStatuses {
		id, err := ensure[int](ctx, s.tx, "status "+st.systemName,
			`SELECT id FROM "Status" WHERE "systemName" = $1`, []any{st.systemName},
			`INSERT INTO "Status" (name, "systemName", aliases, "colorId", "isEnabled", "isSuccess", "isFailure", "isCompleted")
			 VALUES ($1, $2, $3, $4, true, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING id`,
			st.name, st.systemName, nullIfEmpty(st.aliases), s.colors[st.colorFamily][st.shade],
			st.success, st.failure, st.completed)
		if err != nil {
			return err
		}
		s.statuses[st.systemName] = id
	}

	s.workflows = make(map[string]int)
	for _, w := range seedWorkflows {
		id, err := ensure[int](ctx, s.tx, "workflow "+w.scope+"/"+w.name,
			`SELECT id FROM "Workflows" WHERE scope = $1::"WorkflowScope" AND name = $2 AND NOT "isDeleted" ORDER BY id LIMIT 1`,
			[]any{w.scope, w.name},
			`INSERT INTO "Workflows" ("order", name, "iconId", "colorId", "isDefault", "workflowType", scope)
			 VALUES ($1, $2, $3, $4, $5, $6::"WorkflowType", $7::"WorkflowScope") RETURNING id`,
			w.order, w.name, s.icons[w.icon], s.colors[w.color][3], w.isDefault, w.kind, w.scope)
		if err != nil {
			return err
		}
		s.workflows[w.scope+"/"+w.name] = id
	}

	s.msTypes = make(map[string]int)
	for _, mt := range []struct {
		name, icon string
		isDefault  bool
	}{{"Cycle", "refresh-cw", true}, {"Release", "rocket", false}, {"Sprint", "goal", false}} {
		id, err := ensure[int](ctx, s.tx, "milestone type "+mt.name,
			`SELECT id FROM "MilestoneTypes" WHERE name = $1`, []any{mt.name},
			`INSERT INTO "MilestoneTypes" (name, "iconId", "isDefault") VALUES ($1, $2, $3)
			 ON CONFLICT DO NOTHING RETURNING id`,
			mt.name, s.icons[mt.icon], mt.isDefault)
		if err != nil {
			return err
		}
		s.msTypes[mt.name] = id
	}

	var err error
	s.template, err = ensure[int](ctx, s.tx, "template",
		`SELECT id FROM "Templates" WHERE "templateName" = $1`, []any{"Default Template"},
		`INSERT INTO "Templates" ("templateName", "isEnabled", "isDefault") VALUES ($1, true, true)
		 ON CONFLICT DO NOTHING RETURNING id`,
		"Default Template")
	if err != nil {
		return err
	}

	// Roles keep TestPlanIt's fixed ids: "User"."roleId" defaults to 1.
	s.roles = make(map[string]int)
	for _, r := range []struct {
		id        int
		name      string
		isDefault bool
	}{{1, "user", true}, {2, "admin", false}} {
		id, err := ensure[int](ctx, s.tx, "role "+r.name,
			`SELECT id FROM "Roles" WHERE name = $1`, []any{r.name},
			`INSERT INTO "Roles" (id, name, "isDefault") VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING id`,
			r.id, r.name, r.isDefault)
		if err != nil {
			return err
		}
		s.roles[r.name] = id
	}
	// Explicit ids leave the sequence behind; move it past them.
	if err := s.exec(ctx, "roles sequence",
		`SELECT setval(pg_get_serial_sequence('"Roles"', 'id'), (SELECT max(id) FROM "Roles"))`); err != nil {
		return err
	}

	return s.exec(ctx, "app config",
		`INSERT INTO "AppConfig" (key, value) VALUES ('notificationSettings', '{"defaultMode": "IN_APP"}')
		 ON CONFLICT (key) DO NOTHING`)
}

var seedUsers = []struct {
	email, name, access, role string
	mode, locale, timezone    string
}{
	{"admin@example.com", "Administrator Account", "ADMIN", "admin", "USE_GLOBAL", "en_US", "Etc/UTC"},
	{"alice@example.com", "Alice Martin", "USER", "user", "IN_APP_EMAIL_DAILY", "fr_FR", "Europe/Paris"},
	{"bob@example.com", "Bob Smith", "USER", "user", "IN_APP_EMAIL_IMMEDIATE", "en_US", "Etc/UTC"},
}

func (s *seeder) seedUsers(ctx context.Context) error {
	s.users = make(map[string]string)
	for _, u := range seedUsers {
		id, err := ensure[string](ctx, s.tx, "user "+u.email,
			`SELECT id FROM "User" WHERE email = $1`, []any{u.email},
			`INSERT INTO "User" (id, name, email, "emailVerified", password, access, "roleId", "updatedAt")
			 VALUES ($1, $2, $3, $4, '!', $5::"Access", $6, $4) ON CONFLICT DO NOTHING RETURNING id`,
			NewCUID(), u.name, u.email, s.now, u.access, s.roles[u.role])
		if err != nil {
			return err
		}
		s.users[u.email] = id
		err = s.exec(ctx, "preferences of "+u.email,
			`INSERT INTO "UserPreferences" (id, "userId", "notificationMode", locale, timezone)
			 VALUES ($1, $2, $3::"NotificationMode", $4::"Locale", $5) ON CONFLICT ("userId") DO NOTHING`,
			NewUUID(), id, u.mode, u.locale, u.timezone)
		if err != nil {
			return err
		}
	}
	return nil
}

// Cases of the demo project: estimate in seconds (0 = none).
var seedCases = []struct {
	name, className, source string
	estimate                int
	automated               bool
}{
	{"Log in with valid credentials", "", "MANUAL", 300, false},
	{"Add item to cart", "", "MANUAL", 120, false},
	{"Pay with credit card", "", "MANUAL", 600, false},
	{"Apply discount code", "", "MANUAL", 0, false},
	{"payWithCard", "checkout.PaymentTest", "JUNIT", 0, true},
}

func (s *seeder) seedProject(ctx context.Context) error {
	admin, alice, bob := s.users["admin@example.com"], s.users["alice@example.com"], s.users["bob@example.com"]

	project, err := ensure[int](ctx, s.tx, "project",
		`SELECT id FROM "Projects" WHERE name = $1`, []any{"Demo Project"},
		`INSERT INTO "Projects" (name, note, "createdBy") VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING id`,
		"Demo Project", "Seeded by tpi-workers for development and demos.", admin)
	if err != nil {
		return err
	}
	repo, err := ensure[int](ctx, s.tx, "repository",
		`SELECT id FROM "Repositories" WHERE "projectId" = $1 AND NOT "isDeleted" ORDER BY id LIMIT 1`, []any{project},
		`INSERT INTO "Repositories" ("projectId") VALUES ($1) RETURNING id`, project)
	if err != nil {
		return err
	}
	folder, err := ensure[int](ctx, s.tx, "folder",
		`SELECT id FROM "RepositoryFolders"
		 WHERE "projectId" = $1 AND "repositoryId" = $2 AND "parentId" IS NULL AND name = $3 AND NOT "isDeleted"`,
		[]any{project, repo, "Checkout"},
		`INSERT INTO "RepositoryFolders" ("projectId", "repositoryId", name, "creatorId") VALUES ($1, $2, $3, $4)
		 ON CONFLICT DO NOTHING RETURNING id`,
		project, repo, "Checkout", admin)
	if err != nil {
		return err
	}

	s.cases = make(map[string]int)
	for i, c := range seedCases {
		var estimate any
		if c.estimate > 0 {
			estimate = c.estimate
		}
		id, err := ensure[int](ctx, s.tx, "case "+c.name,
			`SELECT id FROM "RepositoryCases"
			 WHERE "projectId" = $1 AND name = $2 AND "className" IS NOT DISTINCT FROM $3 AND source = $4::"RepositoryCaseSource"`,
			[]any{project, c.name, nullIfEmpty(c.className), c.source},
			`INSERT INTO "RepositoryCases" ("projectId", "repositoryId", "folderId", "templateId", name, "className",
			     source, "stateId", estimate, "order", "creatorId", automated)
			 VALUES ($1, $2, $3, $4, $5, $6, $7::"RepositoryCaseSource", $8, $9, $10, $11, $12)
			 ON CONFLICT DO NOTHING RETURNING id`,
			project, repo, folder, s.template, c.name, nullIfEmpty(c.className),
			c.source, s.workflows["CASES/Active"], estimate, i+1, admin, c.automated)
		if err != nil {
			return err
		}
		s.cases[c.name] = id
	}
	if err := s.exec(ctx, "case link",
		`INSERT INTO "RepositoryCaseLink" ("caseAId", "caseBId", type, "createdById")
		 VALUES ($1, $2, 'SAME_TEST_DIFFERENT_SOURCE', $3) ON CONFLICT DO NOTHING`,
		s.cases["Pay with credit card"], s.cases["payWithCard"], admin); err != nil {
		return err
	}

	milestone, err := ensure[int](ctx, s.tx, "milestone",
		`SELECT id FROM "Milestones" WHERE "projectId" = $1 AND name = $2 AND NOT "isDeleted"`,
		[]any{project, "Release 1.0"},
		`INSERT INTO "Milestones" ("projectId", "milestoneTypesId", name, "isStarted", "notifyDaysBefore",
		     "startedAt", "completedAt", "createdBy")
		 VALUES ($1, $2, $3, true, 5, $4, $5, $6) RETURNING id`,
		project, s.msTypes["Release"], "Release 1.0", s.now.AddDate(0, 0, -7), s.now.AddDate(0, 0, 3), admin)
	if err != nil {
		return err
	}

	if _, err := ensure[int](ctx, s.tx, "session",
		`SELECT id FROM "Sessions" WHERE "projectId" = $1 AND name = $2 AND NOT "isDeleted"`,
		[]any{project, "Exploratory: checkout"},
		`INSERT INTO "Sessions" ("projectId", "templateId", name, "milestoneId", "stateId", "assignedToId",
		     estimate, "createdById")
		 VALUES ($1, $2, $3, $4, $5, $6, 1800, $7) RETURNING id`,
		project, s.template, "Exploratory: checkout", milestone, s.workflows["SESSIONS/New"], bob, admin); err != nil {
		return err
	}

	run, err := s.ensureRun(ctx, project, "Release 1.0 regression", "REGULAR", milestone, "RUNS/In Progress", false, admin)
	if err != nil {
		return err
	}
	runCases := []struct {
		caseName, status, assignee string
		elapsed                    int // seconds of the result, 0 = no result
	}{
		{"Log in with valid credentials", "passed", alice, 280},
		{"Add item to cart", "failed", bob, 150},
		{"Pay with credit card", "", alice, 0},
		{"Apply discount code", "retest", bob, 90},
	}
	for i, rc := range runCases {
		var statusID any
		if rc.status != "" {
			statusID = s.statuses[rc.status]
		}
		completed := rc.status == "passed" || rc.status == "failed"
		runCase, err := s.ensureRunCase(ctx, run, s.cases[rc.caseName], i+1, statusID, rc.assignee, completed)
		if err != nil {
			return err
		}
		if rc.elapsed == 0 {
			continue
		}
		if _, err := ensure[int](ctx, s.tx, "result of "+rc.caseName,
			`SELECT id FROM "TestRunResults" WHERE "testRunCaseId" = $1 AND attempt = 1`, []any{runCase},
			`INSERT INTO "TestRunResults" ("testRunId", "testRunCaseId", "statusId", "executedById", "executedAt", elapsed)
			 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
			run, runCase, statusID, rc.assignee, s.now.Add(-time.Duration(i+1)*time.Hour), rc.elapsed); err != nil {
			return err
		}
	}

	// Two CI builds that reported the automated case through JUnit.
	automated := s.cases["payWithCard"]
	for i, build := range []struct {
		name    string
		seconds float64
	}{{"CI build 41", 1.5}, {"CI build 42", 2.5}} {
		ciRun, err := s.ensureRun(ctx, project, build.name, "JUNIT", 0, "RUNS/Done", true, admin)
		if err != nil {
			return err
		}
		if _, err := s.ensureRunCase(ctx, ciRun, automated, 1, s.statuses["passed"], "", true); err != nil {
			return err
		}
		suite, err := ensure[int](ctx, s.tx, "suite of "+build.name,
			`SELECT id FROM "JUnitTestSuite" WHERE "testRunId" = $1 AND name = $2`, []any{ciRun, "checkout.PaymentTest"},
			`INSERT INTO "JUnitTestSuite" (name, time, tests, failures, errors, skipped, "testRunId", "createdById")
			 VALUES ($1, $2, 1, 0, 0, 0, $3, $4) RETURNING id`,
			"checkout.PaymentTest", build.seconds, ciRun, admin)
		if err != nil {
			return err
		}
		if _, err := ensure[int](ctx, s.tx, "junit result of "+build.name,
			`SELECT id FROM "JUnitTestResult" WHERE "testSuiteId" = $1 AND "repositoryCaseId" = $2`, []any{suite, automated},
			`INSERT INTO "JUnitTestResult" (type, "repositoryCaseId", "executedAt", time, "testSuiteId", "createdById", "statusId")
			 VALUES ('PASSED', $1, $2, $3, $4, $5, $6) RETURNING id`,
			automated, s.now.AddDate(0, 0, i-2), build.seconds, suite, admin, s.statuses["passed"]); err != nil {
			return err
		}
	}
	return nil
}

func (s *seeder) ensureRun(ctx context.Context, project int, name, runType string, milestone int, state string, completed bool, creator string) (int, error) {
	var milestoneID, completedAt any
	if milestone != 0 {
		milestoneID = milestone
	}
	if completed {
		completedAt = s.now
	}
	return ensure[int](ctx, s.tx, "run "+name,
		`SELECT id FROM "TestRuns" WHERE "projectId" = $1 AND name = $2 AND NOT "isDeleted"`, []any{project, name},
		`INSERT INTO "TestRuns" ("projectId", name, "milestoneId", "stateId", "isCompleted", "completedAt",
		     "createdById", "testRunType")
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8::"TestRunType") RETURNING id`,
		project, name, milestoneID, s.workflows[state], completed, completedAt, creator, runType)
}

func (s *seeder) ensureRunCase(ctx context.Context, run, repositoryCase, order int, statusID any, assignee string, completed bool) (int, error) {
	return ensure[int](ctx, s.tx, "run case",
		`SELECT id FROM "TestRunCases" WHERE "testRunId" = $1 AND "repositoryCaseId" = $2`, []any{run, repositoryCase},
		`INSERT INTO "TestRunCases" ("testRunId", "repositoryCaseId", "order", "statusId", "assignedToId", "isCompleted")
		 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id`,
		run, repositoryCase, order, statusID, nullIfEmpty(assignee), completed)
}
