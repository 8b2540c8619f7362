package email_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/cuid"
	"github.com/testplanit/tpi-workers/internal/email"
	"github.com/testplanit/tpi-workers/internal/postgres"
	"github.com/testplanit/tpi-workers/internal/smtp"
	"github.com/testplanit/tpi-workers/internal/tenant"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// smtpSender adapts the SMTP client, as cmd/email-worker does.
type smtpSender struct{ c *smtp.Client }

func (s smtpSender) Send(ctx context.Context, m email.Message) error {
	hs := make([]smtp.Header, len(m.Headers))
	for i, h := range m.Headers {
		hs[i] = smtp.Header{Name: h[0], Value: h[1]}
	}
	return s.c.Send(ctx, smtp.Message{From: m.From, To: m.To, Subject: m.Subject, MessageID: m.MessageID,
		Headers: hs, Text: m.Text, HTML: m.HTML, Date: m.Date})
}

type env struct {
	tn     *tenant.Tenant
	db     *pgxpool.Pool
	mp     *testenv.Mailpit
	client *asynq.Client
	insp   *asynq.Inspector
	h      *email.Handler
}

// setup starts PostgreSQL, Redis and mailpit, and an asynq server for the
// emails queue (retry delay 50 ms) whose mux runs mw around the handlers.
// The tasks' tenant is "", with no base URL of its own.
func setup(t *testing.T, mp testenv.MailpitOptions, mw ...asynq.MiddlewareFunc) *env {
	t.Helper()
	return setupTenant(t, "", "", mp, mw...)
}

// setupTenant is setup for the tenant tenantID whose web app is at baseURL,
// handed to the handlers as the runtime's resolver would.
func setupTenant(t *testing.T, tenantID, baseURL string, mp testenv.MailpitOptions, mw ...asynq.MiddlewareFunc) *env {
	t.Helper()
	db, _ := testenv.Postgres(t)
	ropt, _ := testenv.Redis(t)
	e := &env{tn: &tenant.Tenant{ID: tenantID, DB: db, BaseURL: baseURL}, db: db, mp: testenv.StartMailpit(t, mp),
		client: asynq.NewClient(ropt), insp: asynq.NewInspector(ropt)}
	t.Cleanup(func() { e.client.Close(); e.insp.Close() })
	sc, err := smtp.New(smtp.Config{Host: e.mp.SMTPHost, Port: e.mp.SMTPPort, TLS: smtp.TLSNone, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	r, err := email.NewRenderer("https://tpi.example.com")
	if err != nil {
		t.Fatal(err)
	}
	e.h = &email.Handler{Sender: smtpSender{sc}, Renderer: r, From: "noreply@tpi.example.com"}
	mux := asynq.NewServeMux()
	mux.Use(func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
			return next.ProcessTask(worker.WithTenant(ctx, e.tn), t)
		})
	})
	mux.Use(mw...)
	e.h.Register(mux)
	srv := asynq.NewServer(ropt, asynq.Config{
		Concurrency:              2,
		Queues:                   map[string]int{task.QueueEmails: 1},
		RetryDelayFunc:           func(int, error, *asynq.Task) time.Duration { return 50 * time.Millisecond },
		TaskCheckInterval:        10 * time.Millisecond,
		DelayedTaskCheckInterval: 50 * time.Millisecond,
		LogLevel:                 asynq.FatalLevel,
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	if _, err := db.Exec(context.Background(), `INSERT INTO "Roles" (id, name) VALUES (1, 'user')`); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) user(t *testing.T, id, locale string) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.db.Exec(ctx, `INSERT INTO "User" (id, name, email, password, "updatedAt") VALUES ($1, 'Zoé', $1 || '@example.com', 'x', now())`, id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Exec(ctx, `INSERT INTO "UserPreferences" (id, "userId", locale, timezone, "notificationMode")
VALUES ($1, $2, $3::"Locale", 'Europe/Paris', 'IN_APP_EMAIL_IMMEDIATE')`, postgres.NewUUID(), id, locale); err != nil {
		t.Fatal(err)
	}
}

func (e *env) notification(t *testing.T, userID, typ, data string) string {
	t.Helper()
	id := cuid.New()
	if _, err := e.db.Exec(context.Background(), `INSERT INTO "Notification" (id, "userId", type, title, message, data, "updatedAt")
VALUES ($1, $2, $3::"NotificationType", 'stored title', 'stored message', $4::jsonb, now())`, id, userID, typ, data); err != nil {
		t.Fatal(err)
	}
	return id
}

func must(tk *asynq.Task, err error) *asynq.Task {
	if err != nil {
		panic(err)
	}
	return tk
}

func (e *env) enqueue(t *testing.T, tk *asynq.Task, opts ...asynq.Option) string {
	t.Helper()
	info, err := e.client.Enqueue(tk, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return info.ID
}

func (e *env) wait(t *testing.T, id string, want asynq.TaskState) *asynq.TaskInfo {
	t.Helper()
	var info *asynq.TaskInfo
	testenv.Eventually(t, 15*time.Second, func() bool {
		var err error
		info, err = e.insp.GetTaskInfo(task.QueueEmails, id)
		return err == nil && info.State == want
	}, "task %s never reached %v (last %+v)", id, want, info)
	return info
}

func TestNotificationEmailDelivered(t *testing.T) {
	t.Parallel()
	e := setup(t, testenv.MailpitOptions{})
	e.user(t, "u1", "es_ES")
	nid := e.notification(t, "u1", "SESSION_ASSIGNED", `{"projectId":3,"sessionId":9,"sessionName":"Pagos","projectName":"Tienda","assignedByName":"Ana"}`)
	id := e.enqueue(t, must(task.NewSendNotificationEmail(task.SendNotificationEmail{NotificationID: nid, UserID: "u1", Immediate: true})))
	e.wait(t, id, asynq.TaskStateCompleted)
	msgs := e.mp.Messages(t)
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	m := e.mp.Message(t, msgs[0].ID)
	if m.Subject != "TestPlanIt: Nueva tarea de sesión" || m.To[0].Address != "u1@example.com" || m.From.Address != "noreply@tpi.example.com" || m.From.Name != "TestPlanIt" {
		t.Errorf("message %+v", m.MailpitMessage)
	}
	if !strings.Contains(m.HTML, `href="https://tpi.example.com/es-ES/projects/sessions/3/9"`) ||
		!strings.Contains(m.Text, `Ana asignado a la sesión "Pagos" en proyecto "Tienda"`) {
		t.Errorf("body: html %q text %q", m.HTML, m.Text)
	}
	h := e.mp.Headers(t, msgs[0].ID)
	if got := h["List-Unsubscribe"]; len(got) != 1 || got[0] != "<https://tpi.example.com/es-ES/users/profile/u1>" {
		t.Errorf("List-Unsubscribe %q", got)
	}
}

// failOnceAfterSuccess fails the first attempt of every task after the
// handler succeeded: the send happened, the task is retried anyway.
func failOnceAfterSuccess(calls *atomic.Int32) asynq.MiddlewareFunc {
	return func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
			err := next.ProcessTask(ctx, t)
			retried, _ := asynq.GetRetryCount(ctx)
			calls.Add(1)
			if err == nil && retried == 0 {
				return errors.New("injected: worker lost the task after the send")
			}
			return err
		})
	}
}

