package jira

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/testplanit/tpi-workers/internal/tracker"
)

const (
	// maxPageSize is the most issues the enhanced search returns per page
	// when fields are requested.
	maxPageSize = 100
	// maxSearchRounds bounds the searches of one batch that a 400 naming
	// missing issues starts again.
	maxSearchRounds = 4
)

// Fetch returns one result per ref, in order. Refs are issue ids ("10001")
// or keys ("PROJ-12"); they are searched BatchSize at a time with one JQL
// query, and refs the search does not answer (a deleted issue makes Jira
// refuse the whole query; a moved issue comes back under its new key) are
// fetched one by one, so that a deleted issue is [tracker.ErrNotFound] for
// its ref alone.
func (c *Client) Fetch(ctx context.Context, refs []string) ([]tracker.Result, error) {
	results := make([]tracker.Result, len(refs))
	at := make(map[string][]int) // normalized ref → indexes in refs
	var order []string
	for i, ref := range refs {
		results[i].Ref = ref
		norm := strings.TrimSpace(ref)
		switch {
		case isID(norm):
		case isKey(norm):
			norm = strings.ToUpper(norm)
		default:
			results[i].Err = fmt.Errorf("%w (jira: %q is neither an issue id nor an issue key)", tracker.ErrNotFound, ref)
			continue
		}
		if _, seen := at[norm]; !seen {
			order = append(order, norm)
		}
		at[norm] = append(at[norm], i)
	}
	if len(order) == 0 {
		return results, nil
	}
	ep, err := c.endpoint(ctx)
	if err != nil {
		return nil, err
	}
	set := func(norm string, is *tracker.Issue, err error) {
		for _, i := range at[norm] {
			results[i].Issue, results[i].Err = is, err
		}
	}
	for start := 0; start < len(order); start += BatchSize {
		batch := order[start:min(start+BatchSize, len(order))]
		found, rest, err := c.searchBatch(ctx, ep, batch)
		if err != nil {
			return nil, err
		}
		for norm, is := range found {
			set(norm, is, nil)
		}
		for _, norm := range rest {
			is, err := c.getOne(ctx, ep, norm)
			if err != nil && !perIssue(err) {
				return nil, err
			}
			set(norm, is, err)
		}
	}
	return results, nil
}

// perIssue reports whether err concerns one issue rather than the
// integration: not found, or a 4xx refusal of that issue.
func perIssue(err error) bool {
	if errors.Is(err, tracker.ErrNotFound) {
		return true
	}
	se, ok := errors.AsType[*tracker.StatusError](err)
	return ok && se.Status >= 400 && se.Status < 500
}

