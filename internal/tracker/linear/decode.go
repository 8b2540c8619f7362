package linear

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/testplanit/tpi-workers/internal/tracker"
)

// Linear's extensions.code values this package acts on.
const (
	codeRateLimited = "RATELIMITED"
	codeAuth        = "AUTHENTICATION_ERROR"
	codeForbidden   = "FORBIDDEN"
)

// fallbackRateLimitWait is the wait reported for a RATELIMITED error that
// reaches the decoder (the transport normally turns it into HTTP 429 first,
// and tracker.HTTP reads the reset headers): Linear refills its buckets
// continuously, so a minute frees some budget.
const fallbackRateLimitWait = time.Minute

// gqlError is one entry of a GraphQL answer's errors.
type gqlError struct {
	Message    string `json:"message"`
	Path       []any  `json:"path"`
	Extensions struct {
		Code                   string `json:"code"`
		Type                   string `json:"type"`
		UserPresentableMessage string `json:"userPresentableMessage"`
	} `json:"extensions"`
}

func (e *gqlError) code() string { return strings.ToUpper(strings.TrimSpace(e.Extensions.Code)) }

// alias is the first element of the error's path: the alias of the root
// field that failed, or "".
func (e *gqlError) alias() string {
	if len(e.Path) == 0 {
		return ""
	}
	s, _ := e.Path[0].(string)
	return s
}

// notFound reports whether the error says the issue does not exist. Linear
// answers "Entity not found: Issue" with code INPUT_ERROR (or
// INVALID_INPUT); ENTITY_NOT_FOUND and NOT_FOUND are accepted too.
func (e *gqlError) notFound() bool {
	switch e.code() {
	case "ENTITY_NOT_FOUND", "NOT_FOUND":
		return true
	}
	return strings.HasPrefix(strings.ToLower(e.Message), "entity not found") ||
		strings.HasPrefix(strings.ToLower(e.Extensions.UserPresentableMessage), "could not find referenced")
}

// text is a short description of the error for a StatusError.
func (e *gqlError) text() string {
	msg := e.Extensions.UserPresentableMessage
	if msg == "" {
		msg = e.Message
	}
	if c := e.code(); c != "" {
		msg = c + ": " + msg
	}
	return truncate(strings.Join(strings.Fields(msg), " "), 200)
}

// answer is a decoded GraphQL answer.
type answer struct {
	data   map[string]json.RawMessage // nil when data is null or absent
	errors []gqlError
}

// decodeAnswer reads a GraphQL answer: {"data": {...} | null, "errors": [...]}.
func decodeAnswer(body []byte) (*answer, error) {
	var raw struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("decoding GraphQL answer: %w", cleanJSONError(err))
	}
	a := &answer{errors: raw.Errors}
	if d := strings.TrimSpace(string(raw.Data)); d != "" && d != "null" {
		if err := json.Unmarshal(raw.Data, &a.data); err != nil || a.data == nil {
			return nil, errors.New("decoding GraphQL answer: data is not an object")
		}
	}
	if a.data == nil && len(a.errors) == 0 {
		return nil, errors.New("decoding GraphQL answer: neither data nor errors")
	}
	return a, nil
}

// resolve records in out what the answer says of q's refs and returns the
// refs it says nothing of (all of them but the failing aliases' when the
// data was nulled). Errors that concern the whole request end the call.
func (a *answer) resolve(provider string, q *query, status int, out map[string]outcome) ([]string, error) {
	aliasErr := make(map[string]*gqlError)
	var global []string
	for i := range a.errors {
		e := &a.errors[i]
		switch e.code() {
		case codeRateLimited:
			return nil, &tracker.RateLimitError{Provider: provider, RetryAfter: fallbackRateLimitWait,
				Err: &tracker.StatusError{Provider: provider, Status: status, Body: e.text()}}
		case codeAuth:
			return nil, fmt.Errorf("%w (%s: %s)", tracker.ErrUnauthorized, provider, e.text())
		}
		alias := e.alias()
		_, isAlias := q.aliases[alias]
		switch {
		case isAlias && (len(e.Path) == 1 || isNull(a.data[alias])):
			if aliasErr[alias] == nil {
				aliasErr[alias] = e
			}
		case (isAlias || alias == byIDAlias) && len(e.Path) > 1 && !isNull(a.data[alias]):
			// A field inside an issue failed but the issue came: keep it.
		default:
			global = append(global, e.text())
		}
	}
	if len(global) > 0 {
		return nil, &tracker.StatusError{Provider: provider, Status: status, Body: truncate(strings.Join(global, "; "), 400)}
	}

	for alias, e := range aliasErr {
		out[q.aliases[alias]] = outcome{err: aliasError(provider, q.aliases[alias], e)}
	}
	if a.data == nil {
		left := append([]string(nil), q.ids...)
		for i, ident := range q.idents {
			if aliasErr[aliasName(i)] == nil {
				left = append(left, ident)
			}
		}
		return left, nil
	}

	if len(q.ids) > 0 {
		var conn struct {
			Nodes []issueNode `json:"nodes"`
		}
		raw, ok := a.data[byIDAlias]
		if !ok || isNull(raw) {
			return nil, fmt.Errorf("%s: the answer has no issues list", provider)
		}
		if err := json.Unmarshal(raw, &conn); err != nil {
			return nil, fmt.Errorf("%s: decoding issues: %w", provider, cleanJSONError(err))
		}
		byID := make(map[string]*issueNode, len(conn.Nodes))
		for i := range conn.Nodes {
			byID[strings.ToLower(conn.Nodes[i].ID)] = &conn.Nodes[i]
		}
		for _, id := range q.ids {
			out[id] = nodeOutcome(provider, id, byID[id])
		}
	}
	for alias, ident := range q.aliases {
		if aliasErr[alias] != nil {
			continue
		}
		raw := a.data[alias]
		if isNull(raw) {
			out[ident] = nodeOutcome(provider, ident, nil)
			continue
		}
		var n issueNode
		if err := json.Unmarshal(raw, &n); err != nil {
			return nil, fmt.Errorf("%s: decoding issue %s: %w", provider, ident, cleanJSONError(err))
		}
		if n.ID == "" {
			return nil, fmt.Errorf("%s: issue %s came without an id", provider, ident)
		}
		out[ident] = nodeOutcome(provider, ident, &n)
	}
	return nil, nil
}

