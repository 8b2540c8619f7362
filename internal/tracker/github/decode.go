package github

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/testplanit/tpi-workers/internal/tracker"
)

// graphQLAnswer is a GraphQL answer: data holds one member per repository
// alias (null when the repository could not be resolved), each holding one
// member per issue alias.
type graphQLAnswer struct {
	Data   map[string]json.RawMessage `json:"data"`
	Errors []graphQLError             `json:"errors"`
	// repos is Data decoded: alias → issue alias → issue (nil for null).
	repos map[string]map[string]*gqlIssue
}

type graphQLError struct {
	Type       string         `json:"type"`
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// pathString is the error's path as "r0" or "r0.i3" (deeper paths are
// partial errors inside an issue: its assignee's email, say).
func (e graphQLError) pathString() string {
	parts := make([]string, 0, len(e.Path))
	for _, p := range e.Path {
		switch p := p.(type) {
		case string:
			parts = append(parts, p)
		case float64:
			parts = append(parts, strconv.FormatFloat(p, 'f', -1, 64))
		}
	}
	return strings.Join(parts, ".")
}

type gqlIssue struct {
	Typename    string         `json:"__typename"`
	ID          string         `json:"id"`
	Number      int            `json:"number"`
	Title       string         `json:"title"`
	Body        string         `json:"body"`
	State       string         `json:"state"`
	StateReason string         `json:"stateReason"`
	URL         string         `json:"url"`
	CreatedAt   string         `json:"createdAt"`
	UpdatedAt   string         `json:"updatedAt"`
	Repository  *gqlRepository `json:"repository"`
	Labels      *gqlLabels     `json:"labels"`
	Assignees   *gqlUsers      `json:"assignees"`
	Author      *gqlUser       `json:"author"`
	IssueType   *gqlIssueType  `json:"issueType"`
}

type gqlRepository struct {
	Name  string `json:"name"`
	Owner struct {
		Login string `json:"login"`
	} `json:"owner"`
}

type gqlLabels struct {
	Nodes []*struct {
		Name string `json:"name"`
	} `json:"nodes"`
}

type gqlUsers struct {
	Nodes []*gqlUser `json:"nodes"`
}

type gqlIssueType struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type gqlUser struct {
	Login string `json:"login"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// decodeGraphQL reads a GraphQL answer. A repository or issue member of an
// unexpected shape reads as null.
func decodeGraphQL(body []byte) (*graphQLAnswer, error) {
	var g graphQLAnswer
	if err := json.Unmarshal(body, &g); err != nil {
		return nil, err
	}
	g.repos = make(map[string]map[string]*gqlIssue, len(g.Data))
	for alias, raw := range g.Data {
		var members map[string]json.RawMessage
		if json.Unmarshal(raw, &members) != nil || members == nil {
			continue
		}
		issues := make(map[string]*gqlIssue, len(members))
		for k, v := range members {
			var is *gqlIssue
			if json.Unmarshal(v, &is) != nil {
				is = nil
			}
			issues[k] = is
		}
		g.repos[alias] = issues
	}
	return &g, nil
}

// unknownField reports whether the server refused the query for a field it
// does not know (an older GitHub Enterprise Server).
func (g *graphQLAnswer) unknownField() bool {
	for _, e := range g.Errors {
		if code, _ := e.Extensions["code"].(string); code == "undefinedField" {
			return true
		}
		if strings.Contains(e.Message, "doesn't exist on type") {
			return true
		}
	}
	return false
}

// outcomes maps the answer to targets (queried by buildQuery): issues, and
// per-target errors. It fails when the answer concerns the whole query: a
// rate limit, or errors without data.
func (g *graphQLAnswer) outcomes(targets []target, h http.Header, now time.Time) ([]outcome, error) {
	byPath := make(map[string]graphQLError)
	var global []graphQLError
	for _, e := range g.Errors {
		if e.Type == "RATE_LIMITED" {
			return nil, &tracker.RateLimitError{Provider: "github", RetryAfter: graphQLRetryAfter(h, now), Err: errors.New("GraphQL: " + e.Message)}
		}
		if len(e.Path) == 0 {
			global = append(global, e)
			continue
		}
		p := e.pathString()
		if _, ok := byPath[p]; !ok {
			byPath[p] = e
		}
	}
	if len(g.Data) == 0 {
		if len(g.Errors) == 0 {
			return nil, errors.New("github: the GraphQL answer holds no data")
		}
		return nil, fmt.Errorf("github: GraphQL: %s", g.Errors[0].Message)
	}
	if len(global) > 0 {
		return nil, fmt.Errorf("github: GraphQL: %s", global[0].Message)
	}

	// Repository aliases in buildQuery's order.
	repoAlias := make(map[string]string)
	for _, t := range targets {
		rk := strings.ToLower(t.owner) + "/" + strings.ToLower(t.repo)
		if _, ok := repoAlias[rk]; !ok {
			repoAlias[rk] = "r" + strconv.Itoa(len(repoAlias))
		}
	}
	outs := make([]outcome, len(targets))
	for k, t := range targets {
		ra := repoAlias[strings.ToLower(t.owner)+"/"+strings.ToLower(t.repo)]
		ia := "i" + strconv.Itoa(k)
		issues, ok := g.repos[ra]
		if !ok {
			// The repository could not be resolved.
			if e, ok := byPath[ra]; ok && e.Type != "NOT_FOUND" {
				outs[k].err = issueError(t, e)
			} else {
				outs[k].err = fmt.Errorf("%w (github: repository %s/%s)", tracker.ErrNotFound, t.owner, t.repo)
			}
			continue
		}
		is := issues[ia]
		if is == nil || is.Number == 0 {
			if e, ok := byPath[ra+"."+ia]; ok && e.Type != "NOT_FOUND" {
				outs[k].err = issueError(t, e)
			} else {
				outs[k].retryREST = true
			}
			continue
		}
		outs[k].issue = is.normalize(t)
	}
	return outs, nil
}

// issueError is GraphQL's refusal of one issue (FORBIDDEN: an organization's
// SAML enforcement or IP allow list, say).
func issueError(t target, e graphQLError) error {
	return fmt.Errorf("github: %s/%s#%d: %s: %s", t.owner, t.repo, t.number, e.Type, e.Message)
}

// graphQLRetryAfter is the wait a GraphQL RATE_LIMITED answer asks for: until
// X-RateLimit-Reset, or a minute.
func graphQLRetryAfter(h http.Header, now time.Time) time.Duration {
	if secs, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil && secs > 0 {
		if d := time.Unix(secs, 0).Sub(now); d > 0 {
			return d
		}
	}
	return time.Minute
}

// normalize turns a GraphQL issue or pull request into the issue TestPlanIt
// keeps; t names the repository when the answer does not.
func (is *gqlIssue) normalize(t target) *tracker.Issue {
	owner, repo := t.owner, t.repo
	if is.Repository != nil && is.Repository.Name != "" && is.Repository.Owner.Login != "" {
		owner, repo = is.Repository.Owner.Login, is.Repository.Name
	}
	out := &tracker.Issue{
		ID:          strconv.Itoa(is.Number),
		Key:         owner + "/" + repo + "#" + strconv.Itoa(is.Number),
		Title:       is.Title,
		Description: is.Body,
		Status:      state(is.State),
		URL:         is.URL,
		CreatedAt:   parseTime(is.CreatedAt),
		UpdatedAt:   parseTime(is.UpdatedAt),
		CustomFields: map[string]any{
			"_github_owner": owner,
			"_github_repo":  repo,
		},
	}
	if is.ID != "" {
		out.CustomFields["_github_node_id"] = is.ID
	}
	if is.StateReason != "" {
		out.CustomFields["_github_state_reason"] = strings.ToLower(is.StateReason)
	}
	if is.Typename == "PullRequest" {
		out.CustomFields["_github_pull_request"] = true
	}
	if is.Labels != nil {
		for _, l := range is.Labels.Nodes {
			if l != nil && l.Name != "" {
				out.Labels = append(out.Labels, l.Name)
			}
		}
	}
	if is.Assignees != nil {
		for _, a := range is.Assignees.Nodes {
			if p := a.person(); p != nil {
				out.Assignee = p
				break
			}
		}
	}
	out.Reporter = is.Author.person()
	if is.IssueType != nil && (is.IssueType.ID != "" || is.IssueType.Name != "") {
		out.Type = &tracker.IssueType{ID: is.IssueType.ID, Name: is.IssueType.Name}
	}
	return out
}

func (u *gqlUser) person() *tracker.Person {
	if u == nil || u.Login == "" {
		return nil
	}
	p := &tracker.Person{ID: u.Login, Name: u.Name, Email: u.Email}
	if p.Name == "" {
		p.Name = u.Login
	}
	return p
}

// state is the REST spelling: "open" or "closed" (a merged pull request is
// closed).
func state(s string) string {
	if strings.EqualFold(s, "MERGED") {
		return "closed"
	}
	return strings.ToLower(s)
}

// parseTime reads an ISO 8601 time as UTC; zero when unreadable.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// restIssue is GET /repos/{owner}/{repo}/issues/{number}.
type restIssue struct {
	NodeID        string            `json:"node_id"`
	Number        int               `json:"number"`
	Title         string            `json:"title"`
	Body          *string           `json:"body"`
	State         string            `json:"state"`
	StateReason   *string           `json:"state_reason"`
	HTMLURL       string            `json:"html_url"`
	RepositoryURL string            `json:"repository_url"`
	CreatedAt     string            `json:"created_at"`
	UpdatedAt     string            `json:"updated_at"`
	Labels        []json.RawMessage `json:"labels"`
	Assignee      *restUser         `json:"assignee"`
	Assignees     []*restUser       `json:"assignees"`
	User          *restUser         `json:"user"`
	PullRequest   json.RawMessage   `json:"pull_request"`
	Type          *struct {
		ID   json.RawMessage `json:"id"`
		Name string          `json:"name"`
	} `json:"type"`
}

type restUser struct {
	Login string  `json:"login"`
	Name  *string `json:"name"`
	Email *string `json:"email"`
}

func decodeREST(body []byte) (*restIssue, error) {
	var r restIssue
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func (r *restIssue) normalize(t target) *tracker.Issue {
	is := &gqlIssue{
		ID:        r.NodeID,
		Number:    r.Number,
		Title:     r.Title,
		State:     r.State,
		URL:       r.HTMLURL,
		CreatedAt: r.CreatedAt,
		UpdatedAt: r.UpdatedAt,
		Author:    r.User.user(),
	}
	if r.Body != nil {
		is.Body = *r.Body
	}
	if r.StateReason != nil {
		is.StateReason = *r.StateReason
	}
	if len(bytes.TrimSpace(r.PullRequest)) > 0 && string(bytes.TrimSpace(r.PullRequest)) != "null" {
		is.Typename = "PullRequest"
	}
	// repository_url is .../repos/{owner}/{repo}: where a transferred
	// issue lives now.
	if parts := strings.Split(strings.TrimRight(r.RepositoryURL, "/"), "/"); len(parts) >= 3 && parts[len(parts)-3] == "repos" {
		is.Repository = &gqlRepository{Name: parts[len(parts)-1]}
		is.Repository.Owner.Login = parts[len(parts)-2]
	}
	is.Labels = &gqlLabels{}
	for _, raw := range r.Labels {
		// A label is an object with a name, or (per the schema) a string.
		var l struct {
			Name string `json:"name"`
		}
		if json.Unmarshal(raw, &l.Name) != nil && json.Unmarshal(raw, &l) != nil {
			continue
		}
		is.Labels.Nodes = append(is.Labels.Nodes, &l)
	}
	assignee := r.Assignee
	if assignee == nil && len(r.Assignees) > 0 {
		assignee = r.Assignees[0]
	}
	is.Assignees = &gqlUsers{Nodes: []*gqlUser{assignee.user()}}
	if r.Type != nil {
		is.IssueType = &gqlIssueType{ID: rawID(r.Type.ID), Name: r.Type.Name}
	}
	return is.normalize(t)
}

func (u *restUser) user() *gqlUser {
	if u == nil {
		return nil
	}
	g := &gqlUser{Login: u.Login}
	if u.Name != nil {
		g.Name = *u.Name
	}
	if u.Email != nil {
		g.Email = *u.Email
	}
	return g
}

// rawID reads an id given as a JSON number or string.
func rawID(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}