// cancelAfterSend delivers, then ends the task's context, as a task deadline
// or a shutdown reaching the handler at that moment would.
type cancelAfterSend struct {
	email.Sender
	cancel context.CancelFunc
}

func (s cancelAfterSend) Send(ctx context.Context, m email.Message) error {
	err := s.Sender.Send(ctx, m)
	s.cancel()
	return err
}

func TestDeliveryRecordedWhenTheTaskEndsAtTheSend(t *testing.T) {
	t.Parallel()
	e := setup(t, testenv.MailpitOptions{})
	e.user(t, "u1", "en_US")
	nid := e.notification(t, "u1", "USER_REGISTERED", `{}`)
	p := task.SendNotificationEmail{NotificationID: nid, UserID: "u1"}
	ctx, cancel := context.WithCancel(worker.WithTenant(context.Background(), e.tn))
	defer cancel()
	h := &email.Handler{Sender: cancelAfterSend{Sender: e.h.Sender, cancel: cancel}, Renderer: e.h.Renderer, From: e.h.From}
	if err := h.SendNotificationEmail(ctx, p); err != nil {
		t.Fatalf("a message the server accepted must be recorded: %v", err)
	}
	// The retry that asynq would run finds the delivery and sends nothing.
	if err := e.h.SendNotificationEmail(worker.WithTenant(context.Background(), e.tn), p); err != nil {
		t.Fatal(err)
	}
	if n := e.mp.Count(); n != 1 {
		t.Errorf("%d messages in mailpit, want 1", n)
	}
}

