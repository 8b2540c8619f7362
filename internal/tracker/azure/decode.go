package azure

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/testplanit/tpi-workers/internal/tracker"
)

// workItem is a work item as the batch API returns it with $expand=All.
type workItem struct {
	ID     int64          `json:"id"`
	Rev    int64          `json:"rev"`
	Fields map[string]any `json:"fields"`
	Links  struct {
		HTML         link `json:"html"`
		WorkItemIcon link `json:"workItemIcon"`
	} `json:"_links"`
	URL string `json:"url"`
}

type link struct {
	Href string `json:"href"`
	URL  string `json:"url"`
}

func (l link) target() string {
	if l.Href != "" {
		return l.Href
	}
	return l.URL
}

// decodeBatch reads a workitemsbatch answer, {"count": n, "value": [...]},
// where items that could not be read are null (errorPolicy Omit). Numbers
// in fields stay json.Number, so ids and large integers keep their digits.
// Items without a positive id are dropped.
func decodeBatch(body []byte) ([]*workItem, error) {
	var resp struct {
		Value *[]*workItem `json:"value"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&resp); err != nil {
		return nil, fmt.Errorf("decoding work items: %w", cleanJSONError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("decoding work items: trailing data after the JSON answer")
	}
	if resp.Value == nil {
		return nil, errors.New("decoding work items: answer has no \"value\" list")
	}
	items := make([]*workItem, 0, len(*resp.Value))
	for _, w := range *resp.Value {
		if w != nil && w.ID > 0 {
			items = append(items, w)
		}
	}
	return items, nil
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

// Field names mapped onto [tracker.Issue]; the others become CustomFields.
const (
	fieldTitle       = "System.Title"
	fieldDescription = "System.Description"
	fieldState       = "System.State"
	fieldType        = "System.WorkItemType"
	fieldAssignedTo  = "System.AssignedTo"
	fieldCreatedBy   = "System.CreatedBy"
	fieldTags        = "System.Tags"
	fieldCreatedDate = "System.CreatedDate"
	fieldChangedDate = "System.ChangedDate"
	fieldPriority    = "Microsoft.VSTS.Common.Priority"
)

// mapped reports whether a field is one of those above.
func mapped(field string) bool {
	switch field {
	case fieldTitle, fieldDescription, fieldState, fieldType, fieldAssignedTo,
		fieldCreatedBy, fieldTags, fieldCreatedDate, fieldChangedDate, fieldPriority:
		return true
	}
	return false
}

// normalize maps a work item as the original adapter does (reference 7.2):
// ID and Key are the work item id; the fields it does not map go to
// CustomFields. webURL is the organization (and project) URL for the link
// when the answer has none.
func normalize(w *workItem, webURL string) *tracker.Issue {
	f := w.Fields
	id := strconv.FormatInt(w.ID, 10)
	is := &tracker.Issue{
		ID:          id,
		Key:         id,
		Title:       str(f[fieldTitle]),
		Description: htmlToText(str(f[fieldDescription])),
		Status:      str(f[fieldState]),
		Priority:    str(f[fieldPriority]),
		Assignee:    identity(f[fieldAssignedTo]),
		Reporter:    identity(f[fieldCreatedBy]),
		Labels:      tags(str(f[fieldTags])),
		CreatedAt:   timestamp(f[fieldCreatedDate]),
		UpdatedAt:   timestamp(f[fieldChangedDate]),
		URL:         w.Links.HTML.target(),
	}
	if is.URL == "" {
		is.URL = webURL + "/_workitems/edit/" + id
	}
	if name := str(f[fieldType]); name != "" {
		// Work item types have no id of their own: the name is the id.
		is.Type = &tracker.IssueType{ID: name, Name: name, IconURL: w.Links.WorkItemIcon.target()}
	}
	is.CustomFields = make(map[string]any, len(f))
	for k, v := range f {
		if !mapped(k) {
			is.CustomFields[k] = v
		}
	}
	return is
}

// str renders a scalar field; objects and lists give "".
func str(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

// identity reads an identity field: an IdentityRef object (API 5.0 and
// later: id, displayName, uniqueName) or the older "Display Name <email>"
// string. uniqueName is the email on Azure DevOps Services; on a server it
// may be DOMAIN\user, which is not kept as an email.
func identity(v any) *tracker.Person {
	var p tracker.Person
	switch v := v.(type) {
	case map[string]any:
		p.ID = str(v["id"])
		p.Name = str(v["displayName"])
		if u := str(v["uniqueName"]); strings.Contains(u, "@") {
			p.Email = u
		}
	case string:
		s := strings.TrimSpace(v)
		if i := strings.LastIndexByte(s, '<'); i >= 0 && strings.HasSuffix(s, ">") {
			p.Name = strings.TrimSpace(s[:i])
			if e := s[i+1 : len(s)-1]; strings.Contains(e, "@") {
				p.Email = e
			}
		} else {
			p.Name = s
		}
	}
	if p == (tracker.Person{}) {
		return nil
	}
	return &p
}

// tags splits System.Tags ("a; b; c").
func tags(s string) []string {
	out := []string{}
	for t := range strings.SplitSeq(s, ";") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// timestamp reads an ISO 8601 date field; anything else is the zero time.
func timestamp(v any) time.Time {
	s := str(v)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}
