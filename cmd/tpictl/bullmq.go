package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// The BullMQ intake's address and token, as its own configuration names them
// (intake/README.md).
const (
	defaultIntakeURL  = "http://127.0.0.1:9109"
	defaultBullPrefix = "bull" // BullMQ's default key prefix, TestPlanIt's
)

// intakeRepeatable is one repeatable job or job scheduler as the intake's
// GET /repeatables lists it.
type intakeRepeatable struct {
	Key     string `json:"key"`
	Name    string `json:"name"`
	Pattern string `json:"pattern,omitempty"`
	Every   any    `json:"every,omitempty"`
	Next    any    `json:"next,omitempty"`
	ID      string `json:"id,omitempty"`
}

// cmdBullMQ works on what the original BullMQ workers left in Valkey. Only
// "repeatables" today: the original scheduler's repeatable jobs, which the
// intake does not forward (our scheduler owns the schedules). Listing and
// removing go through the intake, which speaks BullMQ with its own library.
func cmdBullMQ(ctx context.Context, c *cli, args []string) error {
	if len(args) == 0 || args[0] != "repeatables" {
		return errUsage
	}
	fs := flag.NewFlagSet("bullmq repeatables", flag.ContinueOnError)
	remove := fs.Bool("remove", false, "remove them")
	yes := fs.Bool("yes", false, "do not ask before removing")
	intake := fs.String("intake", "", "the intake's address (default INTAKE_URL, else "+defaultIntakeURL+")")
	pos, err := parseFlags(fs, args[1:])
	if err != nil || len(pos) != 0 {
		return errUsage
	}
	base := *intake
	if base == "" {
		base = c.getenv("INTAKE_URL")
	}
	if base == "" {
		base = defaultIntakeURL
	}
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("bullmq: intake address %q: want http(s)://host:port", base)
	}
	token := c.getenv("INTAKE_PRODUCER_TOKEN")
	if token == "" {
		return errors.New("bullmq: INTAKE_PRODUCER_TOKEN is not set (the intake's token guards its admin endpoint)")
	}
	var listed struct {
		Queues map[string][]intakeRepeatable `json:"queues"`
	}
	if err := intakeCall(ctx, http.MethodGet, u.String()+"/repeatables", token, &listed); err != nil {
		return err
	}
	queues := make([]string, 0, len(listed.Queues))
	total := 0
	for q, rs := range listed.Queues {
		queues = append(queues, q)
		total += len(rs)
	}
	slices.Sort(queues)
	tw := tabwriter.NewWriter(c.out, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\tNAME\tSCHEDULE\tNEXT\tKEY")
	for _, q := range queues {
		for _, r := range listed.Queues[q] {
			sched := r.Pattern
			if sched == "" && r.Every != nil {
				sched = fmt.Sprintf("every %v ms", r.Every)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", q, r.Name, sched, nextRun(r.Next), r.Key)
		}
	}
	tw.Flush()
	fmt.Fprintf(c.out, "%d repeatable job(s) of the original scheduler\n", total)
	if !*remove || total == 0 {
		return nil
	}
	if !*yes && !c.confirm(fmt.Sprintf("Remove these %d repeatable job(s)? Our scheduler owns the schedules.", total)) {
		return errors.New("bullmq: nothing removed")
	}
	var removed struct {
		Removed int `json:"removed"`
	}
	if err := intakeCall(ctx, http.MethodDelete, u.String()+"/repeatables", token, &removed); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "removed %d repeatable job(s)\n", removed.Removed)
	return nil
}

// nextRun shows a BullMQ "next" (milliseconds since the epoch) in UTC.
func nextRun(v any) string {
	ms, ok := v.(float64)
	if !ok || ms <= 0 {
		return "-"
	}
	return time.UnixMilli(int64(ms)).UTC().Format(time.RFC3339)
}

// intakeCall calls the intake's admin endpoint and decodes its JSON answer.
func intakeCall(ctx context.Context, method, target, token string, into any) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, target, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("bullmq: cannot reach the intake (is bullmq-intake running? set INTAKE_URL or --intake): %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("bullmq: reading the intake's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("bullmq: the intake answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("bullmq: the intake's answer: %w", err)
	}
	return nil
}

// checkBullMQ is doctor's probe of what the original workers left: the
// original scheduler's repeatable jobs (their sorted set, one per queue, is
// all it reads; listing and removing go through the intake), which keep
// adding jobs the intake refuses while they exist.
func checkBullMQ(ctx context.Context, getenv func(string) string) finding {
	raw := strings.TrimSpace(getenv("VALKEY_URL"))
	if raw == "" {
		return finding{}
	}
	prefix := getenv("INTAKE_PREFIX")
	if prefix == "" {
		prefix = defaultBullPrefix
	}
	where := "VALKEY_URL=" + worker.RedactURL(raw) + ", prefix " + prefix
	rc, err := openValkey(raw)
	if err != nil {
		return finding{where: where, err: err}
	}
	defer rc.Close()
	if err := rc.Ping(ctx).Err(); err != nil {
		// The valkey probe says why; one failure is enough.
		return finding{where: where, warn: true, detail: "not checked: Valkey does not answer"}
	}
	var left []string
	total := int64(0)
	for _, q := range task.Queues() {
		n, err := rc.ZCard(ctx, prefix+":"+q.Name+":repeat").Result()
		if err != nil {
			return finding{where: where, err: fmt.Errorf("reading %s:%s:repeat: %w", prefix, q.Name, err)}
		}
		if n > 0 {
			left = append(left, fmt.Sprintf("%s (%d)", q.Name, n))
			total += n
		}
	}
	if total > 0 {
		return finding{where: where, warn: true, detail: fmt.Sprintf("%d repeatable job(s) of the original scheduler remain on %s: "+
			"the intake refuses them and our scheduler runs those jobs; remove them with tpictl bullmq repeatables --remove",
			total, strings.Join(left, ", "))}
	}
	return finding{where: where, detail: "no repeatable jobs of the original scheduler"}
}
