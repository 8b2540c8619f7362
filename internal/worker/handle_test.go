package worker_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/tenant"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// Handle decodes the payload and resolves its tenant before the handler
// runs: a known tenant's task gets that tenant's database; a task naming an
// unknown tenant, or none in multi-tenant mode, is archived with a reason
// naming it, and the handler never runs.
func TestTenantResolvedByTypedHandlers(t *testing.T) {
	_, acmeURL := testenv.Postgres(t)
	r, err := tenant.NewResolver(tenant.Settings{
		MultiTenant: true, File: "/nonexistent/tenants.json",
		Inline: map[string]tenant.Config{"acme": {DatabaseURL: acmeURL, BaseURL: "https://acme.example"}},
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)

	var mu sync.Mutex
	seen := map[int]string{}
	mux := asynq.NewServeMux()
	worker.Handle(mux, testType, func(ctx context.Context, p task.UpdateSingleCaseForecast) error {
		tn := worker.TenantFrom(ctx)
		var db string
		if err := tn.DB.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil {
			return err
		}
		mu.Lock()
		seen[p.RepositoryCaseID] = tn.ID + " " + db + " " + tn.BaseURL
		mu.Unlock()
		return nil
	})
	h := start(t, mux, func(a *worker.App) { a.Tenants = r })

	ok := h.enqueue(`{"repositoryCaseId":1,"tenantId":"acme"}`, asynq.Retention(time.Hour))
	unknown := h.enqueue(`{"repositoryCaseId":2,"tenantId":"umbrella"}`, task.MaxRetry(2))
	none := h.enqueue(`{"repositoryCaseId":3}`, task.MaxRetry(2))

	testenv.Eventually(t, 10*time.Second, func() bool {
		ti, err := h.insp.GetTaskInfo(testQueue, ok.ID)
		return err == nil && ti.State == asynq.TaskStateCompleted
	}, "acme's task not completed")
	for _, c := range []struct {
		info *asynq.TaskInfo
		want string
	}{
		{unknown, `unknown tenant "umbrella"`},
		{none, "the task has no tenantId"},
	} {
		var ti *asynq.TaskInfo
		testenv.Eventually(t, 10*time.Second, func() bool {
			ti, err = h.insp.GetTaskInfo(testQueue, c.info.ID)
			return err == nil && ti.State == asynq.TaskStateArchived
		}, "task %s not archived", c.info.ID)
		if !strings.Contains(ti.LastErr, c.want) || ti.Retried != 0 {
			t.Errorf("archived after %d retries with %q, want at once with %q", ti.Retried, ti.LastErr, c.want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || !strings.HasPrefix(seen[1], "acme ") || !strings.HasSuffix(seen[1], " https://acme.example") || !strings.Contains(acmeURL, "/"+strings.Fields(seen[1])[1]) {
		t.Errorf("handled %v; want case 1 only, on acme's database and base URL", seen)
	}
}

// A handler's follow-up task must carry its tenant: the runtime's client
// refuses one that does not, instead of letting it run against the wrong
// database (the original's defects 1, 3 and 6).
func TestTenantClientRefusesAFollowUpWithoutTheTenant(t *testing.T) {
	opt, url := testenv.Redis(t)
	c := worker.NewClient(worker.Config{Redis: opt, RedisURL: url})
	defer c.Close()
	ctx := worker.WithTenant(context.Background(), &tenant.Tenant{ID: "acme"})
	lost, err := task.NewCreateNotification(task.CreateNotification{UserID: "u1", Type: task.NotificationTypeWorkAssigned, Title: "t", Message: "m"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.EnqueueContext(ctx, lost); err == nil || !strings.Contains(err.Error(), `tenantId "" while handling a task of tenant "acme"`) {
		t.Fatalf("enqueue without the tenant: %v", err)
	}
	kept, _ := task.NewCreateNotification(task.CreateNotification{UserID: "u1", Type: task.NotificationTypeWorkAssigned, Title: "t", Message: "m", TenantID: "acme"})
	if _, err := c.EnqueueContext(ctx, kept); err != nil {
		t.Fatal(err)
	}
}
