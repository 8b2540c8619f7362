// Package tenant_test runs one fleet (the real notification-worker,
// email-worker, forecast-worker and scheduler binaries, in multi-tenant mode)
// over two tenant databases and checks that every effect lands in its own
// tenant: rows, email links, the nightly forecast and milestone reminders,
// and that an unknown tenant's task is archived with its name. It is
// internal to the fleet.
package tenant_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/postgres"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/pkg/task"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tpi-tenant-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	build := exec.Command("go", "build", "-o", dir+"/", "./cmd/notification-worker", "./cmd/email-worker", "./cmd/forecast-worker", "./cmd/scheduler")
	build.Dir = "../.."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the fleet: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// tenantDB is one tenant's database, migrated and seeded with the demo data
// (both tenants get the same names, so a row in the wrong database would
// look plausible: only the database tells them apart).
type tenantDB struct {
	id, url, baseURL string
	pool             *pgxpool.Pool
}

func newTenant(t *testing.T, id string) tenantDB {
	t.Helper()
	pool, url := testenv.Postgres(t)
	if err := postgres.Seed(t.Context(), pool); err != nil {
		t.Fatal(err)
	}
	return tenantDB{id: id, url: url, baseURL: "https://" + id + ".testplanit.example", pool: pool}
}

func (d tenantDB) scalar(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := d.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %s: %v", d.id, sql, err)
	}
	return n
}

func (d tenantDB) userID(t *testing.T, email string) string {
	t.Helper()
	var id string
	if err := d.pool.QueryRow(context.Background(), `SELECT id FROM "User" WHERE email = $1`, email).Scan(&id); err != nil {
		t.Fatalf("%s: user %s: %v", d.id, email, err)
	}
	return id
}

// startProcess runs a binary of the fleet until the test ends.
func startProcess(t *testing.T, name string, env []string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, name))
	cmd.Env = append(os.Environ(), env...)
	logs, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logs.Name())
			t.Logf("%s output:\n%s", name, b)
		}
	})
}

