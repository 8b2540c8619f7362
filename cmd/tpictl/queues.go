package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"slices"
	"text/tabwriter"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/config"
	"github.com/testplanit/tpi-workers/internal/dashboard"
	"github.com/testplanit/tpi-workers/internal/tenant"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

func (c *cli) redis() (asynq.RedisConnOpt, error) {
	env := config.NewEnv(c.getenv)
	raw := env.Required("VALKEY_URL")
	if err := env.Err(); err != nil {
		return nil, err
	}
	opt, err := worker.ParseValkeyURL(raw)
	if err != nil {
		return nil, &config.ConfigError{Var: "VALKEY_URL", Reason: err.Error()}
	}
	return opt, nil
}

func (c *cli) inspector() (*asynq.Inspector, error) {
	opt, err := c.redis()
	if err != nil {
		return nil, err
	}
	return asynq.NewInspector(opt), nil
}

// submit sends t to VALKEY_URL with opts through task.Enqueue: a task ID
// that is already taken is not an error (the task exists, which is what the
// caller wanted), and the result names that ID, the caller's or the
// contract's.
func (c *cli) submit(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (task.Enqueued, error) {
	opt, err := c.redis()
	if err != nil {
		return task.Enqueued{}, err
	}
	client := asynq.NewClient(opt)
	defer client.Close()
	e, err := task.Enqueue(ctx, client, t, opts...)
	if err != nil {
		return task.Enqueued{}, fmt.Errorf("enqueue %s: %w", t.Type(), err)
	}
	return e, nil
}

// tenants returns the tenant settings of the environment (MULTI_TENANT_MODE,
// INSTANCE_TENANT_ID, TENANT_CONFIG_FILE, TENANT_CONFIGS, TENANT_<ID>_*)
// and a resolver for them, which the caller closes.
func (c *cli) tenants() (*tenant.Resolver, tenant.Settings, error) {
	env := config.NewEnv(c.getenv)
	s := tenant.LoadSettings(env, tenant.EnvNames(), false)
	if err := env.Err(); err != nil {
		return nil, s, err
	}
	r, err := tenant.NewResolver(s, nil, nil)
	if err != nil {
		return nil, s, err
	}
	return r, s, nil
}

// checkTenant refuses a task that the workers of this environment would
// archive for its tenant, as the enqueue API does: in multi-tenant mode a
// task without a tenant or with an unknown one, in single-tenant mode with
// INSTANCE_TENANT_ID a task of another tenant.
func (c *cli) checkTenant(t *asynq.Task) error {
	id, err := task.TenantOf(t)
	if err != nil {
		return err
	}
	r, _, err := c.tenants()
	if err != nil {
		return err
	}
	defer r.Close()
	if _, _, err := r.Lookup(id); err != nil {
		if errors.Is(err, tenant.ErrTenantRequired) {
			return fmt.Errorf("%w: give --tenant", err)
		}
		return err
	}
	return nil
}

func cmdEnqueue(ctx context.Context, c *cli, args []string) error {
	fs := flag.NewFlagSet("enqueue", flag.ContinueOnError)
	tenantID := fs.String("tenant", "", "tenantId of the payload (an error if the payload names another)")
	id := fs.String("id", "", "task ID (an existing ID makes this a no-op)")
	in := fs.Duration("in", 0, "process after this delay")
	queue := fs.String("queue", "", "override the queue")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		return errUsage
	}
	payload := json.RawMessage("{}")
	if len(pos) == 2 {
		payload = json.RawMessage(pos[1])
	}
	if payload, err = dashboard.WithTenant(payload, *tenantID); err != nil {
		return err
	}
	var opts []asynq.Option
	if *id != "" {
		opts = append(opts, asynq.TaskID(*id))
	}
	if *in > 0 {
		opts = append(opts, asynq.ProcessIn(*in))
	}
	if *queue != "" {
		opts = append(opts, asynq.Queue(*queue))
	}
	t, err := task.New(pos[0], payload)
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
	fmt.Fprintf(c.out, "enqueued %s on %s: id=%s", t.Type(), e.Queue, e.ID)
	if *in > 0 {
		fmt.Fprintf(c.out, " (runs in %s)", *in)
	}
	fmt.Fprintln(c.out)
	return nil
}

func cmdTypes(_ context.Context, c *cli, args []string) error {
	if len(args) != 0 {
		return errUsage
	}
	tw := tabwriter.NewWriter(c.out, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tQUEUE")
	for _, typ := range task.Types() {
		q, _ := task.QueueOf(typ)
		fmt.Fprintf(tw, "%s\t%s\n", typ, q)
	}
	return tw.Flush()
}

func cmdQueues(_ context.Context, c *cli, args []string) error {
	if len(args) != 0 {
		return errUsage
	}
	insp, err := c.inspector()
	if err != nil {
		return err
	}
	defer insp.Close()
	tw := tabwriter.NewWriter(c.out, 0, 2, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "QUEUE\tSTATUS\tPENDING\tACTIVE\tSCHEDULED\tRETRY\tARCHIVED\tCOMPLETED\tPROCESSED TODAY\tFAILED TODAY\t")
	existing, err := insp.Queues()
	if err != nil {
		return fmt.Errorf("list queues: %w", err)
	}
	for _, q := range task.Queues() {
		if !slices.Contains(existing, q.Name) {
			fmt.Fprintf(tw, "%s\tidle\t0\t0\t0\t0\t0\t0\t0\t0\t\n", q.Name)
			continue
		}
		info, err := insp.GetQueueInfo(q.Name)
		if err != nil {
			return fmt.Errorf("queue %s: %w", q.Name, err)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", q.Name, queueStatus(info),
			info.Pending, info.Active, info.Scheduled, info.Retry, info.Archived, info.Completed, info.Processed, info.Failed)
	}
	return tw.Flush()
}

// queueStatus mirrors the original admin page's badge.
func queueStatus(info *asynq.QueueInfo) string {
	switch {
	case info.Paused:
		return "paused"
	case info.Active > 0:
		return "active"
	default:
		return "idle"
	}
}

func knownQueue(name string) error {
	if _, ok := task.LookupQueue(name); !ok {
		var names []string
		for _, q := range task.Queues() {
			names = append(names, q.Name)
		}
		return fmt.Errorf("unknown queue %q (queues: %v)", name, names)
	}
	return nil
}

func cmdPause(_ context.Context, c *cli, args []string) error {
	return queueOp(c, args, "paused", (*asynq.Inspector).PauseQueue)
}

func cmdResume(_ context.Context, c *cli, args []string) error {
	return queueOp(c, args, "resumed", (*asynq.Inspector).UnpauseQueue)
}

func queueOp(c *cli, args []string, done string, op func(*asynq.Inspector, string) error) error {
	if len(args) != 1 {
		return errUsage
	}
	return c.withInspector(args[0], func(insp *asynq.Inspector) error {
		if err := op(insp, args[0]); err != nil {
			return fmt.Errorf("%s: %w", args[0], err)
		}
		fmt.Fprintf(c.out, "%s %s\n", args[0], done)
		return nil
	})
}
