package email

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/microcosm-cc/bluemonday"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

// Rendered is one email ready to send.
type Rendered struct {
	Subject string
	HTML    string
	Text    string
	// PreferencesURL is the user's preferences page, also the target of the
	// List-Unsubscribe header.
	PreferencesURL string
}

// Renderer renders notification and digest emails. It is safe for
// concurrent use.
type Renderer struct {
	baseURL  string // the default base URL, without a trailing slash
	catalogs map[Locale]catalog
	policy   *bluemonday.Policy
	html     map[string]*htmltemplate.Template
	text     map[string]*texttemplate.Template
}

// NewRenderer parses the embedded templates and translations.
// defaultBaseURL is the web app's URL for the links of a render that names
// none (NEXTAUTH_URL; default http://localhost:3000 as in the original).
func NewRenderer(defaultBaseURL string) (*Renderer, error) {
	if defaultBaseURL == "" {
		defaultBaseURL = "http://localhost:3000"
	}
	cats, err := loadCatalogs()
	if err != nil {
		return nil, err
	}
	r := &Renderer{baseURL: strings.TrimRight(defaultBaseURL, "/"), catalogs: cats, policy: newPolicy(),
		html: map[string]*htmltemplate.Template{}, text: map[string]*texttemplate.Template{}}
	hfuncs := htmltemplate.FuncMap{"nl2br": nl2br}
	tfuncs := texttemplate.FuncMap{"indent": func(s string) string { return strings.ReplaceAll(s, "\n", "\n  ") }}
	for _, kind := range []string{"notification", "digest"} {
		h, err := htmltemplate.New(kind).Funcs(hfuncs).ParseFS(templateFS, "templates/layout.html.tmpl", "templates/"+kind+".html.tmpl")
		if err != nil {
			return nil, fmt.Errorf("email: templates: %w", err)
		}
		t, err := texttemplate.New(kind).Funcs(tfuncs).ParseFS(templateFS, "templates/layout.txt.tmpl", "templates/"+kind+".txt.tmpl")
		if err != nil {
			return nil, fmt.Errorf("email: templates: %w", err)
		}
		r.html[kind], r.text[kind] = h, t
	}
	return r, nil
}

// BaseURL returns the base URL of the links of a render given baseURL (a
// tenant's web app URL): baseURL without its trailing slash, or the
// Renderer's default when baseURL is empty.
func (r *Renderer) BaseURL(baseURL string) string {
	if baseURL = strings.TrimRight(baseURL, "/"); baseURL != "" {
		return baseURL
	}
	return r.baseURL
}

// strings of the layout and bodies, translated.
type texts struct {
	NotificationIntro, DigestIntro, ViewDetails, ViewAll, NoNotifications string
	DigestFooter, ProfileSettings                                         string
	FooterSentBy, ManagePreferences, AllRightsReserved                    string
}

type item struct {
	Title          string
	Message        string
	Text           string // message for the text part (announcement HTML as text)
	HTMLMessage    htmltemplate.HTML
	URL            string
	Timestamp      string
	AdditionalInfo string
}

type view struct {
	Subject, Lang, AppURL, PreferencesURL, ViewAllURL, Greeting string
	Year                                                        int
	T                                                           texts
	Item                                                        *item
	Items                                                       []item
}

// newView starts the view of an email to rc; base is the links' base URL.
func (r *Renderer) newView(base string, rc Recipient, subject string, now time.Time, digest bool) view {
	c := r.catalogs[rc.Locale]
	greeting := c.t("email.greeting")
	if rc.Name != "" {
		greeting = c.t("email.greetingWithName", "name", rc.Name)
	}
	v := view{
		Subject: subject, Lang: string(rc.Locale)[:2], AppURL: base,
		PreferencesURL: r.PreferencesURL(base, rc),
		ViewAllURL:     base + "/" + string(rc.Locale) + "?openNotifications=true",
		Greeting:       greeting, Year: now.In(rc.loc()).Year(),
		T: texts{
			NotificationIntro: c.t("email.notification.intro"),
			DigestIntro:       c.t("email.digest.intro"),
			ViewDetails:       c.t("email.notification.viewDetails"),
			ViewAll:           c.t("email.notification.viewAll"),
			NoNotifications:   c.t("email.digest.noNotifications"),
			DigestFooter:      c.t("email.digest.footer"),
			ProfileSettings:   c.t("email.digest.profileSettings"),
			FooterSentBy:      c.t("email.footer.sentBy"),
			ManagePreferences: c.t("email.footer.managePreferences"),
			AllRightsReserved: c.t("email.footer.allRightsReserved"),
		},
	}
	if digest {
		v.T.ViewDetails, v.T.ViewAll = c.t("email.digest.viewDetails"), c.t("email.digest.viewAll")
	}
	return v
}

