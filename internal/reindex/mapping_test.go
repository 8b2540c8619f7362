package reindex

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

type indexBody struct {
	Settings struct {
		Shards   int `json:"number_of_shards"`
		Replicas int `json:"number_of_replicas"`
		Analysis struct {
			Analyzer map[string]struct {
				Type      string `json:"type"`
				Stopwords string `json:"stopwords"`
			} `json:"analyzer"`
		} `json:"analysis"`
	} `json:"settings"`
	Mappings struct {
		Dynamic    string                  `json:"dynamic"`
		Properties map[string]fieldMapping `json:"properties"`
	} `json:"mappings"`
}

type fieldMapping struct {
	Type       string                  `json:"type"`
	Analyzer   string                  `json:"analyzer"`
	Properties map[string]fieldMapping `json:"properties"`
	Fields     map[string]fieldMapping `json:"fields"`
}

func TestMappingSettings(t *testing.T) {
	t.Parallel()
	for _, k := range Kinds() {
		raw, err := Mapping(k, 2)
		if err != nil {
			t.Fatalf("Mapping(%s): %v", k, err)
		}
		var b indexBody
		if err := json.Unmarshal(raw, &b); err != nil {
			t.Fatalf("Mapping(%s): %v", k, err)
		}
		a := b.Settings.Analysis.Analyzer["standard"]
		if b.Settings.Shards != 1 || b.Settings.Replicas != 2 || a.Type != "standard" || a.Stopwords != "_english_" {
			t.Errorf("%s settings: %+v", k, b.Settings)
		}
		if b.Mappings.Dynamic != "strict" || b.Mappings.Properties["id"].Type != "integer" ||
			b.Mappings.Properties["searchableContent"].Type != "text" {
			t.Errorf("%s mappings: dynamic %q, %d properties", k, b.Mappings.Dynamic, len(b.Mappings.Properties))
		}
	}
	if _, err := Mapping("all", 0); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("Mapping(all) = %v, want ErrUnknownKind", err)
	}
	if _, err := Mapping(KindProjects, -1); err == nil {
		t.Error("Mapping with -1 replicas: no error")
	}
}

// TestMappingCoversDocuments checks every field of every fixture document
// against its index's strict mapping, as Elasticsearch would: the field is
// mapped, and its value fits the type (arrays of values or of objects
// included).
func TestMappingCoversDocuments(t *testing.T) {
	t.Parallel()
	pool, _ := fixturePool(t)
	src := NewSource(pool, 0)
	for _, k := range Kinds() {
		raw, err := Mapping(k, 0)
		if err != nil {
			t.Fatal(err)
		}
		var b indexBody
		if err := json.Unmarshal(raw, &b); err != nil {
			t.Fatal(err)
		}
		docs := collect(t, src, k, 0)
		if len(docs) == 0 {
			t.Fatalf("%s: no documents in the fixture", k)
		}
		seen := map[string]bool{}
		for _, d := range docs {
			var doc map[string]any
			if err := json.Unmarshal(d.Body, &doc); err != nil {
				t.Fatal(err)
			}
			for _, problem := range checkObject(b.Mappings.Properties, doc, "", seen) {
				t.Errorf("%s document %s: %s", k, d.ID, problem)
			}
		}
		t.Logf("%s: %d mapped fields seen in the fixture", k, len(seen))
	}
}

// checkObject returns what Elasticsearch would refuse in doc under props.
func checkObject(props map[string]fieldMapping, doc map[string]any, prefix string, seen map[string]bool) []string {
	var problems []string
	for key, v := range doc {
		path := prefix + key
		m, ok := props[key]
		if !ok {
			problems = append(problems, fmt.Sprintf("field %s is not mapped (dynamic: strict)", path))
			continue
		}
		seen[path] = true
		problems = append(problems, checkValue(m, v, path, seen)...)
	}
	return problems
}

func checkValue(m fieldMapping, v any, path string, seen map[string]bool) []string {
	if v == nil {
		return nil
	}
	if arr, ok := v.([]any); ok {
		var problems []string
		for _, e := range arr {
			problems = append(problems, checkValue(m, e, path, seen)...)
		}
		return problems
	}
	bad := func() []string {
		return []string{fmt.Sprintf("field %s: %T %v does not fit type %s", path, v, v, m.Type)}
	}
	switch m.Type {
	case "nested", "object":
		o, ok := v.(map[string]any)
		if !ok {
			return bad()
		}
		return checkObject(m.Properties, o, path+".", seen)
	case "integer":
		if f, ok := v.(float64); !ok || f != float64(int32(f)) {
			return bad()
		}
	case "float", "double":
		if _, ok := v.(float64); !ok {
			return bad()
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return bad()
		}
	case "date":
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		if _, err := time.Parse("2006-01-02T15:04:05.000Z", s); err != nil {
			return bad()
		}
	case "keyword", "text":
		if _, ok := v.(string); !ok {
			return bad()
		}
	default:
		return []string{fmt.Sprintf("field %s: unexpected mapping type %q", path, m.Type)}
	}
	return nil
}

// TestMappingKeywordSubfields: the web app aggregates on these.
func TestMappingKeywordSubfields(t *testing.T) {
	t.Parallel()
	raw, err := Mapping(KindRepositoryCases, 0)
	if err != nil {
		t.Fatal(err)
	}
	var b indexBody
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields("projectName templateName stateName creatorName folderPath createdById") {
		if b.Mappings.Properties[f].Fields["keyword"].Type != "keyword" {
			t.Errorf("repository cases: %s has no keyword sub-field", f)
		}
	}
	if b.Mappings.Properties["name"].Fields["suggest"].Type != "completion" {
		t.Error("repository cases: name has no completion sub-field")
	}
	if b.Mappings.Properties["customFields"].Properties["valueNumeric"].Type != "double" {
		t.Error("repository cases: customFields.valueNumeric is not double")
	}
}
