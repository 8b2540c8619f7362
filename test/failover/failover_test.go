// Package failover proves that the fleet rides through a Valkey Sentinel
// failover without a restart, and measures what a failover loses. It is
// internal to the fleet.
//
// Each scenario starts a primary, replicas and three sentinels (quorum 2) on
// loopback ports, runs the real notification-worker and scheduler against
// VALKEY_URL=valkey+sentinel://…, and a producer that enqueues
// create-notification tasks with unique IDs through Sentinel at a steady
// rate. It kills the primary with SIGKILL under that load and measures, from
// the effects in PostgreSQL (one "Notification" row per task, its ID derived
// from the task ID) and the new primary's contents: how long until tasks
// flow again, how many acknowledged enqueues were lost (replication is
// asynchronous), how many tasks ran twice and whether an effect exists
// twice. The worker and the scheduler must recover by themselves: the same
// processes, still working after the failover.
package failover

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/testplanit/tpi-workers/internal/postgres"
	"github.com/testplanit/tpi-workers/internal/schedule"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

const (
	// masterName is the name the sentinels monitor the primary under.
	masterName = "tpi"
	// tick is the producer's pace: one task per tick.
	tick = 20 * time.Millisecond // 50 tasks/s
	// before is how long tasks flow before the fault, after how long the
	// producer goes on once they flow again.
	before, after = 4 * time.Second, 3 * time.Second
	// recoveryBound is the longest acceptable time from the kill to the
	// first effect of a task enqueued after it.
	recoveryBound = 30 * time.Second
)

// scenario is one way of losing the primary.
type scenario struct {
	name string
	// replicas is the number of replicas (1 or 2).
	replicas int
	// lag, when set, holds the replication links (network partition
	// between the primary and its replicas) this long before the kill, with
	// the queue paused on the primary, as a backlog that the worker has not
	// reached yet: what the primary acknowledged meanwhile is on no replica.
	lag time.Duration
	// minReplicas runs every node with min-replicas-to-write 1 and
	// min-replicas-max-lag 1: the primary refuses writes once no replica
	// has acknowledged for more than a second.
	minReplicas bool
}

func TestFailoverSentinel(t *testing.T) {
	bin := testenv.BuildCommands(t, "../..", "notification-worker", "scheduler")
	for _, sc := range []scenario{
		{name: "kill9", replicas: 1},
		{name: "kill9-lagging-replica", replicas: 1, lag: 4 * time.Second},
		// Two replicas: after the failover the new primary still has one,
		// so min-replicas-to-write 1 lets it accept writes.
		{name: "kill9-lagging-replicas-min-replicas", replicas: 2, lag: 4 * time.Second, minReplicas: true},
	} {
		t.Run(sc.name, func(t *testing.T) { runFailover(t, bin, sc) })
	}
}

// topology is a primary, its replicas and three sentinels.
type topology struct {
	primary   *testenv.Proc
	port      int        // the primary's
	proxy     *linkProxy // carries the replication links when sc.lag is set
	sentinels []string
}

func startTopology(t *testing.T, sc scenario) topology {
	t.Helper()
	var flags []string
	if sc.minReplicas {
		flags = []string{"--min-replicas-to-write", "1", "--min-replicas-max-lag", "1"}
	}
	var topo topology
	topo.primary, topo.port = redisServer(t, "primary", flags...)
	upstream := topo.port
	// Sentinel points a replica whose master address differs from the
	// primary's back at the primary (+fix-slave-config), but only after
	// failover-timeout: a long one keeps the replicas behind the proxy.
	failoverTimeout := 5 * time.Second
	if sc.lag > 0 {
		topo.proxy, upstream = startLinkProxy(t, addr(topo.port))
		failoverTimeout = time.Minute
	}
	for i := range sc.replicas {
		_, port := redisServer(t, fmt.Sprintf("replica-%d", i+1), append([]string{"--replicaof", "127.0.0.1", strconv.Itoa(upstream)}, flags...)...)
		waitReplicaLinkUp(t, port)
	}
	for i := range 3 {
		_, port := sentinel(t, fmt.Sprintf("sentinel-%d", i+1), masterName, topo.port, failoverTimeout)
		topo.sentinels = append(topo.sentinels, addr(port))
	}
	waitSentinelsAgree(t, topo.sentinels, topo.port, sc.replicas)
	return topo
}

