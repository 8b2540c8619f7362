package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/pkg/task"
)

func TestSyncEnqueuesAnIntegrationOrAProject(t *testing.T) {
	opt, url := testenv.Redis(t)
	env := map[string]string{"VALKEY_URL": url}
	out, err := runCLI(t, env, "", "sync", "7", "--user", "u1")
	if err != nil || !strings.Contains(out, "enqueued "+task.TypeSyncIssues+" on issue-sync") {
		t.Fatalf("integration: %q %v", out, err)
	}
	out, err = runCLI(t, env, "", "sync", "7", "12", "--user", "u1", "--tenant", "acme", "--id", "sync-7-12")
	if err != nil || !strings.Contains(out, "enqueued "+task.TypeSyncProjectIssues+" on issue-sync: id=sync-7-12") {
		t.Fatalf("project: %q %v", out, err)
	}
	if out, err := runCLI(t, env, "", "sync", "7", "12", "--user", "u1", "--tenant", "acme", "--id", "sync-7-12"); err != nil || !strings.Contains(out, "already enqueued") {
		t.Fatalf("duplicate: %q %v", out, err)
	}
	for _, args := range [][]string{
		{"sync", "7"},                           // no --user
		{"sync", "--user", "u1"},                // no integration
		{"sync", "seven", "--user", "u1"},       // not a number
		{"sync", "7", "1", "2", "--user", "u1"}, // too many
	} {
		if _, err := runCLI(t, env, "", args...); err == nil || !strings.Contains(err.Error(), "usage: tpictl sync") {
			t.Errorf("%v: %v, want the usage", args, err)
		}
	}
	if _, err := runCLI(t, env, "", "sync", "7", "x", "--user", "u1"); err == nil || !strings.Contains(err.Error(), "projectId") {
		t.Errorf("bad project: %v", err)
	}
	multi := map[string]string{"VALKEY_URL": url, "MULTI_TENANT_MODE": "true", "TENANT_CONFIG_FILE": "/nonexistent",
		"TENANT_CONFIGS": `{"acme":{"databaseUrl":"postgres://x/acme"}}`}
	if _, err := runCLI(t, multi, "", "sync", "7", "--user", "u1"); err == nil || !strings.Contains(err.Error(), "give --tenant") {
		t.Errorf("multi-tenant without --tenant: %v", err)
	}

	insp := asynq.NewInspector(opt)
	defer insp.Close()
	tasks, err := insp.ListPendingTasks(task.QueueIssueSync)
	if err != nil || len(tasks) != 2 {
		t.Fatalf("pending %d %v", len(tasks), err)
	}
	got := map[string]task.SyncJob{}
	for _, ti := range tasks {
		var p task.SyncJob
		if err := json.Unmarshal(ti.Payload, &p); err != nil {
			t.Fatal(err)
		}
		got[ti.Type] = p
	}
	if p := got[task.TypeSyncIssues]; p.IntegrationID != 7 || p.UserID != "u1" || p.ProjectID != "" || p.Action != "sync" || string(p.Data) != `{"forceRefresh":true}` {
		t.Errorf("sync-issues payload %+v", p)
	}
	if p := got[task.TypeSyncProjectIssues]; p.ProjectID != "12" || p.TenantID != "acme" {
		t.Errorf("sync-project-issues payload %+v", p)
	}
}
