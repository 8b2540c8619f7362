package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/testplanit/tpi-workers/internal/testenv"
)

func TestDoctorChecksEveryConfiguredDependency(t *testing.T) {
	_, valkeyURL := testenv.Redis(t)
	_, dbURL := testenv.Postgres(t)
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	// Elasticsearch cannot run on this machine (SERVICES.md): a server with
	// its documented root response stands in.
	es := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"name":"es01","cluster_name":"docker-cluster","version":{"number":"8.15.3"},"tagline":"You Know, for Search"}`))
	}))
	defer es.Close()
	s3 := testenv.StartS3(t)

	env := map[string]string{
		"VALKEY_URL":         valkeyURL,
		"DATABASE_URL":       dbURL,
		"EMAIL_SERVER_HOST":  mp.SMTPHost,
		"EMAIL_SERVER_PORT":  strconv.Itoa(mp.SMTPPort),
		"EMAIL_SERVER_TLS":   "none",
		"ELASTICSEARCH_NODE": strings.Replace(es.URL, "http://", "http://elastic:changeme@", 1),
		"AWS_ENDPOINT_URL":   s3.Endpoint,
		"AWS_REGION":         s3.Region,
		"AWS_BUCKET_NAME":    s3.Bucket,
		"AWS_ACCESS_KEY_ID":  s3.AccessKey,
		// The secret must never be printed.
		"AWS_SECRET_ACCESS_KEY": s3.SecretKey,
	}
	out, err := runCLI(t, env, "", "doctor")
	if err != nil {
		t.Fatalf("doctor: %v\n%s", err, out)
	}
	for prefix, want := range map[string]string{
		// The shared test Redis keeps nothing on disk: reachable, with a warning.
		"WARN  valkey":        "AOF off",
		"ok    postgres":      "TestPlanIt tables and worker schema present",
		"ok    smtp":          "smtp 127.0.0.1:" + strconv.Itoa(mp.SMTPPort) + " tls=none",
		"ok    elasticsearch": "http://elastic:xxxxx@127.0.0.1",
		"ok    s3":            "bucket " + s3.Bucket + ": the bucket answers with these credentials",
		"ok    bullmq":        "no repeatable jobs of the original scheduler",
	} {
		if l := lineWith(out, prefix); !strings.Contains(l, want) {
			t.Errorf("line %q: %q lacks %q\n%s", prefix, l, want, out)
		}
	}
	if strings.Contains(out, "changeme") || strings.Contains(out, s3.SecretKey) {
		t.Errorf("doctor printed a secret:\n%s", out)
	}

	// A wrong secret, then a missing bucket: each named.
	env["AWS_SECRET_ACCESS_KEY"] = "wrong-secret"
	out, err = runCLI(t, env, "", "doctor")
	if l := lineWith(out, "FAIL  s3"); err == nil || !strings.Contains(l, "access denied") || strings.Contains(out, "wrong-secret") {
		t.Errorf("wrong secret: %v, line %q\n%s", err, l, out)
	}
	env["AWS_SECRET_ACCESS_KEY"], env["AWS_BUCKET_NAME"] = s3.SecretKey, "no-such-bucket"
	out, err = runCLI(t, env, "", "doctor")
	if l := lineWith(out, "FAIL  s3"); err == nil || !strings.Contains(l, "no-such-bucket") || !strings.Contains(l, "not found") {
		t.Errorf("missing bucket: %v, line %q\n%s", err, l, out)
	}
}

func TestDoctorNamesWhatFailsAndHowItWasConfigured(t *testing.T) {
	closed := closedPort(t)
	env := map[string]string{
		"VALKEY_URL":        "redis://default:valkey-pw@127.0.0.1:" + closed + "/3",
		"DATABASE_URL":      "postgres://tp:pg-pw@127.0.0.1:" + closed + "/testplanit?sslmode=disable",
		"EMAIL_SERVER_HOST": "127.0.0.1",
		"EMAIL_SERVER_PORT": closed,
		"EMAIL_SERVER_TLS":  "none",
	}
	out, err := runCLI(t, env, "", "doctor")
	if err == nil || err.Error() != "doctor: 3 of 4 configured dependencies failed: valkey, postgres, smtp" {
		t.Fatalf("err %v\n%s", err, out)
	}
	for prefix, want := range map[string]string{
		"FAIL  valkey":        "VALKEY_URL=redis://default:xxxxx@127.0.0.1:" + closed + "/3: cannot reach it",
		"FAIL  postgres":      "DATABASE_URL=postgres://tp:xxxxx@127.0.0.1:" + closed + "/testplanit",
		"FAIL  smtp":          "smtp 127.0.0.1:" + closed,
		"-     elasticsearch": "not configured (ELASTICSEARCH_NODE)",
		"-     s3":            "not configured",
		// One failure is enough: the BullMQ check is not counted as another.
		"WARN  bullmq": "not checked: Valkey does not answer",
	} {
		if l := lineWith(out, prefix); !strings.Contains(l, want) {
			t.Errorf("line %q: %q lacks %q\n%s", prefix, l, want, out)
		}
	}
	if strings.Contains(out, "valkey-pw") || strings.Contains(out, "pg-pw") {
		t.Errorf("doctor printed a password:\n%s", out)
	}

	_, err = runCLI(t, map[string]string{}, "", "doctor")
	if err == nil || !strings.Contains(err.Error(), "2 of 2 configured dependencies failed: valkey, postgres") {
		t.Errorf("without VALKEY_URL and DATABASE_URL: %v", err)
	}
}

func TestDoctorSaysWhichMigrationIsMissing(t *testing.T) {
	_, valkeyURL := testenv.Redis(t)
	pool, dbURL := testenv.EmptyPostgres(t)
	env := map[string]string{"VALKEY_URL": valkeyURL, "DATABASE_URL": dbURL}
	out, _ := runCLI(t, env, "", "doctor")
	if l := lineWith(out, "FAIL  postgres"); !strings.Contains(l, "TestPlanIt's tables are missing") {
		t.Errorf("empty database: %q", l)
	}
	// TestPlanIt's own database before the fleet's first migration.
	if _, err := pool.Exec(t.Context(), `CREATE TABLE "Notification" (id text PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	out, _ = runCLI(t, env, "", "doctor")
	if l := lineWith(out, "FAIL  postgres"); !strings.Contains(l, "run tpictl migrate --mode worker-only") {
		t.Errorf("no worker schema: %q", l)
	}
}

func TestHealthcheck(t *testing.T) {
	code := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(code)
	}))
	defer srv.Close()
	if out, err := runCLI(t, nil, "", "healthcheck", srv.URL+"/healthz"); err != nil || out != "ok\n" {
		t.Errorf("healthy: %q %v", out, err)
	}
	code = http.StatusServiceUnavailable
	if _, err := runCLI(t, nil, "", "healthcheck", srv.URL+"/healthz"); err == nil || !strings.Contains(err.Error(), "HTTP 503") {
		t.Errorf("503: %v", err)
	}
	if _, err := runCLI(t, nil, "", "healthcheck", "http://127.0.0.1:"+closedPort(t)+"/healthz"); err == nil || !strings.Contains(err.Error(), "cannot reach it") {
		t.Errorf("closed port: %v", err)
	}
	if _, err := runCLI(t, nil, "", "healthcheck"); err == nil || !strings.Contains(err.Error(), "usage: tpictl healthcheck") {
		t.Errorf("no url: %v", err)
	}
}

// closedPort returns a port on 127.0.0.1 where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	return port
}
