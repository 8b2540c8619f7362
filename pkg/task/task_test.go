package task_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/pkg/task"
)

const day = 24 * time.Hour

// decoderFor returns the public Decode instantiated for a task type's payload,
// as a worker would call it.
func decoderFor(taskType string) func(*asynq.Task) (any, error) {
	wrap := func(p any, err error) (any, error) {
		if err != nil {
			return nil, err
		}
		return p, nil
	}
	switch taskType {
	case task.TypeCreateNotification:
		return func(t *asynq.Task) (any, error) { return wrap(task.Decode[task.CreateNotification](t)) }
	case task.TypeSendDailyDigest:
		return func(t *asynq.Task) (any, error) { return wrap(task.Decode[task.SendDailyDigest](t)) }
	case task.TypeSendNotificationEmail:
		return func(t *asynq.Task) (any, error) { return wrap(task.Decode[task.SendNotificationEmail](t)) }
	case task.TypeSendDigestEmail:
		return func(t *asynq.Task) (any, error) { return wrap(task.Decode[task.SendDigestEmail](t)) }
	case task.TypeUpdateSingleCaseForecast:
		return func(t *asynq.Task) (any, error) { return wrap(task.Decode[task.UpdateSingleCaseForecast](t)) }
	case task.TypeUpdateAllCasesForecast:
		return func(t *asynq.Task) (any, error) { return wrap(task.Decode[task.UpdateAllCasesForecast](t)) }
	case task.TypeAutoCompleteMilestones:
		return func(t *asynq.Task) (any, error) { return wrap(task.Decode[task.AutoCompleteMilestones](t)) }
	case task.TypeMilestoneDueNotifications:
		return func(t *asynq.Task) (any, error) { return wrap(task.Decode[task.MilestoneDueNotifications](t)) }
	case task.TypeSyncIssues, task.TypeSyncProjectIssues, task.TypeRefreshIssue:
		return func(t *asynq.Task) (any, error) { return wrap(task.Decode[task.SyncJob](t)) }
	case task.TypeProcessTestmoImport:
		return func(t *asynq.Task) (any, error) { return wrap(task.Decode[task.ProcessTestmoImport](t)) }
	case task.TypeReindex:
		return func(t *asynq.Task) (any, error) { return wrap(task.Decode[task.Reindex](t)) }
	case task.TypeAuditEvent:
		return func(t *asynq.Task) (any, error) { return wrap(task.Decode[task.AuditLog](t)) }
	}
	return nil
}

func TestQueues(t *testing.T) {
	want := []task.QueueSpec{
		{Name: "notifications", ConcurrencyEnv: "NOTIFICATION_CONCURRENCY", DefaultConcurrency: 5, BaseBackoff: 5 * time.Second, MaxBackoff: time.Hour, Retention: 7 * day},
		{Name: "emails", ConcurrencyEnv: "EMAIL_CONCURRENCY", DefaultConcurrency: 3, BaseBackoff: 10 * time.Second, MaxBackoff: time.Hour, Retention: 30 * day},
		{Name: "forecast-updates", ConcurrencyEnv: "FORECAST_CONCURRENCY", DefaultConcurrency: 5, BaseBackoff: 5 * time.Second, MaxBackoff: time.Hour, Retention: 7 * day},
		{Name: "issue-sync", ConcurrencyEnv: "SYNC_CONCURRENCY", DefaultConcurrency: 2, BaseBackoff: 5 * time.Second, MaxBackoff: time.Hour, Retention: 3 * day},
		{Name: "testmo-imports", ConcurrencyEnv: "TESTMO_IMPORT_CONCURRENCY", DefaultConcurrency: 1, BaseBackoff: 10 * time.Second, MaxBackoff: 10 * time.Minute, Retention: 30 * day},
		{Name: "elasticsearch-reindex", ConcurrencyEnv: "ELASTICSEARCH_REINDEX_CONCURRENCY", DefaultConcurrency: 2, BaseBackoff: 10 * time.Second, MaxBackoff: 10 * time.Minute, Retention: 7 * day},
		{Name: "audit-logs", ConcurrencyEnv: "AUDIT_LOG_CONCURRENCY", DefaultConcurrency: 3, BaseBackoff: 5 * time.Second, MaxBackoff: time.Hour, Retention: 365 * day},
	}
	got := task.Queues()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Queues() mismatch (-want +got):\n%s", diff)
	}
	got[0].Name = "changed"
	if task.Queues()[0].Name != task.QueueNotifications {
		t.Error("Queues() returned a shared slice")
	}
	for _, q := range want {
		got, ok := task.LookupQueue(q.Name)
		if !ok || got != q {
			t.Errorf("LookupQueue(%q) = %+v, %v; want %+v, true", q.Name, got, ok, q)
		}
	}
	if _, ok := task.LookupQueue("audit-log"); ok {
		t.Error(`LookupQueue("audit-log") found a queue`)
	}
}

func TestTypes(t *testing.T) {
	want := []string{
		"audit-logs:audit-event",
		"elasticsearch-reindex:reindex",
		"emails:send-digest-email",
		"emails:send-notification-email",
		"forecast-updates:auto-complete-milestones",
		"forecast-updates:milestone-due-notifications",
		"forecast-updates:update-all-cases-forecast",
		"forecast-updates:update-single-case-forecast",
		"issue-sync:refresh-issue",
		"issue-sync:sync-issues",
		"issue-sync:sync-project-issues",
		"notifications:create-notification",
		"notifications:send-daily-digest",
		"testmo-imports:process-testmo-import",
	}
	got := task.Types()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Types() mismatch (-want +got):\n%s", diff)
	}
	for _, typ := range got {
		q, ok := task.QueueOf(typ)
		if !ok || !strings.HasPrefix(typ, q+":") {
			t.Errorf("QueueOf(%q) = %q, %v; want the type's prefix", typ, q, ok)
		}
		if _, ok := task.LookupQueue(q); !ok {
			t.Errorf("type %q: queue %q is not in Queues()", typ, q)
		}
		if decoderFor(typ) == nil {
			t.Errorf("type %q has no decoder in this test", typ)
		}
	}
	for _, typ := range []string{"", "notifications", "notifications:process-user-notifications", "audit-logs:audit-events", "emails:send-notification-email "} {
		if q, ok := task.QueueOf(typ); ok {
			t.Errorf("QueueOf(%q) = %q, true; want false", typ, q)
		}
	}
	for _, q := range task.Queues() {
		n := 0
		for _, typ := range got {
			if qq, _ := task.QueueOf(typ); qq == q.Name {
				n++
			}
		}
		if n == 0 {
			t.Errorf("queue %q has no task type", q.Name)
		}
	}
}

