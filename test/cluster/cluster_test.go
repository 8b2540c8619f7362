// Package cluster runs the fleet against a Valkey/Redis Cluster
// (VALKEY_URL=valkey+cluster://…): three primaries on loopback ports, the
// real notification-worker, email-worker and forecast-worker (three queues),
// the scheduler, the dashboard and tpictl. It checks that tasks complete,
// follow-up tasks cross shards, the dashboard and tpictl see every queue,
// and the scheduler's history maintenance reaches every node. It is internal
// to the fleet.
package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/testplanit/tpi-workers/internal/dashboard"
	"github.com/testplanit/tpi-workers/internal/postgres"
	"github.com/testplanit/tpi-workers/internal/schedule"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

func TestClusterFleet(t *testing.T) {
	bin := testenv.BuildCommands(t, "../..", "notification-worker", "email-worker", "forecast-worker", "scheduler", "dashboard", "tpictl")
	nodes := startCluster(t, 3)
	valkeyURL := "valkey+cluster://" + strings.Join(nodes, ",")
	opt, err := worker.ParseValkeyURL(valkeyURL)
	if err != nil {
		t.Fatal(err)
	}
	rc := opt.MakeRedisClient().(*redis.ClusterClient)
	defer rc.Close()
	ctx := t.Context()
	logShards(t, rc)

	pool, dbURL := testenv.Postgres(t)
	if err := postgres.Seed(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE "RepositoryCases" SET "forecastManual" = NULL`); err != nil {
		t.Fatal(err)
	}
	var bob string // IN_APP_EMAIL_IMMEDIATE: each notification enqueues an email
	if err := pool.QueryRow(ctx, `SELECT id FROM "User" WHERE email = 'bob@example.com'`).Scan(&bob); err != nil {
		t.Fatal(err)
	}
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})

	env := append(os.Environ(), "VALKEY_URL="+valkeyURL, "DATABASE_URL="+dbURL, "TPI_ENV_FILE=",
		"LOG_FORMAT=text", "LOG_LEVEL=info", "TASK_CHECK_INTERVAL=20ms", "DELAYED_TASK_CHECK_INTERVAL=100ms",
		"EMAIL_SERVER_HOST="+mp.SMTPHost, "EMAIL_SERVER_PORT="+strconv.Itoa(mp.SMTPPort), "EMAIL_SERVER_TLS=none",
		"EMAIL_FROM=noreply@example.com", "NEXTAUTH_URL=https://tpi.example.com",
		// Every second: the digest sweep (notifications) and the nightly
		// forecast (forecast-updates); the rest off.
		"SCHEDULER_CRON_DIGEST_SWEEP=@every 1s", "SCHEDULER_CRON_NIGHTLY_FORECAST=@every 1s",
		"SCHEDULER_CRON_AUTO_COMPLETE_MILESTONES=off", "SCHEDULER_CRON_MILESTONE_REMINDERS=off",
		"SCHEDULER_SYNC_INTERVAL=100ms", "SCHEDULER_GRACE=200ms", "SCHEDULER_HEARTBEAT_INTERVAL=1s")
	procs := map[string]*testenv.Proc{}
	addrs := map[string]string{}
	for _, name := range []string{"notification-worker", "email-worker", "forecast-worker", "scheduler", "dashboard"} {
		a := addr(testenv.FreePortIn(t, 20000, 30000))
		e := append(env, "HTTP_ADDR="+a)
		if name == "dashboard" {
			e = append(e, "DASHBOARD_ADDR="+a, "DASHBOARD_INSECURE_OPEN=true")
		}
		procs[name], addrs[name] = testenv.StartProc(t, name, filepath.Join(bin, name), nil, e), a
	}
	for name, a := range addrs {
		testenv.Eventually(t, 30*time.Second, func() bool { code, _ := testenv.HTTPGet(a, "/readyz"); return code == 200 }, "%s ready", name)
	}

	// Tasks on the notifications queue; each enqueues an email on the
	// emails queue, from the worker, to whichever shard holds it.
	client := asynq.NewClient(opt)
	defer client.Close()
	const n = 20
	for i := range n {
		tk, err := task.NewCreateNotification(task.CreateNotification{UserID: bob, Type: task.NotificationTypeWorkAssigned,
			Title: fmt.Sprintf("cluster %02d", i), Message: "m"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := task.Enqueue(ctx, client, tk); err != nil {
			t.Fatal(err)
		}
	}
	scalar := func(sql string) int {
		var v int
		if err := pool.QueryRow(ctx, sql).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	testenv.Eventually(t, 30*time.Second, func() bool {
		return scalar(`SELECT count(*) FROM "Notification" WHERE title LIKE 'cluster %'`) == n
	}, "every notification created")
	testenv.Eventually(t, 30*time.Second, func() bool { return mp.Count() == n }, "every immediate email delivered")
	// The scheduler's occurrences, run by their workers.
	testenv.Eventually(t, 30*time.Second, func() bool {
		return scalar(`SELECT count(*) FROM "RepositoryCases" WHERE "forecastManual" IS NOT NULL`) > 0
	}, "the nightly forecast ran")
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	testenv.Eventually(t, 30*time.Second, func() bool {
		now := time.Now().Truncate(time.Second)
		for at := now.Add(-10 * time.Second); !at.After(now); at = at.Add(time.Second) {
			ti, err := insp.GetTaskInfo(task.QueueNotifications, schedule.OccurrenceID(schedule.EntryDigestSweep, at))
			if err == nil && ti.State == asynq.TaskStateCompleted {
				return true
			}
		}
		return false
	}, "a digest sweep completed")
	if got := scalar(`SELECT count(*) FROM (SELECT title FROM "Notification" WHERE title LIKE 'cluster %' GROUP BY title HAVING count(*) > 1) d`); got != 0 {
		t.Errorf("%d notifications exist twice", got)
	}

	// The dashboard's Job Queues API sees every queue and the workers'
	// servers, wherever they live.
	var qs dashboard.QueuesResponse
	testenv.Eventually(t, 30*time.Second, func() bool {
		code, body := testenv.HTTPGet(addrs["dashboard"], "/api/v1/queues")
		if code != 200 || json.Unmarshal([]byte(body), &qs) != nil {
			return false
		}
		for _, q := range qs.Queues {
			switch q.Name {
			case task.QueueNotifications, task.QueueEmails, task.QueueForecast:
				if !q.Registered || q.Completed == 0 || q.Concurrency.Live == 0 {
					return false
				}
			}
		}
		return true
	}, "the dashboard lists the three queues with completed tasks and live workers (30 s, as the waits above: a loaded 2-core machine is slow)")
	for _, q := range qs.Queues {
		t.Logf("dashboard: %-22s registered=%v completed=%d waiting=%d failed=%d live=%d (%d loops)",
			q.Name, q.Registered, q.Completed, q.Waiting, q.Failed, q.Concurrency.Live, q.Concurrency.Servers)
		if q.Failed != 0 {
			t.Errorf("queue %s: %d tasks archived", q.Name, q.Failed)
		}
	}
	// asynqmon's Redis page knows it is a cluster.
	if code, body := testenv.HTTPGet(addrs["dashboard"], "/admin/queues/api/redis_info"); code != 200 || !strings.Contains(body, "cluster") {
		t.Errorf("asynqmon redis_info: %d %.200s", code, body)
	}

	// tpictl reads the same through the cluster.
	out, err := runTpictl(bin, env, "queues")
	if err != nil {
		t.Fatalf("tpictl queues: %v\n%s", err, out)
	}
	for _, q := range []string{task.QueueNotifications, task.QueueEmails, task.QueueForecast} {
		if !strings.Contains(out, q) {
			t.Errorf("tpictl queues lacks %s:\n%s", q, out)
		}
	}
	t.Logf("tpictl queues:\n%s", out)
	// tpictl doctor reads the persistence of every primary.
	out, err = runTpictl(bin, env, "doctor")
	if err != nil {
		t.Fatalf("tpictl doctor: %v\n%s", err, out)
	}
	if want := "cluster of 3 primaries, AOF off on " + strings.Join(sorted(nodes), ", "); !strings.Contains(out, want) {
		t.Errorf("tpictl doctor does not say %q:\n%s", want, out)
	}

	// The scheduler's history maintenance: asynq leaves the enqueue history
	// of every replaced entry (one per occurrence here), spread over the
	// nodes; at shutdown the scheduler prunes them and gives the rest an
	// expiry, on every node.
	var before map[string][]string
	testenv.Eventually(t, 30*time.Second, func() bool {
		before = historiesPerNode(t, rc)
		spread := 0
		for _, keys := range before {
			if len(keys) > 0 {
				spread++
			}
		}
		return spread == len(before)
	}, "scheduler histories on every node")
	procs["scheduler"].Stop(30 * time.Second)
	bare := 0
	after := historiesPerNode(t, rc)
	for node, keys := range after {
		for _, k := range keys {
			if rc.TTL(ctx, k).Val() == -1 {
				bare++
				t.Errorf("%s on %s has no expiry after the scheduler's shutdown", k, node)
			}
		}
	}
	t.Logf("scheduler histories per node before the shutdown %v, after %v, without expiry %d", count(before), count(after), bare)
	if log := procs["scheduler"].Output(t); strings.Contains(log, "cannot prune") || strings.Contains(log, "cannot set the expiry") {
		t.Errorf("the scheduler's maintenance failed:\n%s", log)
	}

	// Nothing of ours hit a cross-slot error, and nothing stopped.
	for name, p := range procs {
		if name != "scheduler" && !p.Alive() {
			t.Errorf("%s exited", name)
		}
		if log := p.Output(t); strings.Contains(log, "CROSSSLOT") {
			t.Errorf("%s logged a CROSSSLOT error", name)
		}
	}
}

// startCluster starts primaries cluster-enabled redis-servers on loopback
// ports, joins them with redis-cli --cluster create (no replicas) and waits
// until every node reports the cluster ok. It returns their addresses.
func startCluster(t *testing.T, primaries int) []string {
	t.Helper()
	var nodes []string
	for i := range primaries {
		port := clusterPort(t)
		dir := t.TempDir()
		testenv.StartProc(t, fmt.Sprintf("node-%d", i+1), "redis-server", []string{
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--protected-mode", "no", "--save", "", "--appendonly", "no",
			"--dir", dir, "--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"),
			"--cluster-node-timeout", "2000",
		}, os.Environ())
		testenv.WaitRedisPing(t, port)
		nodes = append(nodes, addr(port))
	}
	create := exec.Command("redis-cli", append(append([]string{"--cluster", "create"}, nodes...), "--cluster-replicas", "0", "--cluster-yes")...)
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, a := range nodes {
		c := redis.NewClient(&redis.Options{Addr: a})
		testenv.Eventually(t, 30*time.Second, func() bool {
			info, err := c.ClusterInfo(context.Background()).Result()
			return err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_slots_ok:16384")
		}, "node %s reports the cluster ok", a)
		c.Close()
	}
	return nodes
}

// clusterPort returns a free port whose cluster bus port (port+10000) is
// free too.
func clusterPort(t *testing.T) int {
	t.Helper()
	for range 50 {
		port := testenv.FreePortIn(t, 20000, 30000)
		if bus := testenv.FreePortIn(t, port+10000, port+10001); bus == port+10000 {
			return port
		}
	}
	t.Fatal("no free port pair for a cluster node")
	return 0
}

// logShards logs the slot and the node of each queue: asynq hash-tags a
// queue's keys (asynq:{<queue>}:…), so a queue lives on one shard.
func logShards(t *testing.T, rc *redis.ClusterClient) {
	t.Helper()
	ctx := t.Context()
	slots, err := rc.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	// The queues, then asynq's keys shared by all: the lists of queues,
	// servers, workers and schedulers (written at every heartbeat).
	var keys []string
	for _, q := range task.Queues() {
		keys = append(keys, "asynq:{"+q.Name+"}:pending")
	}
	keys = append(keys, "asynq:queues", "asynq:servers", "asynq:workers", "asynq:schedulers")
	for _, k := range keys {
		slot, err := rc.ClusterKeySlot(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range slots {
			if int64(s.Start) <= slot && slot <= int64(s.End) {
				t.Logf("%-40s slot %5d  shard %5d-%5d on %s", k, slot, s.Start, s.End, s.Nodes[0].Addr)
			}
		}
	}
}

// historiesPerNode lists the scheduler history keys of every primary.
func historiesPerNode(t *testing.T, rc *redis.ClusterClient) map[string][]string {
	t.Helper()
	var mu sync.Mutex // ForEachMaster calls in parallel
	out := map[string][]string{}
	err := rc.ForEachMaster(t.Context(), func(ctx context.Context, node *redis.Client) error {
		keys, err := node.Keys(ctx, "asynq:scheduler_history:*").Result()
		if err != nil {
			return err
		}
		mu.Lock()
		out[node.Options().Addr] = keys
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

func count(m map[string][]string) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		out[k] = len(v)
	}
	return out
}

// runTpictl runs tpictl with args and returns its output.
func runTpictl(bin string, env []string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(bin, "tpictl"), args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}
