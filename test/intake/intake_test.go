// Package intake runs TestPlanIt's side of the swap end to end: jobs added
// with the real bullmq library exactly as the unmodified app adds them
// (original queue and job names, payloads and options, reference §1.1 and
// §1.3) reach the real fleet (dashboard, notification-worker,
// reindex-worker, audit-worker) through the BullMQ intake (intake/, Node),
// and the BullMQ jobs mirror our tasks: completed with the result, failed
// with the reason, reindex progress visible while the task runs. The intake
// is killed with SIGKILL in the middle of a burst and restarted: no job lost,
// none duplicated. It is internal to the fleet.
package intake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/dashboard"
	"github.com/testplanit/tpi-workers/internal/postgres"
	"github.com/testplanit/tpi-workers/internal/testenv"
)

const (
	producerToken = "intake-producer-token-0123456789abcdef"
	adminToken    = "intake-admin-token-0123456789abcdef01"
	repoRoot      = "../.."
)

// The original's default job options per queue (reference §1.1,
// testplanit/lib/queues.ts), which its Queue objects apply to every add.
var defaultJobOptions = map[string]map[string]any{
	"notifications":         {"attempts": 3, "backoff": map[string]any{"type": "exponential", "delay": 5000}, "removeOnComplete": map[string]any{"age": 7 * 86400, "count": 1000}, "removeOnFail": map[string]any{"age": 14 * 86400}},
	"forecast-updates":      {"attempts": 3, "backoff": map[string]any{"type": "exponential", "delay": 5000}, "removeOnComplete": map[string]any{"age": 7 * 86400, "count": 1000}, "removeOnFail": map[string]any{"age": 14 * 86400}},
	"issue-sync":            {"attempts": 3, "backoff": map[string]any{"type": "exponential", "delay": 5000}, "removeOnComplete": map[string]any{"age": 3 * 86400, "count": 500}, "removeOnFail": map[string]any{"age": 7 * 86400}},
	"elasticsearch-reindex": {"attempts": 1, "removeOnComplete": map[string]any{"age": 7 * 86400, "count": 50}, "removeOnFail": map[string]any{"age": 14 * 86400}},
	"audit-logs":            {"attempts": 3, "backoff": map[string]any{"type": "exponential", "delay": 5000}, "removeOnComplete": map[string]any{"age": 365 * 86400, "count": 100000}, "removeOnFail": map[string]any{"age": 90 * 86400}},
}

// jobOptions is queue's default job options overridden by the producer's.
func jobOptions(queue string, override map[string]any) map[string]any {
	o := map[string]any{}
	for k, v := range defaultJobOptions[queue] {
		o[k] = v
	}
	for k, v := range override {
		o[k] = v
	}
	return o
}

// bullJob is what intake/test/bullmq-tool.js prints of a job.
type bullJob struct {
	State        string          `json:"state"`
	Progress     json.RawMessage `json:"progress"`
	ReturnValue  json.RawMessage `json:"returnvalue"`
	FailedReason string          `json:"failedReason"`
	AttemptsMade int             `json:"attemptsMade"`
}

type rig struct {
	t                  *testing.T
	bin                string
	pool               *pgxpool.Pool
	redisURL, dbURL    string
	api                string // the dashboard's base URL
	intakeAddr         string
	intakeEnv          []string
	intake             *testenv.Proc
	slowBulk           time.Duration
	userBob, userAdmin string
}

func (r *rig) startIntake() {
	r.t.Helper()
	r.intake = testenv.StartProc(r.t, "bullmq-intake", "node", []string{filepath.Join(repoRoot, "intake/src/main.js")}, r.intakeEnv)
	testenv.Eventually(r.t, 30*time.Second, func() bool { code, _ := testenv.HTTPGet(r.intakeAddr, "/readyz"); return code == 200 }, "the intake ready")
}