func runFailover(t *testing.T, bin string, sc scenario) {
	topo := startTopology(t, sc)
	valkeyURL := "valkey+sentinel://" + strings.Join(topo.sentinels, ",") + "/0?master=" + masterName
	opt, err := worker.ParseValkeyURL(valkeyURL)
	if err != nil {
		t.Fatal(err)
	}
	pool, dbURL := testenv.Postgres(t)
	ctx := t.Context()
	if err := postgres.Seed(ctx, pool); err != nil {
		t.Fatal(err)
	}
	var admin string // notification mode USE_GLOBAL, that is IN_APP: no email follows
	if err := pool.QueryRow(ctx, `SELECT id FROM "User" WHERE email = 'admin@example.com'`).Scan(&admin); err != nil {
		t.Fatal(err)
	}

	env := append(os.Environ(), "VALKEY_URL="+valkeyURL, "DATABASE_URL="+dbURL, "TPI_ENV_FILE=",
		"LOG_FORMAT=text", "LOG_LEVEL=info", "TASK_CHECK_INTERVAL=20ms", "DELAYED_TASK_CHECK_INTERVAL=100ms",
		"RETRY_BACKOFF_BASE=250ms", "RETRY_BACKOFF_MAX=1s",
		// The scheduler fires the digest sweep every second (handled by the
		// notification-worker), nothing else.
		"SCHEDULER_CRON_DIGEST_SWEEP=@every 1s", "SCHEDULER_CRON_NIGHTLY_FORECAST=off",
		"SCHEDULER_CRON_AUTO_COMPLETE_MILESTONES=off", "SCHEDULER_CRON_MILESTONE_REMINDERS=off",
		"SCHEDULER_SYNC_INTERVAL=100ms", "SCHEDULER_GRACE=200ms", "SCHEDULER_HEARTBEAT_INTERVAL=1s")
	wAddr, sAddr := addr(testenv.FreePortIn(t, 20000, 30000)), addr(testenv.FreePortIn(t, 20000, 30000))
	w := testenv.StartProc(t, "notification-worker", filepath.Join(bin, "notification-worker"), nil, append(env, "HTTP_ADDR="+wAddr))
	s := testenv.StartProc(t, "scheduler", filepath.Join(bin, "scheduler"), nil, append(env, "HTTP_ADDR="+sAddr))
	for _, a := range []string{wAddr, sAddr} {
		testenv.Eventually(t, 30*time.Second, func() bool { code, _ := testenv.HTTPGet(a, "/readyz"); return code == 200 }, "%s ready", a)
	}

	client := asynq.NewClient(opt)
	defer client.Close()
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	prod := &producer{client: client, user: admin, acked: map[string]time.Time{}}
	pctx, stopProducer := context.WithCancel(ctx)
	var pwg sync.WaitGroup
	pwg.Go(func() { prod.run(pctx) })
	defer func() { stopProducer(); pwg.Wait() }()

	fx := effects{pool: pool}
	testenv.Eventually(t, 20*time.Second, func() bool {
		acked := prod.ackedBetween(time.Time{}, time.Now())
		return len(acked) > 0 && fx.count(t, acked) > 0
	}, "tasks flow before the failover")
	<-time.After(before)
	if d := prod.ackedBetween(time.Time{}, time.Now()); fx.count(t, d) < len(d)-100 {
		t.Fatalf("the worker lags before the failover: %d of %d effects", fx.count(t, d), len(d))
	}

	var lagFrom time.Time
	if sc.lag > 0 {
		topo.proxy.freeze()
		lagFrom = time.Now()
		// The pause reaches the primary only: the new primary will not
		// have it, so the worker resumes there by itself.
		if err := insp.PauseQueue(task.QueueNotifications); err != nil {
			t.Fatal(err)
		}
		<-time.After(sc.lag)
	}
	topo.primary.Kill9()
	killedAt := time.Now()
	if topo.proxy != nil {
		topo.proxy.cut()
	}
	t.Logf("primary (port %d) killed with SIGKILL", topo.port)

	// Tasks flow again: the first task acknowledged after the kill has its
	// effect.
	var recovery time.Duration
	testenv.Eventually(t, recoveryBound+10*time.Second, func() bool {
		acked := prod.ackedBetween(killedAt, time.Now())
		if len(acked) == 0 || fx.count(t, acked) == 0 {
			return false
		}
		recovery = time.Since(killedAt)
		return true
	}, "a task enqueued after the kill runs")
	writable := prod.firstAckAfter(killedAt).Sub(killedAt)
	newPrimary := waitNewPrimary(t, topo.sentinels, topo.port)
	recoveredAt := time.Now()

	<-time.After(after)
	stopProducer()
	pwg.Wait()

	// What the new primary holds of the acknowledged tasks (completed ones
	// are kept an hour), and which of them ran.
	acked := prod.ackedBetween(time.Time{}, time.Now())
	var inValkey []string
	for _, title := range acked {
		_, err := insp.GetTaskInfo(task.QueueNotifications, taskID(title))
		switch {
		case err == nil:
			inValkey = append(inValkey, title)
		case !errors.Is(err, asynq.ErrTaskNotFound):
			t.Fatalf("task %s: %v", taskID(title), err)
		}
	}
	// Those still to run because they failed (not the backlog: pending or
	// active), and why.
	present := fx.present(t)
	for _, title := range inValkey {
		if !present[title] {
			ti, err := insp.GetTaskInfo(task.QueueNotifications, taskID(title))
			if err == nil && ti.State != asynq.TaskStatePending && ti.State != asynq.TaskStateActive {
				t.Logf("not run yet: %s %s retried=%d last error %q", ti.ID, ti.State, ti.Retried, ti.LastErr)
			}
		}
	}
	drainFrom := time.Now()
	testenv.Eventually(t, 20*time.Second, func() bool { return fx.count(t, inValkey) == len(inValkey) },
		"every task the new primary holds has run")
	if d := time.Since(drainFrom); d > 2*time.Second {
		t.Logf("the new primary's tasks all ran %s after the producer stopped", d.Round(100*time.Millisecond))
	}
	present = fx.present(t)
	var lost []string
	for _, title := range acked {
		if !present[title] {
			lost = append(lost, title)
		}
	}
	duplicated := fx.duplicated(t)
	// A task the worker ran a second time finds its row there: the handler
	// logs new=false (the effect is not repeated, the run is).
	reran := 0
	for line := range strings.SplitSeq(w.Output(t), "\n") {
		if strings.Contains(line, `msg="notification created"`) && strings.Contains(line, "new=false") {
			reran++
		}
	}
	// A task whose handler finished while there was no primary stays active
	// on the new one: asynq v0.26 retries the completion with a context it
	// has already cancelled, so the retries fail until the lease expires
	// (30 s, plus the recoverer's cutoff of 30 s and its 1 min period), and
	// the task then runs again, a no-op here. Its effect must be there.
	active, err := insp.ListActiveTasks(task.QueueNotifications)
	if err != nil {
		t.Fatal(err)
	}
	stranded := 0
	for _, ti := range active {
		if ti.Type != task.TypeCreateNotification {
			continue
		}
		stranded++
		if p, err := task.Decode[task.CreateNotification](asynq.NewTask(ti.Type, ti.Payload)); err != nil || !present[p.Title] {
			t.Errorf("task %s is active after the failover without its effect", ti.ID)
		}
	}
	enqueued, errs, noReplicas := prod.stats()

	t.Logf("failover: recovery=%.1fs enqueued=%d acked=%d lost=%d duplicated=%d "+
		"(scenario %s; writes accepted again %.1fs after the kill; new primary %s; acked but absent from the new primary %d; "+
		"reran=%d stranded_active=%d enqueue_errors=%d of which NOREPLICAS %d)",
		recovery.Seconds(), enqueued, len(acked), len(lost), duplicated,
		sc.name, writable.Seconds(), newPrimary, len(acked)-len(inValkey), reran, stranded, errs, noReplicas)

	if recovery > recoveryBound {
		t.Errorf("tasks flowed again %s after the kill, want within %s", recovery.Round(100*time.Millisecond), recoveryBound)
	}
	if duplicated != 0 {
		t.Errorf("%d notifications exist twice, want 0 (the ID is derived from the task ID)", duplicated)
	}
	if len(acked) < int(before/tick)/2 {
		t.Errorf("only %d tasks acknowledged: the producer did not keep its pace", len(acked))
	}
	// Asynchronous replication loses what the primary acknowledged and no
	// replica received: without a lag, at most its last moments.
	switch {
	case sc.lag == 0:
		if bound := len(prod.ackedBetween(killedAt.Add(-time.Second), killedAt)); len(lost) > bound {
			t.Errorf("%d acknowledged tasks lost, more than the %d acknowledged in the second before the kill", len(lost), bound)
		}
	case !sc.minReplicas:
		// Everything acknowledged during the lag is lost, nothing before
		// (but what was in flight on the link when it froze).
		during := len(prod.ackedBetween(lagFrom.Add(-200*time.Millisecond), killedAt))
		if len(lost) == 0 || len(lost) > during {
			t.Errorf("%d acknowledged tasks lost, want some and at most the %d acknowledged during the lag", len(lost), during)
		}
	default:
		// The primary stops acknowledging once no replica has acknowledged
		// for more than min-replicas-max-lag (1 s, in whole seconds of its
		// clock, the count refreshed once a second): from 1 to 3 s into the
		// partition, however long it lasts. That much stays at risk.
		const cap = 3200 * time.Millisecond
		bound := len(prod.ackedBetween(lagFrom.Add(-200*time.Millisecond), lagFrom.Add(cap)))
		if len(lost) > bound {
			t.Errorf("%d acknowledged tasks lost, more than the %d acknowledged in the lag's first %s", len(lost), bound, cap)
		}
		if noReplicas == 0 {
			t.Error("the primary never refused a write with NOREPLICAS during the lag")
		}
		if late := len(prod.ackedBetween(lagFrom.Add(cap), killedAt)); late != 0 {
			t.Errorf("%d tasks acknowledged more than %s into the lag, want none", late, cap)
		}
	}

	// The same processes recovered, without a restart, and keep working.
	for _, p := range []*testenv.Proc{w, s} {
		if !p.Alive() {
			t.Errorf("%s exited during the failover", p.Name)
		}
	}
	for _, a := range []string{wAddr, sAddr} {
		testenv.Eventually(t, 15*time.Second, func() bool { code, _ := testenv.HTTPGet(a, "/readyz"); return code == 200 }, "%s ready after the failover", a)
	}
	// The scheduler enqueues on the new primary and the worker runs what it
	// enqueued: a digest sweep of a second after the recovery completes.
	testenv.Eventually(t, 15*time.Second, func() bool {
		for at := recoveredAt.Truncate(time.Second).Add(time.Second); at.Before(time.Now()); at = at.Add(time.Second) {
			ti, err := insp.GetTaskInfo(task.QueueNotifications, schedule.OccurrenceID(schedule.EntryDigestSweep, at))
			if err == nil && ti.State == asynq.TaskStateCompleted {
				return true
			}
		}
		return false
	}, "a digest sweep scheduled after the failover completes")
	_, m := testenv.HTTPGet(sAddr, "/metrics")
	if v := metric(m, `tpi_scheduler_enqueue_errors_total{entry="digest-sweep"}`); v > 0 {
		t.Logf("scheduler: %v digest-sweep occurrences could not be enqueued during the failover (a sweep: the next one catches up)", v)
	}
}

