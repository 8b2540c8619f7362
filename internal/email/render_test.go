package email

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// fixtures: one notification per type (two for WORK_ASSIGNED), with the
// data fields the original producers write.
func fixtures() []Notification {
	at := time.Date(2026, 11, 26, 14, 5, 0, 0, time.UTC)
	mk := func(id, typ, title, msg, data string) Notification {
		return Notification{ID: id, Type: typ, Title: title, Message: msg, Data: json.RawMessage(data), CreatedAt: at}
	}
	return []Notification{
		mk("n1", "WORK_ASSIGNED", "New Test Case Assignment", "Alice assigned you to test case \"Login\"",
			`{"assignedById":"u2","assignedByName":"Alice","projectId":7,"projectName":"Web","testRunId":42,"testRunName":"Sprint 9","testCaseId":1001,"testCaseName":"Login works"}`),
		mk("n2", "WORK_ASSIGNED", "Multiple Test Cases Assigned", "Alice assigned you 3 test cases",
			`{"isBulkAssignment":true,"assignedByName":"Alice","count":3,"testRunGroups":[{"testRunId":42,"testRunName":"Sprint 9","projectId":7,"projectName":"Web","testCases":[]}]}`),
		mk("n3", "SESSION_ASSIGNED", "New Session Assignment", "Bob assigned you to session",
			`{"projectId":7,"projectName":"Web","sessionId":5,"sessionName":"Exploratory <checkout>","assignedByName":"Bob"}`),
		mk("n4", "COMMENT_MENTION", "You were mentioned", "Carol mentioned you",
			`{"creatorName":"Carol","projectId":7,"projectName":"Web","entityType":"RepositoryCase","entityName":"Checkout & pay","hasProjectAccess":true,"repositoryCaseId":1001}`),
		mk("n5", "SYSTEM_ANNOUNCEMENT", "Maintenance tonight", "The service will be down from 22:00.",
			`{"sentById":"u1","sentByName":"Admin","richContent":{"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":"Down from "},{"type":"text","marks":[{"type":"bold"}],"text":"22:00"},{"type":"text","text":", see "},{"type":"text","marks":[{"type":"link","attrs":{"href":"https://status.example.com"}}],"text":"status"}]},{"type":"bulletList","content":[{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"Save your work"}]}]}]}]},"htmlContent":"<p onclick=\"steal()\">Upgrade to <b>1.2</b><script>alert(1)</script> <a href=\"javascript:alert(1)\">now</a> <a href=\"https://testplanit.com/notes\">notes</a></p>"}`),
		mk("n6", "USER_REGISTERED", "New user registered", "Dan (dan@example.com) registered with INTERNAL",
			`{"newUserName":"Dan","newUserEmail":"dan@example.com","newUserId":"u9","registrationMethod":"INTERNAL"}`),
		mk("n7", "MILESTONE_DUE_REMINDER", "Milestone due", "Milestone v2 is due",
			`{"milestoneName":"v2.0","projectName":"Web","projectId":7,"milestoneId":12,"dueDate":"2026-11-28T00:00:00.000Z","isOverdue":false}`),
		mk("n8", "SHARE_LINK_ACCESSED", "Share Link Accessed", "Eve viewed your shared link",
			`{"shareLinkId":"s1","projectId":7,"viewerName":"Eve","viewerEmail":"eve@example.com","viewedAt":"2026-11-26T13:00:00Z"}`),
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/email -run Golden -update)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file; got:\n%s", path, got)
	}
}

func TestGoldenNotificationEmails(t *testing.T) {
	r, err := NewRenderer("https://tpi.example.com/")
	if err != nil {
		t.Fatal(err)
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	now := time.Date(2026, 11, 26, 15, 0, 0, 0, time.UTC)
	for _, l := range Locales() {
		rc := Recipient{UserID: "u1", Name: "Zoé", Email: "zoe@example.com", Locale: Locale(strings.ReplaceAll(string(l), "-", "_")), TimeZone: paris}
		for _, n := range fixtures() {
			out, err := r.Notification("", rc, n, now)
			if err != nil {
				t.Fatal(err)
			}
			base := filepath.Join(string(l), n.ID+"-"+strings.ToLower(n.Type))
			golden(t, base+".html", "Subject: "+out.Subject+"\n\n"+out.HTML)
			golden(t, base+".txt", "Subject: "+out.Subject+"\n\n"+out.Text)
		}
		out, err := r.Digest("", rc, fixtures(), now)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, filepath.Join(string(l), "digest.html"), "Subject: "+out.Subject+"\n\n"+out.HTML)
		golden(t, filepath.Join(string(l), "digest.txt"), "Subject: "+out.Subject+"\n\n"+out.Text)
	}
}

