// Package azure is internal to the tpi-workers fleet: the Azure DevOps
// provider of the sync worker. Its [Client] implements [tracker.Client] with
// the Work Items batch API (POST {organization}/{project}/_apis/wit/
// workitemsbatch, up to 200 ids a call), authenticated with a personal
// access token, and turns work items into [tracker.Issue] values as
// TestPlanIt's AzureDevOpsAdapter does (reference section 7.2).
//
// Work items that no longer exist, or that the token may not read, come back
// as [tracker.ErrNotFound] for that reference alone (the batch is sent with
// errorPolicy Omit). Refused credentials, including the HTML sign-in page
// some servers answer with HTTP 203, end the call with
// [tracker.ErrUnauthorized].
package azure

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/testplanit/tpi-workers/internal/tracker"
)

// Provider names Azure DevOps in errors when Config.HTTP names none.
const Provider = "azure"

// MaxBatch is the most work item ids one workitemsbatch call takes
// (Azure's documented limit), and so [Client.BatchSize].
const MaxBatch = 200

// APIVersion is the REST API version asked for, as the original adapter.
const APIVersion = "7.0"

// ErrInvalidRef means a reference is not a work item id (a positive
// integer); no request is sent for it.
var ErrInvalidRef = errors.New("azure: reference is not a work item id")

// Config configures a [Client].
type Config struct {
	// OrganizationURL is the organization (https://dev.azure.com/org or
	// https://org.visualstudio.com) or, on Azure DevOps Server, the
	// collection URL (https://tfs.example.com/tfs/DefaultCollection):
	// "Integration".settings.organizationUrl. Required.
	OrganizationURL string
	// Project is the project name or id ("Integration".settings.project).
	// Empty means the organization-level endpoint, which reads work items
	// of every project the token can see.
	Project string
	// PAT is the personal access token, sent as Basic auth with an empty
	// user name. Required.
	PAT string
	// HTTP sends the requests (budget, retries); nil means a zero
	// [tracker.HTTP]. Its Provider, when empty, becomes [Provider]. The
	// Client keeps its own copy.
	HTTP *tracker.HTTP
}

// Client fetches work items of one Azure DevOps integration. It is safe for
// concurrent use.
type Client struct {
	batchURL string // …/_apis/wit/workitemsbatch?api-version=7.0
	webURL   string // {organization}[/{project}], for links to work items
	auth     string // Authorization header value
	http     *tracker.HTTP
}

var _ tracker.Client = (*Client)(nil)

// New checks cfg and returns a Client. It sends no request.
func New(cfg Config) (*Client, error) {
	if cfg.PAT == "" {
		return nil, errors.New("azure: personal access token is empty")
	}
	org, err := parseOrganizationURL(cfg.OrganizationURL)
	if err != nil {
		return nil, err
	}
	project := strings.TrimSpace(cfg.Project)
	if strings.ContainsAny(project, "/\\?#") {
		return nil, fmt.Errorf("azure: project %q: a project name has no / \\ ? or #", project)
	}
	base := org
	if project != "" {
		base += "/" + url.PathEscape(project)
	}
	h := tracker.HTTP{}
	if cfg.HTTP != nil {
		h = *cfg.HTTP
	}
	if h.Provider == "" {
		h.Provider = Provider
	}
	return &Client{
		batchURL: base + "/_apis/wit/workitemsbatch?api-version=" + APIVersion,
		webURL:   base,
		auth:     "Basic " + base64.StdEncoding.EncodeToString([]byte(":"+cfg.PAT)),
		http:     &h,
	}, nil
}

// parseOrganizationURL checks an organization or collection URL and returns
// it without trailing slash.
func parseOrganizationURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", errors.New("azure: organization URL is empty")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", errors.New("azure: organization URL must be an absolute http(s) URL such as https://dev.azure.com/org")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("azure: organization URL must have no user info, query or fragment")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u.String(), nil
}

