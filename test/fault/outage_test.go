package fault

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/postgres"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// The outage tests run the real notification-worker and email-worker with a
// retry budget configured short (RETRY_BACKOFF_BASE/MAX: all of a task's
// attempts spent within about 10 s) and an outage several times longer
// (45 s). The dependency gate must hold them: nothing archived, nothing
// lost, nothing twice, every effect within seconds of the return, the
// dependency gauge down then up, no operator action.
const (
	outage       = 45 * time.Second
	shortBackoff = "RETRY_BACKOFF_BASE=250ms"
	shortCap     = "RETRY_BACKOFF_MAX=1s"
	// settle bounds "within a few seconds of the dependency's return":
	// the gate's probe backs off to 5 s at most, plus the work itself.
	settle = 15 * time.Second
)

// realWorker runs one of the fleet's binaries as a child process, its HTTP
// endpoints on a known port; it is stopped with SIGTERM at cleanup.
type realWorker struct {
	httpAddr string
}

func startReal(t *testing.T, name string, env []string) *realWorker {
	t.Helper()
	w := &realWorker{httpAddr: "127.0.0.1:" + strconv.Itoa(listenablePort(t, 20000, 30000))}
	logPath := filepath.Join(t.TempDir(), name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binDir, name))
	cmd.Env = append(env, "HTTP_ADDR="+w.httpAddr)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(40 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if t.Failed() {
			dumpFile(t, logPath)
		}
	})
	testenv.Eventually(t, 20*time.Second, func() bool { code, _ := w.get("/healthz"); return code == 200 }, name+" serves /healthz")
	return w
}

