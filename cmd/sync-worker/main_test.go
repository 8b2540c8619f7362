package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/encryption"
	"github.com/testplanit/tpi-workers/internal/postgres"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/pkg/task"
)

const secret = "sync-worker test ENCRYPTION_KEY"

// fakeJira answers Jira Cloud's enhanced JQL search for issues 10001 to
// 10009 (keys PROJ-1 to PROJ-9), checking the Basic credentials.
func fakeJira(t *testing.T, requests *atomic.Int64) *httptest.Server {
	ids := regexp.MustCompile(`id in \(([^)]*)\)`)
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("qa@example.com:jira-token"))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != want {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodPost || r.URL.Path != "/rest/api/3/search/jql" {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"errorMessages":["not found"]}`)
			return
		}
		var q struct{ JQL string }
		_ = json.NewDecoder(r.Body).Decode(&q)
		var issues []any
		if m := ids.FindStringSubmatch(q.JQL); m != nil {
			for _, id := range strings.Split(m[1], ",") {
				id = strings.TrimSpace(id)
				var n int
				if _, err := fmt.Sscanf(id, "1000%d", &n); err != nil || n < 1 || n > 9 {
					continue
				}
				issues = append(issues, map[string]any{"id": id, "key": fmt.Sprintf("PROJ-%d", n), "fields": map[string]any{
					"summary": fmt.Sprintf("Synced %d", n), "status": map[string]any{"name": "Done"},
					"priority": map[string]any{"name": "Low"}, "issuetype": map[string]any{"id": "1", "name": "Bug"},
					"labels": []string{}, "created": "2024-02-10T08:00:00.000+0000", "updated": "2024-02-11T08:00:00.000+0000"}})
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"issues": issues, "isLast": true})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestRunSyncsIssues runs the worker against real PostgreSQL and Valkey and
// a fake Jira: a bulk sync updates the "Issue" rows, sets lastSyncAt,
// enqueues the project's issues reindex and leaves the original's result
// counts; a refresh of an issue TestPlanIt does not have is archived with
// the original's message.
func TestRunSyncsIssues(t *testing.T) {
	db, dbURL := testenv.Postgres(t)
	ropt, redisURL := testenv.Redis(t)
	ctx := context.Background()
	if err := postgres.Seed(ctx, db); err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int64
	jira := fakeJira(t, &requests)
	key, err := encryption.NewKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	blob, err := key.Encrypt([]byte(`{"email":"qa@example.com","apiToken":"jira-token"}`))
	if err != nil {
		t.Fatal(err)
	}
	var user string
	var project, integration int
	if err := db.QueryRow(ctx, `SELECT u.id, p.id FROM "User" u, "Projects" p ORDER BY u.id, p.id LIMIT 1`).Scan(&user, &project); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(ctx, `INSERT INTO "Integration"(name, provider, "authType", status, credentials, settings, "updatedAt")
		VALUES ('Jira', 'JIRA', 'API_KEY', 'ACTIVE', $1, $2, now()) RETURNING id`,
		fmt.Sprintf(`{"encrypted":%q}`, blob), fmt.Sprintf(`{"baseUrl":%q}`, jira.URL)).Scan(&integration); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO "Issue"(name, title, "externalId", "externalKey", "createdById", "projectId", "integrationId")
		SELECT 'PROJ-' || g, 'stale', '1000' || g, 'PROJ-' || g, $1, $2, $3 FROM generate_series(1, 9) g`, user, project, integration); err != nil {
		t.Fatal(err)
	}

	env := map[string]string{"VALKEY_URL": redisURL, "DATABASE_URL": dbURL, "HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": "error",
		"ENCRYPTION_KEY": secret, "SYNC_RATE_JIRA": "50"}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(runCtx, func(k string) string { return env[k] }) }()

	client := asynq.NewClient(ropt)
	defer client.Close()
	insp := asynq.NewInspector(ropt)
	defer insp.Close()
	tk, err := task.NewSyncIssues(task.SyncJob{UserID: user, IntegrationID: integration}, asynq.Retention(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	info, err := client.Enqueue(tk)
	if err != nil {
		t.Fatal(err)
	}
	var result string
	testenv.Eventually(t, 20*time.Second, func() bool {
		ti, err := insp.GetTaskInfo(task.QueueIssueSync, info.ID)
		if err != nil || ti.State != asynq.TaskStateCompleted {
			return false
		}
		result = string(ti.Result)
		return true
	}, "the sync task completes")
	if !strings.Contains(result, `"synced":9`) || !strings.Contains(result, `"failed":0`) {
		t.Errorf("result %s", result)
	}
	var written int
	var lastSync *time.Time
	if err := db.QueryRow(ctx, `SELECT (SELECT count(*) FROM "Issue" WHERE title LIKE 'Synced %' AND status = 'Done' AND "lastSyncedAt" IS NOT NULL),
		(SELECT "lastSyncAt" FROM "Integration" WHERE id = $1)`, integration).Scan(&written, &lastSync); err != nil {
		t.Fatal(err)
	}
	if written != 9 || lastSync == nil {
		t.Errorf("%d issues written, lastSyncAt %v", written, lastSync)
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("%d requests to Jira for 9 issues, want one search", n)
	}
	reindex, err := insp.ListPendingTasks(task.QueueReindex)
	if err != nil || len(reindex) != 1 || !strings.Contains(string(reindex[0].Payload), fmt.Sprintf(`"entityType":"issues","projectId":%d`, project)) {
		t.Errorf("reindex tasks %v %v", reindex, err)
	}

	tk, _ = task.NewRefreshIssue(task.SyncJob{UserID: user, IntegrationID: integration, IssueID: "10005"}, asynq.Retention(time.Hour))
	if _, err := db.Exec(ctx, `DELETE FROM "Issue" WHERE "externalId" = '10005'`); err != nil {
		t.Fatal(err)
	}
	info, err = client.Enqueue(tk)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, func() bool {
		ti, err := insp.GetTaskInfo(task.QueueIssueSync, info.ID)
		if err != nil || ti.State != asynq.TaskStateArchived {
			return false
		}
		result = ti.LastErr
		return true
	}, "the refresh of an unknown issue is archived")
	if !strings.Contains(result, "Issues must be created through the UI before they can be synced") {
		t.Errorf("last error %q", result)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestRunConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"VALKEY_URL": "redis://127.0.0.1:6379/1", "DATABASE_URL": "postgres://x"}, "config: ENCRYPTION_KEY: required but not set"},
		{map[string]string{"VALKEY_URL": "redis://127.0.0.1:6379/1", "DATABASE_URL": "postgres://x", "ENCRYPTION_KEY": "k", "SYNC_CONCURRENCY": "0"}, "config: SYNC_CONCURRENCY"},
		{map[string]string{"VALKEY_URL": "redis://127.0.0.1:6379/1", "DATABASE_URL": "postgres://x", "ENCRYPTION_KEY": "k", "SYNC_RATE_GITHUB": "fast"}, "config: SYNC_RATE_GITHUB"},
		{map[string]string{"VALKEY_URL": "redis://127.0.0.1:6379/1", "DATABASE_URL": "postgres://x", "ENCRYPTION_KEY": "k", "SYNC_RATE_LINEAR": "-1"}, "config: SYNC_RATE_LINEAR"},
	} {
		err := run(context.Background(), func(k string) string { return tc.env[k] })
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %s", tc.env, err, tc.want)
		}
	}
}

// TestBinaryRefusesToStartWithoutEncryptionKey builds the binary and starts
// it without ENCRYPTION_KEY: exit code 1 and one line naming the variable.
func TestBinaryRefusesToStartWithoutEncryptionKey(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "sync-worker")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = []string{"VALKEY_URL=redis://127.0.0.1:6379/1", "DATABASE_URL=postgres://x@127.0.0.1/x", "HTTP_ADDR=127.0.0.1:0"}
	out, err := cmd.CombinedOutput()
	exit, ok := err.(*exec.ExitError)
	if !ok || exit.ExitCode() != 1 {
		t.Fatalf("exit %v, want code 1\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "config: ENCRYPTION_KEY: required but not set" {
		t.Errorf("output %q, want one line naming ENCRYPTION_KEY", got)
	}
}
