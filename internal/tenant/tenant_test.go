package tenant_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/config"
	"github.com/testplanit/tpi-workers/internal/tenant"
	"github.com/testplanit/tpi-workers/internal/testenv"
)

func load(t *testing.T, vars map[string]string) tenant.Settings {
	t.Helper()
	env := config.NewEnv(func(k string) string { return vars[k] })
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	s := tenant.LoadSettings(env, names, true)
	if err := env.Err(); err != nil {
		t.Fatal(err)
	}
	return s
}

// The original's priority: the file, then TENANT_CONFIGS, then
// TENANT_<ID>_* field by field (id lower-cased); missing node and base URL
// fall back to ELASTICSEARCH_NODE and NEXTAUTH_URL.
func TestTenantConfigPriority(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tenants.json")
	writeFile(t, file, `{"acme": {"databaseUrl": "postgres://file/acme", "baseUrl": "https://acme.file"},
		"globex": {"databaseUrl": "postgres://file/globex", "elasticsearchIndex": "gx"}}`)
	s := load(t, map[string]string{
		"MULTI_TENANT_MODE":          "true",
		"TENANT_CONFIG_FILE":         file,
		"TENANT_CONFIGS":             `{"globex": {"databaseUrl": "postgres://inline/globex"}, "initech": {"databaseUrl": "postgres://inline/initech"}}`,
		"TENANT_ACME_DATABASE_URL":   "postgres://env/acme",
		"TENANT_HOOLI_DATABASE_URL":  "postgres://env/hooli",
		"TENANT_HOOLI_BASE_URL":      "https://hooli.env",
		"ELASTICSEARCH_NODE":         "http://es:9200",
		"NEXTAUTH_URL":               "https://default.example",
		"TENANT_HOOLI_UNKNOWN_FIELD": "ignored",
	})
	r, err := tenant.NewResolver(s, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := r.IDs()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ids, ","); got != "acme,globex,hooli,initech" {
		t.Fatalf("tenants %s", got)
	}
	for id, want := range map[string]tenant.Config{
		"acme":    {DatabaseURL: "postgres://env/acme", BaseURL: "https://acme.file", ElasticsearchNode: "http://es:9200"},
		"globex":  {DatabaseURL: "postgres://inline/globex", BaseURL: "https://default.example", ElasticsearchNode: "http://es:9200"}, // TENANT_CONFIGS replaces the file's entry
		"hooli":   {DatabaseURL: "postgres://env/hooli", BaseURL: "https://hooli.env", ElasticsearchNode: "http://es:9200"},
		"initech": {DatabaseURL: "postgres://inline/initech", BaseURL: "https://default.example", ElasticsearchNode: "http://es:9200"},
	} {
		gotID, got, err := r.Lookup(id)
		if err != nil || gotID != id || got != want {
			t.Errorf("%s: %q %+v %v, want %+v", id, gotID, got, err, want)
		}
	}
}

