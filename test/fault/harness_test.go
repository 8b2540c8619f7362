// Package fault holds the fleet's fault tests, internal to the fleet: real
// processes under the shipped supervisord configuration, a Redis with AOF
// restarted under them, PostgreSQL cut off behind a TCP proxy, a worker
// pushed over its memory limit. Effects are counted in PostgreSQL, so each
// test tells "exactly once" apart from "lost" and "twice".
//
// The workers under test are ./faultworker (the real runtime, internal/worker,
// around one idempotent handler whose effect is counted) and the real
// notification-worker. TestMain builds them once.
package fault

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/testenv"
)

// binDir holds the binaries built by TestMain.
var binDir string

// repoRoot is the module root, where deploy/ lives.
var repoRoot string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	root, err := filepath.Abs("../..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	repoRoot = root
	dir, err := os.MkdirTemp("", "tpi-fault-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir
	build := exec.Command("go", "build", "-o", dir+"/", "./test/fault/faultworker", "./cmd/notification-worker", "./cmd/email-worker")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the workers under test: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

const queue = "notifications"

// effectDB is a fresh migrated database with the faultworker's tables.
type effectDB struct {
	pool *pgxpool.Pool
	url  string
}

func newEffectDB(t *testing.T) effectDB {
	t.Helper()
	pool, url := testenv.Postgres(t)
	_, err := pool.Exec(t.Context(), `
		CREATE TABLE fault_attempt (key text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
		CREATE TABLE fault_effect (key text NOT NULL);`)
	if err != nil {
		t.Fatal(err)
	}
	return effectDB{pool, url}
}

func (d effectDB) scalar(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := d.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// counter counts the non-idempotent effect: one row per task whose ledger
// row was new. A duplicated effect would count twice.
func (d effectDB) counter(t *testing.T) int { return d.scalar(t, `SELECT count(*) FROM fault_effect`) }

// duplicates is the number of keys whose effect exists more than once.
func (d effectDB) duplicates(t *testing.T) int {
	return d.scalar(t, `SELECT count(*) FROM (SELECT key FROM fault_effect GROUP BY key HAVING count(*) > 1) d`)
}

func (d effectDB) attempts(t *testing.T, key string) int {
	return d.scalar(t, `SELECT count(*) FROM fault_attempt WHERE key = $1`, key)
}

func (d effectDB) ledger(t *testing.T) int {
	return d.scalar(t, `SELECT count(*) FROM worker.ledger WHERE kind = 'fault'`)
}

type effect struct {
	Key    string `json:"key"`
	Gate   bool   `json:"gate,omitempty"`
	HogMB  int    `json:"hogMB,omitempty"`
	HoldMS int    `json:"holdMs,omitempty"`
}

// enqueue puts one fault:effect task with ID e.Key on the queue; completed
// tasks are kept an hour so that the test can read their retry count.
func enqueue(t *testing.T, c *asynq.Client, e effect) {
	t.Helper()
	b, _ := json.Marshal(e)
	_, err := c.Enqueue(asynq.NewTask("fault:effect", b), asynq.Queue(queue), asynq.TaskID(e.Key),
		asynq.MaxRetry(10), asynq.Retention(time.Hour), asynq.Timeout(5*time.Minute))
	if err != nil {
		t.Fatalf("enqueue %s: %v", e.Key, err)
	}
}

// workerEnv is the environment of a faultworker process. TPI_ENV_FILE is
// blanked so that a developer's .env (exported by make) cannot leak in.
func workerEnv(valkeyURL, dbURL string, extra ...string) []string {
	env := append(os.Environ(),
		"VALKEY_URL="+valkeyURL,
		"DATABASE_URL="+dbURL,
		"TPI_ENV_FILE=",
		"TPI_BIN="+binDir,
		"FAULT_QUEUE="+queue,
		"HTTP_ADDR=127.0.0.1:0",
		"LOG_FORMAT=text",
		"NOTIFICATION_CONCURRENCY=4",
	)
	return append(env, extra...)
}

// startWorker runs faultworker as a plain child process (no supervisor),
// through deploy/tpi-exec as every run mode does. Its log goes to logPath.
func startWorker(t *testing.T, env []string, logPath string) *exec.Cmd {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(repoRoot, "deploy", "tpi-exec"), "faultworker")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(40 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if t.Failed() {
			dumpFile(t, logPath)
		}
	})
	return cmd
}

// supervisor is a supervisord started by the test with the shipped
// deploy/supervisor configuration, in the foreground (-n) so that the test
// owns its process.
type supervisor struct {
	env    []string
	conf   string
	logDir string
}

func startSupervisor(t *testing.T, env []string, programs ...string) *supervisor {
	t.Helper()
	if _, err := exec.LookPath("supervisord"); err != nil {
		t.Fatal("supervisord is not installed: apt-get install supervisor (scripts/ci-services.sh does)")
	}
	runDir, logDir := shortTempDir(t), t.TempDir()
	s := &supervisor{
		env: append(env,
			"TPI_ROOT="+repoRoot,
			"TPI_RUN_DIR="+runDir,
			"TPI_LOG_DIR="+logDir,
		),
		conf:   filepath.Join(repoRoot, "deploy", "supervisor", "supervisord.conf"),
		logDir: logDir,
	}
	gen := exec.Command(filepath.Join(repoRoot, "deploy", "supervisor", "programs.sh"), programs...)
	out, err := gen.Output()
	if err != nil {
		t.Fatalf("programs.sh: %v", err)
	}
	if err := os.WriteFile(filepath.Join(runDir, "programs.conf"), out, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("supervisord", "-n", "-c", s.conf)
	cmd.Env = s.env
	if out, err := os.Create(filepath.Join(logDir, "supervisord.out")); err == nil {
		cmd.Stdout, cmd.Stderr = out, out
		defer out.Close()
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // stops the programs (SIGTERM, stopwaitsecs), then exits
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			for _, f := range append([]string{"supervisord.log", "supervisord.out"}, suffix(programs, ".log")...) {
				dumpFile(t, filepath.Join(logDir, f))
			}
		}
	})
	testenv.Eventually(t, 20*time.Second, func() bool {
		_, err := s.ctl("pid")
		return err == nil
	}, "supervisord answers on its socket")
	return s
}

