package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// The task views: why a task failed, what it carries and how far it got,
// without reading Redis. Payloads and results are shown with their secrets
// redacted (secrets.go); a payload that is not JSON is not shown at all.

const (
	// defaultTaskLimit is how many tasks of each state tpictl tasks lists.
	defaultTaskLimit = 20
	// errWidth is how many characters of a last error tpictl tasks shows.
	errWidth = 80
)

// listedStates are the task states, in the order tpictl tasks lists them:
// the task's life.
func listedStates() []asynq.TaskState {
	return []asynq.TaskState{
		asynq.TaskStateActive, asynq.TaskStatePending, asynq.TaskStateAggregating, asynq.TaskStateScheduled,
		asynq.TaskStateRetry, asynq.TaskStateArchived, asynq.TaskStateCompleted,
	}
}

// parseState returns the state called name ("archived", ...).
func parseState(name string) (asynq.TaskState, bool) {
	for _, s := range listedStates() {
		if s.String() == name {
			return s, true
		}
	}
	return 0, false
}

// cmdTasks lists a queue's tasks, up to --limit per state: the active ones,
// pending in queue order, scheduled and retrying by next run, archived and
// completed newest first.
func cmdTasks(_ context.Context, c *cli, args []string) error {
	fs := flag.NewFlagSet("tasks", flag.ContinueOnError)
	stateName := fs.String("state", "", "only this state")
	limit := fs.Int("limit", defaultTaskLimit, "tasks per state")
	pos, err := parseFlags(fs, args)
	if err != nil || len(pos) != 1 || *limit < 1 {
		return errUsage
	}
	states := listedStates()
	if *stateName != "" {
		s, ok := parseState(*stateName)
		if !ok {
			return fmt.Errorf("unknown state %q (states: pending, active, scheduled, retry, archived, completed, aggregating)", *stateName)
		}
		states = []asynq.TaskState{s}
	}
	queue := pos[0]
	return c.withInspector(queue, func(insp *asynq.Inspector) error {
		return listTasks(c.out, insp, queue, states, *limit)
	})
}