// taskID is the task ID the producer gives the task of title.
func taskID(title string) string { return strings.Replace(title, " ", "-", 1) }

// producer enqueues create-notification tasks with unique IDs at a steady
// pace through Sentinel, as a producer should: an enqueue that fails is
// tried again with the same task ID (a conflict then means the first try
// landed) until it is acknowledged.
type producer struct {
	client *asynq.Client
	user   string

	mu         sync.Mutex
	attempted  int
	errs       int
	noReplicas int
	acked      map[string]time.Time // title → when the enqueue was acknowledged
}

func (p *producer) run(ctx context.Context) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for i := 0; ; i++ {
		title := fmt.Sprintf("failover %05d", i)
		// Completed tasks are kept an hour, so that the test can tell a
		// task the new primary lost from one it ran.
		tk, err := task.NewCreateNotification(task.CreateNotification{UserID: p.user, Type: task.NotificationTypeWorkAssigned,
			Title: title, Message: "m"}, asynq.TaskID(taskID(title)), asynq.Retention(time.Hour))
		if err != nil {
			panic(err) // a programming error: the payload is constant
		}
		p.mu.Lock()
		p.attempted++
		p.mu.Unlock()
		for {
			ectx, cancel := context.WithTimeout(ctx, time.Second)
			_, err := task.Enqueue(ectx, p.client, tk)
			cancel()
			if err == nil {
				p.mu.Lock()
				p.acked[title] = time.Now()
				p.mu.Unlock()
				break
			}
			p.mu.Lock()
			p.errs++
			if strings.Contains(err.Error(), "NOREPLICAS") {
				p.noReplicas++
			}
			p.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ackedBetween returns the titles acknowledged in [from, to).
func (p *producer) ackedBetween(from, to time.Time) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for title, at := range p.acked {
		if !at.Before(from) && at.Before(to) {
			out = append(out, title)
		}
	}
	return out
}

// firstAckAfter returns when the first enqueue after t was acknowledged.
func (p *producer) firstAckAfter(t time.Time) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	var first time.Time
	for _, at := range p.acked {
		if at.After(t) && (first.IsZero() || at.Before(first)) {
			first = at
		}
	}
	return first
}

