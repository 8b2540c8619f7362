package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strconv"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/pkg/task"
)

// cmdSync enqueues a bulk issue sync of an integration, or of one of its
// projects, on behalf of a user (whose OAuth tokens are used): what
// TestPlanIt's Admin > Integrations "Sync" button does
// (POST /api/admin/integrations/[id]/sync, data {forceRefresh: true}).
func cmdSync(ctx context.Context, c *cli, args []string) error {
	fs := flag.NewFlagSet("sync", flag.ContinueOnError)
	user := fs.String("user", "", "the user on whose behalf the provider is called (\"User\".id); required")
	tenantID := fs.String("tenant", "", "the tenant of the integration (tenantId of the task)")
	id := fs.String("id", "", "task ID (default: asynq's)")
	pos, err := parseFlags(fs, args)
	if err != nil || len(pos) < 1 || len(pos) > 2 || *user == "" {
		return errUsage
	}
	integrationID, err := strconv.Atoi(pos[0])
	if err != nil || integrationID <= 0 {
		return fmt.Errorf("sync: integration id %q is not a positive integer: %w", pos[0], errUsage)
	}
	p := task.SyncJob{UserID: *user, IntegrationID: integrationID, TenantID: *tenantID,
		Data: json.RawMessage(`{"forceRefresh":true}`)}
	newTask := task.NewSyncIssues
	if len(pos) == 2 {
		p.ProjectID = pos[1]
		newTask = task.NewSyncProjectIssues
	}
	var opts []asynq.Option
	if *id != "" {
		opts = append(opts, asynq.TaskID(*id))
	}
	t, err := newTask(p, opts...)
	if err != nil {
		return err
	}
	if err := c.checkTenant(t); err != nil {
		return err
	}
	e, err := c.submit(ctx, t, opts...)
	switch {
	case err != nil:
		return err
	case e.Duplicate:
		fmt.Fprintf(c.out, "already enqueued: %s (task ID %s exists)\n", t.Type(), e.ID)
		return nil
	}
	fmt.Fprintf(c.out, "enqueued %s on %s: id=%s\n", t.Type(), e.Queue, e.ID)
	return nil
}
