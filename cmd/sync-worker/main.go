// Command sync-worker consumes the issue-sync queue: it refreshes
// TestPlanIt's "Issue" rows from Jira, GitHub, Azure DevOps and Linear (see
// internal/issuesync and the README's "Issue sync" section).
package main

import (
	"context"
	"net/http"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/config"
	"github.com/testplanit/tpi-workers/internal/encryption"
	"github.com/testplanit/tpi-workers/internal/issuesync"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

func main() { worker.Main(run) }

func run(ctx context.Context, getenv func(string) string) error {
	env := config.NewEnv(getenv)
	cfg := worker.LoadConfig(env, "sync-worker", task.QueueIssueSync, ":9104")
	sc := issuesync.LoadConfig(env) // ENCRYPTION_KEY (required), SYNC_RATE_*, JIRA_CLIENT_ID/SECRET, ...
	if err := env.Err(); err != nil {
		return err // one line naming the variable
	}
	key, err := encryption.NewKey(sc.EncryptionKey)
	if err != nil {
		return &config.ConfigError{Var: "ENCRYPTION_KEY", Reason: err.Error()}
	}
	rdb, err := cfg.DialValkey(ctx) // the rate budgets and the issue cache
	if err != nil {
		return err
	}
	defer rdb.Close()
	client := worker.NewClient(cfg) // the issues reindex tasks
	defer client.Close()

	budgets := issuesync.NewBudgets(rdb, sc.Rates)
	budgets.MaxWait = sc.BudgetWait
	providers := &issuesync.Providers{Key: key, Budgets: budgets, HTTPClient: &http.Client{Timeout: sc.HTTPTimeout},
		JiraOAuth: sc.JiraOAuth, LinearAPIURL: sc.LinearAPIURL}
	h := &issuesync.Handler{
		Clients:  issuesync.NewClients(providers.Build),
		Cache:    issuesync.NewCache(rdb, cfg.Tenants.MultiTenant),
		Enqueuer: client,
		PageSize: sc.PageSize,
	}
	mux := asynq.NewServeMux()
	h.Register(mux)
	return (&worker.App{Config: cfg, Mux: mux}).Run(ctx)
}
