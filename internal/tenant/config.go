// Package tenant resolves a task's tenantId to that tenant's PostgreSQL
// pool, base URL and Elasticsearch settings, as TestPlanIt's multi-tenant
// mode does (one database per tenant, one shared Valkey and fleet). It is
// internal to the fleet; the runtime (internal/worker) owns the one
// [Resolver] of a process and hands each task its [Tenant] in the context.
package tenant

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/testplanit/tpi-workers/internal/config"
)

// Config is one tenant's settings, the original's TenantConfig: the JSON
// shape of TENANT_CONFIG_FILE and TENANT_CONFIGS values.
type Config struct {
	DatabaseURL        string `json:"databaseUrl"`
	ElasticsearchNode  string `json:"elasticsearchNode,omitempty"`
	ElasticsearchIndex string `json:"elasticsearchIndex,omitempty"`
	BaseURL            string `json:"baseUrl,omitempty"`
}

// DefaultConfigFile is TENANT_CONFIG_FILE's default, the original's.
const DefaultConfigFile = "/config/tenants.json"

// Settings say how a process finds its tenants. [LoadSettings] reads them
// from the environment.
type Settings struct {
	// MultiTenant is MULTI_TENANT_MODE=true: every task names its tenant,
	// whose configuration comes from File, Inline and Env.
	MultiTenant bool
	// InstanceID is INSTANCE_TENANT_ID. In single-tenant mode a task naming
	// another tenant is refused; a task naming none belongs to it.
	InstanceID string
	// File is TENANT_CONFIG_FILE (default /config/tenants.json), re-read
	// when it changes. A missing file is no error (the original's rule).
	File string
	// Inline is TENANT_CONFIGS, a JSON object of the same shape; its
	// tenants override the file's.
	Inline map[string]Config
	// Env holds the TENANT_<ID>_DATABASE_URL, _ELASTICSEARCH_NODE,
	// _ELASTICSEARCH_INDEX and _BASE_URL variables (id lower-cased), which
	// override the file and TENANT_CONFIGS field by field.
	Env map[string]Config
	// Default is the single-tenant configuration: DATABASE_URL,
	// ELASTICSEARCH_NODE, ELASTICSEARCH_INDEX (empty: the original's names)
	// and NEXTAUTH_URL. In multi-tenant mode it is the fallback for a
	// tenant's missing Elasticsearch node and base URL.
	Default Config
	// MaxConns bounds each tenant's pool (DATABASE_POOL_MAX_CONNS; 0 keeps
	// pgx's default or the URL's pool_max_conns).
	MaxConns int32
}

// LoadSettings reads the tenant variables. names lists the environment's
// variable names (os.Environ), for the TENANT_<ID>_* family; values are read
// through env. needDB says whether DATABASE_URL is required in single-tenant
// mode (every worker but the scheduler).
func LoadSettings(env *config.Env, names []string, needDB bool) Settings {
	s := Settings{
		MultiTenant: env.Bool("MULTI_TENANT_MODE", false),
		InstanceID:  env.String("INSTANCE_TENANT_ID", ""),
		File:        env.String("TENANT_CONFIG_FILE", DefaultConfigFile),
		MaxConns:    int32(env.Int("DATABASE_POOL_MAX_CONNS", 0, 0, 10000)),
		Default: Config{
			ElasticsearchNode:  env.String("ELASTICSEARCH_NODE", ""),
			ElasticsearchIndex: env.String("ELASTICSEARCH_INDEX", ""),
			BaseURL:            env.String("NEXTAUTH_URL", ""),
		},
	}
	if s.MultiTenant {
		s.Default.DatabaseURL = env.String("DATABASE_URL", "")
		if raw := env.String("TENANT_CONFIGS", ""); raw != "" {
			m, err := parseConfigs([]byte(raw))
			if err != nil {
				env.Fail("TENANT_CONFIGS", "%v", err)
			}
			s.Inline = m
		}
		s.Env = fromEnv(env, names)
	} else if needDB {
		s.Default.DatabaseURL = env.Required("DATABASE_URL")
	} else {
		s.Default.DatabaseURL = env.String("DATABASE_URL", "")
	}
	return s
}

// EnvNames returns the names of the process's environment variables, for
// [LoadSettings].
func EnvNames() []string {
	env := os.Environ()
	names := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		names = append(names, name)
	}
	return names
}

var envFields = []struct {
	suffix string
	set    func(*Config, string)
}{
	{"_DATABASE_URL", func(c *Config, v string) { c.DatabaseURL = v }},
	{"_ELASTICSEARCH_NODE", func(c *Config, v string) { c.ElasticsearchNode = v }},
	{"_ELASTICSEARCH_INDEX", func(c *Config, v string) { c.ElasticsearchIndex = v }},
	{"_BASE_URL", func(c *Config, v string) { c.BaseURL = v }},
}

// fromEnv collects TENANT_<ID>_<FIELD> variables, the ID lower-cased.
func fromEnv(env *config.Env, names []string) map[string]Config {
	out := map[string]Config{}
	for _, name := range names {
		rest, ok := strings.CutPrefix(name, "TENANT_")
		if !ok || rest == "CONFIG_FILE" || rest == "CONFIGS" {
			continue
		}
		for _, f := range envFields {
			id, ok := strings.CutSuffix(rest, f.suffix)
			if !ok || id == "" {
				continue
			}
			if v := env.String(name, ""); v != "" {
				id = strings.ToLower(id)
				c := out[id]
				f.set(&c, v)
				out[id] = c
			}
			break
		}
	}
	return out
}

// parseConfigs parses {"<tenantId>": {databaseUrl, ...}, ...}.
func parseConfigs(b []byte) (map[string]Config, error) {
	var m map[string]Config
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("not a JSON object of tenant configurations: %w", err)
	}
	for id := range m {
		if strings.TrimSpace(id) == "" {
			return nil, errors.New("a tenant id is empty")
		}
	}
	return m, nil
}

// merge applies the original's priority: the file, then TENANT_CONFIGS,
// then TENANT_<ID>_* field by field; a missing Elasticsearch node or base
// URL falls back to the process's own.
func merge(file map[string]Config, s Settings) map[string]Config {
	out := maps.Clone(file)
	if out == nil {
		out = map[string]Config{}
	}
	maps.Copy(out, s.Inline)
	for id, e := range s.Env {
		c := out[id]
		for _, v := range []struct {
			dst *string
			src string
		}{
			{&c.DatabaseURL, e.DatabaseURL}, {&c.ElasticsearchNode, e.ElasticsearchNode},
			{&c.ElasticsearchIndex, e.ElasticsearchIndex}, {&c.BaseURL, e.BaseURL},
		} {
			if v.src != "" {
				*v.dst = v.src
			}
		}
		out[id] = c
	}
	for id, c := range out {
		if c.ElasticsearchNode == "" {
			c.ElasticsearchNode = s.Default.ElasticsearchNode
		}
		if c.BaseURL == "" {
			c.BaseURL = s.Default.BaseURL
		}
		out[id] = c
	}
	return out
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