func TestDefaultOptions(t *testing.T) {
	tests := []struct {
		taskType string
		want     task.Options
	}{
		{task.TypeCreateNotification, task.Options{Queue: "notifications", MaxRetry: 11, Timeout: time.Minute, Retention: 7 * day}},
		{task.TypeSendDailyDigest, task.Options{Queue: "notifications", MaxRetry: 11, Timeout: 30 * time.Minute, Retention: 7 * day}},
		{task.TypeSendNotificationEmail, task.Options{Queue: "emails", MaxRetry: 11, Timeout: 2 * time.Minute, Retention: 30 * day}},
		{task.TypeSendDigestEmail, task.Options{Queue: "emails", MaxRetry: 11, Timeout: 2 * time.Minute, Retention: 30 * day}},
		{task.TypeUpdateSingleCaseForecast, task.Options{Queue: "forecast-updates", MaxRetry: 11, Timeout: 5 * time.Minute, Retention: 7 * day}},
		{task.TypeUpdateAllCasesForecast, task.Options{Queue: "forecast-updates", MaxRetry: 11, Timeout: 2 * time.Hour, Retention: 7 * day}},
		{task.TypeAutoCompleteMilestones, task.Options{Queue: "forecast-updates", MaxRetry: 11, Timeout: 15 * time.Minute, Retention: 7 * day}},
		{task.TypeMilestoneDueNotifications, task.Options{Queue: "forecast-updates", MaxRetry: 11, Timeout: 15 * time.Minute, Retention: 7 * day}},
		{task.TypeSyncIssues, task.Options{Queue: "issue-sync", MaxRetry: 11, Timeout: 6 * time.Hour, Retention: 3 * day}},
		{task.TypeSyncProjectIssues, task.Options{Queue: "issue-sync", MaxRetry: 11, Timeout: 6 * time.Hour, Retention: 3 * day}},
		{task.TypeRefreshIssue, task.Options{Queue: "issue-sync", MaxRetry: 11, Timeout: 5 * time.Minute, Retention: 3 * day}},
		{task.TypeProcessTestmoImport, task.Options{Queue: "testmo-imports", MaxRetry: 5, Timeout: 12 * time.Hour, Retention: 30 * day}},
		{task.TypeReindex, task.Options{Queue: "elasticsearch-reindex", MaxRetry: 0, Timeout: 6 * time.Hour, Retention: 7 * day}},
		{task.TypeAuditEvent, task.Options{Queue: "audit-logs", MaxRetry: 2, Timeout: time.Minute, Retention: 365 * day}},
	}
	if len(tests) != len(task.Types()) {
		t.Fatalf("table covers %d types, package has %d", len(tests), len(task.Types()))
	}
	for _, tt := range tests {
		t.Run(tt.taskType, func(t *testing.T) {
			got, err := task.DefaultOptions(tt.taskType, nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("DefaultOptions mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOptionsAsynqOptions(t *testing.T) {
	o := task.Options{Queue: "emails", MaxRetry: 4, Timeout: 2 * time.Minute, Retention: 30 * day, TaskID: "email:notification:n1"}
	var got []string
	for _, opt := range o.AsynqOptions() {
		got = append(got, opt.String())
	}
	want := []string{`Queue("emails")`, "MaxRetry(5)", "Timeout(2m0s)", "Retention(720h0m0s)", `TaskID("email:notification:n1")`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AsynqOptions mismatch (-want +got):\n%s", diff)
	}
	o.TaskID = ""
	if n := len(o.AsynqOptions()); n != 4 {
		t.Errorf("without TaskID: %d options, want 4", n)
	}
}

func TestDefaultOptionsErrors(t *testing.T) {
	_, err := task.DefaultOptions("emails:nope", nil)
	if !errors.Is(err, task.ErrUnknownType) {
		t.Errorf("unknown type: err = %v, want ErrUnknownType", err)
	}
	_, err = task.DefaultOptions(task.TypeReindex, task.SendNotificationEmail{NotificationID: "n1", UserID: "u1"})
	if err == nil || !strings.Contains(err.Error(), "takes a task.Reindex payload, not task.SendNotificationEmail") {
		t.Errorf("mismatched payload: err = %v", err)
	}
	var nilPtr *task.SendNotificationEmail
	if _, err := task.DefaultOptions(task.TypeSendNotificationEmail, nilPtr); err == nil {
		t.Error("nil pointer payload: no error")
	}
	got, err := task.DefaultOptions(task.TypeSendNotificationEmail, &task.SendNotificationEmail{NotificationID: "n1", UserID: "u1"})
	if err != nil || got.TaskID != "email:notification:n1" {
		t.Errorf("pointer payload: %+v, %v", got, err)
	}
}

func TestRoundTrip(t *testing.T) {
	opts := func(taskType, id string) task.Options {
		o, err := task.DefaultOptions(taskType, nil)
		if err != nil {
			t.Fatal(err)
		}
		o.TaskID = id
		return o
	}
	created := time.Date(2025, 3, 4, 5, 6, 7, 8_000_000, time.UTC)
	seven := 7
	tests := []struct {
		name     string
		taskType string
		build    func() (*asynq.Task, error)
		want     any // what Decode returns
		wantOpts task.Options
	}{
		{
			name:     "create notification, all fields",
			taskType: task.TypeCreateNotification,
			build: func() (*asynq.Task, error) {
				return task.NewCreateNotification(task.CreateNotification{
					UserID: "u1", Type: task.NotificationTypeMilestoneDueReminder, Title: "Milestone Due Soon", Message: "Due on 3/4/2025",
					RelatedEntityID: "12", RelatedEntityType: "Milestone", Data: json.RawMessage(`{"milestoneId":12,"isOverdue":false}`), TenantID: "acme",
				})
			},
			want: task.CreateNotification{
				UserID: "u1", Type: task.NotificationTypeMilestoneDueReminder, Title: "Milestone Due Soon", Message: "Due on 3/4/2025",
				RelatedEntityID: "12", RelatedEntityType: "Milestone", Data: json.RawMessage(`{"milestoneId":12,"isOverdue":false}`), TenantID: "acme",
			},
			wantOpts: opts(task.TypeCreateNotification, ""),
		},
		{
			name:     "create notification, minimal",
			taskType: task.TypeCreateNotification,
			build: func() (*asynq.Task, error) {
				return task.NewCreateNotification(task.CreateNotification{UserID: "u1", Type: task.NotificationTypeUserRegistered, Title: "New user"})
			},
			want:     task.CreateNotification{UserID: "u1", Type: task.NotificationTypeUserRegistered, Title: "New user"},
			wantOpts: opts(task.TypeCreateNotification, ""),
		},
		{
			name:     "daily digest sweep",
			taskType: task.TypeSendDailyDigest,
			build:    func() (*asynq.Task, error) { return task.NewSendDailyDigest(task.SendDailyDigest{TenantID: "acme"}) },
			want:     task.SendDailyDigest{TenantID: "acme"},
			wantOpts: opts(task.TypeSendDailyDigest, ""),
		},
		{
			name:     "notification email",
			taskType: task.TypeSendNotificationEmail,
			build: func() (*asynq.Task, error) {
				return task.NewSendNotificationEmail(task.SendNotificationEmail{NotificationID: "n1", UserID: "u1", Immediate: true})
			},
			want:     task.SendNotificationEmail{NotificationID: "n1", UserID: "u1", Immediate: true},
			wantOpts: opts(task.TypeSendNotificationEmail, "email:notification:n1"),
		},
		{
			name:     "notification email with tenant",
			taskType: task.TypeSendNotificationEmail,
			build: func() (*asynq.Task, error) {
				return task.NewSendNotificationEmail(task.SendNotificationEmail{NotificationID: "n1", UserID: "u1", TenantID: "acme"})
			},
			want:     task.SendNotificationEmail{NotificationID: "n1", UserID: "u1", TenantID: "acme"},
			wantOpts: opts(task.TypeSendNotificationEmail, "acme:email:notification:n1"),
		},
		{
			name:     "digest email, original shape",
			taskType: task.TypeSendDigestEmail,
			build: func() (*asynq.Task, error) {
				return task.NewSendDigestEmail(task.SendDigestEmail{UserID: "u1", Notifications: []task.DigestItem{
					{ID: "n1", Title: "T", Message: "M", CreatedAt: created},
					{ID: "n2", Title: "T2", CreatedAt: created, URL: "https://example.com/x"},
				}})
			},
			want: task.SendDigestEmail{UserID: "u1", Notifications: []task.DigestItem{
				{ID: "n1", Title: "T", Message: "M", CreatedAt: created},
				{ID: "n2", Title: "T2", CreatedAt: created, URL: "https://example.com/x"},
			}},
			wantOpts: opts(task.TypeSendDigestEmail, ""),
		},
		{
			name:     "digest email, ids and day",
			taskType: task.TypeSendDigestEmail,
			build: func() (*asynq.Task, error) {
				return task.NewSendDigestEmail(task.SendDigestEmail{UserID: "u1", NotificationIDs: []string{"n1", "n2"}, Day: "2025-03-04"})
			},
			want:     task.SendDigestEmail{UserID: "u1", NotificationIDs: []string{"n1", "n2"}, Day: "2025-03-04"},
			wantOpts: opts(task.TypeSendDigestEmail, "digest:u1:2025-03-04"),
		},
		{
			name:     "single case forecast",
			taskType: task.TypeUpdateSingleCaseForecast,
			build: func() (*asynq.Task, error) {
				return task.NewUpdateSingleCaseForecast(task.UpdateSingleCaseForecast{RepositoryCaseID: 42})
			},
			want:     task.UpdateSingleCaseForecast{RepositoryCaseID: 42},
			wantOpts: opts(task.TypeUpdateSingleCaseForecast, ""),
		},
		{
			name:     "all cases forecast",
			taskType: task.TypeUpdateAllCasesForecast,
			build:    func() (*asynq.Task, error) { return task.NewUpdateAllCasesForecast(task.UpdateAllCasesForecast{}) },
			want:     task.UpdateAllCasesForecast{},
			wantOpts: opts(task.TypeUpdateAllCasesForecast, ""),
		},
		{
			name:     "auto-complete milestones",
			taskType: task.TypeAutoCompleteMilestones,
			build: func() (*asynq.Task, error) {
				return task.NewAutoCompleteMilestones(task.AutoCompleteMilestones{TenantID: "t1"})
			},
			want:     task.AutoCompleteMilestones{TenantID: "t1"},
			wantOpts: opts(task.TypeAutoCompleteMilestones, ""),
		},
		{
			name:     "milestone due notifications",
			taskType: task.TypeMilestoneDueNotifications,
			build: func() (*asynq.Task, error) {
				return task.NewMilestoneDueNotifications(task.MilestoneDueNotifications{})
			},
			want:     task.MilestoneDueNotifications{},
			wantOpts: opts(task.TypeMilestoneDueNotifications, ""),
		},
		{
			name:     "sync issues fills action",
			taskType: task.TypeSyncIssues,
			build: func() (*asynq.Task, error) {
				return task.NewSyncIssues(task.SyncJob{UserID: "u1", IntegrationID: 3, Data: json.RawMessage(`{"forceRefresh":true}`)})
			},
			want:     task.SyncJob{UserID: "u1", IntegrationID: 3, Action: "sync", Data: json.RawMessage(`{"forceRefresh":true}`)},
			wantOpts: opts(task.TypeSyncIssues, ""),
		},
		{
			name:     "sync project issues",
			taskType: task.TypeSyncProjectIssues,
			build: func() (*asynq.Task, error) {
				return task.NewSyncProjectIssues(task.SyncJob{UserID: "u1", IntegrationID: 3, ProjectID: "17", TenantID: "acme"})
			},
			want:     task.SyncJob{UserID: "u1", IntegrationID: 3, ProjectID: "17", Action: "sync", TenantID: "acme"},
			wantOpts: opts(task.TypeSyncProjectIssues, ""),
		},
		{
			name:     "refresh issue keeps a given action",
			taskType: task.TypeRefreshIssue,
			build: func() (*asynq.Task, error) {
				return task.NewRefreshIssue(task.SyncJob{UserID: "u1", IntegrationID: 3, IssueID: "PROJ-12", Action: "update"})
			},
			want:     task.SyncJob{UserID: "u1", IntegrationID: 3, IssueID: "PROJ-12", Action: "update"},
			wantOpts: opts(task.TypeRefreshIssue, ""),
		},
		{
			name:     "refresh issue fills action",
			taskType: task.TypeRefreshIssue,
			build: func() (*asynq.Task, error) {
				return task.NewRefreshIssue(task.SyncJob{UserID: "u1", IntegrationID: 3, IssueID: "42"})
			},
			want:     task.SyncJob{UserID: "u1", IntegrationID: 3, IssueID: "42", Action: "refresh"},
			wantOpts: opts(task.TypeRefreshIssue, ""),
		},
		{
			name:     "testmo analyze by default",
			taskType: task.TypeProcessTestmoImport,
			build: func() (*asynq.Task, error) {
				return task.NewProcessTestmoImport(task.ProcessTestmoImport{JobID: "ckjob1"})
			},
			want:     task.ProcessTestmoImport{JobID: "ckjob1"},
			wantOpts: opts(task.TypeProcessTestmoImport, "testmo:ckjob1:analyze"),
		},
		{
			name:     "testmo import",
			taskType: task.TypeProcessTestmoImport,
			build: func() (*asynq.Task, error) {
				return task.NewProcessTestmoImport(task.ProcessTestmoImport{JobID: "ckjob1", Mode: task.TestmoModeImport, TenantID: "acme"})
			},
			want:     task.ProcessTestmoImport{JobID: "ckjob1", Mode: "import", TenantID: "acme"},
			wantOpts: opts(task.TypeProcessTestmoImport, "acme:testmo:ckjob1:import"),
		},
		{
			name:     "reindex one project",
			taskType: task.TypeReindex,
			build: func() (*asynq.Task, error) {
				return task.NewReindex(task.Reindex{EntityType: task.EntityRepositoryCases, ProjectID: &seven, UserID: "u1"})
			},
			want:     task.Reindex{EntityType: "repositoryCases", ProjectID: &seven, UserID: "u1"},
			wantOpts: opts(task.TypeReindex, ""),
		},
		{
			name:     "reindex after import",
			taskType: task.TypeReindex,
			build: func() (*asynq.Task, error) {
				return task.NewReindex(task.Reindex{EntityType: task.EntityAll, UserID: "u1", ImportJobID: "ckjob1"})
			},
			want:     task.Reindex{EntityType: "all", UserID: "u1", ImportJobID: "ckjob1"},
			wantOpts: opts(task.TypeReindex, "reindex:after-import:ckjob1"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk, err := tt.build()
			if err != nil {
				t.Fatalf("constructor: %v", err)
			}
			if tk.Type() != tt.taskType {
				t.Fatalf("Type() = %q, want %q", tk.Type(), tt.taskType)
			}
			decode := decoderFor(tt.taskType)
			got, err := decode(tk)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decode mismatch (-want +got):\n%s", diff)
			}
			gotOpts, err := task.DefaultOptions(tt.taskType, got.(task.Payload))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantOpts, gotOpts); diff != "" {
				t.Errorf("DefaultOptions mismatch (-want +got):\n%s", diff)
			}

			// The same JSON through New, as the CLI and the HTTP API send it.
			viaNew, err := task.New(tt.taskType, tk.Payload())
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if string(viaNew.Payload()) != string(tk.Payload()) {
				t.Errorf("New changed the payload: %s, want %s", viaNew.Payload(), tk.Payload())
			}
			got2, err := decode(viaNew)
			if err != nil {
				t.Fatalf("Decode after New: %v", err)
			}
			if diff := cmp.Diff(tt.want, got2); diff != "" {
				t.Errorf("Decode after New mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOriginalPayloads feeds JSON as the original TypeScript producers send it.
func TestOriginalPayloads(t *testing.T) {
	tests := []struct {
		taskType string
		payload  string
		want     any
	}{
		{
			task.TypeSendDigestEmail,
			`{"userId":"u1","notifications":[{"id":"n1","title":"T","message":"M","createdAt":"2025-03-04T05:06:07.008Z"}],"tenantId":"acme"}`,
			task.SendDigestEmail{UserID: "u1", TenantID: "acme", Notifications: []task.DigestItem{
				{ID: "n1", Title: "T", Message: "M", CreatedAt: time.Date(2025, 3, 4, 5, 6, 7, 8_000_000, time.UTC)},
			}},
		},
		{
			task.TypeCreateNotification,
			`{"userId":"u1","type":"WORK_ASSIGNED","title":"t","message":"m","data":null,"someNewField":[1,2]}`,
			task.CreateNotification{UserID: "u1", Type: task.NotificationTypeWorkAssigned, Title: "t", Message: "m"},
		},
		{
			task.TypeSendNotificationEmail,
			`{"notificationId":"n1","userId":"u1","immediate":true}`,
			task.SendNotificationEmail{NotificationID: "n1", UserID: "u1", Immediate: true},
		},
		{task.TypeUpdateAllCasesForecast, ``, task.UpdateAllCasesForecast{}},
		{task.TypeUpdateAllCasesForecast, `  null `, task.UpdateAllCasesForecast{}},
		{task.TypeSendDailyDigest, `{}`, task.SendDailyDigest{}},
		{
			task.TypeSyncIssues,
			`{"userId":"u1","integrationId":2,"action":"sync","data":{"forceRefresh":true},"tenantId":"acme"}`,
			task.SyncJob{UserID: "u1", IntegrationID: 2, Action: "sync", Data: json.RawMessage(`{"forceRefresh":true}`), TenantID: "acme"},
		},
		{
			task.TypeRefreshIssue,
			`{"userId":"u1","integrationId":2,"issueId":"PROJ-1","action":"refresh","data":null}`,
			task.SyncJob{UserID: "u1", IntegrationID: 2, IssueID: "PROJ-1", Action: "refresh"},
		},
		{task.TypeProcessTestmoImport, `{"jobId":"ck1","mode":"analyze"}`, task.ProcessTestmoImport{JobID: "ck1", Mode: "analyze"}},
		{task.TypeReindex, `{"entityType":"all","userId":"u1"}`, task.Reindex{EntityType: "all", UserID: "u1"}},
		{task.TypeReindex, `{"userId":"u1"}`, task.Reindex{UserID: "u1"}},
	}
	for _, tt := range tests {
		t.Run(tt.taskType, func(t *testing.T) {
			tk, err := task.New(tt.taskType, []byte(tt.payload))
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			got, err := decoderFor(tt.taskType)(tk)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decode mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInvalidPayloads(t *testing.T) {
	tests := []struct {
		name     string
		taskType string
		payload  string
		want     string // the whole error message
	}{
		// Document-level problems, the same for every type.
		{"malformed", task.TypeSendNotificationEmail, `{"notificationId":`, `emails:send-notification-email: invalid payload: malformed JSON at offset 18: unexpected end of JSON input`},
		{"trailing garbage", task.TypeSendNotificationEmail, `{} x`, `emails:send-notification-email: invalid payload: malformed JSON at offset 4: invalid character 'x' after top-level value`},
		{"array", task.TypeUpdateAllCasesForecast, `[]`, `forecast-updates:update-all-cases-forecast: invalid payload: must be a JSON object, got array`},
		{"string", task.TypeReindex, `"all"`, `elasticsearch-reindex:reindex: invalid payload: must be a JSON object, got string`},
		{"tenant not a string", task.TypeSendDailyDigest, `{"tenantId":5}`, `notifications:send-daily-digest: invalid payload: tenantId: must be a string, got number`},
		{"NUL in tenant", task.TypeMilestoneDueNotifications, `{"tenantId":"a\u0000"}`, `forecast-updates:milestone-due-notifications: invalid payload: tenantId: must not contain NUL (\u0000): PostgreSQL cannot store it`},
		{"auto-complete tenant", task.TypeAutoCompleteMilestones, `{"tenantId":true}`, `forecast-updates:auto-complete-milestones: invalid payload: tenantId: must be a string, got bool`},

		// create-notification
		{"notification empty", task.TypeCreateNotification, `{}`, `notifications:create-notification: invalid payload: userId: required`},
		{"notification blank user", task.TypeCreateNotification, `{"userId":"  ","type":"WORK_ASSIGNED","title":"t"}`, `notifications:create-notification: invalid payload: userId: required`},
		{"notification no type", task.TypeCreateNotification, `{"userId":"u","title":"t"}`, `notifications:create-notification: invalid payload: type: required`},
		{"notification bad type", task.TypeCreateNotification, `{"userId":"u","type":"work_assigned","title":"t"}`, `notifications:create-notification: invalid payload: type: unknown notification type "work_assigned"`},
		{"notification no title", task.TypeCreateNotification, `{"userId":"u","type":"WORK_ASSIGNED","message":"m"}`, `notifications:create-notification: invalid payload: title: required`},
		{"notification data array", task.TypeCreateNotification, `{"userId":"u","type":"WORK_ASSIGNED","title":"t","data":[1]}`, `notifications:create-notification: invalid payload: data: must be a JSON object, got array`},
		{"notification data string", task.TypeCreateNotification, `{"userId":"u","type":"WORK_ASSIGNED","title":"t","data":"x"}`, `notifications:create-notification: invalid payload: data: must be a JSON object, got string`},
		{"notification data NUL", task.TypeCreateNotification, `{"userId":"u","type":"WORK_ASSIGNED","title":"t","data":{"a":"\u0000"}}`, `notifications:create-notification: invalid payload: data: contains the escape \u0000 (NUL) at offset 6, which PostgreSQL jsonb cannot store`},
		{"notification data surrogate", task.TypeCreateNotification, `{"userId":"u","type":"WORK_ASSIGNED","title":"t","data":{"a":"\ud800x"}}`, `notifications:create-notification: invalid payload: data: contains an unpaired surrogate escape at offset 6, which PostgreSQL jsonb cannot store`},
		{"notification title NUL", task.TypeCreateNotification, `{"userId":"u","type":"WORK_ASSIGNED","title":"a\u0000b"}`, `notifications:create-notification: invalid payload: title: must not contain NUL (\u0000): PostgreSQL cannot store it`},
		{"notification user number", task.TypeCreateNotification, `{"userId":7,"type":"WORK_ASSIGNED","title":"t"}`, `notifications:create-notification: invalid payload: userId: must be a string, got number`},

		// send-notification-email
		{"email no notification", task.TypeSendNotificationEmail, `{"userId":"u1","immediate":true}`, `emails:send-notification-email: invalid payload: notificationId: required`},
		{"email no user", task.TypeSendNotificationEmail, `{"notificationId":"n1"}`, `emails:send-notification-email: invalid payload: userId: required`},
		{"email immediate string", task.TypeSendNotificationEmail, `{"notificationId":"n1","userId":"u","immediate":"yes"}`, `emails:send-notification-email: invalid payload: immediate: must be a boolean, got string`},

		// send-digest-email
		{"digest no user", task.TypeSendDigestEmail, `{"notificationIds":["n1"]}`, `emails:send-digest-email: invalid payload: userId: required`},
		{"digest nothing", task.TypeSendDigestEmail, `{"userId":"u1","notifications":[]}`, `emails:send-digest-email: invalid payload: notificationIds: at least one notification is required (in notificationIds or notifications)`},
		{"digest blank id", task.TypeSendDigestEmail, `{"userId":"u1","notificationIds":["n1",""]}`, `emails:send-digest-email: invalid payload: notificationIds[1]: required`},
		{"digest item without id", task.TypeSendDigestEmail, `{"userId":"u1","notifications":[{"id":"n1"},{"title":"x"}]}`, `emails:send-digest-email: invalid payload: notifications[1].id: required`},
		{"digest item id number", task.TypeSendDigestEmail, `{"userId":"u1","notifications":[{"id":1}]}`, `emails:send-digest-email: invalid payload: notifications.id: must be a string, got number`},
		{"digest bad createdAt", task.TypeSendDigestEmail, `{"userId":"u1","notifications":[{"id":"n1","createdAt":"yesterday"}]}`, `emails:send-digest-email: invalid payload: a timestamp must be an RFC 3339 string: parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006"`},
		{"digest createdAt number", task.TypeSendDigestEmail, `{"userId":"u1","notifications":[{"id":"n1","createdAt":1700000000}]}`, `emails:send-digest-email: invalid payload: a timestamp must be an RFC 3339 string: Time.UnmarshalJSON: input is not a JSON string`},
		{"digest ids not array", task.TypeSendDigestEmail, `{"userId":"u1","notificationIds":"n1"}`, `emails:send-digest-email: invalid payload: notificationIds: must be an array, got string`},
		{"digest bad day", task.TypeSendDigestEmail, `{"userId":"u1","notificationIds":["n1"],"day":"2025-3-4"}`, `emails:send-digest-email: invalid payload: day: must be a date as YYYY-MM-DD, got "2025-3-4"`},
		{"digest impossible day", task.TypeSendDigestEmail, `{"userId":"u1","notificationIds":["n1"],"day":"2025-02-30"}`, `emails:send-digest-email: invalid payload: day: must be a date as YYYY-MM-DD, got "2025-02-30"`},

		// update-single-case-forecast
		{"forecast missing id", task.TypeUpdateSingleCaseForecast, `{}`, `forecast-updates:update-single-case-forecast: invalid payload: repositoryCaseId: required (a positive integer)`},
		{"forecast id string", task.TypeUpdateSingleCaseForecast, `{"repositoryCaseId":"12"}`, `forecast-updates:update-single-case-forecast: invalid payload: repositoryCaseId: must be an integer, got string`},
		{"forecast id fraction", task.TypeUpdateSingleCaseForecast, `{"repositoryCaseId":1.5}`, `forecast-updates:update-single-case-forecast: invalid payload: repositoryCaseId: must be an integer, got number 1.5`},
		{"forecast id huge", task.TypeUpdateSingleCaseForecast, `{"repositoryCaseId":1e30}`, `forecast-updates:update-single-case-forecast: invalid payload: repositoryCaseId: must be an integer, got number 1e30`},
		{"forecast id negative", task.TypeUpdateSingleCaseForecast, `{"repositoryCaseId":-3}`, `forecast-updates:update-single-case-forecast: invalid payload: repositoryCaseId: must be a positive integer, got -3`},

		// issue sync
		{"sync no user", task.TypeSyncIssues, `{"integrationId":1,"action":"sync"}`, `issue-sync:sync-issues: invalid payload: userId: required`},
		{"sync no integration", task.TypeSyncIssues, `{"userId":"u","action":"sync"}`, `issue-sync:sync-issues: invalid payload: integrationId: required (a positive integer)`},
		{"sync integration string", task.TypeSyncIssues, `{"userId":"u","integrationId":"1"}`, `issue-sync:sync-issues: invalid payload: integrationId: must be an integer, got string`},
		{"sync bad action", task.TypeSyncIssues, `{"userId":"u","integrationId":1,"action":"delete"}`, `issue-sync:sync-issues: invalid payload: action: must be one of sync, create, update, refresh; got "delete"`},
		{"sync project not numeric", task.TypeSyncIssues, `{"userId":"u","integrationId":1,"projectId":"abc"}`, `issue-sync:sync-issues: invalid payload: projectId: must be a numeric string (a positive integer), got "abc"`},
		{"sync project number", task.TypeSyncProjectIssues, `{"userId":"u","integrationId":1,"projectId":5}`, `issue-sync:sync-project-issues: invalid payload: projectId: must be a string, got number`},
		{"project sync without project", task.TypeSyncProjectIssues, `{"userId":"u","integrationId":1,"action":"sync"}`, `issue-sync:sync-project-issues: invalid payload: projectId: required for issue-sync:sync-project-issues`},
		{"project sync zero project", task.TypeSyncProjectIssues, `{"userId":"u","integrationId":1,"projectId":"0"}`, `issue-sync:sync-project-issues: invalid payload: projectId: must be a numeric string (a positive integer), got "0"`},
		{"refresh without issue", task.TypeRefreshIssue, `{"userId":"u","integrationId":1,"action":"refresh"}`, `issue-sync:refresh-issue: invalid payload: issueId: required for issue-sync:refresh-issue`},
		{"sync data NUL", task.TypeSyncIssues, `{"userId":"u","integrationId":1,"data":"\u0000"}`, `issue-sync:sync-issues: invalid payload: data: contains the escape \u0000 (NUL) at offset 1, which PostgreSQL jsonb cannot store`},

		// testmo
		{"testmo no job", task.TypeProcessTestmoImport, `{"mode":"import"}`, `testmo-imports:process-testmo-import: invalid payload: jobId: required`},
		{"testmo bad mode", task.TypeProcessTestmoImport, `{"jobId":"ck1","mode":"IMPORT"}`, `testmo-imports:process-testmo-import: invalid payload: mode: must be "analyze" or "import", got "IMPORT"`},

		// reindex
		{"reindex bad entity", task.TypeReindex, `{"entityType":"cases","userId":"u"}`, `elasticsearch-reindex:reindex: invalid payload: entityType: unknown entity type "cases" (want one of all, repositoryCases, testRuns, sessions, sharedSteps, issues, milestones, projects)`},
		{"reindex project zero", task.TypeReindex, `{"entityType":"all","projectId":0}`, `elasticsearch-reindex:reindex: invalid payload: projectId: must be a positive integer, got 0`},
		{"reindex project string", task.TypeReindex, `{"entityType":"all","projectId":"3"}`, `elasticsearch-reindex:reindex: invalid payload: projectId: must be an integer, got string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check := func(what string, err error) {
				t.Helper()
				if err == nil {
					t.Fatalf("%s: no error, want %q", what, tt.want)
				}
				if err.Error() != tt.want {
					t.Errorf("%s: error\n got %s\nwant %s", what, err, tt.want)
				}
				if !errors.Is(err, task.ErrInvalidPayload) || !errors.Is(err, asynq.SkipRetry) {
					t.Errorf("%s: %v does not wrap both ErrInvalidPayload and asynq.SkipRetry", what, err)
				}
				var pe *task.PayloadError
				if !errors.As(err, &pe) || pe.Type != tt.taskType {
					t.Errorf("%s: %v is not a *PayloadError of type %q", what, err, tt.taskType)
				}
			}
			got, err := decoderFor(tt.taskType)(asynq.NewTask(tt.taskType, []byte(tt.payload)))
			if got != nil {
				t.Errorf("Decode returned %+v with its error", got)
			}
			check("Decode", err)
			tk, err := task.New(tt.taskType, []byte(tt.payload))
			if tk != nil {
				t.Error("New returned a task with its error")
			}
			check("New", err)
		})
	}
}

// TestConstructorsValidate checks that typed constructors refuse what Decode
// would refuse, with the same message.
func TestConstructorsValidate(t *testing.T) {
	zero := 0
	tests := []struct {
		name  string
		build func() (*asynq.Task, error)
		want  string
	}{
		{"notification", func() (*asynq.Task, error) {
			return task.NewCreateNotification(task.CreateNotification{UserID: "u", Type: "NOPE", Title: "t"})
		}, `notifications:create-notification: invalid payload: type: unknown notification type "NOPE"`},
		{"notification bad data", func() (*asynq.Task, error) {
			return task.NewCreateNotification(task.CreateNotification{UserID: "u", Type: task.NotificationTypeWorkAssigned, Title: "t", Data: json.RawMessage(`{"a":`)})
		}, `notifications:create-notification: invalid payload: data: must be valid JSON`},
		{"digest sweep NUL tenant", func() (*asynq.Task, error) {
			return task.NewSendDailyDigest(task.SendDailyDigest{TenantID: "\x00"})
		}, `notifications:send-daily-digest: invalid payload: tenantId: must not contain NUL (\u0000): PostgreSQL cannot store it`},
		{"email", func() (*asynq.Task, error) {
			return task.NewSendNotificationEmail(task.SendNotificationEmail{UserID: "u"})
		}, `emails:send-notification-email: invalid payload: notificationId: required`},
		{"digest", func() (*asynq.Task, error) {
			return task.NewSendDigestEmail(task.SendDigestEmail{UserID: "u"})
		}, `emails:send-digest-email: invalid payload: notificationIds: at least one notification is required (in notificationIds or notifications)`},
		{"digest item title NUL", func() (*asynq.Task, error) {
			return task.NewSendDigestEmail(task.SendDigestEmail{UserID: "u", Notifications: []task.DigestItem{{ID: "n", Title: "a\x00"}}})
		}, `emails:send-digest-email: invalid payload: notifications[0].title: must not contain NUL (\u0000): PostgreSQL cannot store it`},
		{"single forecast", func() (*asynq.Task, error) {
			return task.NewUpdateSingleCaseForecast(task.UpdateSingleCaseForecast{})
		}, `forecast-updates:update-single-case-forecast: invalid payload: repositoryCaseId: required (a positive integer)`},
		{"all forecast", func() (*asynq.Task, error) {
			return task.NewUpdateAllCasesForecast(task.UpdateAllCasesForecast{TenantID: "\x00"})
		}, `forecast-updates:update-all-cases-forecast: invalid payload: tenantId: must not contain NUL (\u0000): PostgreSQL cannot store it`},
		{"auto-complete", func() (*asynq.Task, error) {
			return task.NewAutoCompleteMilestones(task.AutoCompleteMilestones{TenantID: "\x00"})
		}, `forecast-updates:auto-complete-milestones: invalid payload: tenantId: must not contain NUL (\u0000): PostgreSQL cannot store it`},
		{"milestone reminders", func() (*asynq.Task, error) {
			return task.NewMilestoneDueNotifications(task.MilestoneDueNotifications{TenantID: "\x00"})
		}, `forecast-updates:milestone-due-notifications: invalid payload: tenantId: must not contain NUL (\u0000): PostgreSQL cannot store it`},
		{"sync issues", func() (*asynq.Task, error) {
			return task.NewSyncIssues(task.SyncJob{UserID: "u"})
		}, `issue-sync:sync-issues: invalid payload: integrationId: required (a positive integer)`},
		{"sync project issues", func() (*asynq.Task, error) {
			return task.NewSyncProjectIssues(task.SyncJob{UserID: "u", IntegrationID: 1})
		}, `issue-sync:sync-project-issues: invalid payload: projectId: required for issue-sync:sync-project-issues`},
		{"refresh issue", func() (*asynq.Task, error) {
			return task.NewRefreshIssue(task.SyncJob{UserID: "u", IntegrationID: 1, ProjectID: "3"})
		}, `issue-sync:refresh-issue: invalid payload: issueId: required for issue-sync:refresh-issue`},
		{"testmo", func() (*asynq.Task, error) {
			return task.NewProcessTestmoImport(task.ProcessTestmoImport{JobID: "j", Mode: "replay"})
		}, `testmo-imports:process-testmo-import: invalid payload: mode: must be "analyze" or "import", got "replay"`},
		{"reindex", func() (*asynq.Task, error) {
			return task.NewReindex(task.Reindex{ProjectID: &zero})
		}, `elasticsearch-reindex:reindex: invalid payload: projectId: must be a positive integer, got 0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk, err := tt.build()
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if tk != nil {
				t.Error("task returned with the error")
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %s\nwant %s", err, tt.want)
			}
			if !errors.Is(err, task.ErrInvalidPayload) {
				t.Errorf("%v does not wrap ErrInvalidPayload", err)
			}
		})
	}
}

func TestValidateWithoutType(t *testing.T) {
	err := task.SendNotificationEmail{UserID: "u"}.Validate()
	if got, want := err.Error(), "invalid payload: notificationId: required"; got != want {
		t.Errorf("Validate() = %q, want %q", got, want)
	}
	if !errors.Is(err, task.ErrInvalidPayload) {
		t.Error("Validate error does not wrap ErrInvalidPayload")
	}
	if err := (task.SyncJob{UserID: "u", IntegrationID: 1}).Validate(); err != nil {
		t.Errorf("SyncJob.Validate without type rules: %v", err)
	}
}

func TestNewUnknownType(t *testing.T) {
	for _, typ := range []string{"", "emails:send-email", "audit-logs:audit-events"} {
		tk, err := task.New(typ, []byte(`{}`))
		if tk != nil || !errors.Is(err, task.ErrUnknownType) {
			t.Errorf("New(%q) = %v, %v; want ErrUnknownType", typ, tk, err)
		}
		if errors.Is(err, task.ErrInvalidPayload) {
			t.Errorf("New(%q): unknown type reported as an invalid payload", typ)
		}
	}
	_, err := task.New("emails:send-email", nil)
	if got, want := err.Error(), `unknown task type "emails:send-email"`; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
}

func TestNewKeepsPayload(t *testing.T) {
	in := []byte(`{"notificationId":"n1","userId":"u1","extra":{"from":"a newer producer"}}`)
	tk, err := task.New(task.TypeSendNotificationEmail, in, asynq.Queue("critical"))
	if err != nil {
		t.Fatal(err)
	}
	want := string(in)
	in[2] = 'X' // the caller reuses its buffer
	if string(tk.Payload()) != want {
		t.Errorf("payload %s, want %s", tk.Payload(), want)
	}
	empty, err := task.New(task.TypeUpdateAllCasesForecast, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(empty.Payload()) != "{}" {
		t.Errorf("empty payload stored as %q, want {}", empty.Payload())
	}
}

func TestDecodeNilTask(t *testing.T) {
	_, err := task.Decode[task.Reindex](nil)
	if !errors.Is(err, task.ErrInvalidPayload) {
		t.Errorf("Decode(nil) = %v", err)
	}
}

func TestPayloadHelpers(t *testing.T) {
	for typ, want := range map[task.NotificationType]bool{
		"WORK_ASSIGNED": true, "SESSION_ASSIGNED": true, "SYSTEM_ANNOUNCEMENT": true, "USER_REGISTERED": true,
		"COMMENT_MENTION": true, "MILESTONE_DUE_REMINDER": true, "SHARE_LINK_ACCESSED": true,
		"": false, "work_assigned": false, "PROCESS_USER_NOTIFICATIONS": false,
	} {
		if typ.Valid() != want {
			t.Errorf("NotificationType(%q).Valid() = %v", typ, !want)
		}
	}
	for m, want := range map[task.NotificationMode]bool{
		"NONE": true, "IN_APP": true, "IN_APP_EMAIL_IMMEDIATE": true, "IN_APP_EMAIL_DAILY": true, "USE_GLOBAL": true,
		"": false, "EMAIL": false,
	} {
		if m.Valid() != want {
			t.Errorf("NotificationMode(%q).Valid() = %v", m, !want)
		}
	}

	for in, want := range map[string]int{"17": 17, "1": 1, "": 0, "0": 0, "-1": 0, "+5": 0, "007": 0, " 5": 0, "5x": 0, "99999999999999999999": 0} {
		got, ok := task.SyncJob{ProjectID: in}.ProjectIDInt()
		if got != want || ok != (want != 0) {
			t.Errorf("ProjectIDInt(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}

	d := task.SendDigestEmail{NotificationIDs: []string{"a", "b"}, Notifications: []task.DigestItem{{ID: "b"}, {ID: "c"}}}
	if diff := cmp.Diff([]string{"a", "b", "c"}, d.AllNotificationIDs()); diff != "" {
		t.Errorf("AllNotificationIDs mismatch (-want +got):\n%s", diff)
	}

	if got := (task.ProcessTestmoImport{}).EffectiveMode(); got != task.TestmoModeAnalyze {
		t.Errorf("EffectiveMode() = %q", got)
	}
	if got := (task.ProcessTestmoImport{Mode: "import"}).EffectiveMode(); got != task.TestmoModeImport {
		t.Errorf("EffectiveMode() = %q", got)
	}
	if got := (task.Reindex{}).EffectiveEntityType(); got != task.EntityAll {
		t.Errorf("EffectiveEntityType() = %q", got)
	}
	if got := (task.Reindex{EntityType: "issues"}).EffectiveEntityType(); got != task.EntityIssues {
		t.Errorf("EffectiveEntityType() = %q", got)
	}
	if got := task.EntityTypes(); len(got) != 8 || got[0] != task.EntityAll || !slices.Contains(got, "sharedSteps") {
		t.Errorf("EntityTypes() = %v", got)
	}

	ids := []struct{ got, want string }{
		{task.SendNotificationEmail{NotificationID: "n"}.TaskID(), "email:notification:n"},
		{task.SendDigestEmail{UserID: "u"}.TaskID(), ""},
		{task.SendDigestEmail{UserID: "u", Day: "2025-01-02", TenantID: "t"}.TaskID(), "t:digest:u:2025-01-02"},
		{task.ProcessTestmoImport{JobID: "j", Mode: "import"}.TaskID(), "testmo:j:import"},
		{task.Reindex{}.TaskID(), ""},
		{task.Reindex{ImportJobID: "j", TenantID: "t"}.TaskID(), "t:reindex:after-import:j"},
	}
	for _, id := range ids {
		if id.got != id.want {
			t.Errorf("TaskID() = %q, want %q", id.got, id.want)
		}
	}
}
