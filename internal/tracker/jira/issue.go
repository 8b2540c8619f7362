package jira

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/testplanit/tpi-workers/internal/tracker"
)

// rawIssue is an issue as Jira's REST API returns it; fields are decoded
// one by one so that one field of an unexpected shape costs only itself.
type rawIssue struct {
	ID     flexString                 `json:"id"`
	Key    string                     `json:"key"`
	Fields map[string]json.RawMessage `json:"fields"`
}

// flexString reads a JSON string or number.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return nil // null, or a shape we do not read
	}
	*f = flexString(n.String())
	return nil
}

// searchPage is a page of either search: Cloud's enhanced search
// (/rest/api/3/search/jql: nextPageToken, isLast) or Server's
// (/rest/api/2/search: startAt, maxResults, total).
type searchPage struct {
	Issues        []rawIssue `json:"issues"`
	NextPageToken string     `json:"nextPageToken"`
	IsLast        *bool      `json:"isLast"`
	StartAt       int        `json:"startAt"`
	MaxResults    int        `json:"maxResults"`
	Total         int        `json:"total"`
}

// decodeSearch reads a search answer.
func decodeSearch(body []byte) (searchPage, error) {
	var p searchPage
	err := json.Unmarshal(body, &p)
	return p, err
}

// decodeIssue reads a GET /issue/{idOrKey} answer.
func decodeIssue(body []byte) (rawIssue, error) {
	var r rawIssue
	err := json.Unmarshal(body, &r)
	return r, err
}

type named struct {
	ID      flexString `json:"id"`
	Name    string     `json:"name"`
	IconURL string     `json:"iconUrl"`
}

type user struct {
	AccountID    string `json:"accountId"`
	Name         string `json:"name"`
	Key          string `json:"key"`
	DisplayName  string `json:"displayName"`
	EmailAddress string `json:"emailAddress"`
}

// normalize turns r into the issue TestPlanIt keeps (reference 7.2); site
// builds the browse URL and may be empty.
func normalize(r rawIssue, site string) *tracker.Issue {
	f := r.Fields
	is := &tracker.Issue{
		ID:          string(r.ID),
		Key:         r.Key,
		Title:       fieldString(f["summary"]),
		Description: description(f["description"]),
		Labels:      labels(f["labels"]),
		CreatedAt:   parseTime(fieldString(f["created"])),
		UpdatedAt:   parseTime(fieldString(f["updated"])),
	}
	var status, priority named
	if decodeField(f["status"], &status) {
		is.Status = status.Name
	}
	if decodeField(f["priority"], &priority) {
		is.Priority = priority.Name
	}
	var typ named
	if decodeField(f["issuetype"], &typ) && (typ.ID != "" || typ.Name != "") {
		is.Type = &tracker.IssueType{ID: string(typ.ID), Name: typ.Name, IconURL: typ.IconURL}
	}
	is.Assignee = person(f["assignee"])
	is.Reporter = person(f["reporter"])
	for name, raw := range f {
		if !strings.HasPrefix(name, "customfield_") {
			continue
		}
		var v any
		if json.Unmarshal(raw, &v) != nil || v == nil {
			continue
		}
		if is.CustomFields == nil {
			is.CustomFields = make(map[string]any)
		}
		is.CustomFields[name] = v
	}
	if site != "" && r.Key != "" {
		is.URL = site + "/browse/" + r.Key
	}
	return is
}

// decodeField decodes raw into v, reporting whether raw held an object.
func decodeField(raw json.RawMessage, v any) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return false
	}
	return json.Unmarshal(raw, v) == nil
}

func fieldString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// description reads REST v2's plain string or REST v3's ADF document.
func description(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		return fieldString(raw)
	case '{':
		return adfToText(raw)
	}
	return ""
}

func labels(raw json.RawMessage) []string {
	var all []json.RawMessage
	if json.Unmarshal(raw, &all) != nil {
		return nil
	}
	var out []string
	for _, l := range all {
		if s := fieldString(l); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func person(raw json.RawMessage) *tracker.Person {
	var u user
	if !decodeField(raw, &u) {
		return nil
	}
	p := &tracker.Person{ID: u.AccountID, Name: u.DisplayName, Email: u.EmailAddress}
	if p.ID == "" {
		p.ID = u.Name
	}
	if p.ID == "" {
		p.ID = u.Key
	}
	if *p == (tracker.Person{}) {
		return nil
	}
	return p
}

// parseTime reads Jira's "2024-01-02T15:04:05.000+0000" (and RFC 3339) as
// UTC; the zero time when s is empty or unreadable.
func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	for _, layout := range []string{
		"2006-01-02T15:04:05.000-0700",
		"2006-01-02T15:04:05-0700",
		time.RFC3339Nano,
	} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// isID reports whether ref is a Jira issue id (a positive decimal number).
func isID(ref string) bool {
	n, err := strconv.ParseUint(ref, 10, 63)
	return err == nil && n > 0 && strconv.FormatUint(n, 10) == ref
}

// isKey reports whether ref looks like an issue key: a project key (a
// letter, then letters, digits or underscores) and a number.
func isKey(ref string) bool {
	project, num, ok := strings.Cut(ref, "-")
	if !ok || project == "" || !isID(num) {
		return false
	}
	for i, r := range project {
		letter := r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z'
		if !letter && (i == 0 || !(r >= '0' && r <= '9' || r == '_')) {
			return false
		}
	}
	return true
}