func TestTenantsShareOneFleet(t *testing.T) {
	acme, globex := newTenant(t, "acme"), newTenant(t, "globex")
	ctx := context.Background()
	// Different data per tenant, to see whose the forecast is: globex's
	// manual results took twice as long.
	if _, err := globex.pool.Exec(ctx, `UPDATE "TestRunResults" SET elapsed = elapsed * 2`); err != nil {
		t.Fatal(err)
	}
	for _, d := range []tenantDB{acme, globex} {
		if _, err := d.pool.Exec(ctx, `UPDATE "RepositoryCases" SET "forecastManual" = NULL`); err != nil {
			t.Fatal(err)
		}
	}

	ropt, redisURL := testenv.Redis(t)
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	configs, _ := json.Marshal(map[string]map[string]string{
		acme.id:   {"databaseUrl": acme.url, "baseUrl": acme.baseURL},
		globex.id: {"databaseUrl": globex.url, "baseUrl": globex.baseURL},
	})
	env := []string{
		"VALKEY_URL=" + redisURL, "MULTI_TENANT_MODE=true", "TENANT_CONFIGS=" + string(configs),
		"TENANT_CONFIG_FILE=" + filepath.Join(t.TempDir(), "absent.json"), "DATABASE_URL=",
		"HTTP_ADDR=127.0.0.1:0", "LOG_LEVEL=info", "TASK_CHECK_INTERVAL=20ms", "DELAYED_TASK_CHECK_INTERVAL=100ms",
		"EMAIL_SERVER_HOST=" + mp.SMTPHost, "EMAIL_SERVER_PORT=" + strconv.Itoa(mp.SMTPPort), "EMAIL_SERVER_TLS=none",
		"EMAIL_FROM=noreply@example.com", "NEXTAUTH_URL=https://default.testplanit.example",
		// The scheduler fires the nightly forecast and the reminders every
		// second, for each tenant; nothing else.
		"SCHEDULER_CRON_NIGHTLY_FORECAST=@every 1s", "SCHEDULER_CRON_MILESTONE_REMINDERS=@every 1s",
		"SCHEDULER_CRON_AUTO_COMPLETE_MILESTONES=off", "SCHEDULER_CRON_DIGEST_SWEEP=off",
		"SCHEDULER_SYNC_INTERVAL=100ms", "SCHEDULER_GRACE=200ms",
	}
	for _, name := range []string{"notification-worker", "email-worker", "forecast-worker", "scheduler"} {
		startProcess(t, name, env)
	}

	// Tasks of both tenants, together: bob (IN_APP_EMAIL_IMMEDIATE in the
	// seed) is notified in each; his ids differ per database.
	client := asynq.NewClient(ropt)
	defer client.Close()
	insp := asynq.NewInspector(ropt)
	defer insp.Close()
	for _, d := range []tenantDB{acme, globex} {
		tk, err := task.NewCreateNotification(task.CreateNotification{
			UserID: d.userID(t, "bob@example.com"), Type: task.NotificationTypeWorkAssigned,
			Title: "Assigned in " + d.id, Message: "Checkout needs you", TenantID: d.id,
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.Enqueue(tk); err != nil {
			t.Fatal(err)
		}
	}
	unknown, err := task.NewCreateNotification(task.CreateNotification{
		UserID: acme.userID(t, "bob@example.com"), Type: task.NotificationTypeWorkAssigned,
		Title: "Assigned in umbrella", Message: "x", TenantID: "umbrella",
	})
	if err != nil {
		t.Fatal(err)
	}
	unknownInfo, err := client.Enqueue(unknown)
	if err != nil {
		t.Fatal(err)
	}

	// Every row in its own tenant's database.
	for _, d := range []tenantDB{acme, globex} {
		testenv.Eventually(t, 30*time.Second, func() bool {
			return d.scalar(t, `SELECT count(*) FROM "Notification" WHERE type = 'WORK_ASSIGNED'`) == 1
		}, "%s: the work-assigned notification", d.id)
		if n := d.scalar(t, `SELECT count(*) FROM "Notification" WHERE title = $1`, "Assigned in "+d.id); n != 1 {
			t.Errorf("%s holds %d of its own notifications, want 1", d.id, n)
		}
	}

	// Email links on each tenant's base URL. The milestone reminders the
	// scheduler fires meanwhile send emails too; only the work-assigned ones
	// (the original titles them as a test case assignment) are counted.
	const assigned = "New Test Case Assignment"
	var mails []testenv.MailpitMessageDetail
	testenv.Eventually(t, 30*time.Second, func() bool {
		mails = mails[:0]
		for _, m := range mp.Messages(t) {
			if body := mp.Message(t, m.ID); strings.Contains(body.Text, assigned) {
				mails = append(mails, body)
			}
		}
		return len(mails) >= 2
	}, "the two immediate work-assigned emails")
	links := map[string]int{}
	// The subject is the type's translated title, the same for both; the
	// links tell the tenants apart, and each email links to one of them only.
	for _, body := range mails {
		if strings.Contains(body.Text, "default.testplanit.example") || strings.Contains(body.HTML, "default.testplanit.example") {
			t.Errorf("email %q links to the default base URL", body.Subject)
		}
		for _, d := range []tenantDB{acme, globex} {
			inText, inHTML := strings.Contains(body.Text, d.baseURL+"/"), strings.Contains(body.HTML, d.baseURL+"/")
			if inText != inHTML {
				t.Errorf("a work-assigned email: text and HTML disagree on %s's links", d.id)
			}
			if inText {
				links[d.id]++
			}
		}
	}
	if links[acme.id] != 1 || links[globex.id] != 1 {
		t.Errorf("emails per tenant %v, want one each", links)
	}

	// The nightly forecast ran per tenant, on each tenant's own data.
	const forecastSQL = `SELECT coalesce(sum("forecastManual"), 0) FROM "RepositoryCases"`
	for _, d := range []tenantDB{acme, globex} {
		testenv.Eventually(t, 30*time.Second, func() bool { return d.scalar(t, forecastSQL) > 0 }, "%s: the nightly forecast", d.id)
	}
	if a, g := acme.scalar(t, forecastSQL), globex.scalar(t, forecastSQL); g < 2*a-5 || g > 2*a+5 {
		t.Errorf("forecast sums acme %d, globex %d: globex's results took twice as long, its forecasts should be about double", a, g)
	}

	// Milestone reminders per tenant, the tenant carried into the
	// notifications they enqueue: they are created in the right database.
	for _, d := range []tenantDB{acme, globex} {
		testenv.Eventually(t, 30*time.Second, func() bool {
			return d.scalar(t, `SELECT count(*) FROM "Notification" WHERE type = 'MILESTONE_DUE_REMINDER'`) > 0
		}, "%s: milestone reminders", d.id)
	}
	for _, q := range []string{task.QueueNotifications, task.QueueForecast} {
		for _, state := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){insp.ListCompletedTasks, insp.ListPendingTasks} {
			tasks, err := state(q, asynq.PageSize(1000))
			if err != nil {
				t.Fatal(err)
			}
			for _, ti := range tasks {
				tn, _ := task.TenantOf(asynq.NewTask(ti.Type, ti.Payload))
				if tn != acme.id && tn != globex.id {
					t.Errorf("%s task %s (%s) carries tenant %q", q, ti.ID, ti.Type, tn)
				}
				if !strings.HasPrefix(ti.ID, tn+":") && ti.Type != task.TypeCreateNotification {
					t.Errorf("%s task ID %s lacks its tenant %q", ti.Type, ti.ID, tn)
				}
			}
		}
	}

	// The unknown tenant's task is archived at once, with its name.
	var ti *asynq.TaskInfo
	testenv.Eventually(t, 30*time.Second, func() bool {
		ti, err = insp.GetTaskInfo(task.QueueNotifications, unknownInfo.ID)
		return err == nil && ti.State == asynq.TaskStateArchived
	}, "the unknown tenant's task archived")
	if !strings.Contains(ti.LastErr, `unknown tenant "umbrella"`) || ti.Retried != 0 {
		t.Errorf("archived after %d retries with %q", ti.Retried, ti.LastErr)
	}
	for _, d := range []tenantDB{acme, globex} {
		if n := d.scalar(t, `SELECT count(*) FROM "Notification" WHERE title = 'Assigned in umbrella'`); n != 0 {
			t.Errorf("%s got the unknown tenant's notification", d.id)
		}
	}
}
