package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/testplanit/tpi-workers/internal/tracker"
)

// Fetch returns one result per ref, in order, with one GraphQL query per
// BatchSize refs. An issue GraphQL cannot resolve is asked once more over
// REST (which follows transferred issues): a deleted issue is
// [tracker.ErrNotFound] for its ref alone.
func (c *Client) Fetch(ctx context.Context, refs []string) ([]tracker.Result, error) {
	results := make([]tracker.Result, len(refs))
	at := make(map[string][]int)
	var targets []target
	for i, ref := range refs {
		results[i].Ref = ref
		t, err := c.parseRef(ref)
		if err != nil {
			results[i].Err = err
			continue
		}
		k := t.key()
		if _, seen := at[k]; !seen {
			targets = append(targets, t)
		}
		at[k] = append(at[k], i)
	}
	for start := 0; start < len(targets); start += BatchSize {
		batch := targets[start:min(start+BatchSize, len(targets))]
		outs, err := c.queryBatch(ctx, batch)
		if err != nil {
			return nil, err
		}
		for j, t := range batch {
			o := outs[j]
			if o.retryREST {
				o.issue, o.err = c.getREST(ctx, t)
				if o.err != nil && !perIssue(o.err) {
					return nil, o.err
				}
			}
			for _, i := range at[t.key()] {
				results[i].Issue, results[i].Err = o.issue, o.err
			}
		}
	}
	return results, nil
}

// perIssue reports whether err concerns one issue rather than the
// integration.
func perIssue(err error) bool {
	if errors.Is(err, tracker.ErrNotFound) {
		return true
	}
	se, ok := errors.AsType[*tracker.StatusError](err)
	return ok && se.Status >= 400 && se.Status < 500
}

// outcome is what GraphQL said of one target.
type outcome struct {
	issue *tracker.Issue
	err   error
	// retryREST: GraphQL could not resolve the issue; REST decides.
	retryREST bool
}

// queryBatch asks GraphQL for targets, once more without the newer fields
// if the server does not know them.
func (c *Client) queryBatch(ctx context.Context, targets []target) ([]outcome, error) {
	for {
		basic := c.basic.Load()
		query, vars := buildQuery(targets, basic)
		body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
		if err != nil {
			return nil, fmt.Errorf("github: encoding the query: %w", err)
		}
		resp, err := c.send(ctx, http.MethodPost, c.graphql, body)
		if errors.Is(err, tracker.ErrNotFound) {
			// Not an issue's absence: the endpoint is wrong.
			return nil, fmt.Errorf("github: no GraphQL endpoint at %s (check BaseURL): %v", c.graphql, err)
		}
		if err != nil {
			return nil, err
		}
		g, err := decodeGraphQL(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("github: reading the GraphQL answer: %w", err)
		}
		if !basic && g.unknownField() {
			c.basic.Store(true)
			continue
		}
		return g.outcomes(targets, resp.Header, time.Now())
	}
}

// issueFields are the fields of an issue or pull request; extra are those
// older GitHub Enterprise Servers lack.
const (
	commonFields = `__typename id number title body state url createdAt updatedAt ` +
		`repository { name owner { login } } ` +
		`labels(first: 50) { nodes { name } } ` +
		`assignees(first: 1) { nodes { login name email } } ` +
		`author { login ... on User { name } }`
	extraIssueFields = ` stateReason issueType { id name }`
)

// buildQuery builds one query for targets: an alias rJ per repository
// (owner and name as variables) holding an alias iK per target (K its index
// in targets).
func buildQuery(targets []target, basic bool) (string, map[string]any) {
	type repoGroup struct {
		alias string
		items []int
	}
	var groups []*repoGroup
	byRepo := make(map[string]*repoGroup)
	vars := make(map[string]any)
	for k, t := range targets {
		rk := strings.ToLower(t.owner) + "/" + strings.ToLower(t.repo)
		g := byRepo[rk]
		if g == nil {
			j := len(groups)
			g = &repoGroup{alias: "r" + strconv.Itoa(j)}
			byRepo[rk] = g
			groups = append(groups, g)
			vars["o"+strconv.Itoa(j)] = t.owner
			vars["n"+strconv.Itoa(j)] = t.repo
		}
		g.items = append(g.items, k)
	}
	var b strings.Builder
	b.WriteString("query(")
	for j := range groups {
		if j > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$o%d: String!, $n%d: String!", j, j)
	}
	b.WriteString(") {\n")
	for j, g := range groups {
		fmt.Fprintf(&b, "  %s: repository(owner: $o%d, name: $n%d) {\n", g.alias, j, j)
		for _, k := range g.items {
			fmt.Fprintf(&b, "    i%d: issueOrPullRequest(number: %d) { ...issue ...pull }\n", k, targets[k].number)
		}
		b.WriteString("  }\n")
	}
	b.WriteString("}\n")
	issue := commonFields
	if !basic {
		issue += extraIssueFields
	}
	fmt.Fprintf(&b, "fragment issue on Issue { %s }\n", issue)
	fmt.Fprintf(&b, "fragment pull on PullRequest { %s }\n", commonFields)
	return b.String(), vars
}

// getREST fetches one issue: GET /repos/{owner}/{repo}/issues/{number}.
// Transferred issues answer 301, which the client follows; deleted ones 410.
func (c *Client) getREST(ctx context.Context, t target) (*tracker.Issue, error) {
	u := c.rest + "/repos/" + url.PathEscape(t.owner) + "/" + url.PathEscape(t.repo) + "/issues/" + strconv.Itoa(t.number)
	resp, err := c.send(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	r, err := decodeREST(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("github: reading issue %s/%s#%d: %w", t.owner, t.repo, t.number, err)
	}
	if r.Number == 0 {
		return nil, fmt.Errorf("github: reading issue %s/%s#%d: the answer holds no issue", t.owner, t.repo, t.number)
	}
	return r.normalize(t), nil
}
