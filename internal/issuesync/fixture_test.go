package issuesync

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/testplanit/tpi-workers/internal/postgres"
	"github.com/testplanit/tpi-workers/internal/tenant"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/internal/tracker"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// fixture is one tenant database with a user and two projects, and a
// leased Redis database.
type fixture struct {
	t        testing.TB
	db       *pgxpool.Pool
	ropt     asynq.RedisClientOpt
	rdb      *redis.Client
	tenantID string
	user     string
	projects [2]int
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	db, _ := testenv.Postgres(t)
	ropt, _ := testenv.Redis(t)
	return newFixtureOn(t, db, ropt, "")
}

// newFixtureOn seeds db (a fresh tenant database) for tenantID, sharing
// ropt's Redis database.
func newFixtureOn(t testing.TB, db *pgxpool.Pool, ropt asynq.RedisClientOpt, tenantID string) *fixture {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: ropt.Addr, DB: ropt.DB})
	t.Cleanup(func() { rdb.Close() })
	f := &fixture{t: t, db: db, ropt: ropt, rdb: rdb, tenantID: tenantID, user: postgres.NewCUID()}
	ctx := context.Background()
	f.exec(`INSERT INTO "Roles"(id, name, "isDefault") VALUES (1, 'user', true) ON CONFLICT DO NOTHING`)
	f.exec(`INSERT INTO "User"(id, name, email, password, "updatedAt") VALUES ($1, 'Sync User', $2, '!', now())`,
		f.user, f.user+"@example.com")
	for i := range f.projects {
		if err := db.QueryRow(ctx, `INSERT INTO "Projects"(name, "createdBy") VALUES ($1, $2) RETURNING id`,
			fmt.Sprintf("Project %d", i+1), f.user).Scan(&f.projects[i]); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fixture) exec(sql string, args ...any) {
	f.t.Helper()
	if _, err := f.db.Exec(context.Background(), sql, args...); err != nil {
		f.t.Fatalf("%s: %v", sql, err)
	}
}

// ctx is a handler context on the fixture's tenant, logging nowhere.
func (f *fixture) ctx() context.Context {
	ctx := worker.WithLogger(context.Background(), slog.New(slog.DiscardHandler))
	return worker.WithTenant(ctx, &tenant.Tenant{ID: f.tenantID, DB: f.db})
}

// integration inserts an ACTIVE integration and returns its id.
func (f *fixture) integration(provider, authType, credentials, settings string) int {
	f.t.Helper()
	var id int
	var set any
	if settings != "" {
		set = settings
	}
	if err := f.db.QueryRow(context.Background(), `
INSERT INTO "Integration"(name, provider, "authType", status, credentials, settings, "updatedAt")
VALUES ($1, $2::"IntegrationProvider", $3::"IntegrationAuthType", 'ACTIVE', $4::jsonb, $5::jsonb, now()) RETURNING id`,
		fmt.Sprintf("%s %s", provider, postgres.NewCUID()), provider, authType, credentials, set).Scan(&id); err != nil {
		f.t.Fatal(err)
	}
	return id
}

// userAuth inserts the user's active auth row for the integration.
func (f *fixture) userAuth(integrationID int, access, refresh string, expires time.Time) string {
	f.t.Helper()
	id := postgres.NewCUID()
	var ref any
	if refresh != "" {
		ref = refresh
	}
	f.exec(`INSERT INTO "UserIntegrationAuth"(id, "userId", "integrationId", "accessToken", "refreshToken", "tokenExpiresAt", "updatedAt")
		VALUES ($1, $2, $3, $4, $5, $6, now())`, id, f.user, integrationID, access, ref, expires)
	return id
}

// issue inserts a local issue and returns its id.
func (f *fixture) issue(integrationID, projectID int, externalID, externalKey string) int {
	f.t.Helper()
	var id int
	var proj any
	if projectID > 0 {
		proj = projectID
	}
	if err := f.db.QueryRow(context.Background(), `
INSERT INTO "Issue"(name, title, "externalId", "externalKey", "createdById", "projectId", "integrationId")
VALUES ($1, 'old title', nullif($2, ''), nullif($3, ''), $4, $5, $6) RETURNING id`,
		cmpOr(externalKey, externalID), externalID, externalKey, f.user, proj, integrationID).Scan(&id); err != nil {
		f.t.Fatal(err)
	}
	return id
}

// issues inserts n issues with externalId "<prefix><i>" in project p.
func (f *fixture) issues(integrationID, projectID, n int, prefix string) {
	f.t.Helper()
	var proj any
	if projectID > 0 {
		proj = projectID
	}
	f.exec(`INSERT INTO "Issue"(name, title, "externalId", "externalKey", "createdById", "projectId", "integrationId")
		SELECT 'K-' || g, 'old', $1 || g, 'K-' || g, $2, $3, $4 FROM generate_series(1, $5) g`,
		prefix, f.user, proj, integrationID, n)
}

