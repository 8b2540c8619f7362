package email

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Notification is a "Notification" row as the email needs it.
type Notification struct {
	ID        string
	Type      string
	Title     string
	Message   string
	Data      json.RawMessage
	CreatedAt time.Time
}

// Recipient is the user an email goes to.
type Recipient struct {
	UserID string
	Name   string
	Email  string
	Locale Locale
	// TimeZone formats dates; nil means UTC.
	TimeZone *time.Location
}

func (r Recipient) loc() *time.Location {
	if r.TimeZone == nil {
		return time.UTC
	}
	return r.TimeZone
}

// content is a notification as shown in an email: translated title and
// message, sanitized HTML body for announcements, deep link, extra line.
type content struct {
	Title          string
	Message        string
	HTMLMessage    string // sanitized; empty when the message is plain text
	URL            string
	AdditionalInfo string
	CreatedAt      time.Time
}

// dataMap is a notification's data JSON with numbers kept as written.
type dataMap map[string]any

func parseData(raw json.RawMessage) dataMap {
	d := dataMap{}
	if len(raw) == 0 {
		return d
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil || d == nil {
		return dataMap{}
	}
	return d
}

// str renders a value the way a JavaScript template literal would, except
// that a missing value is empty rather than "undefined".
func (d dataMap) str(key string) string {
	switch v := d[key].(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// truthy is JavaScript truthiness for the data fields the links test.
func (d dataMap) truthy(key string) bool {
	switch v := d[key].(type) {
	case nil:
		return false
	case string:
		return v != ""
	case json.Number:
		f, err := v.Float64()
		return err == nil && f != 0
	case bool:
		return v
	default:
		return true
	}
}

// link builds a deep link of reference section 8.3.
func link(appURL string, l Locale, path ...string) string {
	return appURL + "/" + string(l) + "/" + strings.Join(path, "/")
}

// deepLink returns the notification's link, or "" when it has none.
func deepLink(appURL string, l Locale, typ string, d dataMap) string {
	switch typ {
	case "WORK_ASSIGNED":
		if !d.truthy("isBulkAssignment") && d.truthy("projectId") && d.truthy("testRunId") && d.truthy("testCaseId") {
			return link(appURL, l, "projects", "runs", d.str("projectId"), d.str("testRunId")) + "?selectedCase=" + d.str("testCaseId")
		}
	case "SESSION_ASSIGNED":
		if d.truthy("projectId") && d.truthy("sessionId") {
			return link(appURL, l, "projects", "sessions", d.str("projectId"), d.str("sessionId"))
		}
	case "MILESTONE_DUE_REMINDER":
		if d.truthy("projectId") && d.truthy("milestoneId") {
			return link(appURL, l, "projects", "milestones", d.str("projectId"), d.str("milestoneId"))
		}
	case "COMMENT_MENTION":
		if !d.truthy("projectId") || !d.truthy("hasProjectAccess") {
			return ""
		}
		p := d.str("projectId")
		switch {
		case d.str("entityType") == "RepositoryCase" && d.truthy("repositoryCaseId"):
			return link(appURL, l, "projects", "repository", p, d.str("repositoryCaseId"))
		case d.str("entityType") == "TestRun" && d.truthy("testRunId"):
			return link(appURL, l, "projects", "runs", p, d.str("testRunId"))
		case d.str("entityType") == "Session" && d.truthy("sessionId"):
			return link(appURL, l, "projects", "sessions", p, d.str("sessionId"))
		case d.str("entityType") == "Milestone" && d.truthy("milestoneId"):
			return link(appURL, l, "projects", "milestones", p, d.str("milestoneId"))
		}
	}
	return ""
}

// buildContent re-translates a notification for the recipient's locale as
// the original email worker does. withHTML enables announcement HTML (the
// single-notification email; the digest shows the stored message). base is
// the links' base URL.
func (r *Renderer) buildContent(base string, rc Recipient, n Notification, withHTML bool) content {
	c := r.catalogs[rc.Locale]
	d := parseData(n.Data)
	out := content{Title: n.Title, Message: n.Message, CreatedAt: n.CreatedAt,
		URL: deepLink(base, rc.Locale, n.Type, d)}
	q := func(s string) string { return `"` + s + `"` }
	switch n.Type {
	case "WORK_ASSIGNED":
		if d.truthy("isBulkAssignment") {
			out.Title = c.t("content.multipleTestCaseAssignmentTitle")
			out.Message = d.str("assignedByName") + " " + c.t("content.assignedMultipleTestCases", "count", d.str("count"))
		} else {
			out.Title = c.t("content.testCaseAssignmentTitle")
			out.Message = strings.Join([]string{d.str("assignedByName"), c.t("content.assignedTestCase"),
				q(d.str("testCaseName")), c.t("content.inProject"), q(d.str("projectName"))}, " ")
		}
	case "SESSION_ASSIGNED":
		name := d.str("sessionName")
		if name == "" {
			name = d.str("entityName")
		}
		out.Title = c.t("content.sessionAssignmentTitle")
		out.Message = strings.Join([]string{d.str("assignedByName"), c.t("content.assignedSession"),
			q(name), c.t("content.inProject"), q(d.str("projectName"))}, " ")
	case "COMMENT_MENTION":
		out.Title = c.t("content.commentMentionTitle")
		out.Message = strings.Join([]string{d.str("creatorName"), c.t("content.mentionedYouInComment"),
			q(d.str("entityName")), c.t("content.inProject"), q(d.str("projectName"))}, " ")
	case "SYSTEM_ANNOUNCEMENT":
		if withHTML {
			if h := d.str("htmlContent"); h != "" {
				out.HTMLMessage = r.sanitize(h)
			} else if rich, ok := d["richContent"]; ok {
				if h, ok := tiptapToHTML(rich); ok {
					out.HTMLMessage = r.sanitize(h)
				}
			}
		}
		if out.HTMLMessage == "" && withHTML && d.truthy("sentByName") {
			out.Message += "\n\n" + c.t("content.sentBy", "name", d.str("sentByName"))
		}
	case "MILESTONE_DUE_REMINDER":
		overdue := d["isOverdue"] == true
		due := ""
		if s := d.str("dueDate"); s != "" {
			if t, ok := parseTime(s); ok {
				due = formatDate(t, rc.Locale, rc.loc())
			}
		}
		titleKey, msgKey := "content.milestoneDueSoonTitle", "content.milestoneDueSoon"
		if overdue {
			titleKey, msgKey = "content.milestoneOverdueTitle", "content.milestoneOverdue"
		}
		out.Title = c.t(titleKey)
		out.Message = c.t(msgKey, "milestoneName", d.str("milestoneName"), "projectName", d.str("projectName"), "dueDate", due)
		if withHTML {
			out.AdditionalInfo = c.t("content.milestoneNotificationReason") + " " + c.t("content.milestoneNotificationContinue")
		}
	}
	return out
}

func parseTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000Z07:00", time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
