package task_test

import (
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/pkg/task"
)

// TestAuditActionsMatchEnum holds AuditActions to the "AuditAction" enum of
// the migrations, in its order.
func TestAuditActionsMatchEnum(t *testing.T) {
	b, err := os.ReadFile("../../internal/postgres/migrations/testplanit/00001_enums.sql")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`CREATE TYPE "AuditAction" AS ENUM \(([^)]*)\)`).FindSubmatch(b)
	if m == nil {
		t.Fatal(`no "AuditAction" enum in the migration`)
	}
	var want []task.AuditAction
	for _, l := range strings.Split(string(m[1]), ",") {
		want = append(want, task.AuditAction(strings.Trim(strings.TrimSpace(l), "'")))
	}
	if diff := cmp.Diff(want, task.AuditActions()); diff != "" {
		t.Errorf("AuditActions() mismatch with the enum (-want +got):\n%s", diff)
	}
	if len(want) != 25 {
		t.Errorf("%d actions, want 25", len(want))
	}
	for _, a := range want {
		if !a.Valid() {
			t.Errorf("%s not Valid", a)
		}
	}
	if task.AuditAction("create").Valid() {
		t.Error(`"create" is Valid`)
	}
}

// TestAuditEventPayloads decodes the original's AuditLogJobData as
// captureAuditEvent sends it, and refuses what the worker cannot store.
func TestAuditEventPayloads(t *testing.T) {
	three := 3
	valid := []struct {
		name, payload string
		want          task.AuditLog
	}{
		{
			"full",
			`{"event":{"action":"UPDATE","entityType":"RepositoryCases","entityId":"12","entityName":"Login works",` +
				`"changes":{"name":{"old":"a","new":"b"},"password":{"old":"[REDACTED]","new":"[REDACTED]"}},"projectId":3,` +
				`"userId":"u1","userEmail":"a@example.com","userName":"Ann","metadata":{"source":"api","big":12345678901234567890}},` +
				`"context":{"ipAddress":"10.0.0.1","userAgent":"curl/8","requestId":"r1","userId":"u2","userEmail":"b@example.com","userName":"Bob"},` +
				`"queuedAt":"2025-03-04T05:06:07.008Z","tenantId":"acme"}`,
			task.AuditLog{
				Event: task.AuditEvent{
					Action: task.AuditUpdate, EntityType: "RepositoryCases", EntityID: "12", EntityName: "Login works",
					Changes:   json.RawMessage(`{"name":{"old":"a","new":"b"},"password":{"old":"[REDACTED]","new":"[REDACTED]"}}`),
					ProjectID: &three, UserID: "u1", UserEmail: "a@example.com", UserName: "Ann",
					Metadata: json.RawMessage(`{"source":"api","big":12345678901234567890}`),
				},
				Context:  &task.AuditContext{IPAddress: "10.0.0.1", UserAgent: "curl/8", RequestID: "r1", UserID: "u2", UserEmail: "b@example.com", UserName: "Bob"},
				QueuedAt: "2025-03-04T05:06:07.008Z", TenantID: "acme",
			},
		},
		{
			"null context, null changes and metadata",
			`{"event":{"action":"LOGIN","entityType":"User","entityId":"u1","changes":null,"metadata":null},"context":null,"queuedAt":"2025-03-04T05:06:07+02:00"}`,
			task.AuditLog{Event: task.AuditEvent{Action: task.AuditLogin, EntityType: "User", EntityID: "u1"}, QueuedAt: "2025-03-04T05:06:07+02:00"},
		},
		{
			"entityType of 100 characters",
			`{"event":{"action":"DELETE","entityType":"` + strings.Repeat("é", 100) + `","entityId":"1"},"queuedAt":"2025-03-04T05:06:07Z"}`,
			task.AuditLog{Event: task.AuditEvent{Action: task.AuditDelete, EntityType: strings.Repeat("é", 100), EntityID: "1"}, QueuedAt: "2025-03-04T05:06:07Z"},
		},
	}
	for _, tt := range valid {
		t.Run(tt.name, func(t *testing.T) {
			got, err := task.Decode[task.AuditLog](asynq.NewTask(task.TypeAuditEvent, []byte(tt.payload)))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decode mismatch (-want +got):\n%s", diff)
			}
			tk, err := task.NewAuditEvent(got)
			if err != nil {
				t.Fatalf("NewAuditEvent: %v", err)
			}
			again, err := task.Decode[task.AuditLog](tk)
			if err != nil {
				t.Fatalf("Decode after NewAuditEvent: %v", err)
			}
			if diff := cmp.Diff(tt.want, again); diff != "" {
				t.Errorf("round trip mismatch (-want +got):\n%s", diff)
			}
		})
	}

	const prefix = "audit-logs:audit-event: invalid payload: "
	invalid := []struct{ name, payload, want string }{
		{"empty", `{}`, "event.action: required"},
		{"unknown action", `{"event":{"action":"login","entityType":"User","entityId":"u1"},"queuedAt":"2025-03-04T05:06:07Z"}`, `event.action: unknown audit action "login"`},
		{"no entity type", `{"event":{"action":"LOGIN","entityId":"u1"},"queuedAt":"2025-03-04T05:06:07Z"}`, "event.entityType: required"},
		{"entity type too long", `{"event":{"action":"LOGIN","entityType":"` + strings.Repeat("x", 101) + `","entityId":"u1"},"queuedAt":"2025-03-04T05:06:07Z"}`, "event.entityType: at most 100 characters, got 101"},
		{"no entity id", `{"event":{"action":"LOGIN","entityType":"User","entityId":" "},"queuedAt":"2025-03-04T05:06:07Z"}`, "event.entityId: required"},
		{"entity id number", `{"event":{"action":"LOGIN","entityType":"User","entityId":1},"queuedAt":"2025-03-04T05:06:07Z"}`, "event.entityId: must be a string, got number"},
		{"changes array", `{"event":{"action":"UPDATE","entityType":"User","entityId":"u1","changes":[1]},"queuedAt":"2025-03-04T05:06:07Z"}`, "event.changes: must be a JSON object, got array"},
		{"metadata string", `{"event":{"action":"UPDATE","entityType":"User","entityId":"u1","metadata":"x"},"queuedAt":"2025-03-04T05:06:07Z"}`, "event.metadata: must be a JSON object, got string"},
		{"metadata NUL", `{"event":{"action":"UPDATE","entityType":"User","entityId":"u1","metadata":{"a":"\u0000"}},"queuedAt":"2025-03-04T05:06:07Z"}`, `event.metadata: contains the escape \u0000 (NUL) at offset 6, which PostgreSQL jsonb cannot store`},
		{"project zero", `{"event":{"action":"UPDATE","entityType":"User","entityId":"u1","projectId":0},"queuedAt":"2025-03-04T05:06:07Z"}`, "event.projectId: must be a positive integer, got 0"},
		{"project string", `{"event":{"action":"UPDATE","entityType":"User","entityId":"u1","projectId":"3"},"queuedAt":"2025-03-04T05:06:07Z"}`, "event.projectId: must be an integer, got string"},
		{"no queuedAt", `{"event":{"action":"UPDATE","entityType":"User","entityId":"u1"}}`, "queuedAt: required"},
		{"queuedAt not RFC 3339", `{"event":{"action":"UPDATE","entityType":"User","entityId":"u1"},"queuedAt":"Tue Mar 04 2025"}`, `queuedAt: must be an RFC 3339 timestamp, got "Tue Mar 04 2025"`},
		{"context NUL", `{"event":{"action":"UPDATE","entityType":"User","entityId":"u1"},"context":{"userAgent":"a\u0000"},"queuedAt":"2025-03-04T05:06:07Z"}`, `context.userAgent: must not contain NUL (\u0000): PostgreSQL cannot store it`},
		{"context array", `{"event":{"action":"UPDATE","entityType":"User","entityId":"u1"},"context":[],"queuedAt":"2025-03-04T05:06:07Z"}`, "context: must be an object, got array"},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			_, err := task.Decode[task.AuditLog](asynq.NewTask(task.TypeAuditEvent, []byte(tt.payload)))
			if err == nil || err.Error() != prefix+tt.want {
				t.Fatalf("error\n got %v\nwant %s", err, prefix+tt.want)
			}
			if !errors.Is(err, task.ErrInvalidPayload) || !errors.Is(err, asynq.SkipRetry) {
				t.Errorf("%v does not wrap ErrInvalidPayload and SkipRetry", err)
			}
		})
	}
}

func TestNewAuditEvent(t *testing.T) {
	p := task.AuditLog{
		Event:    task.AuditEvent{Action: task.AuditCreate, EntityType: "Projects", EntityID: "7", Metadata: json.RawMessage(`null`)},
		QueuedAt: "2025-03-04T05:06:07.008Z",
	}
	tk, err := task.NewAuditEvent(p, asynq.TaskID("create-Projects-7-1741064767008"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"event":{"action":"CREATE","entityType":"Projects","entityId":"7"},"context":null,"queuedAt":"2025-03-04T05:06:07.008Z"}`
	if string(tk.Payload()) != want {
		t.Errorf("payload\n got %s\nwant %s", tk.Payload(), want)
	}
	if tk.Type() != task.TypeAuditEvent {
		t.Errorf("type %q", tk.Type())
	}
	if _, err := task.NewAuditEvent(task.AuditLog{QueuedAt: "2025-03-04T05:06:07Z"}); err == nil {
		t.Error("NewAuditEvent accepted an event without action")
	}
}
