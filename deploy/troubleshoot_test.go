package deploy_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/testplanit/tpi-workers/internal/testenv"
)

// Every binary of the fleet, started with Valkey or PostgreSQL unreachable,
// exits 1 with one line that names the dependency and how it was configured,
// password masked (README "Troubleshooting").
func TestEveryBinaryNamesTheDependencyItCannotReach(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "./cmd/...")
	build.Dir = ".."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// The queue workers need their (single-tenant) database at start; the
	// scheduler and the dashboard only read the tenant configuration.
	usesPostgres := func(name string) bool { return strings.HasSuffix(name, "-worker") }

	_, goodDB := testenv.Postgres(t)
	_, goodValkey := testenv.Redis(t)
	closed := closedPort(t)
	badValkey := "redis://default:valkey-pw@127.0.0.1:" + closed + "/2"
	badDB := "postgres://tp:pg-pw@127.0.0.1:" + closed + "/testplanit?sslmode=disable"

	for _, name := range fleet(t) {
		t.Run(name+"/valkey", func(t *testing.T) {
			line := failingStart(t, filepath.Join(bin, name), badValkey, goodDB)
			if !strings.HasPrefix(line, "valkey: cannot reach ") || !strings.Contains(line, "redis://default:xxxxx@127.0.0.1:"+closed+"/2") {
				t.Errorf("%s: %q does not name Valkey and VALKEY_URL", name, line)
			}
		})
		if !usesPostgres(name) {
			continue
		}
		t.Run(name+"/postgres", func(t *testing.T) {
			line := failingStart(t, filepath.Join(bin, name), goodValkey, badDB)
			if !strings.HasPrefix(line, "postgres: cannot reach 127.0.0.1:"+closed+"/testplanit as user tp") {
				t.Errorf("%s: %q does not name PostgreSQL and where it was looked for", name, line)
			}
		})
	}
}

// failingStart runs a binary that must stop at once with exit code 1, and
// returns its last line of output, which must not hold a password.
func failingStart(t *testing.T, path, valkeyURL, dbURL string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"VALKEY_URL=" + valkeyURL,
		"DATABASE_URL=" + dbURL,
		"HTTP_ADDR=127.0.0.1:0",
		"DASHBOARD_INSECURE_OPEN=true",
		"EMAIL_SERVER_HOST=127.0.0.1",
		"EMAIL_FROM=fleet@example.com",
		"ENCRYPTION_KEY=fleet-test-key",            // sync-worker refuses to start without it
		"ELASTICSEARCH_NODE=http://127.0.0.1:9200", // reindex-worker refuses to start without it
		"AWS_BUCKET_NAME=fleet-test",               // import-worker refuses to start without it
		"AWS_ENDPOINT_URL=http://127.0.0.1:9",      // (no S3 needs to answer: Valkey or PostgreSQL fails first)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit %v, want code 1\n%s", err, out.String())
	}
	if s := out.String(); strings.Contains(s, "valkey-pw") || strings.Contains(s, "pg-pw") {
		t.Fatalf("a password is printed:\n%s", s)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	return lines[len(lines)-1]
}

// closedPort returns a port on 127.0.0.1 where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}