func listTasks(out io.Writer, insp *asynq.Inspector, queue string, states []asynq.TaskState, limit int) error {
	existing, err := insp.Queues()
	if err != nil {
		return fmt.Errorf("list queues: %w", err)
	}
	if !slices.Contains(existing, queue) {
		fmt.Fprintf(out, "%s: no task yet\n", queue)
		return nil
	}
	info, err := insp.GetQueueInfo(queue)
	if err != nil {
		return fmt.Errorf("queue %s: %w", queue, err)
	}
	var rows []*asynq.TaskInfo
	var notes []string
	for _, s := range states {
		n := stateCount(info, s)
		ts, err := listState(insp, queue, s, n, limit)
		if err != nil {
			return fmt.Errorf("queue %s, %s tasks: %w", queue, s, err)
		}
		rows = append(rows, ts...)
		if n > len(ts) {
			notes = append(notes, fmt.Sprintf("%s: %d of %d shown, %s (--state %s --limit %d for all)", s, len(ts), n, listOrder(s), s, n))
		}
	}
	if len(rows) == 0 {
		what := "task"
		if len(states) == 1 {
			what = states[0].String() + " task"
		}
		fmt.Fprintf(out, "%s: no %s\n", queue, what)
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTYPE\tSTATE\tRETRIED\tTENANT\tWHEN\tLAST ERROR")
	for _, ti := range rows {
		state := ti.State.String()
		if ti.IsOrphaned {
			state += " (orphaned)"
		}
		lastErr := "-"
		if ti.LastErr != "" {
			lastErr = shorten(oneLine(reason(ti.LastErr)), errWidth)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\n", oneLine(ti.ID), oneLine(shortType(queue, ti.Type)), state,
			ti.Retried, ti.MaxRetry, orDash(oneLine(tenantOf(ti))), when(ti), lastErr)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintln(out, n)
	}
	return nil
}

// stateCount is the number of tasks of info's queue in state s.
func stateCount(info *asynq.QueueInfo, s asynq.TaskState) int {
	switch s {
	case asynq.TaskStateActive:
		return info.Active
	case asynq.TaskStatePending:
		return info.Pending
	case asynq.TaskStateAggregating:
		return info.Aggregating
	case asynq.TaskStateScheduled:
		return info.Scheduled
	case asynq.TaskStateRetry:
		return info.Retry
	case asynq.TaskStateArchived:
		return info.Archived
	default:
		return info.Completed
	}
}

// listOrder says which tasks of a state a truncated listing shows.
func listOrder(s asynq.TaskState) string {
	switch s {
	case asynq.TaskStateArchived, asynq.TaskStateCompleted:
		return "newest first"
	case asynq.TaskStateScheduled, asynq.TaskStateRetry:
		return "next to run first"
	default:
		return "oldest first"
	}
}

// listState returns up to limit tasks of queue in state s, of which there
// are about n.
func listState(insp *asynq.Inspector, queue string, s asynq.TaskState, n, limit int) ([]*asynq.TaskInfo, error) {
	page := asynq.PageSize(limit)
	switch s {
	case asynq.TaskStateActive:
		return insp.ListActiveTasks(queue, page)
	case asynq.TaskStatePending:
		return insp.ListPendingTasks(queue, page)
	case asynq.TaskStateScheduled:
		return insp.ListScheduledTasks(queue, page)
	case asynq.TaskStateRetry:
		return insp.ListRetryTasks(queue, page)
	case asynq.TaskStateArchived:
		return newest(func(opts ...asynq.ListOption) ([]*asynq.TaskInfo, error) {
			return insp.ListArchivedTasks(queue, opts...)
		}, n, limit)
	case asynq.TaskStateCompleted:
		return newest(func(opts ...asynq.ListOption) ([]*asynq.TaskInfo, error) {
			return insp.ListCompletedTasks(queue, opts...)
		}, n, limit)
	default: // aggregating: group by group
		if n == 0 {
			return nil, nil
		}
		groups, err := insp.Groups(queue)
		if err != nil {
			return nil, err
		}
		var all []*asynq.TaskInfo
		for _, g := range groups {
			if len(all) >= limit {
				break
			}
			ts, err := insp.ListAggregatingTasks(queue, g.Group, asynq.PageSize(limit-len(all)))
			if err != nil {
				return nil, err
			}
			all = append(all, ts...)
		}
		return all, nil
	}
}

// newest returns the last limit of the n tasks list pages through (asynq
// lists archived and completed tasks oldest first), newest first.
func newest(list func(...asynq.ListOption) ([]*asynq.TaskInfo, error), n, limit int) ([]*asynq.TaskInfo, error) {
	if n == 0 {
		return nil, nil
	}
	start := max(n-limit, 0)
	first, last := start/limit+1, (n-1)/limit+1
	var ts []*asynq.TaskInfo
	for p := first; p <= last; p++ {
		page, err := list(asynq.PageSize(limit), asynq.Page(p))
		if err != nil {
			return nil, err
		}
		ts = append(ts, page...)
	}
	ts = ts[min(start-(first-1)*limit, len(ts)):]
	slices.Reverse(ts)
	return ts, nil
}

// cmdTask shows one task: its state, attempts, times, payload (secrets
// redacted), result or progress, and last error.
func cmdTask(_ context.Context, c *cli, args []string) error {
	if len(args) != 2 {
		return errUsage
	}
	return c.withInspector(args[0], func(insp *asynq.Inspector) error {
		return showTask(c.out, insp, args[0], args[1])
	})
}

func showTask(out io.Writer, insp *asynq.Inspector, queue, id string) error {
	ti, err := insp.GetTaskInfo(queue, id)
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		return fmt.Errorf("no task %q in queue %s (never enqueued, deleted, or completed and past its retention)", id, queue)
	case err != nil:
		return fmt.Errorf("task %s in %s: %w", id, queue, err)
	}
	tw := tabwriter.NewWriter(out, 0, 2, 1, ' ', 0)
	field := func(name, value string) { fmt.Fprintf(tw, "%s:\t%s\n", name, value) }
	at := func(name string, t time.Time) {
		if !t.IsZero() {
			field(name, stamp(t))
		}
	}
	field("id", oneLine(ti.ID))
	field("queue", ti.Queue)
	field("type", oneLine(ti.Type))
	state := ti.State.String()
	if ti.IsOrphaned {
		state += " (orphaned: no worker holds its lease; a worker of the queue will recover it)"
	}
	field("state", state)
	field("tenant", orDash(oneLine(tenantOf(ti))))
	field("retried", fmt.Sprintf("%d of %d", ti.Retried, ti.MaxRetry))
	if ti.Group != "" {
		field("group", oneLine(ti.Group))
	}
	at("last failed", ti.LastFailedAt)
	at("next run", ti.NextProcessAt)
	at("completed", ti.CompletedAt)
	at("deadline", ti.Deadline)
	if ti.Timeout > 0 {
		field("timeout", ti.Timeout.String())
	}
	if ti.Retention > 0 {
		field("retention", ti.Retention.String())
	}
	for _, k := range slices.Sorted(maps.Keys(ti.Headers)) {
		v := redactText(ti.Headers[k])
		if isSecretKey(k) {
			v = redacted
		}
		field("header "+oneLine(k), oneLine(v))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if ti.LastErr != "" {
		fmt.Fprintf(out, "last error: %s\n", indentLines(reason(ti.LastErr), "  "))
	}
	fmt.Fprintf(out, "payload: %s\n", document(ti.Payload))
	if len(ti.Result) > 0 {
		label := "result"
		if isProgress(ti.Result) {
			label = "progress"
		}
		fmt.Fprintf(out, "%s: %s\n", label, document(ti.Result))
	}
	return nil
}

// document shows a payload or result: JSON indented with its secrets
// redacted, anything else by its size only.
func document(b []byte) string {
	if len(b) == 0 {
		return "(empty)"
	}
	if s, ok := redactJSON(b, ""); ok {
		return s
	}
	return fmt.Sprintf("(%d bytes, not JSON)", len(b))
}

// isProgress reports whether a result is a progress document, which the
// runtime's progress writer (worker.Progress) keeps as the task's result.
func isProgress(b []byte) bool {
	v, ok := decodeJSON(b)
	m, isObj := v.(map[string]any)
	if !ok || !isObj {
		return false
	}
	_, phase := m["phase"]
	_, updated := m["updatedAt"]
	return phase && updated
}

// reason is a last error as the operator should read it: without the
// ": skip retry for the task" of tasks archived by older workers, and with
// secrets of known shape hidden.
func reason(lastErr string) string { return redactText(worker.TrimSkipRetry(lastErr)) }

// tenantOf is the tenantId of a task's payload, "" when it has none.
func tenantOf(ti *asynq.TaskInfo) string {
	id, err := task.TenantOf(asynq.NewTask(ti.Type, ti.Payload))
	if err != nil {
		return ""
	}
	return id
}

// shortType drops the queue's prefix from a task type of that queue.
func shortType(queue, typ string) string {
	if rest, ok := strings.CutPrefix(typ, queue+":"); ok && rest != "" {
		return rest
	}
	return typ
}

// when is the time that matters for a task in its state.
func when(ti *asynq.TaskInfo) string {
	switch {
	case (ti.State == asynq.TaskStateScheduled || ti.State == asynq.TaskStateRetry) && !ti.NextProcessAt.IsZero():
		return "next " + stamp(ti.NextProcessAt)
	case ti.State == asynq.TaskStateCompleted && !ti.CompletedAt.IsZero():
		return "done " + stamp(ti.CompletedAt)
	case !ti.LastFailedAt.IsZero():
		return "failed " + stamp(ti.LastFailedAt)
	default:
		return "-"
	}
}

// stamp formats t in UTC, RFC 3339.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine makes s safe for one table cell: runs of white space become one
// space, other control characters (a terminal escape, say) are dropped.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r):
			return ' '
		case unicode.IsControl(r):
			return -1
		}
		return r
	}, s)), " ")
}

// indentLines keeps s's lines (a multi-line error), each made safe with
// oneLine, the continuation lines indented.
func indentLines(s, indent string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		lines[i] = oneLine(l)
	}
	return strings.Join(lines, "\n"+indent)
}

// shorten cuts s to at most n characters, marking the cut with "…".
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
