package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/schedule"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// trigger is a one-off run of a scheduled (or operator) job.
type trigger struct {
	taskType string
	help     string
}

// triggers are the jobs "tpictl trigger" runs, with the original npm script
// names as aliases (forecast:trigger, elasticsearch:reindex).
func triggers() map[string]trigger {
	return map[string]trigger{
		"forecast":            {task.TypeUpdateAllCasesForecast, "recompute every forecast (the nightly job)"},
		"auto-complete":       {task.TypeAutoCompleteMilestones, "complete the due milestones that complete automatically"},
		"milestone-reminders": {task.TypeMilestoneDueNotifications, "send the milestone due reminders"},
		"digest":              {task.TypeSendDailyDigest, "run the digest sweep (users whose local 08:00 has come get their digest)"},
		"reindex":             {task.TypeReindex, "rebuild the search indexes (--entity, --project)"},
	}
}

func triggerAliases() map[string]string {
	return map[string]string{
		"forecast:trigger":         "forecast",
		"elasticsearch:reindex":    "reindex",
		"auto-complete-milestones": "auto-complete",
		"milestone-notifications":  "milestone-reminders",
		"daily-digest":             "digest",
	}
}

func cmdTrigger(ctx context.Context, c *cli, args []string) error {
	fs := flag.NewFlagSet("trigger", flag.ContinueOnError)
	tenantID := fs.String("tenant", "", "tenantId of the payload (required in multi-tenant mode)")
	id := fs.String("id", "", "task ID (a second trigger with the same ID is a no-op)")
	entity := fs.String("entity", task.EntityAll, "reindex: entity type ("+strings.Join(task.EntityTypes(), ", ")+")")
	project := fs.Int("project", 0, "reindex: only this project")
	user := fs.String("user", "", "reindex: userId recorded as the requester")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return c.listTriggers()
	}
	name := pos[0]
	if alias, ok := triggerAliases()[name]; ok {
		name = alias
	}
	tr, ok := triggers()[name]
	if !ok {
		_ = c.listTriggers()
		return fmt.Errorf("unknown job %q", pos[0])
	}
	var t *asynq.Task
	var opts []asynq.Option
	if *id != "" {
		opts = append(opts, asynq.TaskID(*id))
	}
	switch tr.taskType {
	case task.TypeUpdateAllCasesForecast:
		t, err = task.NewUpdateAllCasesForecast(task.UpdateAllCasesForecast{TenantID: *tenantID})
	case task.TypeAutoCompleteMilestones:
		t, err = task.NewAutoCompleteMilestones(task.AutoCompleteMilestones{TenantID: *tenantID})
	case task.TypeMilestoneDueNotifications:
		t, err = task.NewMilestoneDueNotifications(task.MilestoneDueNotifications{TenantID: *tenantID})
	case task.TypeSendDailyDigest:
		t, err = task.NewSendDailyDigest(task.SendDailyDigest{TenantID: *tenantID})
	case task.TypeReindex:
		p := task.Reindex{EntityType: *entity, UserID: *user, TenantID: *tenantID}
		if *project != 0 {
			p.ProjectID = project
		}
		t, err = task.NewReindex(p)
	}
	if err != nil {
		return err
	}
	if err := c.checkTenant(t); err != nil {
		return fmt.Errorf("trigger %s: %w", name, err)
	}
	// The options go to submit, not into the task, so that a duplicate is
	// reported with the operator's ID.
	e, err := c.submit(ctx, t, opts...)
	switch {
	case err != nil:
		return fmt.Errorf("trigger %s: %w", name, err)
	case e.Duplicate:
		fmt.Fprintf(c.out, "already triggered: task ID %s exists\n", e.ID)
		return nil
	}
	fmt.Fprintf(c.out, "triggered %s: %s on %s, id=%s\n", name, t.Type(), e.Queue, e.ID)
	return nil
}

