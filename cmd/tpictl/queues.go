package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"text/tabwriter"

	"github.com/testplanit/tpi-workers/internal/config"

	"github.com/hibiken/asynq"

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

// enqueue sends t to VALKEY_URL. A task ID that is already taken is not an
// error: the task exists, which is what the caller wanted; dup reports it.
func (c *cli) enqueue(ctx context.Context, t *asynq.Task) (info *asynq.TaskInfo, dup bool, err error) {
	opt, err := c.redis()
	if err != nil {
		return nil, false, err
	}
	client := asynq.NewClient(opt)
	defer client.Close()
	info, err = client.EnqueueContext(ctx, t)
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("enqueue %s: %w", t.Type(), err)
	}
	return info, false, nil
}

// describeID names the task ID that made an enqueue a duplicate: the one the
// operator gave, or else the contract's deterministic one for that payload.
func describeID(id string) string {
	if id != "" {
		return "task ID " + id
	}
	return "a task with the same deterministic ID"
}

func cmdEnqueue(ctx context.Context, c *cli, args []string) error {
	fs := flag.NewFlagSet("enqueue", flag.ContinueOnError)
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
	payload := []byte("{}")
	if len(pos) == 2 {
		payload = []byte(pos[1])
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
	t, err := task.New(pos[0], payload, opts...)
	if err != nil {
		return err
	}
	info, dup, err := c.enqueue(ctx, t)
	switch {
	case err != nil:
		return err
	case dup:
		fmt.Fprintf(c.out, "already enqueued: %s (%s exists)\n", t.Type(), describeID(*id))
		return nil
	}
	fmt.Fprintf(c.out, "enqueued %s on %s: id=%s state=%s\n", info.Type, info.Queue, info.ID, info.State)
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
