package notify_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/notify"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// pendingEmails returns the pending tasks of the emails queue by task ID.
func pendingEmails(t testing.TB, insp *asynq.Inspector) map[string]*asynq.TaskInfo {
	t.Helper()
	tasks, err := insp.ListPendingTasks(task.QueueEmails, asynq.PageSize(1000))
	if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
		t.Fatal(err)
	}
	out := map[string]*asynq.TaskInfo{}
	for _, tk := range tasks {
		out[tk.ID] = tk
	}
	return out
}

// TestCreateNotificationEmailCarriesTheTenant: the immediate email of a
// tenant's notification carries the tenant, also when the tenant came from
// the process (INSTANCE_TENANT_ID) rather than the payload, and passes the
// runtime client's tenant check.
func TestCreateNotificationEmailCarriesTheTenant(t *testing.T) {
	t.Parallel()
	db, _ := testenv.Postgres(t)
	ropt, _ := testenv.Redis(t)
	client := asynq.NewClient(ropt)
	defer client.Close()
	insp := asynq.NewInspector(ropt)
	defer insp.Close()
	seedRole(t, db)
	seedUser(t, db, user{id: "u1", mode: "IN_APP_EMAIL_IMMEDIATE", active: true})
	guarded := &worker.Client{Client: asynq.NewClient(ropt)}
	defer guarded.Close()
	startServer(t, ropt, &notify.Handler{Enqueuer: guarded}, tenantOf("acme", db))

	for _, payloadTenant := range []string{"acme", ""} {
		tk := mustTask(task.NewCreateNotification(task.CreateNotification{UserID: "u1", Type: task.NotificationTypeUserRegistered, Title: "Hi", TenantID: payloadTenant}))
		info, err := client.Enqueue(tk, asynq.TaskID("create-"+payloadTenant))
		if err != nil {
			t.Fatal(err)
		}
		waitState(t, insp, task.QueueNotifications, info.ID, asynq.TaskStateCompleted)
		nid := notify.NotificationID(task.QueueNotifications, info.ID)
		mail, ok := pendingEmails(t, insp)["acme:email:notification:"+nid]
		if !ok {
			t.Fatalf("payload tenant %q: no email task acme:email:notification:%s in %v", payloadTenant, nid, pendingEmails(t, insp))
		}
		p, err := task.Decode[task.SendNotificationEmail](asynq.NewTask(mail.Type, mail.Payload))
		if err != nil {
			t.Fatal(err)
		}
		if p.TenantID != "acme" || p.NotificationID != nid || p.UserID != "u1" {
			t.Errorf("payload tenant %q: email payload %+v", payloadTenant, p)
		}
	}
}

// TestDigestLedgerPerTenant runs the sweeps of three tenants whose
// databases share one worker schema (here: one database): each plans and
// enqueues its own digest for the same user id, under its own task ID and
// ledger key, once; a digest left pending by one tenant is completed by
// that tenant's sweep only.
func TestDigestLedgerPerTenant(t *testing.T) {
	t.Parallel()
	db, _ := testenv.Postgres(t)
	ropt, _ := testenv.Redis(t)
	insp := asynq.NewInspector(ropt)
	defer insp.Close()
	guarded := &worker.Client{Client: asynq.NewClient(ropt)}
	defer guarded.Close()
	seedRole(t, db)
	seedUser(t, db, user{id: "u1", mode: "IN_APP_EMAIL_DAILY", active: true})
	at := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	n1 := addNotification(t, db, "u1", at.Add(-time.Hour), false, false)
	h := &notify.Handler{Enqueuer: guarded, Clock: &fixedClock{t: at}}
	run := func(tenantID string) notify.DigestResult {
		t.Helper()
		res, err := h.Sweep(inTenant(tenantID, db), nil)
		if err != nil {
			t.Fatalf("tenant %q: %v", tenantID, err)
		}
		return res
	}
	tenants := []string{"acme", "beta", ""}
	for _, tn := range tenants {
		if res := run(tn); res.Planned != 1 || res.Enqueued != 1 {
			t.Errorf("tenant %q: %+v, want its own digest for u1", tn, res)
		}
	}
	for _, tn := range tenants {
		if res := run(tn); res != (notify.DigestResult{}) {
			t.Errorf("tenant %q again: %+v, want nothing", tn, res)
		}
	}
	mails := pendingEmails(t, insp)
	for _, tn := range tenants {
		id := task.TenantKey(tn, "digest:u1:2026-11-26")
		mail, ok := mails[id]
		if !ok {
			t.Fatalf("no digest task %s in %v", id, mails)
		}
		p, err := task.Decode[task.SendDigestEmail](asynq.NewTask(mail.Type, mail.Payload))
		if err != nil {
			t.Fatal(err)
		}
		if p.TenantID != tn || !slices.Equal(p.NotificationIDs, []string{n1}) {
			t.Errorf("task %s: payload %+v", id, p)
		}
	}
	if len(mails) != 3 {
		t.Errorf("%d email tasks, want 3", len(mails))
	}
	var keys []string
	rows, err := db.Query(context.Background(), `SELECT user_id FROM worker.notification_digests ORDER BY user_id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"acme:u1", "beta:u1", "u1"}; !slices.Equal(keys, want) {
		t.Errorf("ledger keys %v, want %v", keys, want)
	}

	// A digest acme planned but did not enqueue (its sweep stopped between
	// the two steps): only acme's next sweep completes it.
	n2 := addNotification(t, db, "u1", at.Add(-2*time.Hour), false, false)
	if _, err := db.Exec(context.Background(), `INSERT INTO worker.notification_digests (user_id, local_day, time_zone, cutoff, notification_ids)
VALUES ('acme:u1', '2026-11-25', 'UTC', $1, $2)`, at.Add(-24*time.Hour), []string{n2}); err != nil {
		t.Fatal(err)
	}
	for _, tn := range []string{"beta", ""} {
		if res := run(tn); res.Enqueued != 0 {
			t.Errorf("tenant %q completed another tenant's digest: %+v", tn, res)
		}
	}
	if res := run("acme"); res.Enqueued != 1 {
		t.Errorf("acme: %+v, want its pending digest enqueued", res)
	}
	if _, ok := pendingEmails(t, insp)["acme:digest:u1:2026-11-25"]; !ok {
		t.Error("acme's pending digest was not enqueued under its ID")
	}
	if n := countRows(t, db, `SELECT count(*) FROM worker.notification_digests WHERE enqueued_at IS NULL`); n != 0 {
		t.Errorf("%d digests left unenqueued", n)
	}
}
