package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/postgres"
	"github.com/testplanit/tpi-workers/internal/reindex"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// startWorker runs the reindex worker with env until the test ends.
func startWorker(t *testing.T, env map[string]string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(k string) string { return env[k] }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
}

// enqueue sends a reindex task and returns its ID.
func enqueue(t *testing.T, client *asynq.Client, p task.Reindex) string {
	t.Helper()
	tk, err := task.NewReindex(p)
	if err != nil {
		t.Fatal(err)
	}
	info, err := client.Enqueue(tk, asynq.Retention(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return info.ID
}

// completed waits for the task to complete and returns its result.
func completed(t *testing.T, insp *asynq.Inspector, id string) reindex.Result {
	t.Helper()
	var r reindex.Result
	testenv.Eventually(t, 30*time.Second, func() bool {
		ti, err := insp.GetTaskInfo(task.QueueReindex, id)
		if err != nil {
			return false
		}
		if ti.State == asynq.TaskStateArchived {
			t.Fatalf("task %s archived: %s", id, ti.LastErr)
		}
		if ti.State != asynq.TaskStateCompleted {
			return false
		}
		if err := json.Unmarshal(ti.Result, &r); err != nil {
			t.Fatalf("result %s: %v", ti.Result, err)
		}
		return true
	}, "reindex task %s completes", id)
	return r
}

// TestRunRebuildsTheIndexes runs the worker over Valkey, PostgreSQL (the
// demo data) and the in-process Elasticsearch: a full reindex builds every
// index behind its alias (the original's names), a project reindex then
// works in place.
func TestRunRebuildsTheIndexes(t *testing.T) {
	db, dbURL := testenv.Postgres(t)
	ropt, redisURL := testenv.Redis(t)
	es := testenv.StartElasticsearch(t)
	ctx := context.Background()
	if err := postgres.Seed(ctx, db); err != nil {
		t.Fatal(err)
	}
	startWorker(t, map[string]string{"VALKEY_URL": redisURL, "DATABASE_URL": dbURL, "ELASTICSEARCH_NODE": es.URL,
		"HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": "error", "ELASTICSEARCH_BULK_BYTES": "64K"})
	client := asynq.NewClient(ropt)
	defer client.Close()
	insp := asynq.NewInspector(ropt)
	defer insp.Close()

	r := completed(t, insp, enqueue(t, client, task.Reindex{EntityType: task.EntityAll}))
	if !r.Success || r.Results[reindex.KindRepositoryCases] == 0 || r.Results[reindex.KindProjects] != 1 || len(r.Entities) != 7 {
		t.Fatalf("result %+v", r)
	}
	for _, k := range reindex.Kinds() {
		alias := "testplanit-" + k.IndexSuffix()
		targets := es.AliasTargets(alias)
		if len(targets) != 1 || !strings.HasPrefix(targets[0], alias+"-") {
			t.Errorf("%s on %v", alias, targets)
		}
		if got := int64(len(es.Sources(alias))); got != r.Results[k] {
			t.Errorf("%s holds %d documents, the result says %d", alias, got, r.Results[k])
		}
	}
	var project int
	if err := db.QueryRow(ctx, `SELECT id FROM "Projects" ORDER BY id LIMIT 1`).Scan(&project); err != nil {
		t.Fatal(err)
	}
	before := es.AliasTargets("testplanit-repository-cases")
	r = completed(t, insp, enqueue(t, client, task.Reindex{EntityType: task.EntityRepositoryCases, ProjectID: &project}))
	if !r.Success || r.Entities[0].Mode != "project" || r.ProjectID != project {
		t.Errorf("project reindex %+v", r)
	}
	if got := es.AliasTargets("testplanit-repository-cases"); len(got) != 1 || got[0] != before[0] {
		t.Errorf("a project reindex moved the alias: %v -> %v", before, got)
	}
}

// TestRunWaitsForElasticsearch: while Elasticsearch answers 503 the task
// waits (the dependency gate; its one attempt is not spent), and it
// completes once the node answers again.
func TestRunWaitsForElasticsearch(t *testing.T) {
	db, dbURL := testenv.Postgres(t)
	ropt, redisURL := testenv.Redis(t)
	es := testenv.StartElasticsearch(t)
	if err := postgres.Seed(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	es.Unavailable(time.Hour)
	startWorker(t, map[string]string{"VALKEY_URL": redisURL, "DATABASE_URL": dbURL, "ELASTICSEARCH_NODE": es.URL,
		"HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": "error"})
	client := asynq.NewClient(ropt)
	defer client.Close()
	insp := asynq.NewInspector(ropt)
	defer insp.Close()
	id := enqueue(t, client, task.Reindex{EntityType: task.EntityProjects})
	testenv.Eventually(t, 30*time.Second, func() bool {
		ti, err := insp.GetTaskInfo(task.QueueReindex, id)
		if err == nil && ti.State == asynq.TaskStateArchived {
			t.Fatalf("archived during the outage: %s", ti.LastErr)
		}
		return err == nil && strings.Contains(ti.LastErr, "elasticsearch unavailable")
	}, "the task waits for Elasticsearch")
	es.Unavailable(0)
	if r := completed(t, insp, id); !r.Success || r.Results[reindex.KindProjects] != 1 {
		t.Errorf("result %+v", r)
	}
}

// TestRunUsesEachTenantsNode runs the worker in multi-tenant mode: acme's
// indices go to the default node as testplanit-acme-*, globex's to its own
// node under its elasticsearchIndex prefix.
func TestRunUsesEachTenantsNode(t *testing.T) {
	ctx := context.Background()
	acmeDB, acmeURL := testenv.Postgres(t)
	globexDB, globexURL := testenv.Postgres(t)
	for _, db := range []*pgxpool.Pool{acmeDB, globexDB} {
		if err := postgres.Seed(ctx, db); err != nil {
			t.Fatal(err)
		}
	}
	ropt, redisURL := testenv.Redis(t)
	shared, own := testenv.StartElasticsearch(t), testenv.StartElasticsearch(t)
	startWorker(t, map[string]string{"VALKEY_URL": redisURL, "HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": "error",
		"MULTI_TENANT_MODE": "true", "TENANT_CONFIG_FILE": t.TempDir() + "/none.json", "ELASTICSEARCH_NODE": shared.URL,
		"TENANT_CONFIGS": `{"acme":{"databaseUrl":"` + acmeURL + `"},
			"globex":{"databaseUrl":"` + globexURL + `","elasticsearchNode":"` + own.URL + `","elasticsearchIndex":"globex"}}`})
	client := asynq.NewClient(ropt)
	defer client.Close()
	insp := asynq.NewInspector(ropt)
	defer insp.Close()
	for _, tn := range []string{"acme", "globex"} {
		if r := completed(t, insp, enqueue(t, client, task.Reindex{EntityType: task.EntityProjects, TenantID: tn})); !r.Success {
			t.Errorf("%s: %+v", tn, r)
		}
	}
	if got := shared.AliasTargets("testplanit-acme-projects"); len(got) != 1 {
		t.Errorf("acme's projects index on the shared node: %v", got)
	}
	if got := own.AliasTargets("globex-projects"); len(got) != 1 {
		t.Errorf("globex's projects index on its node: %v", got)
	}
	for _, ix := range shared.Indices() {
		if strings.Contains(ix.Name, "globex") {
			t.Errorf("globex's index %s on the shared node", ix.Name)
		}
	}
}

func TestRunConfigErrors(t *testing.T) {
	base := map[string]string{"VALKEY_URL": "redis://127.0.0.1:6379/1", "DATABASE_URL": "postgres://x"}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, "config: ELASTICSEARCH_NODE"},
		{map[string]string{"ELASTICSEARCH_NODE": "elasticsearch:9200"}, "config: ELASTICSEARCH_NODE"},
		{map[string]string{"ELASTICSEARCH_NODE": "http://es:9200", "ELASTICSEARCH_BULK_BYTES": "1"}, "config: ELASTICSEARCH_BULK_BYTES"},
		{map[string]string{"ELASTICSEARCH_NODE": "http://es:9200", "ELASTICSEARCH_REINDEX_CONCURRENCY": "0"}, "config: ELASTICSEARCH_REINDEX_CONCURRENCY"},
	} {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for k, v := range tc.env {
			env[k] = v
		}
		err := run(context.Background(), func(k string) string { return env[k] })
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %s", tc.env, err, tc.want)
		}
	}
}