// stats returns the number of task IDs tried, of failed enqueue calls, and
// of those refused with NOREPLICAS.
func (p *producer) stats() (attempted, errs, noReplicas int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.attempted, p.errs, p.noReplicas
}

// effects reads the producer's notifications in PostgreSQL.
type effects struct{ pool *pgxpool.Pool }

// count returns how many of titles have their notification.
func (e effects) count(t *testing.T, titles []string) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(t.Context(), `SELECT count(DISTINCT title) FROM "Notification" WHERE title = ANY($1)`, titles).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// present returns the titles that have their notification.
func (e effects) present(t *testing.T) map[string]bool {
	t.Helper()
	rows, err := e.pool.Query(t.Context(), `SELECT title FROM "Notification" WHERE title LIKE 'failover %'`)
	if err != nil {
		t.Fatal(err)
	}
	titles, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]bool, len(titles))
	for _, s := range titles {
		out[s] = true
	}
	return out
}

// duplicated returns how many titles have more than one notification.
func (e effects) duplicated(t *testing.T) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(t.Context(), `SELECT count(*) FROM (SELECT title FROM "Notification" WHERE title LIKE 'failover %' GROUP BY title HAVING count(*) > 1) d`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitReplicaLinkUp waits until the replica on port has synchronised with
// its primary.
func waitReplicaLinkUp(t *testing.T, port int) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr(port)})
	defer c.Close()
	testenv.Eventually(t, 20*time.Second, func() bool {
		info, err := c.Info(context.Background(), "replication").Result()
		return err == nil && strings.Contains(info, "master_link_status:up")
	}, "the replica's link to the primary is up")
}