// BatchSize is [MaxBatch].
func (c *Client) BatchSize() int { return MaxBatch }

// Fetch returns one result per ref, in order. Refs are work item ids; a ref
// that is not one gets [ErrInvalidRef]. Refs are sent MaxBatch at a time.
func (c *Client) Fetch(ctx context.Context, refs []string) ([]tracker.Result, error) {
	results := make([]tracker.Result, len(refs))
	idOf := make([]int, len(refs))
	var ids []int
	seen := make(map[int]bool)
	for i, ref := range refs {
		results[i].Ref = ref
		id, err := parseID(ref)
		if err != nil {
			results[i].Err = err
			continue
		}
		idOf[i] = id
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	found := make(map[int]*tracker.Issue, len(ids))
	for start := 0; start < len(ids); start += MaxBatch {
		chunk := ids[start:min(start+MaxBatch, len(ids))]
		if err := c.fetchBatch(ctx, chunk, found); err != nil {
			return nil, err
		}
	}
	for i := range results {
		if results[i].Err != nil {
			continue
		}
		if is, ok := found[idOf[i]]; ok {
			results[i].Issue = is
		} else {
			results[i].Err = fmt.Errorf("%w (azure: work item %d deleted, or not readable with this token)", tracker.ErrNotFound, idOf[i])
		}
	}
	return results, nil
}

// parseID reads a work item id: a positive 32-bit integer.
func parseID(ref string) (int, error) {
	s := strings.TrimSpace(ref)
	id, err := strconv.ParseInt(s, 10, 32)
	if err != nil || id <= 0 || s[0] == '+' {
		return 0, fmt.Errorf("%w: %q", ErrInvalidRef, truncate(ref, 64))
	}
	return int(id), nil
}

// batchRequest is the body of Work Items - Get Work Items Batch.
type batchRequest struct {
	IDs         []int  `json:"ids"`
	Expand      string `json:"$expand"`
	ErrorPolicy string `json:"errorPolicy"`
}

// fetchBatch reads up to MaxBatch work items into found.
func (c *Client) fetchBatch(ctx context.Context, ids []int, found map[int]*tracker.Issue) error {
	body, err := json.Marshal(batchRequest{IDs: ids, Expand: "All", ErrorPolicy: "Omit"})
	if err != nil {
		return fmt.Errorf("%s: encoding request: %w", c.http.Provider, err)
	}
	resp, err := c.http.Do(ctx, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.batchURL, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", c.auth)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		// Ask for 401 instead of a redirect to the sign-in page when the
		// token is refused.
		req.Header.Set("X-TFS-FedAuthRedirect", "Suppress")
		return req, nil
	})
	if err != nil {
		if errors.Is(err, tracker.ErrNotFound) {
			// The batch endpoint itself is missing: the organization URL or
			// the project is wrong, which is the integration's failure, not
			// the issues'.
			return &tracker.StatusError{Provider: c.http.Provider, Status: http.StatusNotFound, Body: "organization URL or project not found"}
		}
		return err
	}
	if signInPage(resp) {
		return fmt.Errorf("%w (%s: HTTP %d with a sign-in page: the personal access token is invalid or expired)", tracker.ErrUnauthorized, c.http.Provider, resp.Status)
	}
	items, err := decodeBatch(resp.Body)
	if err != nil {
		return fmt.Errorf("%s: %w", c.http.Provider, err)
	}
	want := make(map[int]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	for _, w := range items {
		if want[int(w.ID)] {
			found[int(w.ID)] = normalize(w, c.webURL)
		}
	}
	return nil
}

// signInPage reports whether a 2xx answer is Azure DevOps' HTML sign-in page
// rather than JSON: HTTP 203 Non-Authoritative Information, or HTML, which
// the API answers only after redirecting an unauthenticated call.
func signInPage(resp *tracker.Response) bool {
	if resp.Status == http.StatusNonAuthoritativeInfo {
		return true
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return mt == "text/html"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
