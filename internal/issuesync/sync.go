package issuesync

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/tracker"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// SyncIssues refreshes every issue of the integration (of one project when
// the payload names it) from the provider. See [Handler.sync].
func (h *Handler) SyncIssues(ctx context.Context, p task.SyncJob) error { return h.sync(ctx, p) }

// SyncProjectIssues refreshes the issues of one project of the integration.
// See [Handler.sync].
func (h *Handler) SyncProjectIssues(ctx context.Context, p task.SyncJob) error {
	return h.sync(ctx, p)
}

// sync is the bulk sync: the local "Issue" rows of the integration (and
// project), read by keyset pages, fetched from the provider in batches of
// the client's BatchSize, written as the original writes them, cached; then
// "lastSyncAt", one issues reindex per affected project, and the result.
//
// An issue that fails alone (deleted at the provider, refused, a row
// conflict) is counted and listed in the result, and the sync goes on. A
// failure of the integration (credentials refused, provider unreachable,
// rate limit beyond the wait) fails the task before anything of the batch
// is written; the pages written before stay written (a retry writes them
// again, idempotently) and are reindexed.
func (h *Handler) sync(ctx context.Context, p task.SyncJob) error {
	st, in, cl, err := h.open(ctx, p)
	if err != nil {
		return err
	}
	projectID, _ := p.ProjectIDInt()
	total, err := st.CountIssues(ctx, in.ID, projectID)
	if err != nil {
		return err
	}
	log := worker.LoggerFrom(ctx)
	tenantID := worker.TenantFrom(ctx).ID
	r := &syncRun{h: h, res: Result{Total: total, Errors: []IssueError{}, Projects: []int{}},
		maxErrors: cmp.Or(h.MaxErrors, DefaultMaxErrors),
		progress:  newProgressWriter(h.resultWriter(ctx), h, total)}
	batch := max(cl.BatchSize(), 1)
	pageSize := max(cmp.Or(h.PageSize, DefaultPageSize), batch)
	after, done := 0, 0
	for {
		rows, err := st.IssuePage(ctx, in.ID, projectID, after, pageSize)
		if err != nil {
			return r.fail(ctx, tenantID, err)
		}
		if len(rows) == 0 {
			break
		}
		for chunk := range slices.Chunk(rows, batch) {
			if err := r.batch(ctx, st, in, cl, tenantID, chunk); err != nil {
				return r.fail(ctx, tenantID, err)
			}
			done += len(chunk)
			r.progress.update(done, r.res, false)
		}
		after = rows[len(rows)-1].ID
	}
	r.progress.update(done, r.res, true)
	if err := st.SetLastSyncAt(ctx, in.ID, h.now()); err != nil {
		return r.fail(ctx, tenantID, err)
	}
	if err := h.reindex(ctx, tenantID, r.projects()); err != nil {
		return err
	}
	r.res.Projects = r.projectIDs()
	log.Info("issues synced", "integration", in.ID, "provider", in.Provider, "project", projectID,
		"total", total, "synced", r.res.Synced, "failed", r.res.Failed, "not_found", r.res.NotFound)
	return writeJSON(h.resultWriter(ctx), r.res)
}

// syncRun is the state of one bulk sync.
type syncRun struct {
	h         *Handler
	res       Result
	maxErrors int
	progress  *progressWriter
	// touched holds the projects of the rows written; 0 stands for rows
	// without a project.
	touched map[int]bool
}

