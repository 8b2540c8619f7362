package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// cli carries what every command needs: the environment, the streams, and
// lazily opened connections.
type cli struct {
	getenv func(string) string
	in     io.Reader
	out    io.Writer
}

type command struct {
	usage string // arguments, shown by help
	help  string // one line
	run   func(ctx context.Context, c *cli, args []string) error
}

// errUsage makes run print the command's usage.
var errUsage = errors.New("usage")

func commands() map[string]command {
	return map[string]command{
		"migrate": {"[--mode auto|worker-only|all] [--enable-linear]", "apply migrations to DATABASE_URL (auto: only the worker schema on TestPlanIt's own database, else everything)", cmdMigrate},
		"seed":    {"", "load idempotent demo data into DATABASE_URL", cmdSeed},
		"enqueue": {"<type> '<json>' [--tenant T] [--id ID] [--in DURATION] [--queue Q]", "validate a payload against the contract and enqueue it (--tenant sets its tenantId)", cmdEnqueue},
		"types":   {"", "list the task types and their queues", cmdTypes},
		"queues":  {"", "task counts per state for every queue", cmdQueues},
		"pause":   {"<queue>", "stop workers from taking tasks off a queue", cmdPause},
		"resume":  {"<queue>", "let workers take tasks off a paused queue again", cmdResume},

		"doctor":      {"", "check every configured dependency (Valkey, PostgreSQL, SMTP, Elasticsearch, S3) and what the original BullMQ workers left; names what fails", cmdDoctor},
		"bullmq":      {"repeatables [--remove] [--yes] [--intake URL]", "the original scheduler's BullMQ repeatable jobs, listed or removed through the intake (INTAKE_URL, INTAKE_PRODUCER_TOKEN)", cmdBullMQ},
		"healthcheck": {"<url>", "exit 0 if url answers 2xx (the container health check; the image has no curl)", cmdHealthcheck},

		"stats":         {"[<queue>] [--days N]", "state counts, latency, memory, processed/failed totals and daily history", cmdStats},
		"tasks":         {"<queue> [--state STATE] [--limit N]", "a queue's tasks with retries, tenant and last error: --limit (20) per state, all states or --state pending|active|scheduled|retry|archived|completed|aggregating", cmdTasks},
		"task":          {"<queue> <task-id>", "one task: state, retries, times, payload (secrets redacted), result or progress, last error", cmdTask},
		"retry":         {"<queue> <task-id> | <queue> --archived [--all]", "run a failed task now, or every archived (--all: and retrying) task", cmdRetry},
		"promote":       {"<queue> <task-id> | <queue> --all", "run a scheduled (delayed) task now", cmdPromote},
		"remove":        {"<queue> <task-id> [--force] [--yes]", "remove one task (--force cancels a running one)", cmdRemove},
		"delete":        {"<queue> pending|scheduled|retry|archived|completed [--yes]", "delete every task of a queue in one state", cmdDelete},
		"clean":         {"<queue> [--grace DUR] [--limit N] [--yes]", "remove completed and archived (failed) tasks older than --grace", cmdClean},
		"drain":         {"<queue> [--delayed] [--yes]", "remove the pending (and with --delayed the scheduled) tasks", cmdDrain},
		"obliterate":    {"<queue> [--force] [--yes]", "delete a queue, its tasks and statistics", cmdObliterate},
		"trigger":       {"<job> [--tenant T] [--id ID] [--entity E] [--project N]", "run a scheduled job now: forecast, auto-complete, milestone-reminders, digest, reindex", cmdTrigger},
		"schedule":      {"[--next N]", "the scheduler's entries and next runs (SCHEDULER_* env) and those registered", cmdSchedule},
		"hash-password": {"< password", "bcrypt hash for DASHBOARD_PASSWORD_HASH (password on stdin)", cmdHashPassword},
		"new-token":     {"", "a random token and its SHA-256 for the DASHBOARD_*_TOKEN_HASH variables", cmdNewToken},

		"sync":              {"<integrationId> [projectId] --user <userId> [--tenant T] [--id ID]", "enqueue an issue sync of an integration (or one project) on behalf of a user", cmdSync},
		"reindex":           {"[entityType] [--project N] [--tenant T]", "enqueue a search reindex of every entity, or of one (repositoryCases, testRuns, sessions, sharedSteps, issues, milestones, projects), or of one project", cmdReindex},
		"forecast":          {"[--case ID] [--tenant T] [--inline]", "enqueue the nightly forecast job (or one case's) for a tenant; --inline computes it here", cmdForecast},
		"import":            {"<s3-key> [--upload FILE] [--user ID] [--tenant T] [--analyze-only]", "create a Testmo import job for an export in AWS_BUCKET_NAME, run analyze then import (default mapping), print its progress", cmdImport},
		"gen-testmo":        {"--size 1GB|200MB|<bytes> [--seed N] [--out FILE]", "write a generated Testmo export of about --size to FILE or stdout (for import and its benchmark); the report goes to stderr", cmdGenTestmo},
		"gen-forecast-data": {"[--cases N] [--links N] [--results N] [--runs N] [--seed N]", "seed DATABASE_URL and add a generated forecast data set (default: the benchmark's)", cmdGenForecastData},
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, in io.Reader, out io.Writer) error {
	c := &cli{getenv: getenv, in: in, out: out}
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printHelp(out, cmds)
		return nil
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		return fmt.Errorf("tpictl: unknown command %q (run tpictl help)", args[0])
	}
	err := cmd.run(ctx, c, args[1:])
	if errors.Is(err, errUsage) {
		return fmt.Errorf("usage: tpictl %s %s", args[0], cmd.usage)
	}
	return err
}

func printHelp(out io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(out, "tpictl: operator CLI of the TestPlanIt worker fleet")
	fmt.Fprintln(out, "\nCommands:")
	tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
	for _, n := range names {
		fmt.Fprintf(tw, "  %s %s\t%s\n", n, cmds[n].usage, cmds[n].help)
	}
	tw.Flush()
	fmt.Fprintln(out, "\nEnvironment: VALKEY_URL (queues), DATABASE_URL (migrate, seed); MULTI_TENANT_MODE, INSTANCE_TENANT_ID,\n"+
		"TENANT_CONFIG_FILE, TENANT_CONFIGS: the tenants a task may name (enqueue, trigger).")
}

// parseFlags parses flags that may come after positional arguments and
// returns the positionals.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, fmt.Errorf("%v: %w", err, errUsage)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// confirm asks a yes/no question on the CLI's streams; --yes skips it.
func (c *cli) confirm(question string) bool {
	fmt.Fprintf(c.out, "%s [y/N] ", question)
	var answer string
	_, _ = fmt.Fscanln(c.in, &answer)
	answer = strings.ToLower(strings.TrimSpace(answer))
	return answer == "y" || answer == "yes"
}