// searchBatch searches refs (normalized) and returns the issues found by
// ref, and the refs to fetch one by one.
func (c *Client) searchBatch(ctx context.Context, ep endpoint, refs []string) (map[string]*tracker.Issue, []string, error) {
	found := make(map[string]*tracker.Issue, len(refs))
	var rest []string
	pending := refs
	for round := 0; len(pending) > 0; round++ {
		if round == maxSearchRounds {
			return found, append(rest, pending...), nil
		}
		issues, err := c.search(ctx, ep, pending)
		if se, ok := errors.AsType[*tracker.StatusError](err); ok && se.Status == http.StatusBadRequest {
			// "An issue with key 'X' does not exist for field 'key'."
			// (also for an issue the user may not see): search again
			// without the refs named; when none is named, fetch each.
			named := mentioned(se.Body, pending)
			if len(named) == 0 {
				return found, append(rest, pending...), nil
			}
			rest = append(rest, named...)
			pending = without(pending, named)
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		wanted := make(map[string]bool, len(pending))
		for _, ref := range pending {
			wanted[ref] = true
		}
		for _, r := range issues {
			is := normalize(r, ep.site)
			for _, ref := range []string{is.ID, strings.ToUpper(is.Key)} {
				if wanted[ref] {
					found[ref] = is
				}
			}
		}
		for _, ref := range pending {
			if found[ref] == nil {
				rest = append(rest, ref)
			}
		}
		break
	}
	return found, rest, nil
}

// mentioned returns the refs that msg quotes ('X' or "X").
func mentioned(msg string, refs []string) []string {
	up := strings.ToUpper(msg)
	var out []string
	for _, ref := range refs {
		if strings.Contains(up, "'"+ref+"'") || strings.Contains(up, `"`+ref+`"`) {
			out = append(out, ref)
		}
	}
	return out
}

func without(refs, drop []string) []string {
	out := make([]string, 0, len(refs))
	for _, r := range refs {
		keep := true
		for _, d := range drop {
			if r == d {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, r)
		}
	}
	return out
}

// jql builds `id in (1, 2) OR key in ("A-1", "B-2")` for normalized refs.
func jql(refs []string) string {
	var ids, keys []string
	for _, r := range refs {
		if isID(r) {
			ids = append(ids, r)
		} else {
			// Keys are letters, digits, '_' and '-' (isKey): quoting
			// needs no escapes.
			keys = append(keys, `"`+r+`"`)
		}
	}
	var clauses []string
	if len(ids) > 0 {
		clauses = append(clauses, "id in ("+strings.Join(ids, ", ")+")")
	}
	if len(keys) > 0 {
		clauses = append(clauses, "key in ("+strings.Join(keys, ", ")+")")
	}
	return strings.Join(clauses, " OR ")
}

// search runs the JQL search for refs, following pages: Cloud's enhanced
// search (POST /rest/api/3/search/jql, nextPageToken) or Server's
// (POST /rest/api/2/search, startAt).
func (c *Client) search(ctx context.Context, ep endpoint, refs []string) ([]rawIssue, error) {
	query := jql(refs)
	fields := strings.Split(fieldList, ",")
	pageSize := min(len(refs), maxPageSize)
	var all []rawIssue
	token, startAt := "", 0
	// A well-behaved server needs ceil(len(refs)/pageSize) pages; more
	// means it is not making progress.
	for page := 0; page <= len(refs); page++ {
		var body map[string]any
		path := "/search/jql"
		if c.server {
			path = "/search"
			body = map[string]any{"jql": query, "fields": fields, "startAt": startAt, "maxResults": pageSize}
		} else {
			body = map[string]any{"jql": query, "fields": fields, "maxResults": pageSize}
			if token != "" {
				body["nextPageToken"] = token
			}
		}
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("jira: encoding the search: %w", err)
		}
		resp, err := c.send(ctx, http.MethodPost, ep.api+path, b)
		if errors.Is(err, tracker.ErrNotFound) {
			// Not an issue's absence: the endpoint is wrong.
			return nil, fmt.Errorf("jira: no search endpoint at %s (check BaseURL): %v", ep.api+path, err)
		}
		if err != nil {
			return nil, err
		}
		p, err := decodeSearch(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("jira: reading the search answer: %w", err)
		}
		all = append(all, p.Issues...)
		if c.server {
			startAt = p.StartAt + len(p.Issues)
			if len(p.Issues) == 0 || startAt >= p.Total {
				return all, nil
			}
			continue
		}
		if p.NextPageToken == "" || p.NextPageToken == token || (p.IsLast != nil && *p.IsLast) {
			return all, nil
		}
		token = p.NextPageToken
	}
	return all, nil
}

// getOne fetches one issue: GET /rest/api/{2|3}/issue/{idOrKey}.
func (c *Client) getOne(ctx context.Context, ep endpoint, ref string) (*tracker.Issue, error) {
	q := url.Values{"fields": {fieldList}}
	resp, err := c.send(ctx, http.MethodGet, ep.api+"/issue/"+url.PathEscape(ref)+"?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	r, err := decodeIssue(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("jira: reading issue %s: %w", ref, err)
	}
	if r.ID == "" && r.Key == "" {
		return nil, fmt.Errorf("jira: reading issue %s: the answer holds no issue", ref)
	}
	return normalize(r, ep.site), nil
}