// waitSentinelsAgree waits until every sentinel monitors the primary on
// port with its replicas and knows the two other sentinels, and a failover
// would be authorised (SENTINEL CKQUORUM).
func waitSentinelsAgree(t *testing.T, sentinels []string, port, replicas int) {
	t.Helper()
	for _, a := range sentinels {
		sc := redis.NewSentinelClient(&redis.Options{Addr: a})
		testenv.Eventually(t, 30*time.Second, func() bool {
			m, err := sc.Master(context.Background(), masterName).Result()
			if err != nil || m["port"] != strconv.Itoa(port) || m["flags"] != "master" ||
				m["num-slaves"] != strconv.Itoa(replicas) || m["num-other-sentinels"] != "2" {
				return false
			}
			return sc.CkQuorum(context.Background(), masterName).Err() == nil
		}, "sentinel %s sees the primary, its replicas and the other sentinels", a)
		sc.Close()
	}
}

// waitNewPrimary waits until the sentinels agree on a primary other than
// the one on old and returns its address.
func waitNewPrimary(t *testing.T, sentinels []string, old int) string {
	t.Helper()
	var got string
	testenv.Eventually(t, 30*time.Second, func() bool {
		var seen []string
		for _, a := range sentinels {
			sc := redis.NewSentinelClient(&redis.Options{Addr: a})
			hp, err := sc.GetMasterAddrByName(context.Background(), masterName).Result()
			sc.Close()
			if err != nil || len(hp) != 2 || hp[1] == strconv.Itoa(old) {
				return false
			}
			seen = append(seen, hp[0]+":"+hp[1])
		}
		got = seen[0]
		return seen[0] == seen[1] && seen[1] == seen[2]
	}, "the sentinels agree on a new primary")
	return got
}
