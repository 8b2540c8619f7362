// Command import-worker consumes the testmo-imports queue: it analyzes an
// uploaded Testmo export, streamed from S3 into staging with COPY, then
// imports it phase by phase with checkpoints, so a crash resumes where it
// stopped and memory stays flat whatever the export's size (see
// internal/testmoimport and the README's "Testmo import" section).
package main

import (
	"context"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/config"
	"github.com/testplanit/tpi-workers/internal/objstore"
	"github.com/testplanit/tpi-workers/internal/testmoimport"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

func main() { worker.Main(run) }

func run(ctx context.Context, getenv func(string) string) error {
	env := config.NewEnv(getenv)
	cfg := worker.LoadConfig(env, "import-worker", task.QueueTestmoImports, ":9105") // TESTMO_IMPORT_CONCURRENCY
	s3 := objstore.LoadConfig(env)                                                   // AWS_BUCKET_NAME, AWS_ENDPOINT_URL, ...
	if err := env.Err(); err != nil {
		return err // one line naming the variable
	}
	store, err := objstore.New(ctx, s3)
	if err != nil {
		return err
	}
	client := worker.NewClient(cfg)
	defer client.Close()
	h := &testmoimport.Handler{Exports: testmoimport.S3Exports{Store: store}, Bucket: s3.Bucket, Enqueuer: client}
	mux := asynq.NewServeMux()
	h.Register(mux)
	return (&worker.App{Config: cfg, Mux: mux,
		Dependencies: []worker.Dependency{{Name: "s3", Ping: store.Ping}}}).Run(ctx)
}