// tool runs intake/test/bullmq-tool.js (the real bullmq library) and
// returns its output.
func (r *rig) tool(args ...string) []byte {
	r.t.Helper()
	cmd := exec.Command("node", append([]string{filepath.Join(repoRoot, "intake/test/bullmq-tool.js")}, args...)...)
	cmd.Env = append(os.Environ(), "VALKEY_URL="+r.redisURL)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		r.t.Fatalf("bullmq-tool %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// add adds one job as TestPlanIt's app does and returns its ID.
func (r *rig) add(queue, name string, data any, override map[string]any) string {
	r.t.Helper()
	d, _ := json.Marshal(data)
	o, _ := json.Marshal(jobOptions(queue, override))
	var res struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(r.tool("add", queue, name, string(d), string(o)), &res); err != nil || res.ID == "" {
		r.t.Fatalf("add %s %s: %v", queue, name, err)
	}
	return res.ID
}

// wait waits for the job to complete or fail.
func (r *rig) wait(queue, id string) bullJob {
	r.t.Helper()
	var j bullJob
	if err := json.Unmarshal(r.tool("wait", queue, id, "60000"), &j); err != nil {
		r.t.Fatal(err)
	}
	return j
}

func (r *rig) tpictl(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(r.bin, "tpictl"), args...)
	cmd.Env = append(os.Environ(), "VALKEY_URL="+r.redisURL, "DATABASE_URL="+r.dbURL,
		"INTAKE_URL=http://"+r.intakeAddr, "INTAKE_PRODUCER_TOKEN="+producerToken)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (r *rig) scalar(sql string, args ...any) int {
	r.t.Helper()
	var n int
	if err := r.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		r.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func newRig(t *testing.T) *rig {
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: make test installs it (scripts/ci-services.sh)", tool)
		}
	}
	if _, err := os.Stat(filepath.Join(repoRoot, "intake/node_modules/bullmq")); err != nil {
		t.Fatalf("the intake's packages are missing: run make services (npm ci in intake/)")
	}
	r := &rig{t: t, slowBulk: 150 * time.Millisecond}
	r.bin = testenv.BuildCommands(t, repoRoot, "dashboard", "notification-worker", "reindex-worker", "audit-worker", "tpictl")
	r.pool, r.dbURL = testenv.Postgres(t)
	if err := postgres.Seed(t.Context(), r.pool); err != nil {
		t.Fatal(err)
	}
	if err := r.pool.QueryRow(t.Context(), `SELECT id FROM "User" WHERE email = 'bob@example.com'`).Scan(&r.userBob); err != nil {
		t.Fatal(err)
	}
	if err := r.pool.QueryRow(t.Context(), `SELECT id FROM "User" WHERE email = 'admin@example.com'`).Scan(&r.userAdmin); err != nil {
		t.Fatal(err)
	}
	_, r.redisURL = testenv.Redis(t)

	// Elasticsearch cannot run here (SERVICES.md): the in-process stand-in,
	// its bulk requests slowed so that a reindex lasts long enough for its
	// progress to be seen on the BullMQ job.
	es := testenv.NewElasticsearch()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasSuffix(req.URL.Path, "/_bulk") {
			time.Sleep(r.slowBulk)
		}
		es.ServeHTTP(w, req)
	}))
	t.Cleanup(func() { slow.Close(); es.Close() })

	dashAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePortIn(t, 20000, 30000))
	r.api = "http://" + dashAddr
	base := append(os.Environ(), "VALKEY_URL="+r.redisURL, "DATABASE_URL="+r.dbURL, "LOG_LEVEL=info",
		"TASK_CHECK_INTERVAL=20ms", "DELAYED_TASK_CHECK_INTERVAL=100ms")
	testenv.StartProc(t, "dashboard", filepath.Join(r.bin, "dashboard"), nil, append(base, "DASHBOARD_ADDR="+dashAddr,
		"DASHBOARD_TOKEN_HASH="+dashboard.HashToken(adminToken), "DASHBOARD_PRODUCER_TOKEN_HASH="+dashboard.HashToken(producerToken)))
	workers := map[string][]string{
		"notification-worker": nil,
		"reindex-worker":      {"ELASTICSEARCH_NODE=" + slow.URL, "REINDEX_BATCH_SIZE=3", "ELASTICSEARCH_BULK_FLUSH_INTERVAL=20ms", "ELASTICSEARCH_BULK_BYTES=4K"},
		"audit-worker":        nil,
	}
	addrs := []string{dashAddr}
	for name, extra := range workers {
		addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePortIn(t, 20000, 30000))
		addrs = append(addrs, addr)
		testenv.StartProc(t, name, filepath.Join(r.bin, name), nil, append(append(base, "HTTP_ADDR="+addr), extra...))
	}
	for _, a := range addrs {
		testenv.Eventually(t, 30*time.Second, func() bool { code, _ := testenv.HTTPGet(a, "/readyz"); return code == 200 }, "%s ready", a)
	}
	r.intakeAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePortIn(t, 20000, 30000))
	r.intakeEnv = append(os.Environ(), "VALKEY_URL="+r.redisURL, "INTAKE_API_URL="+r.api,
		"INTAKE_PRODUCER_TOKEN="+producerToken, "INTAKE_HTTP_ADDR="+r.intakeAddr,
		"INTAKE_POLL_INTERVAL=100", "INTAKE_LOCK_DURATION=3000", "INTAKE_STALLED_INTERVAL=1000")
	r.startIntake()
	return r
}