// PreferencesURL is the recipient's profile page under baseURL (see
// [Renderer.BaseURL]), where the notification mode is changed: the "Manage
// preferences" link and List-Unsubscribe.
func (r *Renderer) PreferencesURL(baseURL string, rc Recipient) string {
	return r.BaseURL(baseURL) + "/" + string(rc.Locale) + "/users/profile/" + rc.UserID
}

func (r *Renderer) toItem(rc Recipient, ct content) item {
	it := item{Title: ct.Title, Message: ct.Message, Text: ct.Message, URL: ct.URL,
		Timestamp: formatDateTime(ct.CreatedAt, rc.Locale, rc.loc()), AdditionalInfo: ct.AdditionalInfo}
	if ct.HTMLMessage != "" {
		it.HTMLMessage = htmltemplate.HTML(ct.HTMLMessage) // sanitized by bluemonday
		it.Text = htmlToText(ct.HTMLMessage)
	}
	return it
}

// Notification renders the immediate email of one notification, with its
// links under baseURL (the tenant's web app URL; "" for the Renderer's
// default). Subject: "TestPlanIt: <translated title>", as the original.
func (r *Renderer) Notification(baseURL string, rc Recipient, n Notification, now time.Time) (Rendered, error) {
	base := r.BaseURL(baseURL)
	rc.Locale = LocaleFromDB(string(rc.Locale))
	ct := r.buildContent(base, rc, n, true)
	v := r.newView(base, rc, "TestPlanIt: "+ct.Title, now, false)
	it := r.toItem(rc, ct)
	v.Item = &it
	return r.execute("notification", v)
}

// Digest renders the daily digest of ns, in the given order, with its
// links under baseURL (the tenant's web app URL; "" for the Renderer's
// default). Subject: "TestPlanIt Daily Digest - <N> notifications", as the
// original.
func (r *Renderer) Digest(baseURL string, rc Recipient, ns []Notification, now time.Time) (Rendered, error) {
	base := r.BaseURL(baseURL)
	rc.Locale = LocaleFromDB(string(rc.Locale))
	v := r.newView(base, rc, "TestPlanIt Daily Digest - "+strconv.Itoa(len(ns))+" notifications", now, true)
	for _, n := range ns {
		v.Items = append(v.Items, r.toItem(rc, r.buildContent(base, rc, n, false)))
	}
	return r.execute("digest", v)
}

func (r *Renderer) execute(kind string, v view) (Rendered, error) {
	var hb, tb bytes.Buffer
	if err := r.html[kind].ExecuteTemplate(&hb, "layout", v); err != nil {
		return Rendered{}, fmt.Errorf("email: render %s html: %w", kind, err)
	}
	if err := r.text[kind].ExecuteTemplate(&tb, "layout", v); err != nil {
		return Rendered{}, fmt.Errorf("email: render %s text: %w", kind, err)
	}
	return Rendered{Subject: v.Subject, HTML: hb.String(), Text: tb.String(), PreferencesURL: v.PreferencesURL}, nil
}

// nl2br escapes s and turns its line breaks into <br>.
func nl2br(s string) htmltemplate.HTML {
	esc := htmltemplate.HTMLEscapeString(s)
	return htmltemplate.HTML(strings.ReplaceAll(esc, "\n", "<br>\n"))
}
