package schedule

import (
	"testing"
	"time"
)

// FuzzResolve feeds arbitrary configuration files: no panic, and an accepted
// configuration has entries that fire, far enough apart.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{
		"timezone: Europe/Paris\nentries:\n  nightly-forecast: {cron: \"30 2 * * *\"}\n  digest-sweep: {disabled: true}\n",
		`{"entries":{"digest-sweep":{"cron":"*/5 * * * *","timezone":"Asia/Kolkata"}}}`,
		"entries: {milestone-reminders: {cron: \"0 7 * * 1-5\"}}",
		"entries: [", "timezone: 7", "", "entries: {digest-sweep: {cron: \"@every 1s\"}}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, file []byte) {
		cfg, err := Resolve(Overrides{}, file, Timing{}, ref)
		if err != nil {
			return
		}
		for _, e := range cfg.Entries {
			n := e.Next(ref)
			if n.IsZero() || !n.After(ref) {
				t.Fatalf("%s %q: next %s", e.Name, e.Spec(), n)
			}
			if e.Cron != "@every 1s" && e.Next(n).Sub(n) < time.Minute {
				t.Fatalf("%s %q fires every %s", e.Name, e.Spec(), e.Next(n).Sub(n))
			}
		}
	})
}
