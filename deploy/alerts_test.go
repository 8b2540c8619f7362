package deploy_test

import (
	"bytes"
	"os"
	"regexp"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// The shipped alert rules are a well-formed Prometheus rule file (groups of
// rules, each with an alert name, an expression, a duration Prometheus
// accepts, a severity and a summary), covering the three alerts the README
// promises, and query only metrics the fleet exports.
func TestAlertRules(t *testing.T) {
	b, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true) // a misspelt key is an error, as in promtool
	if err := dec.Decode(&f); err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{
		"tpi_tasks_archived_total":    true, // internal/worker/middleware.go
		"tpi_dependency_up":           true, // internal/worker/gate.go
		"asynq_queue_latency_seconds": true, // asynq's queue metrics, served by the dashboard
	}
	metricName := regexp.MustCompile(`\b(tpi|asynq)_[a-z_]+\b`)
	want := map[string]bool{"TPITaskArchived": false, "TPIDependencyDown": false, "TPIQueueLatencyHigh": false}
	for _, g := range f.Groups {
		if g.Name == "" {
			t.Error("a group without a name")
		}
		for _, r := range g.Rules {
			if _, ok := want[r.Alert]; !ok {
				t.Errorf("unexpected alert %q", r.Alert)
				continue
			}
			want[r.Alert] = true
			names := metricName.FindAllString(r.Expr, -1)
			if len(names) == 0 {
				t.Errorf("%s: expression %q queries no metric of the fleet", r.Alert, r.Expr)
			}
			for _, n := range names {
				if !exported[n] {
					t.Errorf("%s queries %s, which the fleet does not export", r.Alert, n)
				}
			}
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					t.Errorf("%s: for %q: %v", r.Alert, r.For, err)
				}
			}
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("%s: needs a severity label and a summary", r.Alert)
			}
		}
	}
	if d := want; !d["TPIDependencyDown"] || !d["TPITaskArchived"] || !d["TPIQueueLatencyHigh"] {
		t.Errorf("alerts present: %v; want all three", want)
	}
}
