package notify_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/notify"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/pkg/task"
)

func TestNotificationIDShape(t *testing.T) {
	t.Parallel()
	a, b := notify.NotificationID("notifications", "t1"), notify.NotificationID("notifications", "t2")
	if len(a) != 25 || a[0] != 'c' || a == b || a != notify.NotificationID("notifications", "t1") {
		t.Fatalf("ids %q %q", a, b)
	}
	if strings.Trim(a[1:], "0123456789abcdefghijklmnopqrstuvwxyz") != "" {
		t.Fatalf("not base 36: %q", a)
	}
}

// failingQueue fails the first n enqueues after they reached Redis, as a
// connection lost after the write would: the retry must not duplicate.
type failingQueue struct {
	task.Enqueuer
	fails atomic.Int32
}

func (q *failingQueue) EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	info, err := q.Enqueuer.EnqueueContext(ctx, t, opts...)
	if err == nil && q.fails.Add(-1) >= 0 {
		return nil, errors.New("injected: connection reset after enqueue")
	}
	return info, err
}

func TestCreateNotificationModes(t *testing.T) {
	t.Parallel()
	db, _ := testenv.Postgres(t)
	ropt, _ := testenv.Redis(t)
	client := asynq.NewClient(ropt)
	defer client.Close()
	insp := asynq.NewInspector(ropt)
	defer insp.Close()
	seedRole(t, db)
	setGlobalMode(t, db, "IN_APP_EMAIL_IMMEDIATE")

	users := []struct {
		u                  user
		wantRows, wantMail int
	}{
		{user{id: "none", mode: "NONE", active: true}, 0, 0},
		{user{id: "inapp", mode: "IN_APP", active: true}, 1, 0},
		{user{id: "immediate", mode: "IN_APP_EMAIL_IMMEDIATE", active: true}, 1, 1},
		{user{id: "daily", mode: "IN_APP_EMAIL_DAILY", active: true}, 1, 0},
		{user{id: "global", mode: "USE_GLOBAL", active: true}, 1, 1}, // global default: immediate
		{user{id: "noprefs", mode: "", active: true}, 1, 1},          // no preferences row: USE_GLOBAL
		{user{id: "inactive", mode: "IN_APP_EMAIL_IMMEDIATE"}, 0, 0}, // isActive false
		{user{id: "deleted", mode: "IN_APP", active: true, deleted: true}, 0, 0},
	}
	for _, u := range users {
		seedUser(t, db, u.u)
	}
	q := &failingQueue{Enqueuer: client}
	q.fails.Store(1) // the first immediate email's enqueue "fails" after writing
	startServer(t, ropt, &notify.Handler{Enqueuer: q}, tenantOf("", db))

	types := []task.NotificationType{task.NotificationTypeWorkAssigned, task.NotificationTypeSessionAssigned,
		task.NotificationTypeSystemAnnouncement, task.NotificationTypeUserRegistered, task.NotificationTypeCommentMention,
		task.NotificationTypeMilestoneDueReminder, task.NotificationTypeShareLinkAccessed}
	var ids []string
	for _, u := range users {
		for i, typ := range types {
			tk := mustTask(task.NewCreateNotification(task.CreateNotification{UserID: u.u.id, Type: typ, Title: "T", Message: "M",
				Data: []byte(`{"projectId":1}`), RelatedEntityID: "42", RelatedEntityType: "Milestone"}))
			info, err := client.Enqueue(tk, asynq.TaskID(u.u.id+"-"+string(rune('a'+i))))
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, info.ID)
		}
	}
	for _, tid := range ids {
		waitState(t, insp, task.QueueNotifications, tid, asynq.TaskStateCompleted)
	}
	for _, u := range users {
		got := countRows(t, db, `SELECT count(*) FROM "Notification" WHERE "userId" = $1`, u.u.id)
		if got != u.wantRows*len(types) {
			t.Errorf("user %s: %d notifications, want %d", u.u.id, got, u.wantRows*len(types))
		}
	}
	mails, err := insp.ListPendingTasks(task.QueueEmails, asynq.PageSize(1000))
	if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
		t.Fatal(err)
	}
	perUser := map[string]int{}
	for _, m := range mails {
		p, err := task.Decode[task.SendNotificationEmail](asynq.NewTask(m.Type, m.Payload))
		if err != nil {
			t.Fatal(err)
		}
		perUser[p.UserID]++
		if m.ID != "email:notification:"+p.NotificationID {
			t.Errorf("email task ID %q", m.ID)
		}
	}
	for _, u := range users {
		if perUser[u.u.id] != u.wantMail*len(types) {
			t.Errorf("user %s: %d email tasks, want %d", u.u.id, perUser[u.u.id], u.wantMail*len(types))
		}
	}
	// The forced failure made one task retry: still one row per task, with
	// the id derived from the task ID.
	var retried int
	for i, tid := range ids {
		info, err := insp.GetTaskInfo(task.QueueNotifications, tid)
		if err != nil {
			t.Fatal(err)
		}
		retried += info.Retried
		u := users[i/len(types)]
		want := notify.NotificationID(task.QueueNotifications, tid)
		if n := countRows(t, db, `SELECT count(*) FROM "Notification" WHERE id = $1`, want); n != u.wantRows {
			t.Errorf("task %s (user %s): %d rows with id %s, want %d", tid, u.u.id, n, want, u.wantRows)
		}
	}
	if retried != 1 {
		t.Errorf("%d retries, want exactly the 1 forced", retried)
	}
	if n := countRows(t, db, `SELECT count(*) FROM "Notification" WHERE "relatedEntityId" = '42' AND data->>'projectId' = '1' AND NOT "isRead"`); n != 5*len(types) {
		t.Errorf("%d notifications with fields, want %d", n, 5*len(types))
	}
}

func TestCreateNotificationBadInput(t *testing.T) {
	t.Parallel()
	db, _ := testenv.Postgres(t)
	ropt, _ := testenv.Redis(t)
	client := asynq.NewClient(ropt)
	defer client.Close()
	insp := asynq.NewInspector(ropt)
	defer insp.Close()
	startServer(t, ropt, &notify.Handler{Enqueuer: client}, tenantOf("", db))

	// Malformed payload: archived at once with the reason.
	_, err := client.Enqueue(asynq.NewTask(task.TypeCreateNotification, []byte(`{"userId":"u1","type":"NOPE","title":"x"}`)),
		asynq.Queue(task.QueueNotifications), asynq.TaskID("bad"), asynq.MaxRetry(5))
	if err != nil {
		t.Fatal(err)
	}
	info := waitState(t, insp, task.QueueNotifications, "bad", asynq.TaskStateArchived)
	if info.Retried != 0 || !strings.Contains(info.LastErr, "type") || !strings.Contains(info.LastErr, "NOPE") {
		t.Errorf("archived after %d retries with %q", info.Retried, info.LastErr)
	}
	// Unknown user: permanent too.
	tk := mustTask(task.NewCreateNotification(task.CreateNotification{UserID: "ghost", Type: "WORK_ASSIGNED", Title: "x"}))
	if _, err := client.Enqueue(tk, asynq.TaskID("ghost")); err != nil {
		t.Fatal(err)
	}
	info = waitState(t, insp, task.QueueNotifications, "ghost", asynq.TaskStateArchived)
	if info.Retried != 0 || !strings.Contains(info.LastErr, "ghost does not exist") {
		t.Errorf("archived after %d retries with %q", info.Retried, info.LastErr)
	}
}
