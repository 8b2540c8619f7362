package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/pkg/task"
)

// The queue operations of the original Admin > Job Queues page (pause and
// resume are in queues.go): stats, retry, promote, remove, delete, clean,
// drain, obliterate. Destructive ones ask for confirmation unless --yes.

// withInspector checks the queue name, opens an inspector and runs fn.
func (c *cli) withInspector(queue string, fn func(*asynq.Inspector) error) error {
	if err := knownQueue(queue); err != nil {
		return err
	}
	insp, err := c.inspector()
	if err != nil {
		return err
	}
	defer insp.Close()
	return fn(insp)
}

// errAborted is returned when the operator does not confirm.
var errAborted = errors.New("aborted: nothing changed")

// confirmed asks question unless yes; false means abort.
func (c *cli) confirmed(yes bool, question string) bool {
	return yes || c.confirm(question)
}

func cmdStats(_ context.Context, c *cli, args []string) error {
	fs := flag.NewFlagSet("stats", flag.ContinueOnError)
	days := fs.Int("days", 7, "days of processed/failed history")
	pos, err := parseFlags(fs, args)
	if err != nil || len(pos) > 1 || *days < 1 || *days > 90 {
		return errUsage
	}
	queues := pos
	if len(queues) == 0 {
		for _, q := range task.Queues() {
			queues = append(queues, q.Name)
		}
	}
	for _, q := range queues {
		if err := knownQueue(q); err != nil {
			return err
		}
	}
	insp, err := c.inspector()
	if err != nil {
		return err
	}
	defer insp.Close()
	existing, err := insp.Queues()
	if err != nil {
		return fmt.Errorf("list queues: %w", err)
	}
	for i, q := range queues {
		if i > 0 {
			fmt.Fprintln(c.out)
		}
		spec, _ := task.LookupQueue(q)
		if !slices.Contains(existing, q) {
			fmt.Fprintf(c.out, "%s: no task yet (concurrency from %s, default %d)\n", q, spec.ConcurrencyEnv, spec.DefaultConcurrency)
			continue
		}
		info, err := insp.GetQueueInfo(q)
		if err != nil {
			return fmt.Errorf("queue %s: %w", q, err)
		}
		fmt.Fprintf(c.out, "%s: %s, latency %s, memory %d B, concurrency from %s (default %d)\n", q, queueStatus(info),
			info.Latency.Round(time.Millisecond), info.MemoryUsage, spec.ConcurrencyEnv, spec.DefaultConcurrency)
		fmt.Fprintf(c.out, "  pending %d  active %d  scheduled %d  retry %d  archived %d  completed %d\n",
			info.Pending, info.Active, info.Scheduled, info.Retry, info.Archived, info.Completed)
		fmt.Fprintf(c.out, "  processed %d (today %d)  failed %d (today %d)\n", info.ProcessedTotal, info.Processed, info.FailedTotal, info.Failed)
		hist, err := insp.History(q, *days)
		if err != nil {
			return fmt.Errorf("queue %s history: %w", q, err)
		}
		tw := tabwriter.NewWriter(c.out, 0, 2, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "  DAY\tPROCESSED\tFAILED\t")
		for _, d := range hist {
			fmt.Fprintf(tw, "  %s\t%d\t%d\t\n", d.Date.Format(time.DateOnly), d.Processed, d.Failed)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// cmdRetry runs one failed task now, or every archived (and, with --all,
// retrying) task of a queue: the original "retry" action.
func cmdRetry(_ context.Context, c *cli, args []string) error {
	fs := flag.NewFlagSet("retry", flag.ContinueOnError)
	archived := fs.Bool("archived", false, "retry every archived (dead) task of the queue")
	all := fs.Bool("all", false, "with --archived: also the tasks waiting for their next retry")
	pos, err := parseFlags(fs, args)
	if err != nil || len(pos) < 1 || len(pos) > 2 || (len(pos) == 2) == *archived || (*all && !*archived) {
		return errUsage
	}
	return c.withInspector(pos[0], func(insp *asynq.Inspector) error {
		if len(pos) == 2 {
			if err := insp.RunTask(pos[0], pos[1]); err != nil {
				return fmt.Errorf("retry %s in %s: %w", pos[1], pos[0], err)
			}
			fmt.Fprintf(c.out, "%s: task %s will run now\n", pos[0], pos[1])
			return nil
		}
		n, err := insp.RunAllArchivedTasks(pos[0])
		if err != nil {
			return fmt.Errorf("%s: %w", pos[0], err)
		}
		m := 0
		if *all {
			if m, err = insp.RunAllRetryTasks(pos[0]); err != nil {
				return fmt.Errorf("%s: %w", pos[0], err)
			}
		}
		fmt.Fprintf(c.out, "%s: %d archived and %d retrying tasks will run now\n", pos[0], n, m)
		return nil
	})
}

// cmdPromote runs a delayed task now: the original "promote".
func cmdPromote(_ context.Context, c *cli, args []string) error {
	fs := flag.NewFlagSet("promote", flag.ContinueOnError)
	all := fs.Bool("all", false, "every scheduled (delayed) task of the queue")
	pos, err := parseFlags(fs, args)
	if err != nil || len(pos) < 1 || len(pos) > 2 || (len(pos) == 2) == *all {
		return errUsage
	}
	return c.withInspector(pos[0], func(insp *asynq.Inspector) error {
		if *all {
			n, err := insp.RunAllScheduledTasks(pos[0])
			if err != nil {
				return fmt.Errorf("%s: %w", pos[0], err)
			}
			fmt.Fprintf(c.out, "%s: %d scheduled tasks will run now\n", pos[0], n)
			return nil
		}
		ti, err := insp.GetTaskInfo(pos[0], pos[1])
		if err != nil {
			return fmt.Errorf("%s in %s: %w", pos[1], pos[0], err)
		}
		if ti.State != asynq.TaskStateScheduled {
			return fmt.Errorf("%s in %s is %s, not scheduled: nothing to promote", pos[1], pos[0], ti.State)
		}
		if err := insp.RunTask(pos[0], pos[1]); err != nil {
			return fmt.Errorf("promote %s in %s: %w", pos[1], pos[0], err)
		}
		fmt.Fprintf(c.out, "%s: task %s will run now\n", pos[0], pos[1])
		return nil
	})
}

// cmdRemove deletes one task; an active one needs --force, which cancels it
// (asynq cannot delete a task a worker holds).
func cmdRemove(_ context.Context, c *cli, args []string) error {
	fs := flag.NewFlagSet("remove", flag.ContinueOnError)
	force := fs.Bool("force", false, "cancel the task if a worker is running it")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	pos, err := parseFlags(fs, args)
	if err != nil || len(pos) != 2 {
		return errUsage
	}
	q, id := pos[0], pos[1]
	return c.withInspector(q, func(insp *asynq.Inspector) error {
		ti, err := insp.GetTaskInfo(q, id)
		if err != nil {
			return fmt.Errorf("%s in %s: %w", id, q, err)
		}
		if ti.State == asynq.TaskStateActive {
			if !*force {
				return fmt.Errorf("%s in %s is active (a worker is running it): add --force to cancel it", id, q)
			}
			if !c.confirmed(*yes, fmt.Sprintf("Cancel the running task %s (%s) in %s?", id, ti.Type, q)) {
				return errAborted
			}
			if err := insp.CancelProcessing(id); err != nil {
				return fmt.Errorf("cancel %s: %w", id, err)
			}
			fmt.Fprintf(c.out, "%s: cancellation of running task %s sent; it moves to retry or archived, remove it then\n", q, id)
			return nil
		}
		if !c.confirmed(*yes, fmt.Sprintf("Remove the %s task %s (%s) from %s?", ti.State, id, ti.Type, q)) {
			return errAborted
		}
		if err := insp.DeleteTask(q, id); err != nil {
			return fmt.Errorf("remove %s in %s: %w", id, q, err)
		}
		fmt.Fprintf(c.out, "%s: task %s removed\n", q, id)
		return nil
	})
}

// deleters are the states "delete" empties.
func deleters(insp *asynq.Inspector) map[string]func(string) (int, error) {
	return map[string]func(string) (int, error){
		"pending":   insp.DeleteAllPendingTasks,
		"scheduled": insp.DeleteAllScheduledTasks,
		"retry":     insp.DeleteAllRetryTasks,
		"archived":  insp.DeleteAllArchivedTasks,
		"completed": insp.DeleteAllCompletedTasks,
	}
}

// cmdDelete deletes every task of a queue in one state.
func cmdDelete(_ context.Context, c *cli, args []string) error {
	fs := flag.NewFlagSet("delete", flag.ContinueOnError)
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	pos, err := parseFlags(fs, args)
	if err != nil || len(pos) != 2 {
		return errUsage
	}
	q, state := pos[0], pos[1]
	return c.withInspector(q, func(insp *asynq.Inspector) error {
		del, ok := deleters(insp)[state]
		if !ok {
			return fmt.Errorf("unknown state %q (pending, scheduled, retry, archived, completed; active tasks cannot be deleted)", state)
		}
		if !c.confirmed(*yes, fmt.Sprintf("Delete every %s task of %s?", state, q)) {
			return errAborted
		}
		n, err := del(q)
		if err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
		fmt.Fprintf(c.out, "%s: %d %s tasks deleted\n", q, n, state)
		return nil
	})
}

// cmdClean removes completed and archived (failed) tasks older than --grace,
// up to --limit: the original "clean" (grace 0, limit 100 by default there).
func cmdClean(_ context.Context, c *cli, args []string) error {
	fs := flag.NewFlagSet("clean", flag.ContinueOnError)
	grace := fs.Duration("grace", 0, "keep tasks that finished less than this long ago")
	limit := fs.Int("limit", 0, "remove at most this many tasks of each state (0: no limit)")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	pos, err := parseFlags(fs, args)
	if err != nil || len(pos) != 1 || *grace < 0 || *limit < 0 {
		return errUsage
	}
	q := pos[0]
	return c.withInspector(q, func(insp *asynq.Inspector) error {
		what := "every completed and archived (failed) task"
		if *grace > 0 {
			what += " older than " + grace.String()
		}
		if *limit > 0 {
			what += fmt.Sprintf(" (at most %d of each)", *limit)
		}
		if !c.confirmed(*yes, fmt.Sprintf("Remove %s from %s?", what, q)) {
			return errAborted
		}
		if *grace == 0 && *limit == 0 {
			done, err := insp.DeleteAllCompletedTasks(q)
			if err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
			failed, err := insp.DeleteAllArchivedTasks(q)
			if err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
			fmt.Fprintf(c.out, "%s: removed %d completed and %d archived tasks\n", q, done, failed)
			return nil
		}
		cutoff := time.Now().Add(-*grace)
		done, err := cleanOlder(insp, q, insp.ListCompletedTasks, func(ti *asynq.TaskInfo) time.Time { return ti.CompletedAt }, cutoff, *limit)
		if err != nil {
			return err
		}
		failed, err := cleanOlder(insp, q, insp.ListArchivedTasks, func(ti *asynq.TaskInfo) time.Time { return ti.LastFailedAt }, cutoff, *limit)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.out, "%s: removed %d completed and %d archived tasks\n", q, done, failed)
		return nil
	})
}

// cleanOlder deletes the tasks list returns that finished before cutoff, at
// most limit (0: all). It collects the IDs first, as deleting shifts pages.
func cleanOlder(insp *asynq.Inspector, q string, list func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error),
	finished func(*asynq.TaskInfo) time.Time, cutoff time.Time, limit int) (int, error) {
	var ids []string
	for page := 1; ; page++ {
		tasks, err := list(q, asynq.Page(page), asynq.PageSize(500))
		if err != nil {
			return 0, fmt.Errorf("%s: %w", q, err)
		}
		for _, ti := range tasks {
			if finished(ti).Before(cutoff) && (limit == 0 || len(ids) < limit) {
				ids = append(ids, ti.ID)
			}
		}
		if len(tasks) < 500 || (limit > 0 && len(ids) >= limit) {
			break
		}
	}
	n := 0
	for _, id := range ids {
		err := insp.DeleteTask(q, id)
		switch {
		case errors.Is(err, asynq.ErrTaskNotFound): // gone meanwhile
		case err != nil:
			return n, fmt.Errorf("%s: delete %s: %w", q, id, err)
		default:
			n++
		}
	}
	return n, nil
}

// cmdDrain removes the waiting tasks (and with --delayed the scheduled
// ones), as BullMQ's drain.
func cmdDrain(_ context.Context, c *cli, args []string) error {
	fs := flag.NewFlagSet("drain", flag.ContinueOnError)
	delayed := fs.Bool("delayed", false, "also remove the scheduled (delayed) tasks")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	pos, err := parseFlags(fs, args)
	if err != nil || len(pos) != 1 {
		return errUsage
	}
	q := pos[0]
	return c.withInspector(q, func(insp *asynq.Inspector) error {
		what := "every pending task"
		if *delayed {
			what += " and every scheduled task"
		}
		if !c.confirmed(*yes, fmt.Sprintf("Drain %s: remove %s?", q, what)) {
			return errAborted
		}
		n, err := insp.DeleteAllPendingTasks(q)
		if err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
		m := 0
		if *delayed {
			if m, err = insp.DeleteAllScheduledTasks(q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		fmt.Fprintf(c.out, "%s: drained %d pending and %d scheduled tasks\n", q, n, m)
		return nil
	})
}

// cmdObliterate deletes a queue and everything in it, as BullMQ's
// obliterate.
func cmdObliterate(_ context.Context, c *cli, args []string) error {
	fs := flag.NewFlagSet("obliterate", flag.ContinueOnError)
	force := fs.Bool("force", false, "delete even when the queue holds tasks")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	pos, err := parseFlags(fs, args)
	if err != nil || len(pos) != 1 {
		return errUsage
	}
	q := pos[0]
	return c.withInspector(q, func(insp *asynq.Inspector) error {
		if !c.confirmed(*yes, fmt.Sprintf("Obliterate %s: delete the queue and all its tasks, statistics included?", q)) {
			return errAborted
		}
		err := insp.DeleteQueue(q, *force)
		switch {
		case errors.Is(err, asynq.ErrQueueNotEmpty):
			return fmt.Errorf("%s is not empty: add --force to delete its tasks too (active tasks must finish first)", q)
		case errors.Is(err, asynq.ErrQueueNotFound):
			fmt.Fprintf(c.out, "%s: nothing to obliterate (no task yet)\n", q)
			return nil
		case err != nil:
			return fmt.Errorf("%s: %w", q, err)
		}
		fmt.Fprintf(c.out, "%s obliterated\n", q)
		return nil
	})
}
