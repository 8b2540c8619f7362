package fault

import (
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/testplanit/tpi-workers/internal/notify"
	"github.com/testplanit/tpi-workers/internal/postgres"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// gateKey is the advisory lock a gated task waits for (faultworker's
// faultGateKey).
const gateKey = 0x66617574

// (1) kill -9 in the middle of a task under supervisord: the worker is
// restarted, asynq's lease brings the task back (60 to 90 s: lease 30 s,
// recoverer cutoff 30 s, recoverer every minute), and the effect is counted
// once although the handler ran twice.
func TestKill9MidTaskUnderSupervisordCompletesOnce(t *testing.T) {
	t.Parallel()
	db := newEffectDB(t)
	opt, valkeyURL := testenv.Redis(t)
	sv := startSupervisor(t, workerEnv(valkeyURL, db.url), "faultworker")
	pid1 := sv.waitRunning(t, "faultworker", 0)

	// Hold the gate so the gated task stops after writing its effect, before
	// its commit.
	ctx := context.Background()
	gate, err := db.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer gate.Release()
	if _, err := gate.Exec(ctx, `SELECT pg_advisory_lock($1)`, gateKey); err != nil {
		t.Fatal(err)
	}
	gateHeld := true
	defer func() {
		if gateHeld {
			_, _ = gate.Exec(ctx, `SELECT pg_advisory_unlock($1)`, gateKey)
		}
	}()

	client := asynq.NewClient(opt)
	defer client.Close()
	insp := inspector(t, opt, db)
	enqueue(t, client, effect{Key: "victim", Gate: true})
	for i := range 5 {
		enqueue(t, client, effect{Key: fmt.Sprintf("bystander-%d", i)})
	}

	testenv.Eventually(t, 30*time.Second, func() bool {
		return db.scalar(t, `SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory' AND query LIKE '%pg_advisory_xact_lock_shared%'`) == 1
	}, "the gated task is in the middle: effect written, waiting at the gate")
	testenv.Eventually(t, 30*time.Second, func() bool { return db.counter(t) >= 5 }, "the bystanders are done")

	if err := syscall.Kill(pid1, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	pid2 := sv.waitRunning(t, "faultworker", pid1)
	t.Logf("faultworker killed (pid %d), restarted by supervisord as pid %d", pid1, pid2)

	// Let the dead attempt's backend go: its transaction rolls back.
	if _, err := gate.Exec(ctx, `SELECT pg_advisory_unlock($1)`, gateKey); err != nil {
		t.Fatal(err)
	}
	gateHeld = false

	start := time.Now()
	testenv.Eventually(t, 150*time.Second, func() bool {
		ti, err := insp.GetTaskInfo(queue, "victim")
		return err == nil && ti.State == asynq.TaskStateCompleted
	}, "the killed task comes back through the lease and completes")
	t.Logf("task completed %s after the restart", time.Since(start).Round(time.Second))

	if n := db.attempts(t, "victim"); n != 2 {
		t.Errorf("victim ran %d times, want 2 (killed once, then completed)", n)
	}
	if n := db.duplicates(t); n != 0 {
		t.Errorf("%d keys have a duplicated effect", n)
	}
	if n := db.counter(t); n != 6 {
		t.Errorf("effect counter %d, want 6: each task's effect exactly once", n)
	}
	if n := db.ledger(t); n != 6 {
		t.Errorf("ledger rows %d, want 6", n)
	}
	if empty, qi := queueEmpty(t, insp); !empty {
		t.Errorf("queue not empty or tasks archived: %+v", qi)
	}
	if log := sv.log(t, "supervisord.log"); !strings.Contains(log, "exited: faultworker (terminated by SIGKILL; not expected)") {
		t.Errorf("supervisord.log does not record the kill:\n%s", log)
	}
}

// (1b) The same with the real notification-worker: kill -9 while its
// create-notification waits at its INSERT (the test holds an uncommitted row
// with the same id). The dead worker's INSERT still commits when the test
// rolls back (PostgreSQL notices the client is gone only afterwards), but
// the email was never enqueued; the retry after the lease must neither
// duplicate the notification (deterministic id) nor lose the immediate
// email (enqueued once, with a deterministic task ID).
func TestKill9RealNotificationWorkerCreatesOnce(t *testing.T) {
	t.Parallel()
	pool, dbURL := testenv.Postgres(t)
	ctx := context.Background()
	if err := postgres.Seed(ctx, pool); err != nil {
		t.Fatal(err)
	}
	var bob string // IN_APP_EMAIL_IMMEDIATE in the seed
	if err := pool.QueryRow(ctx, `SELECT id FROM "User" WHERE email = 'bob@example.com'`).Scan(&bob); err != nil {
		t.Fatal(err)
	}
	opt, valkeyURL := testenv.Redis(t)
	sv := startSupervisor(t, workerEnv(valkeyURL, dbURL), "notification-worker")
	pid1 := sv.waitRunning(t, "notification-worker", 0)

	// An uncommitted row with the notification's deterministic id: the
	// handler's INSERT ... ON CONFLICT waits for this transaction to end.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	_, err = tx.Exec(ctx, `INSERT INTO "Notification" (id, "userId", type, title, message, "createdAt", "updatedAt")
		VALUES ($1, $2, 'WORK_ASSIGNED', 'placeholder', '', now(), now())`, notify.NotificationID(task.QueueNotifications, "kill9-real"), bob)
	if err != nil {
		t.Fatal(err)
	}

	client := asynq.NewClient(opt)
	defer client.Close()
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	nt, err := task.NewCreateNotification(task.CreateNotification{UserID: bob, Type: task.NotificationTypeWorkAssigned,
		Title: "Kill -9 survivor", Message: "assigned to you"}, asynq.TaskID("kill9-real"), asynq.Retention(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Enqueue(nt); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, func() bool {
		var n int
		_ = pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO "Notification"%'`).Scan(&n)
		return n == 1
	}, "create-notification waits at its INSERT, in the middle of the task")

	if err := syscall.Kill(pid1, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	pid2 := sv.waitRunning(t, "notification-worker", pid1)
	t.Logf("notification-worker killed (pid %d), restarted by supervisord as pid %d", pid1, pid2)
	if err := tx.Rollback(ctx); err != nil { // the INSERT of the dead worker goes on
		t.Fatal(err)
	}
	countRows := func() int {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM "Notification" WHERE "userId" = $1 AND title = 'Kill -9 survivor'`, bob).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return countRows() == 1 },
		"the dead worker's INSERT commits once the conflicting row is gone")
	if ti, err := insp.GetTaskInfo(task.QueueNotifications, "kill9-real"); err != nil || ti.State != asynq.TaskStateActive {
		t.Fatalf("before the lease expires the task stays active: %+v %v", ti, err)
	}

	start := time.Now()
	var ti *asynq.TaskInfo
	testenv.Eventually(t, 150*time.Second, func() bool {
		ti, err = insp.GetTaskInfo(task.QueueNotifications, "kill9-real")
		return err == nil && ti.State == asynq.TaskStateCompleted
	}, "the killed task comes back through the lease and completes")
	t.Logf("completed %s after the restart, retried %d", time.Since(start).Round(time.Second), ti.Retried)
	if ti.Retried != 1 {
		t.Errorf("retried %d times, want 1 (the lease expiry after the kill)", ti.Retried)
	}
	if rows := countRows(); rows != 1 {
		t.Errorf("%d notifications, want exactly 1", rows)
	}
	emails, err := insp.GetQueueInfo(task.QueueEmails)
	if err != nil {
		t.Fatal(err)
	}
	if emails.Size != 1 {
		t.Errorf("%d tasks on the emails queue, want exactly 1 immediate email", emails.Size)
	}
	if log := sv.log(t, "supervisord.log"); !strings.Contains(log, "exited: notification-worker (terminated by SIGKILL; not expected)") {
		t.Errorf("supervisord.log does not record the kill:\n%s", log)
	}
}

// (2) A Redis with AOF on, started by the test, is restarted while tasks
// are pending and one is running: every task completes, exactly once.
func TestRedisAOFRestartLosesNoTask(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("redis-server is not installed")
	}
	db := newEffectDB(t)
	rs := startRedis(t)
	opt := asynq.RedisClientOpt{Addr: rs.addr}
	startWorker(t, workerEnv("redis://"+rs.addr+"/0", db.url, "NOTIFICATION_CONCURRENCY=2"),
		filepath.Join(t.TempDir(), "faultworker.log"))

	client := asynq.NewClient(opt)
	defer client.Close()
	insp := inspector(t, opt, db)
	const n = 60
	for i := range n {
		enqueue(t, client, effect{Key: fmt.Sprintf("t-%03d", i), HoldMS: 50})
	}
	testenv.Eventually(t, 30*time.Second, func() bool { return db.counter(t) >= 5 }, "the worker is under way")

	qi, err := insp.GetQueueInfo(queue)
	if err != nil {
		t.Fatal(err)
	}
	if qi.Pending < 10 {
		t.Fatalf("only %d tasks pending before the restart: the test would prove nothing", qi.Pending)
	}
	t.Logf("restarting Redis with %d pending, %d active, %d completed", qi.Pending, qi.Active, db.counter(t))
	rs.stop(t)
	rs.start(t)

	testenv.Eventually(t, 150*time.Second, func() bool { return db.counter(t) == n }, "all %d tasks completed after the restart", n)
	// A task whose completion could not be recorded while Redis was down stays active until
	// its lease (30 s) expires and asynq's recoverer (every minute) takes it back: up to 90 s.
	// Its effect is done once already (the ledger), so its rerun changes nothing.
	testenv.Eventually(t, 120*time.Second, func() bool { empty, _ := queueEmpty(t, insp); return empty },
		"nothing left in the queue")
	if got := db.ledger(t); got != n {
		t.Errorf("ledger rows %d, want %d", got, n)
	}
	if got := db.duplicates(t); got != 0 {
		t.Errorf("%d keys have a duplicated effect", got)
	}
}

// (3) PostgreSQL unreachable for 20 s (the worker talks to it through a TCP
// proxy that the test cuts): failing tasks are retried with the queue's
// backoff, and after the outage every task is done, none twice.
func TestPostgresOutageRetriesWithoutLossOrDuplicates(t *testing.T) {
	t.Parallel()
	db := newEffectDB(t)
	opt, valkeyURL := testenv.Redis(t)
	px := startProxy(t, "127.0.0.1:5432")
	defer px.cut()
	proxied := strings.Replace(db.url, "127.0.0.1:5432", px.addr, 1)
	if proxied == db.url {
		t.Fatalf("database URL %s does not point at 127.0.0.1:5432", db.url)
	}
	startWorker(t, workerEnv(valkeyURL, proxied), filepath.Join(t.TempDir(), "faultworker.log"))

	client := asynq.NewClient(opt)
	defer client.Close()
	insp := inspector(t, opt, db)
	for i := range 10 {
		enqueue(t, client, effect{Key: fmt.Sprintf("before-%d", i)})
	}
	testenv.Eventually(t, 30*time.Second, func() bool { return db.counter(t) == 10 }, "the first tasks are done")

	px.cut()
	outage := time.Now()
	const during = 30
	for i := range during {
		enqueue(t, client, effect{Key: fmt.Sprintf("during-%d", i), HoldMS: 20})
	}
	testenv.Eventually(t, 20*time.Second, func() bool {
		qi, err := insp.GetQueueInfo(queue)
		return err == nil && qi.Retry > 0
	}, "tasks fail against the unreachable database and wait for a retry")
	<-time.After(20*time.Second - time.Since(outage)) // the outage itself lasts 20 s
	px.restore(t)
	t.Logf("PostgreSQL reachable again after %s", time.Since(outage).Round(time.Second))

	testenv.Eventually(t, 120*time.Second, func() bool { return db.counter(t) == 10+during },
		"every task done after the outage")
	testenv.Eventually(t, 30*time.Second, func() bool { empty, _ := queueEmpty(t, insp); return empty },
		"nothing left in the queue, nothing archived")
	if got := db.ledger(t); got != 10+during {
		t.Errorf("ledger rows %d, want %d", got, 10+during)
	}
	retried := 0
	done, err := insp.ListCompletedTasks(queue, asynq.PageSize(100))
	if err != nil {
		t.Fatal(err)
	}
	for _, ti := range done {
		if ti.Retried > 0 {
			retried++
		}
	}
	if retried == 0 {
		t.Error("no completed task was retried: the outage did not hit any task")
	}
	t.Logf("%d of %d completed tasks needed a retry", retried, len(done))
	if got := db.duplicates(t); got != 0 {
		t.Errorf("%d keys have a duplicated effect", got)
	}
}

// (4) A worker whose memory goes above its limit drains (the in-flight task
// finishes), exits 3, and supervisord starts it again. The limit is set for
// this worker alone (FAULTWORKER_MAX_MEMORY_RESTART, read by tpi-exec).
func TestMemoryLimitDrainsExits3AndSupervisordRestarts(t *testing.T) {
	t.Parallel()
	db := newEffectDB(t)
	opt, valkeyURL := testenv.Redis(t)
	sv := startSupervisor(t, workerEnv(valkeyURL, db.url,
		"MAX_MEMORY_RESTART=1G", "FAULTWORKER_MAX_MEMORY_RESTART=96M", "MEMORY_CHECK_INTERVAL=100ms"), "faultworker")
	pid1 := sv.waitRunning(t, "faultworker", 0)

	client := asynq.NewClient(opt)
	defer client.Close()
	enqueue(t, client, effect{Key: "hog", HogMB: 128, HoldMS: 1500})

	pid2 := sv.waitRunning(t, "faultworker", pid1)
	t.Logf("faultworker pid %d exited over its limit, restarted as pid %d", pid1, pid2)
	if n := db.counter(t); n != 1 {
		t.Errorf("effect counter %d, want 1: the in-flight task finishes during the drain", n)
	}
	if n := db.attempts(t, "hog"); n != 1 {
		t.Errorf("hog ran %d times, want 1", n)
	}
	if log := sv.log(t, "supervisord.log"); !strings.Contains(log, "exited: faultworker (exit status 3; not expected)") {
		t.Errorf("supervisord.log does not record exit status 3:\n%s", log)
	}
	wlog := sv.log(t, "faultworker.log")
	for _, want := range []string{"memory above MAX_MEMORY_RESTART", "limit_bytes=100663296", "reason=\"memory limit\""} {
		if !strings.Contains(wlog, want) {
			t.Errorf("faultworker.log lacks %q", want)
		}
	}
}

// redisServer is a redis-server owned by the test, with AOF on.
type redisServer struct {
	addr, dir string
	cmd       *exec.Cmd
	done      chan error
}

// startRedis starts it on a port outside the kernel's ephemeral range, so
// that no outgoing connection takes the port while the server restarts. It
// is stopped after the test's later cleanups (the worker's) have run.
func startRedis(t *testing.T) *redisServer {
	t.Helper()
	rs := &redisServer{addr: "127.0.0.1:" + strconv.Itoa(listenablePort(t, 20000, 32000)), dir: t.TempDir()}
	rs.start(t)
	t.Cleanup(func() {
		rs.stop(t)
		if t.Failed() {
			dumpFile(t, filepath.Join(rs.dir, "redis.log"))
		}
	})
	return rs
}

func (rs *redisServer) start(t *testing.T) {
	t.Helper()
	_, port, _ := net.SplitHostPort(rs.addr)
	rs.cmd = exec.Command("redis-server", "--bind", "127.0.0.1", "--port", port, "--dir", rs.dir,
		"--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--logfile", filepath.Join(rs.dir, "redis.log"))
	if err := rs.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	rs.done = make(chan error, 1)
	go func(c *exec.Cmd, done chan error) { done <- c.Wait() }(rs.cmd, rs.done)
	rc := redis.NewClient(&redis.Options{Addr: rs.addr})
	defer rc.Close()
	testenv.Eventually(t, 20*time.Second, func() bool { return rc.Ping(context.Background()).Err() == nil },
		"redis-server on %s answers", rs.addr)
}

// stop shuts Redis down the way a restart does (SHUTDOWN: the AOF is
// flushed), and waits for the process to exit.
func (rs *redisServer) stop(t *testing.T) {
	t.Helper()
	if rs.cmd == nil {
		return
	}
	_ = rs.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-rs.done:
	case <-time.After(20 * time.Second):
		_ = rs.cmd.Process.Kill()
		<-rs.done
	}
	rs.cmd = nil
}

// proxy forwards TCP connections to target until cut; restore listens on
// the same address again.
type proxy struct {
	target, addr string
	mu           sync.Mutex
	ln           net.Listener
	conns        map[net.Conn]struct{}
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	p := &proxy{target: target, addr: "127.0.0.1:0", conns: map[net.Conn]struct{}{}}
	p.restore(t)
	return p
}

func (p *proxy) restore(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatalf("proxy listen %s: %v", p.addr, err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go p.accept(ln)
}

func (p *proxy) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.ln != ln { // cut meanwhile
			p.mu.Unlock()
			c.Close()
			up.Close()
			return
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go pipe(c, up)
		go pipe(up, c)
	}
}

func pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// cut closes the listener and every forwarded connection: the database is
// unreachable (connection refused) until restore.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}