// aliasError is the result error for an alias that failed.
func aliasError(provider, ident string, e *gqlError) error {
	if e.notFound() {
		return fmt.Errorf("%w (%s: issue %s)", tracker.ErrNotFound, provider, ident)
	}
	status := http.StatusBadRequest
	if e.code() == codeForbidden {
		status = http.StatusForbidden
	}
	return &tracker.StatusError{Provider: provider, Status: status, Body: e.text()}
}

// nodeOutcome is the result for ref given its issue (nil: not there).
func nodeOutcome(provider, ref string, n *issueNode) outcome {
	if n == nil {
		return outcome{err: fmt.Errorf("%w (%s: issue %s)", tracker.ErrNotFound, provider, ref)}
	}
	if n.Trashed != nil && *n.Trashed {
		return outcome{err: fmt.Errorf("%w (%s: issue %s is in the trash)", tracker.ErrNotFound, provider, ref)}
	}
	return outcome{issue: n.issue()}
}

func isNull(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "" || s == "null"
}

// issueNode is an issue as the TpiIssue fragment reads it.
type issueNode struct {
	ID            string   `json:"id"`
	Identifier    string   `json:"identifier"`
	Title         string   `json:"title"`
	Description   *string  `json:"description"`
	URL           string   `json:"url"`
	Priority      *float64 `json:"priority"`
	PriorityLabel string   `json:"priorityLabel"`
	Trashed       *bool    `json:"trashed"`
	ArchivedAt    *string  `json:"archivedAt"`
	CreatedAt     string   `json:"createdAt"`
	UpdatedAt     string   `json:"updatedAt"`
	State         *struct {
		Name string `json:"name"`
	} `json:"state"`
	Team *struct {
		Key string `json:"key"`
	} `json:"team"`
	Labels *struct {
		Nodes []struct {
			Name string `json:"name"`
		} `json:"nodes"`
	} `json:"labels"`
	Assignee *user `json:"assignee"`
	Creator  *user `json:"creator"`
}

type user struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

func (u *user) person() *tracker.Person {
	if u == nil || *u == (user{}) {
		return nil
	}
	return &tracker.Person{ID: u.ID, Name: u.Name, Email: u.Email}
}

// issue normalizes the node: ID is the UUID, Key the identifier, Priority
// the priority's label ("Urgent", "High", "Medium", "Low", "No priority"),
// Reporter the creator; the description stays Markdown. CustomFields keeps
// the team key, the numeric priority (0 none, 1 urgent … 4 low) and, for an
// archived issue, when it was archived.
func (n *issueNode) issue() *tracker.Issue {
	is := &tracker.Issue{
		ID:           n.ID,
		Key:          n.Identifier,
		Title:        n.Title,
		Priority:     n.PriorityLabel,
		Assignee:     n.Assignee.person(),
		Reporter:     n.Creator.person(),
		Labels:       []string{},
		CustomFields: map[string]any{},
		CreatedAt:    timestamp(n.CreatedAt),
		UpdatedAt:    timestamp(n.UpdatedAt),
		URL:          n.URL,
	}
	if n.Description != nil {
		is.Description = *n.Description
	}
	if n.State != nil {
		is.Status = n.State.Name
	}
	if n.Labels != nil {
		for _, l := range n.Labels.Nodes {
			if l.Name != "" {
				is.Labels = append(is.Labels, l.Name)
			}
		}
	}
	if n.Team != nil && n.Team.Key != "" {
		is.CustomFields["teamKey"] = n.Team.Key
	}
	if n.Priority != nil {
		is.CustomFields["priority"] = *n.Priority
	}
	if n.ArchivedAt != nil && *n.ArchivedAt != "" {
		is.CustomFields["archivedAt"] = *n.ArchivedAt
	}
	return is
}

// timestamp reads Linear's ISO 8601 DateTime; anything else is the zero
// time.
func timestamp(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// cleanJSONError keeps the kind of a JSON error but not the text it quotes
// from the answer.
func cleanJSONError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("invalid JSON at offset %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Errorf("unexpected JSON %s for %s", te.Value, te.Field)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("truncated JSON")
	}
	return err
}