func (w *realWorker) get(path string) (int, string) {
	resp, err := http.Get("http://" + w.httpAddr + path)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// gauge reports whether /metrics shows the dependency's gauge at v.
func (w *realWorker) gauge(dep string, v int) bool {
	_, body := w.get("/metrics")
	return strings.Contains(body, fmt.Sprintf(`tpi_dependency_up{dependency=%q,tenant=""} %d`, dep, v))
}

func realEnv(valkeyURL, dbURL string, extra ...string) []string {
	env := append(os.Environ(), "VALKEY_URL="+valkeyURL, "DATABASE_URL="+dbURL, "TPI_ENV_FILE=",
		"LOG_FORMAT=text", "TASK_CHECK_INTERVAL=20ms", "DELAYED_TASK_CHECK_INTERVAL=100ms", shortBackoff, shortCap)
	return append(env, extra...)
}

func seeded(t *testing.T) (*pgxpool.Pool, string, string) {
	t.Helper()
	pool, url := testenv.Postgres(t)
	if err := postgres.Seed(t.Context(), pool); err != nil {
		t.Fatal(err)
	}
	var bob string // IN_APP_EMAIL_IMMEDIATE in the seed
	if err := pool.QueryRow(t.Context(), `SELECT id FROM "User" WHERE email = 'bob@example.com'`).Scan(&bob); err != nil {
		t.Fatal(err)
	}
	return pool, url, bob
}

func archived(t *testing.T, insp *asynq.Inspector, queue string) int {
	t.Helper()
	qi, err := insp.GetQueueInfo(queue)
	if err != nil {
		return -1
	}
	return qi.Archived
}

// PostgreSQL cut for 45 s under the real notification-worker, with 40
// create-notification tasks enqueued during the cut.
func TestOutagePostgresNotificationWorker(t *testing.T) {
	t.Parallel()
	pool, dbURL, bob := seeded(t)
	ctx := context.Background()
	opt, valkeyURL := testenv.Redis(t)
	px := startProxy(t, "127.0.0.1:5432")
	defer px.cut()
	proxied := strings.Replace(dbURL, "127.0.0.1:5432", px.addr, 1)
	w := startReal(t, "notification-worker", realEnv(valkeyURL, proxied))

	client := asynq.NewClient(opt)
	defer client.Close()
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	enqueue := func(i int) {
		tk, err := task.NewCreateNotification(task.CreateNotification{UserID: bob, Type: task.NotificationTypeWorkAssigned,
			Title: fmt.Sprintf("outage %d", i), Message: "m"}, asynq.TaskID(fmt.Sprintf("outage-%d", i)), asynq.Retention(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.Enqueue(tk); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM "Notification" WHERE title LIKE 'outage %'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	enqueue(0)
	testenv.Eventually(t, 15*time.Second, func() bool { return count() == 1 }, "the first notification before the cut")

	px.cut()
	cutAt := time.Now()
	const n = 40
	for i := 1; i <= n; i++ {
		enqueue(i)
	}
	testenv.Eventually(t, 20*time.Second, func() bool { return w.gauge("postgres", 0) }, "postgres gauge down")
	t.Logf("gauge down %s after the cut", time.Since(cutAt).Round(100*time.Millisecond))
	<-time.After(outage - time.Since(cutAt))
	if got := archived(t, insp, task.QueueNotifications); got != 0 {
		t.Errorf("%d tasks archived during the outage, want 0", got)
	}
	px.restore(t)
	back := time.Now()

	testenv.Eventually(t, settle+30*time.Second, func() bool { return count() == n+1 }, "every notification after the outage")
	t.Logf("PostgreSQL cut %s; all %d notifications present %s after its return", outage, n+1, time.Since(back).Round(100*time.Millisecond))
	if d := time.Since(back); d > settle {
		t.Errorf("effects complete %s after the return, want within %s", d.Round(100*time.Millisecond), settle)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return w.gauge("postgres", 1) }, "postgres gauge up again")
	var dups int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT title FROM "Notification" WHERE title LIKE 'outage %' GROUP BY title HAVING count(*) > 1) d`).Scan(&dups); err != nil {
		t.Fatal(err)
	}
	if dups != 0 {
		t.Errorf("%d notifications duplicated", dups)
	}
	if got := archived(t, insp, task.QueueNotifications); got != 0 {
		t.Errorf("%d tasks archived, want 0", got)
	}
	emails, err := insp.GetQueueInfo(task.QueueEmails)
	if err != nil || emails.Size != n+1 {
		t.Errorf("emails queue holds %v tasks (%v), want exactly %d immediate emails", emails, err, n+1)
	}
	_, metrics := w.get("/metrics")
	if strings.Contains(metrics, "tpi_tasks_archived_total") {
		t.Error("the archived metric moved")
	}
}

// SMTP down for 45 s under the real email-worker, with 20 immediate emails
// queued during the outage.
func TestOutageSMTPEmailWorker(t *testing.T) {
	t.Parallel()
	pool, dbURL, bob := seeded(t)
	ctx := context.Background()
	opt, valkeyURL := testenv.Redis(t)
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	w := startReal(t, "email-worker", realEnv(valkeyURL, dbURL,
		"EMAIL_SERVER_HOST="+mp.SMTPHost, "EMAIL_SERVER_PORT="+strconv.Itoa(mp.SMTPPort), "EMAIL_SERVER_TLS=none",
		"EMAIL_FROM=noreply@example.com", "EMAIL_SERVER_TIMEOUT=2s", "NEXTAUTH_URL=https://tpi.example.com"))

	client := asynq.NewClient(opt)
	defer client.Close()
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	const n = 20
	for i := range n {
		if _, err := pool.Exec(ctx, `INSERT INTO "Notification" (id, "userId", type, title, message, "createdAt", "updatedAt")
			VALUES ($1, $2, 'WORK_ASSIGNED', $3, 'm', now(), now())`, fmt.Sprintf("smtp-outage-%02d", i), bob, fmt.Sprintf("SMTP outage %02d", i)); err != nil {
			t.Fatal(err)
		}
	}

	mp.Stop()
	downAt := time.Now()
	for i := range n {
		tk, err := task.NewSendNotificationEmail(task.SendNotificationEmail{NotificationID: fmt.Sprintf("smtp-outage-%02d", i), UserID: bob, Immediate: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.Enqueue(tk, asynq.Retention(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 20*time.Second, func() bool { return w.gauge("smtp", 0) }, "smtp gauge down")
	t.Logf("gauge down %s after SMTP stopped", time.Since(downAt).Round(100*time.Millisecond))
	<-time.After(outage - time.Since(downAt))
	if got := archived(t, insp, task.QueueEmails); got != 0 {
		t.Errorf("%d emails archived during the outage, want 0", got)
	}
	mp.Start()
	back := time.Now()

	testenv.Eventually(t, settle+30*time.Second, func() bool { return mp.Count() >= n }, "every email after the outage")
	t.Logf("SMTP down %s; all %d emails delivered %s after its return", outage, n, time.Since(back).Round(100*time.Millisecond))
	if d := time.Since(back); d > settle {
		t.Errorf("emails complete %s after the return, want within %s", d.Round(100*time.Millisecond), settle)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return w.gauge("smtp", 1) }, "smtp gauge up again")
	testenv.Eventually(t, 10*time.Second, func() bool {
		qi, err := insp.GetQueueInfo(task.QueueEmails)
		return err == nil && qi.Completed == n
	}, "every email task completed")
	if got := mp.Count(); got != n {
		t.Errorf("%d messages delivered, want exactly %d", got, n)
	}
	// The Message-ID is derived from the delivery (one per notification):
	// a message sent twice would show the same one twice.
	ids := map[string]int{}
	for _, m := range mp.Messages(t) {
		ids[m.MessageID]++
	}
	if len(ids) != n {
		t.Errorf("%d distinct Message-IDs, want %d", len(ids), n)
	}
	for id, c := range ids {
		if c != 1 {
			t.Errorf("message %s delivered %d times", id, c)
		}
	}
	if got := archived(t, insp, task.QueueEmails); got != 0 {
		t.Errorf("%d emails archived, want 0", got)
	}
	done, err := insp.ListCompletedTasks(task.QueueEmails, asynq.PageSize(100))
	if err != nil {
		t.Fatal(err)
	}
	for _, ti := range done {
		if ti.Retried != 0 {
			t.Errorf("email %s spent %d attempts on the outage, want 0", ti.ID, ti.Retried)
		}
	}
}
