// Package linear is internal to the tpi-workers fleet: the Linear provider of
// the sync worker (TestPlanIt itself has no Linear adapter; reference
// section 7.1). Its [Client] implements [tracker.Client] over Linear's
// GraphQL API, authenticated with a personal API key or an OAuth token.
//
// # Batching
//
// One GraphQL request fetches up to [MaxBatch] references:
//
//   - issue ids (UUIDs) through one connection,
//     issues(filter: {id: {in: $ids}}, first: n, includeArchived: true);
//     an id missing from it is [tracker.ErrNotFound];
//   - identifiers such as ENG-123 through one alias each,
//     k0: issue(id: $k0), since issue(id:) takes an identifier too, and
//     finds issues by a former identifier after a move to another team,
//     which a filter on team key and number would not.
//
// Linear declares issue(id:) non-null, so when one alias names a missing
// issue GraphQL nulls the whole answer's data and reports an error for each
// failing alias ("Entity not found: Issue"). Those references get their
// error ([tracker.ErrNotFound] for a missing issue, a [*tracker.StatusError]
// for another refusal) and the rest are asked again in a second request.
// Issues in the trash are [tracker.ErrNotFound] too; archived issues are
// still synced.
//
// # Errors Linear reports in the body
//
// Linear reports some failures as GraphQL errors with HTTP 400 (or 200):
// extensions.code RATELIMITED and AUTHENTICATION_ERROR. The client's
// [tracker.HTTP] classifies those answers as HTTP 429 and 401
// (HTTP.Classify), so the rate limit is retried and reported like
// any other (honouring X-RateLimit-Requests-Reset and
// X-RateLimit-Complexity-Reset, Unix milliseconds) and refused credentials
// are [tracker.ErrUnauthorized]. A 400 whose errors all belong to aliases is
// passed on as 200 so that the other issues of the batch are kept.
package linear

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/testplanit/tpi-workers/internal/tracker"
)

// Provider names Linear in errors when Config.HTTP names none.
const Provider = "linear"

// DefaultAPIURL is Linear's GraphQL endpoint.
const DefaultAPIURL = "https://api.linear.app/graphql"

// MaxBatch is the most references one request asks for, and so
// [Client.BatchSize]: Linear's default page size, well inside its
// per-query complexity limit.
const MaxBatch = 50

// ErrInvalidRef means a reference is neither an issue id (UUID) nor an
// identifier such as ENG-123; no request is sent for it.
var ErrInvalidRef = errors.New("linear: reference is neither an issue id (UUID) nor an identifier such as ENG-123")

// Config configures a [Client]. Exactly one of APIKey and OAuthToken is set.
type Config struct {
	// APIURL is the GraphQL endpoint; empty means DefaultAPIURL.
	APIURL string
	// APIKey is a personal API key, sent as "Authorization: <key>"
	// (without "Bearer", as Linear documents).
	APIKey string
	// OAuthToken is an OAuth access token, sent as
	// "Authorization: Bearer <token>".
	OAuthToken string
	// HTTP sends the requests (budget, retries); nil means a zero
	// [tracker.HTTP]. Its Provider, when empty, becomes [Provider]. The
	// Client keeps its own copy, whose http.Client wraps the given one's
	// transport to read Linear's GraphQL-level errors (package doc).
	HTTP *tracker.HTTP
}

// Client fetches issues of one Linear workspace. It is safe for concurrent
// use.
type Client struct {
	url  string
	auth string // Authorization header value
	http *tracker.HTTP
}

var _ tracker.Client = (*Client)(nil)

// New checks cfg and returns a Client. It sends no request.
func New(cfg Config) (*Client, error) {
	apiKey, token := strings.TrimSpace(cfg.APIKey), strings.TrimSpace(cfg.OAuthToken)
	var auth string
	switch {
	case apiKey != "" && token != "":
		return nil, errors.New("linear: both an API key and an OAuth token are set; set one")
	case apiKey != "":
		auth = apiKey
	case token != "":
		auth = "Bearer " + token
	default:
		return nil, errors.New("linear: no API key or OAuth token")
	}
	apiURL := strings.TrimSpace(cfg.APIURL)
	if apiURL == "" {
		apiURL = DefaultAPIURL
	}
	u, err := url.Parse(apiURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return nil, errors.New("linear: API URL must be an absolute http(s) URL without user info, such as " + DefaultAPIURL)
	}

	h := tracker.HTTP{}
	if cfg.HTTP != nil {
		h = *cfg.HTTP
	}
	if h.Provider == "" {
		h.Provider = Provider
	}
	h.Classify = reclassify

	return &Client{url: u.String(), auth: auth, http: &h}, nil
}

// BatchSize is [MaxBatch].
func (c *Client) BatchSize() int { return MaxBatch }

