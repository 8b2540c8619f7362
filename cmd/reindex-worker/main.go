// Command reindex-worker consumes the elasticsearch-reindex queue: it
// rebuilds TestPlanIt's search indexes from PostgreSQL, a fresh index per
// entity behind an alias with the original's index name, or one project's
// documents in place (see internal/reindex and the README's "Search
// reindex" section).
package main

import (
	"context"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/config"
	"github.com/testplanit/tpi-workers/internal/reindex"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

func main() { worker.Main(run) }

func run(ctx context.Context, getenv func(string) string) error {
	env := config.NewEnv(getenv)
	cfg := worker.LoadConfig(env, "reindex-worker", task.QueueReindex, ":9106")
	rc := reindex.LoadConfig(env) // ELASTICSEARCH_USERNAME/PASSWORD/API_KEY/CA_CERT, ELASTICSEARCH_BULK_*, ...
	node := cfg.Tenants.Default.ElasticsearchNode
	if node == "" && !cfg.Tenants.MultiTenant {
		// Tenants may each name their own node; a single deployment needs one.
		env.Fail("ELASTICSEARCH_NODE", "required but not set")
	}
	if err := env.Err(); err != nil {
		return err // one line naming the variable
	}
	clients := reindex.NewClients(rc, node)
	if node != "" {
		if _, err := clients.Get(node); err != nil { // a malformed URL stops the start, not each task
			return &config.ConfigError{Var: "ELASTICSEARCH_NODE", Reason: err.Error()}
		}
	}
	h := &reindex.Handler{Clients: clients, Config: rc}
	mux := asynq.NewServeMux()
	h.Register(mux)
	return (&worker.App{Config: cfg, Mux: mux,
		Dependencies: []worker.Dependency{{Name: "elasticsearch", Ping: clients.Ping}}}).Run(ctx)
}