func TestRetryAfterSendDoesNotResend(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	e := setup(t, testenv.MailpitOptions{}, failOnceAfterSuccess(&calls))
	e.user(t, "u1", "en_US")
	nid := e.notification(t, "u1", "MILESTONE_DUE_REMINDER", `{"milestoneName":"v2","projectName":"Web","projectId":1,"milestoneId":2,"dueDate":"2026-12-01T00:00:00Z","isOverdue":true}`)
	n1 := e.notification(t, "u1", "USER_REGISTERED", `{}`)
	n2 := e.notification(t, "u1", "WORK_ASSIGNED", `{"assignedByName":"Al","testCaseName":"c","projectName":"p","projectId":1,"testRunId":2,"testCaseId":3}`)
	id1 := e.enqueue(t, must(task.NewSendNotificationEmail(task.SendNotificationEmail{NotificationID: nid, UserID: "u1"})))
	id2 := e.enqueue(t, must(task.NewSendDigestEmail(task.SendDigestEmail{UserID: "u1", NotificationIDs: []string{n1, n2}, Day: "2026-11-26"})))
	for _, id := range []string{id1, id2} {
		if info := e.wait(t, id, asynq.TaskStateCompleted); info.Retried != 1 {
			t.Errorf("task %s retried %d times, want 1", id, info.Retried)
		}
	}
	if calls.Load() != 4 {
		t.Errorf("%d handler runs, want 4", calls.Load())
	}
	if n := e.mp.Count(); n != 2 {
		t.Errorf("%d messages in mailpit, want 2 (one per task)", n)
	}
	var read int
	if err := e.db.QueryRow(context.Background(), `SELECT count(*) FROM "Notification" WHERE "isRead"`).Scan(&read); err != nil {
		t.Fatal(err)
	}
	if read != 2 {
		t.Errorf("%d notifications read, want exactly the 2 of the digest", read)
	}
}

// failFirstMarkRead makes the database fail the first UPDATE of
// "Notification" that marks rows read (the digest's mark-read), as a
// connection lost at that moment would: a sequence counts the attempts,
// since the failure rolls back anything transactional.
func failFirstMarkRead(t *testing.T, db *pgxpool.Pool) {
	t.Helper()
	_, err := db.Exec(context.Background(), `
CREATE SEQUENCE test_mark_read_attempts;
CREATE FUNCTION test_fail_first_mark_read() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW."isRead" AND NOT OLD."isRead" AND nextval('test_mark_read_attempts') = 1 THEN
        RAISE EXCEPTION 'injected: connection lost';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER test_fail_first_mark_read BEFORE UPDATE ON "Notification"
    FOR EACH ROW EXECUTE FUNCTION test_fail_first_mark_read();`)
	if err != nil {
		t.Fatal(err)
	}
}

func TestDigestMarksExactlySentRead(t *testing.T) {
	t.Parallel()
	e := setup(t, testenv.MailpitOptions{})
	e.user(t, "u1", "fr_FR")
	e.user(t, "u2", "fr_FR")
	a := e.notification(t, "u1", "USER_REGISTERED", `{}`)
	b := e.notification(t, "u1", "SHARE_LINK_ACCESSED", `{}`)
	readMeanwhile := e.notification(t, "u1", "USER_REGISTERED", `{}`)
	notListed := e.notification(t, "u1", "USER_REGISTERED", `{}`)
	otherUser := e.notification(t, "u2", "USER_REGISTERED", `{}`)
	if _, err := e.db.Exec(context.Background(), `UPDATE "Notification" SET "isRead" = true WHERE id = $1`, readMeanwhile); err != nil {
		t.Fatal(err)
	}
	failFirstMarkRead(t, e.db)
	id := e.enqueue(t, must(task.NewSendDigestEmail(task.SendDigestEmail{UserID: "u1", NotificationIDs: []string{a, b, readMeanwhile, otherUser}, Day: "2026-11-26"})))
	if info := e.wait(t, id, asynq.TaskStateCompleted); info.Retried != 1 {
		t.Errorf("retried %d times, want 1 (the failed mark-read)", info.Retried)
	}
	msgs := e.mp.Messages(t)
	if len(msgs) != 1 || msgs[0].Subject != "TestPlanIt Daily Digest - 2 notifications" {
		t.Fatalf("messages %+v", msgs)
	}
	for nid, want := range map[string]bool{a: true, b: true, readMeanwhile: true, notListed: false, otherUser: false} {
		var read bool
		if err := e.db.QueryRow(context.Background(), `SELECT "isRead" FROM "Notification" WHERE id = $1`, nid).Scan(&read); err != nil {
			t.Fatal(err)
		}
		if read != want {
			t.Errorf("notification %s read=%v, want %v", nid, read, want)
		}
	}
}

func TestSMTPDownThenUp(t *testing.T) {
	t.Parallel()
	e := setup(t, testenv.MailpitOptions{})
	e.user(t, "u1", "en_US")
	nid := e.notification(t, "u1", "USER_REGISTERED", `{}`)
	e.mp.Stop()
	// Many retries: the outage must not outlast them on a loaded machine.
	id := e.enqueue(t, must(task.NewSendNotificationEmail(task.SendNotificationEmail{NotificationID: nid, UserID: "u1"})), asynq.MaxRetry(100))
	testenv.Eventually(t, 15*time.Second, func() bool {
		info, err := e.insp.GetTaskInfo(task.QueueEmails, id)
		return err == nil && info.Retried >= 2
	}, "task not retried while SMTP is down")
	info, _ := e.insp.GetTaskInfo(task.QueueEmails, id)
	if !strings.Contains(info.LastErr, "smtp connect") {
		t.Errorf("last error %q", info.LastErr)
	}
	e.mp.Start()
	e.wait(t, id, asynq.TaskStateCompleted)
	if n := e.mp.Count(); n != 1 {
		t.Errorf("%d messages, want exactly 1", n)
	}
}