// refKind says how a reference is looked up.
type refKind int

const (
	kindInvalid    refKind = iota
	kindID                 // a UUID, through the issues connection
	kindIdentifier         // ENG-123, through an alias
)

// Fetch returns one result per ref, in order. Refs are issue ids (UUIDs) or
// identifiers (ENG-123); others get [ErrInvalidRef]. Refs are sent MaxBatch
// at a time.
func (c *Client) Fetch(ctx context.Context, refs []string) ([]tracker.Result, error) {
	results := make([]tracker.Result, len(refs))
	canon := make([]string, len(refs))
	var pending []string // canonical refs, each once
	seen := make(map[string]bool)
	for i, ref := range refs {
		results[i].Ref = ref
		kind, cr := classify(ref)
		if kind == kindInvalid {
			results[i].Err = fmt.Errorf("%w: %q", ErrInvalidRef, truncate(ref, 64))
			continue
		}
		canon[i] = cr
		if !seen[cr] {
			seen[cr] = true
			pending = append(pending, cr)
		}
	}
	outcomes := make(map[string]outcome, len(pending))
	for start := 0; start < len(pending); start += MaxBatch {
		chunk := pending[start:min(start+MaxBatch, len(pending))]
		if err := c.fetchChunk(ctx, chunk, outcomes); err != nil {
			return nil, err
		}
	}
	for i := range results {
		if results[i].Err != nil {
			continue
		}
		o, ok := outcomes[canon[i]]
		switch {
		case !ok:
			results[i].Err = fmt.Errorf("%w (linear: issue %s)", tracker.ErrNotFound, canon[i])
		case o.err != nil:
			results[i].Err = o.err
		default:
			results[i].Issue = o.issue
		}
	}
	return results, nil
}

// outcome is what a request learnt about one reference.
type outcome struct {
	issue *tracker.Issue
	err   error
}

// maxRounds bounds the requests for one chunk: the first, and the repeats
// for the references left unanswered when failing aliases nulled the data.
const maxRounds = 3

// fetchChunk fetches up to MaxBatch canonical refs into out.
func (c *Client) fetchChunk(ctx context.Context, refs []string, out map[string]outcome) error {
	for round := 0; len(refs) > 0; round++ {
		if round == maxRounds {
			return fmt.Errorf("%s: %d issues still unanswered after %d requests", c.http.Provider, len(refs), maxRounds)
		}
		q := buildQuery(refs)
		resp, err := c.post(ctx, q)
		if err != nil {
			return err
		}
		a, err := decodeAnswer(resp.Body)
		if err != nil {
			return fmt.Errorf("%s: %w", c.http.Provider, err)
		}
		left, err := a.resolve(c.http.Provider, q, resp.Status, out)
		if err != nil {
			return err
		}
		if len(left) == len(refs) {
			return fmt.Errorf("%s: the answer had no data and named no failing issue", c.http.Provider)
		}
		refs = left
	}
	return nil
}

// post sends one GraphQL request.
func (c *Client) post(ctx context.Context, q *query) (*tracker.Response, error) {
	body, err := q.body()
	if err != nil {
		return nil, fmt.Errorf("%s: encoding request: %w", c.http.Provider, err)
	}
	return c.http.Do(ctx, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, strings.NewReader(string(body)))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", c.auth)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		return req, nil
	})
}

// classify tells an issue id from an identifier and returns the reference
// in canonical form: ids in lower case, identifiers in upper case.
func classify(ref string) (refKind, string) {
	s := strings.TrimSpace(ref)
	switch {
	case isUUID(s):
		return kindID, strings.ToLower(s)
	case isIdentifier(s):
		return kindIdentifier, strings.ToUpper(s)
	}
	return kindInvalid, ""
}

// isUUID reports whether s is 8-4-4-4-12 hexadecimal digits.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHex(c) {
				return false
			}
		}
	}
	return true
}

// isIdentifier reports whether s is a team key (a letter, then up to 9
// letters, digits or underscores) and an issue number: ENG-123.
func isIdentifier(s string) bool {
	i := strings.LastIndexByte(s, '-')
	if i < 1 || i > 10 || len(s)-i-1 < 1 || len(s)-i-1 > 9 {
		return false
	}
	key, num := s[:i], s[i+1:]
	if !isLetter(key[0]) {
		return false
	}
	for j := 1; j < len(key); j++ {
		if c := key[j]; !isLetter(c) && !isDigit(c) && c != '_' {
			return false
		}
	}
	for j := 0; j < len(num); j++ {
		if !isDigit(num[j]) {
			return false
		}
	}
	return num[0] != '0'
}

func isHex(c byte) bool    { return isDigit(c) || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F') }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isLetter(c byte) bool { return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