// row reads one issue's columns as the sync writes them.
type issueCols struct {
	Name, Title, Description, Status, Priority           string
	ExternalID, ExternalKey, ExternalURL, ExternalStatus *string
	ExternalData                                         string
	IssueTypeID, IssueTypeName, IssueTypeIconURL         *string
	LastSyncedAt                                         *time.Time
}

func (f *fixture) row(id int) issueCols {
	f.t.Helper()
	var c issueCols
	var desc, status, prio, data *string
	if err := f.db.QueryRow(context.Background(), `
SELECT name, title, description, status, priority, "externalId", "externalKey", "externalUrl", "externalStatus",
       "externalData"::text, "issueTypeId", "issueTypeName", "issueTypeIconUrl", "lastSyncedAt"
FROM "Issue" WHERE id = $1`, id).Scan(&c.Name, &c.Title, &desc, &status, &prio, &c.ExternalID, &c.ExternalKey,
		&c.ExternalURL, &c.ExternalStatus, &data, &c.IssueTypeID, &c.IssueTypeName, &c.IssueTypeIconURL, &c.LastSyncedAt); err != nil {
		f.t.Fatal(err)
	}
	c.Description, c.Status, c.Priority, c.ExternalData = deref(desc), deref(status), deref(prio), deref(data)
	return c
}

// lastSyncAt reads "Integration"."lastSyncAt".
func (f *fixture) lastSyncAt(id int) *time.Time {
	f.t.Helper()
	var at *time.Time
	if err := f.db.QueryRow(context.Background(), `SELECT "lastSyncAt" FROM "Integration" WHERE id = $1`, id).Scan(&at); err != nil {
		f.t.Fatal(err)
	}
	return at
}

// snapshot is every issue row as text, to show that nothing changed.
func (f *fixture) snapshot() string {
	f.t.Helper()
	var s string
	if err := f.db.QueryRow(context.Background(), `SELECT coalesce(string_agg(i::text, E'\n' ORDER BY id), '') FROM "Issue" i`).Scan(&s); err != nil {
		f.t.Fatal(err)
	}
	return s
}

// reindexTasks lists the pending reindex payloads.
func (f *fixture) reindexTasks() []task.Reindex {
	f.t.Helper()
	insp := asynq.NewInspector(f.ropt)
	defer insp.Close()
	infos, err := insp.ListPendingTasks(task.QueueReindex)
	if err != nil && err.Error() != "asynq: queue not found" {
		f.t.Fatal(err)
	}
	var out []task.Reindex
	for _, ti := range infos {
		var p task.Reindex
		if err := json.Unmarshal(ti.Payload, &p); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// resultWriter collects what a handler writes as progress and result.
type resultWriter struct {
	mu     sync.Mutex
	writes []string
}

func (w *resultWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, string(b))
	return len(b), nil
}

func (w *resultWriter) last() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.writes) == 0 {
		return ""
	}
	return w.writes[len(w.writes)-1]
}

// fakeClient is a tracker.Client answering from a map, counting calls.
type fakeClient struct {
	batch  int
	issues map[string]*tracker.Issue
	errs   map[string]error
	// fail, when set, is returned by every Fetch.
	fail error

	mu    sync.Mutex
	calls [][]string
}

func (c *fakeClient) BatchSize() int { return c.batch }

func (c *fakeClient) Fetch(_ context.Context, refs []string) ([]tracker.Result, error) {
	c.mu.Lock()
	c.calls = append(c.calls, append([]string(nil), refs...))
	c.mu.Unlock()
	if len(refs) > c.batch {
		return nil, fmt.Errorf("fake: %d refs for a batch of %d", len(refs), c.batch)
	}
	if c.fail != nil {
		return nil, c.fail
	}
	out := make([]tracker.Result, len(refs))
	for i, r := range refs {
		out[i].Ref = r
		switch {
		case c.errs[r] != nil:
			out[i].Err = c.errs[r]
		case c.issues[r] != nil:
			out[i].Issue = c.issues[r]
		default:
			out[i].Err = fmt.Errorf("%w (fake: %s)", tracker.ErrNotFound, r)
		}
	}
	return out, nil
}

// fakeSource hands out one client whatever the integration.
type fakeSource struct{ c tracker.Client }

func (s fakeSource) Get(context.Context, string, *Integration) (tracker.Client, error) {
	return s.c, nil
}

// fixedClock is a Clock at a fixed instant.
type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

// newRedis opens a client on Redis database db, closed when the test ends.
func newRedis(t testing.TB, addr string, db int) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: addr, DB: db})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}