func TestReplyCodes(t *testing.T) {
	t.Parallel()
	e := setup(t, testenv.MailpitOptions{Chaos: true})
	e.user(t, "u1", "en_US")
	// 5xx for the recipient: permanent, archived without retries.
	e.mp.SetChaos(t, testenv.MailpitChaos{Recipient: testenv.MailpitTrigger{ErrorCode: 550, Probability: 100}})
	n1 := e.notification(t, "u1", "USER_REGISTERED", `{}`)
	id := e.enqueue(t, must(task.NewSendNotificationEmail(task.SendNotificationEmail{NotificationID: n1, UserID: "u1"})))
	info := e.wait(t, id, asynq.TaskStateArchived)
	if info.Retried != 0 || !strings.Contains(info.LastErr, "550") {
		t.Errorf("archived after %d retries: %q", info.Retried, info.LastErr)
	}
	// 4xx: retried until the server accepts.
	e.mp.SetChaos(t, testenv.MailpitChaos{Recipient: testenv.MailpitTrigger{ErrorCode: 451, Probability: 100}})
	n2 := e.notification(t, "u1", "USER_REGISTERED", `{}`)
	id = e.enqueue(t, must(task.NewSendNotificationEmail(task.SendNotificationEmail{NotificationID: n2, UserID: "u1"})), asynq.MaxRetry(100))
	testenv.Eventually(t, 15*time.Second, func() bool {
		info, err := e.insp.GetTaskInfo(task.QueueEmails, id)
		return err == nil && info.Retried >= 1 && strings.Contains(info.LastErr, "451")
	}, "451 not retried")
	e.mp.SetChaos(t, testenv.MailpitChaos{})
	e.wait(t, id, asynq.TaskStateCompleted)
	if n := e.mp.Count(); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
}

func TestBadInputArchived(t *testing.T) {
	t.Parallel()
	e := setup(t, testenv.MailpitOptions{})
	e.user(t, "u1", "en_US")
	info, err := e.client.Enqueue(asynq.NewTask(task.TypeSendDigestEmail, []byte(`{"userId":"u1","notificationIds":[],"day":"26/11/2026"}`)),
		asynq.Queue(task.QueueEmails), asynq.MaxRetry(4))
	if err != nil {
		t.Fatal(err)
	}
	got := e.wait(t, info.ID, asynq.TaskStateArchived)
	if got.Retried != 0 || !strings.Contains(got.LastErr, "notificationIds") {
		t.Errorf("archived after %d retries: %q", got.Retried, got.LastErr)
	}
	id := e.enqueue(t, must(task.NewSendNotificationEmail(task.SendNotificationEmail{NotificationID: "missing", UserID: "u1"})))
	got = e.wait(t, id, asynq.TaskStateArchived)
	if got.Retried != 0 || !strings.Contains(got.LastErr, "notification missing does not exist") {
		t.Errorf("archived after %d retries: %q", got.Retried, got.LastErr)
	}
	if n := e.mp.Count(); n != 0 {
		t.Errorf("%d messages sent", n)
	}
}

// The delivery ledger is bounded: a send prunes the rows older than the
// retention (at most once an hour per worker and tenant), and keeps the rest.
func TestDeliveryLedgerPruned(t *testing.T) {
	t.Parallel()
	e := setup(t, testenv.MailpitOptions{})
	ctx := context.Background()
	if _, err := e.db.Exec(ctx, `INSERT INTO worker.email_deliveries (key, kind, recipient, message_id, sent_at) VALUES
		('old', 'notification', 'a@example.com', 'm1', now() - interval '46 days'),
		('recent', 'notification', 'a@example.com', 'm2', now() - interval '44 days')`); err != nil {
		t.Fatal(err)
	}
	e.user(t, "u1", "en_US")
	nid := e.notification(t, "u1", "USER_REGISTERED", `{}`)
	e.wait(t, e.enqueue(t, must(task.NewSendNotificationEmail(task.SendNotificationEmail{NotificationID: nid, UserID: "u1", Immediate: true}))), asynq.TaskStateCompleted)
	rows, err := e.db.Query(ctx, `SELECT key FROM worker.email_deliveries ORDER BY key`)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0] != "notification:"+nid || keys[1] != "recent" {
		t.Errorf("ledger keys %v, want the new delivery and the 44-day-old one (the 46-day-old pruned)", keys)
	}
}
