// Command tpictl is the operator CLI of the TestPlanIt worker fleet:
// migrations, demo data, one-off triggers and queue operations.
//
//	tpictl migrate [--mode auto|worker-only|all] [--enable-linear]
//	tpictl enqueue <type> '<json>' [--tenant T] [--id ID] [--in 10s]
//	tpictl trigger <job> [--tenant T]
//	tpictl queues
//	tpictl sync <integrationId> [projectId] --user <userId>
//	tpictl reindex [entityType] [--project N]
//	tpictl import <s3-key> [--upload FILE]
//	tpictl gen-testmo --size 1GB --out export.json
//	tpictl tasks <queue> [--state archived] [--limit N]
//	tpictl task <queue> <task-id>
//	tpictl pause <queue> | resume <queue>
//
// Run `tpictl help` for every command.
package main

import (
	"context"
	"os"

	"github.com/testplanit/tpi-workers/internal/worker"
)

func main() {
	worker.Main(func(ctx context.Context, getenv func(string) string) error {
		return run(ctx, os.Args[1:], getenv, os.Stdin, os.Stdout)
	})
}
