package github

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/testplanit/tpi-workers/internal/tracker"
)

// Defaults and limits.
const (
	// DefaultBaseURL is github.com's REST API.
	DefaultBaseURL = "https://api.github.com"
	// BatchSize is the number of issues one GraphQL query asks for.
	BatchSize = 50
	// APIVersion is the REST API version asked for.
	APIVersion = "2022-11-28"
)

// Config configures a [Client].
type Config struct {
	// BaseURL is the REST API: https://api.github.com (the default), or a
	// GitHub Enterprise Server's https://host/api/v3 (https://host is read
	// as that too). GraphQL goes to https://api.github.com/graphql, or
	// https://host/api/graphql.
	BaseURL string
	// Token is a personal access token (classic or fine-grained) or an
	// app token. Required.
	Token string
	// Owner and Repo are the repository of bare refs ("123", "#123");
	// both or neither.
	Owner, Repo string
	// HTTP sends the requests (budget, retries); nil means a
	// [tracker.HTTP] with its defaults. An empty Provider becomes "github".
	HTTP *tracker.HTTP
}

// Client fetches GitHub issues (and pull requests, which GitHub's issue API
// serves too). It implements [tracker.Client] and is safe for concurrent
// use.
type Client struct {
	http        *tracker.HTTP
	rest        string // REST base, no trailing slash
	graphql     string // GraphQL endpoint
	auth        string
	owner, repo string
	// basic is set once the server said it does not know the newer
	// fields (stateReason, issueType): older GitHub Enterprise Servers.
	basic atomic.Bool
}

var _ tracker.Client = (*Client)(nil)

// New checks cfg and returns a client. Errors name the missing or wrong
// setting, never the token.
func New(cfg Config) (*Client, error) {
	if strings.TrimSpace(cfg.Token) == "" {
		return nil, errors.New("github: Token is required")
	}
	h := &tracker.HTTP{}
	if cfg.HTTP != nil {
		copied := *cfg.HTTP
		h = &copied
	}
	if h.Provider == "" {
		h.Provider = "github"
	}
	c := &Client{http: h, auth: "Bearer " + strings.TrimSpace(cfg.Token), owner: cfg.Owner, repo: cfg.Repo}
	if (cfg.Owner == "") != (cfg.Repo == "") {
		return nil, errors.New("github: set both Owner and Repo, or neither")
	}
	if cfg.Owner != "" && (!validOwner(cfg.Owner) || !validRepo(cfg.Repo)) {
		return nil, errors.New("github: Owner or Repo is not a valid GitHub name")
	}
	base := cfg.BaseURL
	if strings.TrimSpace(base) == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(strings.TrimSpace(base))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("github: BaseURL must be an absolute http(s) URL")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("github: BaseURL must not hold user info, a query or a fragment")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	root := u.Scheme + "://" + u.Host
	switch {
	case strings.HasSuffix(u.Path, "/api/v3"):
		// GitHub Enterprise Server.
		c.rest = root + u.Path
		c.graphql = root + strings.TrimSuffix(u.Path, "/v3") + "/graphql"
	case u.Path == "" && strings.HasPrefix(strings.ToLower(u.Hostname()), "api."):
		// api.github.com, or GHE.com's api.<subdomain>.ghe.com.
		c.rest = root
		c.graphql = root + "/graphql"
	case u.Path == "":
		// A GitHub Enterprise Server named by its web address.
		c.rest = root + "/api/v3"
		c.graphql = root + "/api/graphql"
	default:
		c.rest = root + u.Path
		c.graphql = root + u.Path + "/graphql"
	}
	return c, nil
}

// BatchSize is the largest number of refs one Fetch takes.
func (c *Client) BatchSize() int { return BatchSize }

// target is an issue to fetch.
type target struct {
	owner, repo string
	number      int
}

func (t target) key() string {
	return strings.ToLower(t.owner) + "/" + strings.ToLower(t.repo) + "#" + strconv.Itoa(t.number)
}

// parseRef reads "owner/repo#123", "#123", "123" or an issue URL
// (https://github.com/owner/repo/issues/123, the same on a GitHub Enterprise
// host, or the REST form .../repos/owner/repo/issues/123).
func (c *Client) parseRef(ref string) (target, error) {
	s := strings.TrimSpace(ref)
	notFound := func(why string) (target, error) {
		return target{}, fmt.Errorf("%w (github: ref %q %s)", tracker.ErrNotFound, ref, why)
	}
	var t target
	var num string
	if strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://") {
		u, err := url.Parse(s)
		if err != nil {
			return notFound("is not a URL")
		}
		parts := strings.Split(strings.Trim(u.Path, "/"), "/")
		if n := len(parts); n >= 5 && parts[n-5] == "repos" {
			// The REST form, after any /api/v3 prefix.
			parts = parts[n-4:]
		}
		if len(parts) != 4 || (parts[2] != "issues" && parts[2] != "pull") {
			return notFound("is not an issue URL")
		}
		t.owner, t.repo, num = parts[0], parts[1], parts[3]
	} else {
		repo, n, hasHash := strings.Cut(s, "#")
		if !hasHash {
			repo, n = "", s
		}
		if repo != "" {
			owner, name, ok := strings.Cut(repo, "/")
			if !ok {
				return notFound("is not owner/repo#number")
			}
			t.owner, t.repo = owner, name
		}
		num = n
	}
	n, err := strconv.Atoi(num)
	if err != nil || n <= 0 || n > math.MaxInt32 {
		return notFound("has no issue number")
	}
	t.number = n
	if t.owner == "" {
		if c.owner == "" {
			return target{}, fmt.Errorf("github: ref %q names no repository and the integration has no default Owner/Repo", ref)
		}
		t.owner, t.repo = c.owner, c.repo
	}
	if !validOwner(t.owner) || !validRepo(t.repo) {
		return notFound("names no valid repository")
	}
	return t, nil
}

// validOwner: a user or organization login (letters, digits, hyphens).
func validOwner(s string) bool {
	if s == "" || len(s) > 39 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// validRepo: a repository name (letters, digits, '.', '-', '_').
func validRepo(s string) bool {
	if s == "" || len(s) > 100 || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// send sends one authenticated request.
func (c *Client) send(ctx context.Context, method, u string, body []byte) (*tracker.Response, error) {
	return c.http.Do(ctx, func(ctx context.Context) (*http.Request, error) {
		var req *http.Request
		var err error
		if body != nil {
			req, err = http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
		} else {
			req, err = http.NewRequestWithContext(ctx, method, u, nil)
		}
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", c.auth)
		req.Header.Set("Accept", "application/vnd.github+json")
		req.Header.Set("X-GitHub-Api-Version", APIVersion)
		req.Header.Set("User-Agent", "tpi-workers-issue-sync")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		return req, nil
	})
}