// batch fetches and writes one batch of rows.
func (r *syncRun) batch(ctx context.Context, st *Store, in *Integration, cl tracker.Client, tenantID string, rows []IssueRow) error {
	refs := make([]string, 0, len(rows))
	sent := make([]IssueRow, 0, len(rows))
	for _, row := range rows {
		ref := refOf(in.Provider, row, "")
		if ref == "" {
			r.failIssue(row.ID, "", "the issue has no external identifier (externalId, externalKey or name)")
			continue
		}
		refs = append(refs, ref)
		sent = append(sent, row)
	}
	if len(refs) == 0 {
		return nil
	}
	results, err := cl.Fetch(ctx, refs)
	if err != nil {
		return integrationError(ctx, in, err)
	}
	if len(results) != len(refs) {
		return fmt.Errorf("issuesync: integration %d (%s): %d results for %d issues", in.ID, in.Provider, len(results), len(refs))
	}
	var ups []Update
	var fetched []*tracker.Issue
	for i, res := range results {
		row := sent[i]
		switch {
		case res.Err == nil && res.Issue != nil:
			is := originalShape(in.Provider, res.Issue)
			ups = append(ups, Update{RowID: row.ID, Issue: is})
			fetched = append(fetched, is)
		case errors.Is(res.Err, tracker.ErrNotFound):
			r.res.NotFound++
			r.listIssue(row.ID, refs[i], fmt.Sprintf("not found at the provider (deleted or moved); the issue was left as it was: %v", res.Err))
		case res.Err != nil:
			if rl, ok := errors.AsType[*tracker.RateLimitError](res.Err); ok {
				return worker.RateLimited(fmt.Errorf("issuesync: integration %d (%s): %w", in.ID, in.Provider, rl), rl.RetryAfter)
			}
			r.failIssue(row.ID, refs[i], res.Err.Error())
		default:
			r.failIssue(row.ID, refs[i], "the provider returned no issue")
		}
	}
	now := r.h.now()
	written, rowErrs, err := st.UpdateIssues(ctx, now, ups)
	for _, u := range written {
		r.touch(u.ProjectID)
	}
	if err != nil {
		return err
	}
	r.res.Synced += len(written)
	for _, re := range rowErrs {
		r.failIssue(re.RowID, refOfRow(sent, re.RowID, in.Provider), re.Err.Error())
	}
	if gone := len(ups) - len(written) - len(rowErrs); gone > 0 {
		// Rows deleted while the sync ran.
		seen := map[int]bool{}
		for _, u := range written {
			seen[u.RowID] = true
		}
		for _, re := range rowErrs {
			seen[re.RowID] = true
		}
		for _, u := range ups {
			if !seen[u.RowID] {
				r.failIssue(u.RowID, u.Issue.ID, "the issue row no longer exists")
			}
		}
	}
	if r.h.Cache != nil {
		if err := r.h.Cache.Put(ctx, tenantID, in.ID, fetched, now); err != nil {
			// The rows are written; a stale cache entry expires within
			// the hour. Not worth failing the sync.
			worker.LoggerFrom(ctx).Warn("issue cache not written", "integration", in.ID, "error", err)
		}
	}
	return nil
}

// fail reindexes what was written before an error, then returns the error.
func (r *syncRun) fail(ctx context.Context, tenantID string, err error) error {
	if len(r.touched) > 0 && ctx.Err() == nil {
		if rerr := r.h.reindex(ctx, tenantID, r.projects()); rerr != nil {
			worker.LoggerFrom(ctx).Warn("reindex after a failed sync not enqueued", "error", rerr)
		}
	}
	return err
}

func (r *syncRun) touch(projectID *int) {
	if r.touched == nil {
		r.touched = map[int]bool{}
	}
	if projectID == nil {
		r.touched[0] = true
		return
	}
	r.touched[*projectID] = true
}

