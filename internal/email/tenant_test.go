package email_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/tenant"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// ledgerKeys returns the keys of worker.email_deliveries, sorted.
func (e *env) ledgerKeys(t *testing.T) []string {
	t.Helper()
	rows, err := e.db.Query(context.Background(), `SELECT key FROM worker.email_deliveries ORDER BY key`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var keys []string
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
	return keys
}

// TestTenantBaseURLAndLedgerKeys: a tenant's emails link to the tenant's
// web app (its BaseURL, not the renderer's default), their Message-ID is at
// its host, and their ledger keys carry the tenant.
func TestTenantBaseURLAndLedgerKeys(t *testing.T) {
	t.Parallel()
	e := setupTenant(t, "acme", "https://acme.example.com/", testenv.MailpitOptions{})
	e.user(t, "u1", "en_US")
	nid := e.notification(t, "u1", "SESSION_ASSIGNED", `{"projectId":3,"sessionId":9,"sessionName":"S","projectName":"P","assignedByName":"Ana"}`)
	d1 := e.notification(t, "u1", "USER_REGISTERED", `{}`)
	id := e.enqueue(t, must(task.NewSendNotificationEmail(task.SendNotificationEmail{NotificationID: nid, UserID: "u1", TenantID: "acme"})))
	e.wait(t, id, asynq.TaskStateCompleted)
	id = e.enqueue(t, must(task.NewSendDigestEmail(task.SendDigestEmail{UserID: "u1", NotificationIDs: []string{d1}, Day: "2026-11-26", TenantID: "acme"})))
	e.wait(t, id, asynq.TaskStateCompleted)

	msgs := e.mp.Messages(t)
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want 2", len(msgs))
	}
	for _, msg := range msgs {
		m := e.mp.Message(t, msg.ID)
		if strings.Contains(m.HTML, "tpi.example.com") || !strings.Contains(m.HTML, `href="https://acme.example.com/en-US/users/profile/u1"`) {
			t.Errorf("%s: links not under the tenant's base URL:\n%s", msg.Subject, m.HTML)
		}
		if got := e.mp.Headers(t, msg.ID)["List-Unsubscribe"]; len(got) != 1 || got[0] != "<https://acme.example.com/en-US/users/profile/u1>" {
			t.Errorf("%s: List-Unsubscribe %q", msg.Subject, got)
		}
		if !strings.HasSuffix(msg.MessageID, "@acme.example.com") {
			t.Errorf("%s: Message-ID %q, want one at the tenant's host", msg.Subject, msg.MessageID)
		}
		if strings.HasPrefix(msg.Subject, "TestPlanIt: ") && !strings.Contains(m.HTML, `href="https://acme.example.com/en-US/projects/sessions/3/9"`) {
			t.Errorf("deep link not under the tenant's base URL:\n%s", m.HTML)
		}
	}
	want := []string{"acme:digest:u1:2026-11-26", "acme:notification:" + nid}
	if got := e.ledgerKeys(t); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("ledger keys %v, want %v", got, want)
	}

	// Another tenant whose database shares the worker schema (here: the
	// same database) and has a notification with the same id: its email is
	// its own delivery, not taken for acme's.
	beta := worker.WithTenant(context.Background(), &tenant.Tenant{ID: "beta", DB: e.db, BaseURL: "https://beta.example.com"})
	if err := e.h.SendNotificationEmail(beta, task.SendNotificationEmail{NotificationID: nid, UserID: "u1", TenantID: "beta"}); err != nil {
		t.Fatal(err)
	}
	if n := e.mp.Count(); n != 3 {
		t.Errorf("%d messages, want 3: beta's email was taken for acme's", n)
	}
	if got := e.ledgerKeys(t); len(got) != 3 || got[2] != "beta:notification:"+nid {
		t.Errorf("ledger keys %v, want beta's added", got)
	}
}