func TestAppJobsReachTheFleetThroughTheIntake(t *testing.T) {
	r := newRig(t)

	t.Run("notification", func(t *testing.T) {
		// NotificationService.createNotification: removeOnComplete true,
		// removeOnFail false (reference §1.1).
		id := r.add("notifications", "create-notification", map[string]any{
			"userId": r.userBob, "type": "WORK_ASSIGNED", "title": "Intake: assigned", "message": "Checkout needs you",
			"relatedEntityId": "42", "relatedEntityType": "RepositoryCases", "data": map[string]any{"projectId": 1},
		}, map[string]any{"removeOnComplete": true, "removeOnFail": false})
		testenv.Eventually(t, 30*time.Second, func() bool {
			return r.scalar(`SELECT count(*) FROM "Notification" WHERE title = 'Intake: assigned'`) == 1
		}, "the notification created")
		j := r.wait("notifications", id)
		if j.State != "completed" && j.State != "removed" {
			t.Errorf("BullMQ job %s: %+v", id, j)
		}
		time.Sleep(300 * time.Millisecond)
		if n := r.scalar(`SELECT count(*) FROM "Notification" WHERE title = 'Intake: assigned'`); n != 1 {
			t.Errorf("%d notifications, want exactly 1", n)
		}
	})

	t.Run("delayed", func(t *testing.T) {
		// BullMQ holds a delayed job until it is due; the intake hands it
		// over then, and does not delay it again.
		added := time.Now()
		id := r.add("notifications", "create-notification", map[string]any{
			"userId": r.userBob, "type": "SYSTEM_ANNOUNCEMENT", "title": "Intake: delayed", "message": "later",
		}, map[string]any{"delay": 3000})
		testenv.Eventually(t, 30*time.Second, func() bool {
			return r.scalar(`SELECT count(*) FROM "Notification" WHERE title = 'Intake: delayed'`) == 1
		}, "the delayed notification created")
		// Delayed twice would be 6 s.
		if waited := time.Since(added); waited < 3*time.Second || waited > 5500*time.Millisecond {
			t.Errorf("created %v after the add, want after the 3 s delay and soon after", waited)
		}
		if j := r.wait("notifications", id); j.State != "completed" {
			t.Errorf("delayed job %s: %+v", id, j)
		}
	})

	t.Run("refused payload", func(t *testing.T) {
		id := r.add("notifications", "create-notification", map[string]any{
			"type": "WORK_ASSIGNED", "title": "no user", "message": "x",
		}, map[string]any{"removeOnFail": false})
		j := r.wait("notifications", id)
		if j.State != "failed" || !strings.Contains(j.FailedReason, "userId: required") || j.AttemptsMade > 1 {
			t.Errorf("refused job: %+v", j)
		}
	})

	t.Run("not implemented in the original", func(t *testing.T) {
		// queueIssueCreate: attempts 2, fixed 1 000 ms; the original worker
		// answers {success:false, error:"Not implemented"}.
		id := r.add("issue-sync", "create-issue", map[string]any{
			"userId": r.userAdmin, "integrationId": 1, "action": "create", "data": map[string]any{"title": "x"},
		}, map[string]any{"attempts": 2, "backoff": map[string]any{"type": "fixed", "delay": 1000}})
		j := r.wait("issue-sync", id)
		if j.State != "completed" || string(j.ReturnValue) != `{"success":false,"error":"Not implemented"}` {
			t.Errorf("create-issue: %+v (returnvalue %s)", j, j.ReturnValue)
		}
	})

	t.Run("reindex progress", func(t *testing.T) {
		// POST /api/admin/elasticsearch/reindex: {entityType, userId}.
		id := r.add("elasticsearch-reindex", "reindex", map[string]any{"entityType": "all", "userId": r.userAdmin}, nil)
		var seen []float64
		for _, line := range strings.Split(strings.TrimSpace(string(r.tool("progress-log", "elasticsearch-reindex", id, "90000"))), "\n") {
			var p float64
			if err := json.Unmarshal([]byte(line), &p); err == nil {
				seen = append(seen, p)
			}
		}
		midway := false
		for _, p := range seen {
			midway = midway || (p > 0 && p < 100)
		}
		if !midway {
			t.Errorf("progress seen on the BullMQ job: %v, want a value between 0 and 100 while the task ran", seen)
		}
		j := r.wait("elasticsearch-reindex", id)
		// The original's return value (reference §2.6), and progress 100.
		var result struct {
			Success        bool  `json:"success"`
			TotalDocuments int64 `json:"totalDocuments"`
		}
		if err := json.Unmarshal(j.ReturnValue, &result); j.State != "completed" || err != nil || !result.Success ||
			result.TotalDocuments == 0 || string(j.Progress) != "100" {
			t.Errorf("reindex job: %+v (returnvalue %s, progress %s)", j, j.ReturnValue, j.Progress)
		}
	})

	t.Run("audit burst, intake killed", func(t *testing.T) {
		const n = 300
		r.tool("add-audit", strconv.Itoa(n))
		testenv.Eventually(t, 60*time.Second, func() bool {
			return r.scalar(`SELECT count(*) FROM "AuditLog"`) >= n/5
		}, "the first audit events written")
		r.intake.Kill9()
		if got := r.scalar(`SELECT count(*) FROM "AuditLog"`); got >= n {
			t.Fatalf("all %d events were written before the kill: the test proves nothing; raise n", got)
		}
		r.startIntake()
		testenv.Eventually(t, 120*time.Second, func() bool {
			return r.scalar(`SELECT count(*) FROM "AuditLog"`) >= n
		}, "every audit event written")
		var counts struct {
			Completed, Failed, Active, Waiting int
		}
		testenv.Eventually(t, 60*time.Second, func() bool {
			_ = json.Unmarshal(r.tool("counts", "audit-logs"), &counts)
			return counts.Completed == n
		}, "every audit job completed in BullMQ")
		if counts.Failed != 0 {
			t.Errorf("BullMQ counts %+v", counts)
		}
		time.Sleep(500 * time.Millisecond)
		if got := r.scalar(`SELECT count(*) FROM "AuditLog"`); got != n {
			t.Errorf("%d audit rows, want exactly %d", got, n)
		}
		if got := r.scalar(`SELECT count(DISTINCT "entityId") FROM "AuditLog"`); got != n {
			t.Errorf("%d distinct entities, want %d", got, n)
		}
	})

	t.Run("repeatables of the original scheduler", func(t *testing.T) {
		// scheduler.ts: the legacy repeatable API with a stable jobId.
		r.add("forecast-updates", "update-all-cases-forecast", map[string]any{},
			map[string]any{"repeat": map[string]any{"pattern": "0 3 * * *"}, "jobId": "update-all-cases-forecast"})
		out, err := r.tpictl("doctor")
		if l := lineWith(out, "bullmq"); !strings.HasPrefix(l, "WARN") || !strings.Contains(l, "forecast-updates (1)") {
			t.Errorf("doctor (%v):\n%s", err, out)
		}
		out, err = r.tpictl("bullmq", "repeatables")
		if err != nil || !strings.Contains(out, "update-all-cases-forecast") || !strings.Contains(out, "0 3 * * *") {
			t.Fatalf("list (%v):\n%s", err, out)
		}
		out, err = r.tpictl("bullmq", "repeatables", "--remove", "--yes")
		if err != nil || !strings.Contains(out, "removed 1 repeatable job(s)") {
			t.Fatalf("remove (%v):\n%s", err, out)
		}
		out, _ = r.tpictl("doctor")
		if l := lineWith(out, "bullmq"); !strings.HasPrefix(l, "ok") {
			t.Errorf("doctor after removal:\n%s", out)
		}
	})
}

func lineWith(out, word string) string {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[1] == word {
			return l
		}
	}
	return ""
}