// projects returns the touched projects, sorted, 0 (rows without a
// project) first.
func (r *syncRun) projects() []int {
	ps := make([]int, 0, len(r.touched))
	for p := range r.touched {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// projectIDs returns the touched "Projects".id, without 0.
func (r *syncRun) projectIDs() []int {
	return slices.DeleteFunc(r.projects(), func(p int) bool { return p == 0 })
}

func (r *syncRun) failIssue(rowID int, ref, msg string) {
	r.res.Failed++
	r.listIssue(rowID, ref, msg)
}

func (r *syncRun) listIssue(rowID int, ref, msg string) {
	if len(r.res.Errors) >= r.maxErrors {
		r.res.ErrorsOmitted++
		return
	}
	r.res.Errors = append(r.res.Errors, IssueError{IssueID: rowID, ExternalID: ref, Error: msg})
}

func refOfRow(rows []IssueRow, id int, provider string) string {
	for _, row := range rows {
		if row.ID == id {
			return refOf(provider, row, "")
		}
	}
	return ""
}

// RefreshIssue fetches one issue (the payload's issueId, the provider's id
// or key) and writes it into the row it belongs to, matched as the original
// does ("externalId" ∈ {id, key} or "externalKey" ∈ {key, id}). No such row
// is a permanent error ("Issues must be created through the UI before they
// can be synced"), as are the provider's "not found" and its other refusals
// of this issue (4xx); failures of the integration are transient, and a
// rate limit waits without spending an attempt.
func (h *Handler) RefreshIssue(ctx context.Context, p task.SyncJob) error {
	st, in, cl, err := h.open(ctx, p)
	if err != nil {
		return err
	}
	tenantID := worker.TenantFrom(ctx).ID
	issueID := strings.TrimSpace(p.IssueID)
	row, err := st.FindIssue(ctx, in.ID, issueID)
	if err != nil {
		return err
	}
	ref := issueID
	prefer := 0
	if row != nil {
		prefer = row.ID
		if in.Provider == ProviderGitHub {
			ref = refOf(in.Provider, *row, issueID)
		}
	}
	results, err := cl.Fetch(ctx, []string{ref})
	if err != nil {
		return integrationError(ctx, in, err)
	}
	if len(results) != 1 {
		return fmt.Errorf("issuesync: integration %d (%s): %d results for one issue", in.ID, in.Provider, len(results))
	}
	res := results[0]
	if res.Err != nil {
		return issueError(in, ref, res.Err)
	}
	if res.Issue == nil {
		return fmt.Errorf("issuesync: integration %d (%s): no issue returned for %s", in.ID, in.Provider, ref)
	}
	res.Issue = originalShape(in.Provider, res.Issue)
	rowID, err := st.MatchIssue(ctx, in.ID, res.Issue, prefer)
	if errors.Is(err, ErrIssueNotFound) {
		return worker.Permanent(fmt.Errorf("issuesync: integration %d: %w", in.ID, err))
	}
	if err != nil {
		return err
	}
	now := h.now()
	written, rowErrs, err := st.UpdateIssues(ctx, now, []Update{{RowID: rowID, Issue: res.Issue}})
	if err != nil {
		return err
	}
	if len(rowErrs) > 0 {
		return worker.Permanent(fmt.Errorf("issuesync: integration %d: %w", in.ID, rowErrs[0].Err))
	}
	if len(written) == 0 {
		return fmt.Errorf("issuesync: integration %d: issue %d disappeared while it was refreshed", in.ID, rowID)
	}
	if h.Cache != nil {
		if err := h.Cache.Put(ctx, tenantID, in.ID, []*tracker.Issue{res.Issue}, now); err != nil {
			worker.LoggerFrom(ctx).Warn("issue cache not written", "integration", in.ID, "error", err)
		}
	}
	project := 0
	projects := []int{}
	if written[0].ProjectID != nil {
		project = *written[0].ProjectID
		projects = append(projects, project)
	}
	if err := h.reindex(ctx, tenantID, []int{project}); err != nil {
		return err
	}
	worker.LoggerFrom(ctx).Info("issue refreshed", "integration", in.ID, "provider", in.Provider, "issue", rowID)
	return writeJSON(h.resultWriter(ctx), RefreshResult{Success: true, IssueID: rowID, ExternalID: res.Issue.ID, Projects: projects})
}

// issueError classifies the failure of the one issue a refresh asked for:
// gone or refused (4xx) is permanent, a rate limit waits, the rest is
// transient.
func issueError(in *Integration, ref string, err error) error {
	wrapped := fmt.Errorf("issuesync: integration %d (%s): issue %s: %w", in.ID, in.Provider, ref, err)
	if rl, ok := errors.AsType[*tracker.RateLimitError](err); ok {
		return worker.RateLimited(wrapped, rl.RetryAfter)
	}
	if errors.Is(err, tracker.ErrNotFound) {
		return worker.Permanent(wrapped)
	}
	if se, ok := errors.AsType[*tracker.StatusError](err); ok && se.Status >= 400 && se.Status < 500 {
		return worker.Permanent(wrapped)
	}
	return wrapped
}

// githubKey is the key the GitHub client gives an issue: owner/repo#number.
var githubKey = regexp.MustCompile(`^[^/#]+/[^/#]+#(\d+)$`)

// originalShape returns is as the original's adapter would have shaped it,
// where our client differs: a GitHub issue's key is "#<number>"
// (GitHubAdapter), owner and repository staying in its custom fields
// (_github_owner, _github_repo), so the "Issue" name and externalKey and the
// cached JSON are the original's.
func originalShape(provider string, is *tracker.Issue) *tracker.Issue {
	if provider != ProviderGitHub {
		return is
	}
	if m := githubKey.FindStringSubmatch(is.Key); m != nil {
		c := *is
		c.Key = "#" + m[1]
		return &c
	}
	return is
}

// githubIssueURL finds owner and repository in an issue's URL
// (https://github.com/<owner>/<repo>/issues/<n>, or a GitHub Enterprise
// host).
var githubIssueURL = regexp.MustCompile(`^https?://[^/]+/(?:api/v3/repos/)?([^/]+)/([^/]+)/issues/(\d+)`)

// refOf is the reference to fetch a local row by: "externalId", else
// "externalKey", else name, as the original. For GitHub it is
// "owner/repo#<number>", owner and repository taken from "externalData"
// (_github_owner, _github_repo) or else the issue's URL (reference section
// 7.3, last paragraph), the number from issueID when given, else the row.
// It is "" when the row has no identifier.
func refOf(provider string, row IssueRow, issueID string) string {
	id := cmp.Or(issueID, row.ExternalID, row.ExternalKey, row.Name)
	if provider != ProviderGitHub || id == "" {
		return id
	}
	var data struct {
		Owner string `json:"_github_owner"`
		Repo  string `json:"_github_repo"`
	}
	if len(row.ExternalData) > 0 {
		_ = json.Unmarshal(row.ExternalData, &data) // a non-object leaves them empty
	}
	owner, repo := data.Owner, data.Repo
	if owner == "" || repo == "" {
		if m := githubIssueURL.FindStringSubmatch(row.ExternalURL); m != nil {
			owner, repo = m[1], m[2]
		}
	}
	if strings.Contains(id, "#") && !strings.HasPrefix(id, "#") {
		return id // owner/repo#n already
	}
	if owner == "" || repo == "" {
		return id // the client's default repository, or its own error
	}
	return owner + "/" + repo + "#" + strings.TrimPrefix(id, "#")
}

// reindex enqueues one issues reindex per project (0: an issues reindex of
// every project, for rows without one), carrying the task's tenant.
// Identical reindexes still waiting are not enqueued again (asynq.Unique),
// so a burst of syncs or a retried one queues each project once.
func (h *Handler) reindex(ctx context.Context, tenantID string, projects []int) error {
	if h.Enqueuer == nil {
		return nil
	}
	window := cmp.Or(h.ReindexWindow, DefaultReindexWindow)
	for _, pid := range projects {
		p := task.Reindex{EntityType: task.EntityIssues, TenantID: tenantID}
		if pid > 0 {
			p.ProjectID = &pid
		}
		t, err := task.NewReindex(p, asynq.Unique(window))
		if err != nil {
			return worker.Permanent(fmt.Errorf("issuesync: building the reindex task: %w", err))
		}
		if _, err := task.Enqueue(ctx, h.Enqueuer, t); err != nil && !errors.Is(err, asynq.ErrDuplicateTask) {
			return fmt.Errorf("issuesync: enqueuing the issues reindex of project %d: %w", pid, err)
		}
	}
	return nil
}

// progressWriter publishes a bulk sync's [Progress] at most once per
// interval, and the last one whatever the interval.
type progressWriter struct {
	w        io.Writer
	h        *Handler
	total    int
	interval time.Duration
	last     time.Time
}

func newProgressWriter(w io.Writer, h *Handler, total int) *progressWriter {
	return &progressWriter{w: w, h: h, total: total, interval: cmp.Or(h.ProgressInterval, time.Second)}
}

func (p *progressWriter) update(current int, res Result, force bool) {
	if p.w == nil {
		return
	}
	now := p.h.now()
	if !force && !p.last.IsZero() && now.Sub(p.last) < p.interval {
		return
	}
	p.last = now
	pct := 100
	if p.total > 0 {
		pct = min(100, int(float64(current)/float64(p.total)*100+0.5))
	}
	_ = writeJSON(p.w, Progress{Current: current, Total: p.total, Percentage: pct,
		Message: fmt.Sprintf("Syncing issue %d of %d", current, p.total),
		Synced:  res.Synced, Failed: res.Failed, NotFound: res.NotFound, UpdatedAt: now})
}
