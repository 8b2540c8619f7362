package postgres_test

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/testplanit/tpi-workers/internal/postgres"
	"github.com/testplanit/tpi-workers/internal/testenv"
)

func TestOpen(t *testing.T) {
	t.Parallel()
	_, url := testenv.Postgres(t)

	pool, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer pool.Close()
	var app string
	if err := pool.QueryRow(t.Context(), "SHOW application_name").Scan(&app); err != nil || app != "tpi-workers" {
		t.Errorf("application_name = %q, %v; want tpi-workers", app, err)
	}
}

// closedPort returns a local TCP port that nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func TestOpenUnreachable(t *testing.T) {
	t.Parallel()
	port := closedPort(t)
	const secret = "s3cret-Pa55"
	url := "postgres://x:" + secret + "@127.0.0.1:" + strconv.Itoa(port) + "/testplanit?sslmode=disable&connect_timeout=2"

	pool, err := postgres.Open(t.Context(), url)
	if err == nil {
		pool.Close()
		t.Fatal("Open on a closed port succeeded")
	}
	msg := err.Error()
	want := "postgres: cannot reach 127.0.0.1:" + strconv.Itoa(port) + "/testplanit as user x: "
	if !strings.HasPrefix(msg, want) {
		t.Errorf("error = %q\nwant prefix %q", msg, want)
	}
	if strings.Contains(msg, secret) {
		t.Errorf("error leaks the password: %q", msg)
	}
}

func TestOpenInvalidURL(t *testing.T) {
	t.Parallel()
	const secret = "s3cret-Pa55"
	for _, url := range []string{
		"postgres://x:" + secret + "@127.0.0.1:notaport/testplanit",
		"host=127.0.0.1 port=notaport user=x password=" + secret,
	} {
		_, err := postgres.Open(t.Context(), url)
		if err == nil {
			t.Errorf("Open(%q) succeeded", postgres.Redact(url))
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error leaks the password: %q", err)
		}
		if !strings.HasPrefix(err.Error(), "postgres: invalid database URL") {
			t.Errorf("error = %q, want it to say the URL is invalid", err)
		}
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"postgres://u:secret@db.example:5432/testplanit?sslmode=disable",
			"postgres://u:xxxxx@db.example:5432/testplanit?sslmode=disable"},
		{"postgres://u@127.0.0.1:5432/testplanit", "postgres://u@127.0.0.1:5432/testplanit"},
		{"postgresql://127.0.0.1/db", "postgresql://127.0.0.1/db"},
		{"postgres://u:p%40ss%2Fword@h/db", "postgres://u:xxxxx@h/db"},
		{"postgres://h/db?user=u&password=secret&sslmode=require",
			"postgres://h/db?user=u&password=xxxxx&sslmode=require"},
		{"host=h user=u password=secret dbname=db", "host=h user=u password=xxxxx dbname=db"},
		{"host=h password='se cret' dbname=db", "host=h password=xxxxx dbname=db"},
		{"postgres://u:sec%zzret@h/db", "postgres://u:xxxxx@h/db"}, // not a valid URL
		{"", ""},
	}
	for _, tt := range tests {
		if got := postgres.Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