func TestTenantErrorsNameTheTenant(t *testing.T) {
	multi, err := tenant.NewResolver(load(t, map[string]string{
		"MULTI_TENANT_MODE": "true", "TENANT_CONFIG_FILE": "/nonexistent/tenants.json",
		"TENANT_CONFIGS": `{"acme": {"databaseUrl": "postgres://x/acme"}}`,
	}), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := multi.Lookup("umbrella"); !errors.Is(err, tenant.ErrUnknownTenant) || !strings.Contains(err.Error(), `"umbrella"`) {
		t.Errorf("unknown tenant: %v", err)
	}
	if _, _, err := multi.Lookup(""); !errors.Is(err, tenant.ErrTenantRequired) {
		t.Errorf("no tenant in multi-tenant mode: %v", err)
	}

	single, err := tenant.NewResolver(load(t, map[string]string{"DATABASE_URL": "postgres://x/one", "INSTANCE_TENANT_ID": "acme"}), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := single.Lookup("umbrella"); !errors.Is(err, tenant.ErrForeignTenant) || !strings.Contains(err.Error(), `"umbrella"`) {
		t.Errorf("foreign tenant: %v", err)
	}
	for _, id := range []string{"", "acme"} {
		got, c, err := single.Lookup(id)
		if err != nil || got != "acme" || c.DatabaseURL != "postgres://x/one" {
			t.Errorf("Lookup(%q) = %q %+v %v; want the instance's tenant and database", id, got, c, err)
		}
	}
	plain, _ := tenant.NewResolver(load(t, map[string]string{"DATABASE_URL": "postgres://x/one"}), nil, nil)
	if got, _, err := plain.Lookup("whoever"); err != nil || got != "whoever" {
		t.Errorf("without INSTANCE_TENANT_ID the one database serves any tenant, carried on: %q %v", got, err)
	}
}

// recorder opens pools on real databases and counts the opens.
type recorder struct {
	mu    sync.Mutex
	opens map[string]int
}

func (r *recorder) open(ctx context.Context, url string, maxConns int32) (*pgxpool.Pool, error) {
	r.mu.Lock()
	r.opens[url]++
	r.mu.Unlock()
	return tenant.OpenChecked(ctx, url, maxConns)
}

// Pools open lazily, once per tenant; the file is re-read when it changes,
// and a tenant whose URL changed gets a new pool while the old one is
// closed.
func TestTenantPoolsAreLazyAndReplacedWhenTheFileChanges(t *testing.T) {
	ctx := context.Background()
	_, urlA := testenv.Postgres(t)
	_, urlB := testenv.Postgres(t)
	file := filepath.Join(t.TempDir(), "tenants.json")
	writeFile(t, file, `{"acme": {"databaseUrl": "`+urlA+`"}}`)
	rec := &recorder{opens: map[string]int{}}
	r, err := tenant.NewResolver(load(t, map[string]string{"MULTI_TENANT_MODE": "1", "TENANT_CONFIG_FILE": file, "DATABASE_POOL_MAX_CONNS": "3"}), rec.open, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if len(rec.opens) != 0 {
		t.Fatal("a pool opened before any task")
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := r.Resolve(ctx, "acme"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	first, err := r.Resolve(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if rec.opens[urlA] != 1 || first.DB.Config().MaxConns != 3 {
		t.Fatalf("opens %v, max conns %d; want one pool of at most 3", rec.opens, first.DB.Config().MaxConns)
	}

	writeFile(t, file, `{"acme": {"databaseUrl": "`+urlB+`"}, "globex": {"databaseUrl": "`+urlA+`"}}`)
	var second *tenant.Tenant
	testenv.Eventually(t, 5*time.Second, func() bool {
		second, err = r.Resolve(ctx, "acme")
		return err == nil && second.DB != first.DB
	}, "the changed file not picked up")
	var db string
	if err := second.DB.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil || !strings.Contains(urlB, "/"+db) {
		t.Fatalf("acme's new pool is on %q (%v), want the database of %s", db, err, urlB)
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return first.DB.Ping(ctx) != nil }, "the replaced pool was not closed")
	if _, err := r.Resolve(ctx, "globex"); err != nil {
		t.Fatalf("tenant added to the file: %v", err)
	}
}

func TestTenantWithoutWorkerSchemaSaysWhatToRun(t *testing.T) {
	_, url := testenv.EmptyPostgres(t)
	r, err := tenant.NewResolver(load(t, map[string]string{"DATABASE_URL": url}), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_, err = r.Resolve(context.Background(), "")
	if err == nil || !strings.Contains(err.Error(), "tpictl migrate --mode worker-only") {
		t.Fatalf("err %v, want the command to run", err)
	}
}

func writeFile(t *testing.T, name, body string) {
	t.Helper()
	// Write then rename, as an operator's tooling (or a ConfigMap) does.
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, name); err != nil {
		t.Fatal(err)
	}
}