func (c *cli) listTriggers() error {
	names := make([]string, 0)
	for n := range triggers() {
		names = append(names, n)
	}
	sort.Strings(names)
	tw := tabwriter.NewWriter(c.out, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tTASK TYPE\tWHAT")
	for _, n := range names {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", n, triggers()[n].taskType, triggers()[n].help)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return errUsage
}

// cmdSchedule prints the scheduler's entries as the environment (SCHEDULER_TZ,
// SCHEDULER_CRON_*, SCHEDULER_CONFIG_FILE) configures them, with the next
// runs, and the entries the running schedulers registered.
func cmdSchedule(_ context.Context, c *cli, args []string) error {
	fs := flag.NewFlagSet("schedule", flag.ContinueOnError)
	n := fs.Int("next", 3, "next runs to show per entry")
	pos, err := parseFlags(fs, args)
	if err != nil || len(pos) != 0 || *n < 1 || *n > 50 {
		return errUsage
	}
	var file []byte
	if path := c.getenv("SCHEDULER_CONFIG_FILE"); path != "" {
		if file, err = os.ReadFile(path); err != nil {
			return fmt.Errorf("SCHEDULER_CONFIG_FILE: %w", err)
		}
	}
	now := time.Now()
	cfg, err := schedule.Resolve(schedule.OverridesFromEnv(c.getenv), file, schedule.Timing{}, now)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.out, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "ENTRY\tCRON\tZONE\tTASK TYPE\tNEXT RUNS")
	for _, e := range cfg.Entries {
		var next []string
		t := now
		for range *n {
			t = e.Next(t)
			next = append(next, t.In(e.Location).Format("2006-01-02 15:04 MST"))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Name, e.Cron, e.Location, e.TaskType, strings.Join(next, ", "))
	}
	for _, d := range cfg.Disabled {
		fmt.Fprintf(tw, "%s\toff\t\t\t\n", d)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := c.printTenants(); err != nil {
		return err
	}
	insp, err := c.inspector()
	if err != nil {
		return nil // the configuration is shown; no Valkey configured
	}
	defer insp.Close()
	entries, err := insp.SchedulerEntries()
	if err != nil {
		return fmt.Errorf("scheduler entries: %w", err)
	}
	fmt.Fprintf(c.out, "\nregistered by running schedulers: %d entries\n", len(entries))
	for _, e := range entries {
		fmt.Fprintf(c.out, "  %s  %s  next %s\n", e.Spec, e.Task.Type(), e.Next.Format(time.RFC3339))
	}
	return nil
}

// printTenants says which tenants the scheduler of this environment enqueues
// each occurrence for, when there are tenants.
func (c *cli) printTenants() error {
	r, s, err := c.tenants()
	if err != nil {
		return err
	}
	defer r.Close()
	if !s.MultiTenant && s.InstanceID == "" {
		return nil
	}
	ids, err := r.IDs()
	if err != nil {
		return err
	}
	fmt.Fprintf(c.out, "\neach occurrence is enqueued once per tenant (task ID <tenant>:schedule:<entry>:<time>): %s\n", strings.Join(ids, ", "))
	return nil
}

// cmdReindex is `trigger reindex` with the entity type as its argument:
// `tpictl reindex [entityType] [--project N]` (all entities by default).
func cmdReindex(ctx context.Context, c *cli, args []string) error {
	fs := flag.NewFlagSet("reindex", flag.ContinueOnError)
	tenantID := fs.String("tenant", "", "tenantId of the payload (required in multi-tenant mode)")
	id := fs.String("id", "", "task ID (a second reindex with the same ID is a no-op)")
	project := fs.Int("project", 0, "only this project")
	user := fs.String("user", "", "userId recorded as the requester")
	pos, err := parseFlags(fs, args)
	if err != nil || len(pos) > 1 {
		return errUsage
	}
	entity := task.EntityAll
	if len(pos) == 1 {
		entity = pos[0]
	}
	return cmdTrigger(ctx, c, []string{"reindex", "--entity", entity, "--project", strconv.Itoa(*project),
		"--tenant", *tenantID, "--user", *user, "--id", *id})
}
