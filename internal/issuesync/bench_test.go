package issuesync

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/testplanit/tpi-workers/internal/tracker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// BenchmarkBulkSync syncs 500 issues against a fake Jira that takes 20 ms
// per request, under a shared budget of 50 requests/s (kept in Valkey), and
// reports issues/s:
//
//   - batched: the production stack (Providers, the jira client's JQL
//     searches of 50);
//   - per-issue: the original's way, one GET /rest/api/3/issue/<id> per
//     issue (SyncService.performSync calling adapter.syncIssue), through the
//     same tracker.HTTP and the same budget.
//
// Both write the same rows with the same statements; the difference is the
// requests. Run: go test -run '^$' -bench BulkSync -benchtime 1x -count 3 ./internal/issuesync
func BenchmarkBulkSync(b *testing.B) {
	const issues, rate = 500, 50
	f := newFixture(b)
	k := testKey(b)
	j := newFakeJira(b)
	j.latency = 20 * time.Millisecond
	j.addN(issues)
	in := f.integration(ProviderJira, AuthAPIKey, encrypted(b, k, map[string]string{"email": "a@b.c", "apiToken": "t"}), `{"baseUrl":"`+j.srv.URL+`"}`)
	f.issues(in, f.projects[0], issues, "100")
	f.exec(`UPDATE "Issue" SET "externalId" = (10000 + substr("externalId", 4)::int)::text`)
	rates := map[string]float64{ProviderJira: rate}

	run := func(b *testing.B, h *Handler) {
		j.reset()
		start := time.Now()
		for range b.N {
			rw := collect(h)
			if err := h.SyncIssues(f.ctx(), task.SyncJob{UserID: f.user, IntegrationID: in}); err != nil {
				b.Fatal(err)
			}
			var res Result
			if err := json.Unmarshal([]byte(rw.last()), &res); err != nil || res.Synced != issues {
				b.Fatalf("result %s (%v)", rw.last(), err)
			}
		}
		elapsed := time.Since(start)
		b.ReportMetric(float64(issues*b.N)/elapsed.Seconds(), "issues/s")
		b.ReportMetric(float64(len(j.requests()))/float64(b.N), "requests/op")
	}

	b.Run("batched", func(b *testing.B) {
		run(b, stack(b, f, rates))
	})
	b.Run("per-issue", func(b *testing.B) {
		budgets := NewBudgets(f.rdb, rates)
		h := &Handler{Cache: NewCache(f.rdb, false), Clients: NewClients(func(_ context.Context, tenantID string, in *Integration) (tracker.Client, error) {
			return &perIssueJira{
				http: &tracker.HTTP{Provider: "jira", Budget: budgets.For(tenantID, in.ID, in.Provider), BaseDelay: 20 * time.Millisecond},
				api:  j.srv.URL + "/rest/api/3", auth: basic("a@b.c", "t"),
			}, nil
		})}
		run(b, h)
	})
}

// perIssueJira fetches one issue per request, as the original's
// JiraAdapter.getIssue: GET /rest/api/3/issue/<idOrKey>.
type perIssueJira struct {
	http      *tracker.HTTP
	api, auth string
}

func (c *perIssueJira) BatchSize() int { return 1 }

func (c *perIssueJira) Fetch(ctx context.Context, refs []string) ([]tracker.Result, error) {
	out := make([]tracker.Result, len(refs))
	for i, ref := range refs {
		out[i].Ref = ref
		resp, err := c.http.Do(ctx, func(ctx context.Context) (*http.Request, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.api+"/issue/"+url.PathEscape(ref)+
				"?fields=summary,description,status,priority,issuetype,assignee,reporter,labels,created,updated", nil)
			if err != nil {
				return nil, err
			}
			req.Header.Set("Authorization", c.auth)
			req.Header.Set("Accept", "application/json")
			return req, nil
		})
		if errors.Is(err, tracker.ErrNotFound) {
			out[i].Err = err
			continue
		}
		if err != nil {
			return nil, err
		}
		var r struct {
			ID     string `json:"id"`
			Key    string `json:"key"`
			Fields struct {
				Summary string `json:"summary"`
				Status  struct {
					Name string `json:"name"`
				} `json:"status"`
				Priority struct {
					Name string `json:"name"`
				} `json:"priority"`
			} `json:"fields"`
		}
		if err := json.Unmarshal(resp.Body, &r); err != nil {
			return nil, err
		}
		out[i].Issue = &tracker.Issue{ID: r.ID, Key: r.Key, Title: r.Fields.Summary, Status: r.Fields.Status.Name, Priority: r.Fields.Priority.Name}
	}
	return out, nil
}
