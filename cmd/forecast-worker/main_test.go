package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/postgres"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// TestRunComputesForecasts runs the worker and sends it the nightly job over
// Valkey: the seeded link group (a MANUAL and a JUNIT case) shares its
// forecast, and the completed task carries the original's result shape.
func TestRunComputesForecasts(t *testing.T) {
	db, dbURL := testenv.Postgres(t)
	ropt, redisURL := testenv.Redis(t)
	ctx := context.Background()
	if err := postgres.Seed(ctx, db); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"VALKEY_URL": redisURL, "DATABASE_URL": dbURL, "HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": "error"}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(runCtx, func(k string) string { return env[k] }) }()

	client := asynq.NewClient(ropt)
	defer client.Close()
	tk, err := task.NewUpdateAllCasesForecast(task.UpdateAllCasesForecast{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := client.Enqueue(tk, asynq.Retention(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspector(ropt)
	defer insp.Close()
	var result string
	testenv.Eventually(t, 20*time.Second, func() bool {
		ti, err := insp.GetTaskInfo(task.QueueForecast, info.ID)
		if err != nil || ti.State != asynq.TaskStateCompleted {
			return false
		}
		result = string(ti.Result)
		return true
	}, "the forecast task completes")
	if !strings.Contains(result, `"status":"completed"`) || !strings.Contains(result, `"successCount":`) {
		t.Errorf("result %s", result)
	}
	// The seeded group shares its JUnit mean (its manual case has no result
	// yet); manual cases with results get a manual forecast.
	var linked, manual int
	if err := db.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM "RepositoryCases" c JOIN "RepositoryCaseLink" l ON c.id IN (l."caseAId", l."caseBId")
		 WHERE c."forecastAutomated" > 0),
		(SELECT count(*) FROM "RepositoryCases" WHERE "forecastManual" > 0)`).Scan(&linked, &manual); err != nil || linked != 2 || manual == 0 {
		t.Errorf("linked cases with an automated forecast: %d, cases with a manual one: %d, %v", linked, manual, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

// TestRunRemindsForTheTasksTenant runs the worker in multi-tenant mode: the
// reminder task of tenant acme reads acme's database and its reminders carry
// acme; a task naming an unknown tenant is archived at once.
func TestRunRemindsForTheTasksTenant(t *testing.T) {
	db, dbURL := testenv.Postgres(t)
	ropt, redisURL := testenv.Redis(t)
	ctx := context.Background()
	if err := postgres.Seed(ctx, db); err != nil { // "Release 1.0" is due in 3 days, reminders 5 days ahead
		t.Fatal(err)
	}
	env := map[string]string{"VALKEY_URL": redisURL, "HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": "error",
		"MULTI_TENANT_MODE": "true", "TENANT_CONFIG_FILE": t.TempDir() + "/none.json",
		"TENANT_CONFIGS": `{"acme":{"databaseUrl":"` + dbURL + `"}}`}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(runCtx, func(k string) string { return env[k] }) }()

	client := asynq.NewClient(ropt)
	defer client.Close()
	insp := asynq.NewInspector(ropt)
	defer insp.Close()
	enqueue := func(tenantID string) string {
		tk, err := task.NewMilestoneDueNotifications(task.MilestoneDueNotifications{TenantID: tenantID})
		if err != nil {
			t.Fatal(err)
		}
		info, err := client.Enqueue(tk, asynq.Retention(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return info.ID
	}
	acme, ghost := enqueue("acme"), enqueue("ghost")
	testenv.Eventually(t, 20*time.Second, func() bool {
		ti, err := insp.GetTaskInfo(task.QueueForecast, acme)
		return err == nil && ti.State == asynq.TaskStateCompleted
	}, "acme's reminder task completes")
	testenv.Eventually(t, 20*time.Second, func() bool {
		ti, err := insp.GetTaskInfo(task.QueueForecast, ghost)
		return err == nil && ti.State == asynq.TaskStateArchived
	}, "the unknown tenant's task is archived")

	reminders, err := insp.ListPendingTasks(task.QueueNotifications)
	if err != nil || len(reminders) == 0 {
		t.Fatalf("reminders: %d %v", len(reminders), err)
	}
	for _, ti := range reminders {
		var p task.CreateNotification
		if err := json.Unmarshal(ti.Payload, &p); err != nil || p.TenantID != "acme" || !strings.HasPrefix(ti.ID, "acme:") {
			t.Errorf("reminder %s: %s %v", ti.ID, ti.Payload, err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestRunConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"VALKEY_URL": "redis://127.0.0.1:6379/1"}, "config: DATABASE_URL"},
		{map[string]string{"VALKEY_URL": "redis://127.0.0.1:6379/1", "DATABASE_URL": "postgres://x", "FORECAST_CONCURRENCY": "0"}, "config: FORECAST_CONCURRENCY"},
		{map[string]string{"VALKEY_URL": "redis://127.0.0.1:6379/1", "DATABASE_URL": "postgres://x", "SCHEDULER_TZ": "Mars/Olympus"}, "config: SCHEDULER_TZ"},
		{map[string]string{"VALKEY_URL": "redis://127.0.0.1:6379/1", "DATABASE_URL": "postgres://x", "SCHEDULER_TZ": "UTC", "MILESTONE_REMINDER_TZ": "Nowhere"}, "config: MILESTONE_REMINDER_TZ"},
	} {
		err := run(context.Background(), func(k string) string { return tc.env[k] })
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %s", tc.env, err, tc.want)
		}
	}
}