// ctl runs supervisorctl against this supervisord.
func (s *supervisor) ctl(args ...string) (string, error) {
	cmd := exec.Command("supervisorctl", append([]string{"-c", s.conf}, args...)...)
	cmd.Env = s.env
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// pid returns the program's PID, 0 when it is not running.
func (s *supervisor) pid(program string) int {
	out, _ := s.ctl("pid", program)
	n, _ := strconv.Atoi(out)
	return n
}

// waitRunning waits until program runs with a PID other than not and has
// stayed up past startsecs (state RUNNING), and returns that PID.
func (s *supervisor) waitRunning(t *testing.T, program string, not int) int {
	t.Helper()
	var pid int
	testenv.Eventually(t, 30*time.Second, func() bool {
		out, _ := s.ctl("status", program)
		pid = s.pid(program)
		return pid != 0 && pid != not && strings.Contains(out, "RUNNING")
	}, program+" RUNNING under supervisord with a new PID")
	return pid
}

func (s *supervisor) log(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.logDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// shortTempDir is a temporary directory with a short path: supervisord's
// unix socket lives there, and socket paths are limited to 107 bytes.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tpi-sv-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func suffix(names []string, s string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n + s
	}
	return out
}

func dumpFile(t *testing.T, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	t.Logf("---- %s (tail) ----\n%s", filepath.Base(path), b)
}

// listenablePort returns a port in [lo, hi) on 127.0.0.1 that was free a
// moment ago, picked at random.
func listenablePort(t *testing.T, lo, hi int) int {
	t.Helper()
	for range 100 {
		port := lo + rand.IntN(hi-lo)
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatalf("no free port in [%d, %d)", lo, hi)
	return 0
}

// inspector returns an inspector closed at cleanup; if the test failed, it
// first logs the queue's counts and the effects counted, for the diagnosis.
func inspector(t *testing.T, opt asynq.RedisConnOpt, db effectDB) *asynq.Inspector {
	t.Helper()
	insp := asynq.NewInspector(opt)
	t.Cleanup(func() {
		if t.Failed() {
			qi, err := insp.GetQueueInfo(queue)
			t.Logf("at the end: queue %+v (%v), %d effects, %d ledger rows", qi, err, db.counter(t), db.ledger(t))
		}
		insp.Close()
	})
	return insp
}

// queueEmpty reports whether nothing of the queue is left to run or lost:
// no pending, active, scheduled or retry task and none archived.
func queueEmpty(t *testing.T, insp *asynq.Inspector) (bool, *asynq.QueueInfo) {
	qi, err := insp.GetQueueInfo(queue)
	if err != nil {
		return false, nil
	}
	return qi.Pending+qi.Active+qi.Scheduled+qi.Retry+qi.Archived == 0, qi
}
