package email

import (
	"embed"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Locale is a URL locale of TestPlanIt: "en-US", "es-ES" or "fr-FR".
type Locale string

// The supported locales.
const (
	EnUS Locale = "en-US"
	EsES Locale = "es-ES"
	FrFR Locale = "fr-FR"
)

// Locales lists the supported locales.
func Locales() []Locale { return []Locale{EnUS, EsES, FrFR} }

// LocaleFromDB maps a "UserPreferences".locale enum value (en_US, es_ES,
// fr_FR) to its URL form; anything else is en-US, the original's default.
func LocaleFromDB(s string) Locale {
	l := Locale(strings.ReplaceAll(s, "_", "-"))
	for _, k := range Locales() {
		if k == l {
			return l
		}
	}
	return EnUS
}

//go:embed locales/*.json
var localeFS embed.FS

// catalog holds the translations of one locale.
type catalog map[string]string

// loadCatalogs reads the embedded translations of every locale and checks
// that each has the same keys as en-US.
func loadCatalogs() (map[Locale]catalog, error) {
	out := map[Locale]catalog{}
	for _, l := range Locales() {
		b, err := localeFS.ReadFile("locales/" + string(l) + ".json")
		if err != nil {
			return nil, err
		}
		var c catalog
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("email: locales/%s.json: %w", l, err)
		}
		out[l] = c
	}
	for k := range out[EnUS] {
		for _, l := range Locales() {
			if _, ok := out[l][k]; !ok {
				return nil, fmt.Errorf("email: locales/%s.json lacks %q", l, k)
			}
		}
	}
	return out, nil
}

// t returns the translation of key with {name} parameters substituted, or
// the key itself when missing (as next-intl shows it).
func (c catalog) t(key string, params ...string) string {
	s, ok := c[key]
	if !ok {
		return key
	}
	for i := 0; i+1 < len(params); i += 2 {
		s = strings.ReplaceAll(s, "{"+params[i]+"}", params[i+1])
	}
	return s
}

var monthNames = map[Locale][12]string{
	EnUS: {"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
	EsES: {"enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre"},
	FrFR: {"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"},
}

// formatDateTime renders t as the original's formatEmailDateTime does
// (date-fns "MMMM d, yyyy 'at' hh:mm a" with the locale's month names and
// "at" word), in the user's time zone rather than the server's.
func formatDateTime(t time.Time, l Locale, loc *time.Location) string {
	t = t.In(loc)
	at, am, pm := "at", "AM", "PM"
	switch l {
	case EsES:
		at, am, pm = "a las", "a. m.", "p. m."
	case FrFR:
		at = "à"
	}
	ampm := am
	if t.Hour() >= 12 {
		ampm = pm
	}
	h := t.Hour() % 12
	if h == 0 {
		h = 12
	}
	return fmt.Sprintf("%s %d, %d %s %02d:%02d %s", monthNames[l][t.Month()-1], t.Day(), t.Year(), at, h, t.Minute(), ampm)
}

// formatDate renders a date as JavaScript's toLocaleDateString does for the
// locale: 11/26/2026 in en-US, 26/11/2026 in es-ES and fr-FR.
func formatDate(t time.Time, l Locale, loc *time.Location) string {
	t = t.In(loc)
	switch l {
	case EsES:
		return fmt.Sprintf("%d/%d/%d", t.Day(), int(t.Month()), t.Year())
	case FrFR:
		return fmt.Sprintf("%02d/%02d/%d", t.Day(), int(t.Month()), t.Year())
	}
	return fmt.Sprintf("%d/%d/%d", int(t.Month()), t.Day(), t.Year())
}