func TestRenderedContent(t *testing.T) {
	r, err := NewRenderer("https://tpi.example.com")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 15, 0, 0, 0, time.UTC)
	fx := fixtures()
	rc := Recipient{UserID: "u1", Name: "Zoé", Email: "zoe@example.com", Locale: "fr_FR"}
	check := func(n Notification, subject string, contains, absent []string) {
		t.Helper()
		out, err := r.Notification("", rc, n, now)
		if err != nil {
			t.Fatal(err)
		}
		if out.Subject != subject {
			t.Errorf("%s: subject %q, want %q", n.Type, out.Subject, subject)
		}
		for _, s := range contains {
			if !strings.Contains(out.HTML, s) {
				t.Errorf("%s: HTML lacks %q", n.Type, s)
			}
		}
		for _, s := range absent {
			if strings.Contains(out.HTML, s) || (s != "<checkout>" && strings.Contains(out.Text, s)) {
				t.Errorf("%s: output contains %q", n.Type, s)
			}
		}
	}
	check(fx[0], "TestPlanIt: Nouvelle affectation de cas de test",
		[]string{`href="https://tpi.example.com/fr-FR/projects/runs/7/42?selectedCase=1001"`, "Salut Zoé,", "Alice Vous avez été affecté au cas de test &#34;Login works&#34; dans le projet &#34;Web&#34;",
			`href="https://tpi.example.com/fr-FR?openNotifications=true"`, `href="https://tpi.example.com/fr-FR/users/profile/u1"`}, nil)
	check(fx[2], "TestPlanIt: Affectation pour la nouvelle session",
		[]string{`href="https://tpi.example.com/fr-FR/projects/sessions/7/5"`, "&#34;Exploratory &lt;checkout&gt;&#34;"}, []string{"<checkout>"})
	check(fx[3], "TestPlanIt: Vous avez été mentionné dans un commentaire",
		[]string{`href="https://tpi.example.com/fr-FR/projects/repository/7/1001"`}, nil)
	check(fx[4], "TestPlanIt: Maintenance tonight",
		[]string{"<b>1.2</b>", `href="https://testplanit.com/notes"`}, []string{"<script", "onclick", "javascript:", "alert(1)"})
	check(fx[6], "TestPlanIt: Étape importante à venir",
		[]string{`href="https://tpi.example.com/fr-FR/projects/milestones/7/12"`, "est prévue pour le 28/11/2026", "rappels quotidiens"}, nil)
	noLink := fx[3]
	noLink.Data = json.RawMessage(`{"creatorName":"Carol","projectId":7,"entityType":"RepositoryCase","repositoryCaseId":1001,"hasProjectAccess":false}`)
	check(noLink, "TestPlanIt: Vous avez été mentionné dans un commentaire", nil, []string{"/projects/repository/"})
}

func TestFormatDateTime(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	at := time.Date(2026, 3, 5, 13, 7, 0, 0, time.UTC)
	for l, want := range map[Locale]string{
		EnUS: "March 5, 2026 at 08:07 AM",
		EsES: "marzo 5, 2026 a las 08:07 a. m.",
		FrFR: "mars 5, 2026 à 08:07 AM",
	} {
		if got := formatDateTime(at, l, ny); got != want {
			t.Errorf("%s: %q, want %q", l, got, want)
		}
	}
}

func TestTipTapHeadingLevel(t *testing.T) {
	for level, want := range map[string]string{"3": "<h3>x</h3>", "10": "<h2>x</h2>", "20": "<h2>x</h2>", `"4"`: "<h4>x</h4>"} {
		got, ok := tiptapToHTML(`{"type":"doc","content":[{"type":"heading","attrs":{"level":` + level + `},"content":[{"type":"text","text":"x"}]}]}`)
		if !ok || got != want {
			t.Errorf("level %s: %q, want %q", level, got, want)
		}
	}
}

// TestRenderBaseURL: the links of a render are under the base URL it is
// given (a tenant's), else under the renderer's default.
func TestRenderBaseURL(t *testing.T) {
	r, err := NewRenderer("https://default.example.com/")
	if err != nil {
		t.Fatal(err)
	}
	rc := Recipient{UserID: "u1", Email: "u1@example.com", Locale: "en_US"}
	now := time.Date(2026, 11, 26, 15, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ given, want string }{
		{"", "https://default.example.com"},
		{"https://acme.example.com", "https://acme.example.com"},
		{"https://acme.example.com/tpi/", "https://acme.example.com/tpi"},
	} {
		if got := r.BaseURL(tc.given); got != tc.want {
			t.Errorf("BaseURL(%q) = %q, want %q", tc.given, got, tc.want)
		}
		n, err := r.Notification(tc.given, rc, fixtures()[0], now)
		if err != nil {
			t.Fatal(err)
		}
		d, err := r.Digest(tc.given, rc, fixtures(), now)
		if err != nil {
			t.Fatal(err)
		}
		for _, out := range []Rendered{n, d} {
			if out.PreferencesURL != tc.want+"/en-US/users/profile/u1" ||
				!strings.Contains(out.HTML, `href="`+tc.want+`/en-US/projects/runs/7/42?selectedCase=1001"`) ||
				!strings.Contains(out.Text, tc.want+"/en-US?openNotifications=true") {
				t.Errorf("base %q: preferences %q, links:\n%s\n%s", tc.given, out.PreferencesURL, out.HTML, out.Text)
			}
			other := "https://default.example.com"
			if tc.given == "" {
				other = "acme.example.com"
			}
			if strings.Contains(out.HTML+out.Text, other) {
				t.Errorf("base %q: output names %s", tc.given, other)
			}
		}
	}
}
