package main

import (
	"context"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/pkg/task"
)

func TestForecastEnqueuesAllOrOneCase(t *testing.T) {
	opt, url := testenv.Redis(t)
	env := map[string]string{"VALKEY_URL": url}
	if out, err := runCLI(t, env, "", "forecast"); err != nil || !strings.Contains(out, "enqueued "+task.TypeUpdateAllCasesForecast) {
		t.Fatalf("all: %q %v", out, err)
	}
	if out, err := runCLI(t, env, "", "forecast", "--case", "12"); err != nil || !strings.Contains(out, "enqueued "+task.TypeUpdateSingleCaseForecast) {
		t.Fatalf("one case: %q %v", out, err)
	}
	if _, err := runCLI(t, env, "", "forecast", "extra"); err == nil || !strings.Contains(err.Error(), "usage: tpictl forecast") {
		t.Fatalf("usage: %v", err)
	}
	if out, err := runCLI(t, env, "", "forecast", "--case", "12", "--tenant", "acme"); err != nil || !strings.Contains(out, "enqueued "+task.TypeUpdateSingleCaseForecast) {
		t.Fatalf("one case of a tenant: %q %v", out, err)
	}
	multi := map[string]string{"VALKEY_URL": url, "MULTI_TENANT_MODE": "true", "TENANT_CONFIG_FILE": "/nonexistent", "TENANT_CONFIGS": `{"acme":{"databaseUrl":"postgres://x/acme"}}`}
	if _, err := runCLI(t, multi, "", "forecast"); err == nil || !strings.Contains(err.Error(), "give --tenant") {
		t.Fatalf("multi-tenant without --tenant: %v", err)
	}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	tasks, err := insp.ListPendingTasks(task.QueueForecast)
	if err != nil || len(tasks) != 3 {
		t.Fatalf("pending %d %v", len(tasks), err)
	}
	payloads := map[string]bool{}
	for _, ti := range tasks {
		if ti.Type == task.TypeUpdateSingleCaseForecast {
			payloads[string(ti.Payload)] = true
		}
	}
	if !payloads[`{"repositoryCaseId":12}`] || !payloads[`{"repositoryCaseId":12,"tenantId":"acme"}`] {
		t.Errorf("single-case payloads %v", payloads)
	}
}

func TestGenForecastDataThenInlineForecast(t *testing.T) {
	db, url := testenv.Postgres(t)
	env := map[string]string{"DATABASE_URL": url}
	out, err := runCLI(t, env, "", "gen-forecast-data", "--cases", "300", "--links", "120", "--results", "2000", "--runs", "10")
	if err != nil || !strings.Contains(out, "generated 300 cases, 120 links, 10 runs") {
		t.Fatalf("gen: %q %v", out, err)
	}
	out, err = runCLI(t, env, "", "forecast", "--inline")
	// 300 generated cases plus the 5 of the demo seed.
	if err != nil || !strings.Contains(out, "forecasts: 305 cases") {
		t.Fatalf("inline: %q %v", out, err)
	}
	var n int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM "RepositoryCases" WHERE "forecastManual" IS NOT NULL OR "forecastAutomated" IS NOT NULL`).Scan(&n); err != nil || n < 250 {
		t.Fatalf("cases with a forecast: %d %v", n, err)
	}
	if out, err := runCLI(t, env, "", "forecast", "--inline", "--case", "999999"); err == nil {
		t.Fatalf("missing case: %q", out)
	}
}
