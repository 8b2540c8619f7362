package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/testplanit/tpi-workers/internal/worker"
)

// The queue and task types of the benchmark; scaleworker handles the same.
const (
	Queue    = "scale"
	TypeIO   = "scale:io"
	TypeNoop = "scale:noop"
)

// processedKey is asynq's running count of the queue's processed tasks
// (base.ProcessedTotalKey in asynq v0.26), read while a measurement runs:
// one GET, cheaper than the Inspector's queue statistics.
const processedKey = "asynq:{" + Queue + "}:processed"

// workload is one kind of task: its type and how many of them a
// measurement enqueues for a number of slots in all.
type workload struct {
	Name  string
	Type  string
	Tasks func(slots int) int
}

// config is one row of the table: a workload on Procs processes of Slots
// slots (SCALE_CONCURRENCY) each.
type config struct {
	Workload workload
	Procs    int
	Slots    int
}

// label is "4x10": processes x slots.
func (c config) label() string { return fmt.Sprintf("%dx%d", c.Procs, c.Slots) }

// measurement is the outcome of one run of a configuration.
type measurement struct {
	Tasks   int           // processed while all the processes ran
	Elapsed time.Duration // from the last process's start to the last task processed
	Rate    float64       // Tasks per second over Elapsed
}

// bench runs measurements against one Valkey/Redis database.
type bench struct {
	url       string // VALKEY_URL of the worker processes
	opt       asynq.RedisClientOpt
	rdb       *redis.Client
	insp      *asynq.Inspector
	workerBin string
	ioWait    time.Duration
}

// newBench connects to the database at url. With mustBeEmpty (a database
// the caller named) a database holding keys is refused rather than flushed.
func newBench(ctx context.Context, url, workerBin string, ioWait time.Duration, mustBeEmpty bool) (*bench, error) {
	if _, err := os.Stat(workerBin); err != nil {
		return nil, fmt.Errorf("worker binary: %w", err)
	}
	conn, err := worker.ParseValkeyURL(url)
	if err != nil {
		return nil, err
	}
	opt, ok := conn.(asynq.RedisClientOpt)
	if !ok {
		return nil, fmt.Errorf("%s: the benchmark needs a single server (redis:// or valkey://)", worker.RedactURL(url))
	}
	b := &bench{url: url, opt: opt, workerBin: workerBin, ioWait: ioWait,
		rdb:  redis.NewClient(&redis.Options{Addr: opt.Addr, Username: opt.Username, Password: opt.Password, DB: opt.DB}),
		insp: asynq.NewInspector(opt)}
	n, err := b.rdb.DBSize(ctx).Result()
	if err != nil {
		b.close()
		return nil, fmt.Errorf("%s: %w", worker.RedactURL(url), err)
	}
	if mustBeEmpty && n > 0 {
		b.close()
		return nil, fmt.Errorf("%s holds %d keys: give an empty database, the benchmark flushes it", worker.RedactURL(url), n)
	}
	return b, nil
}

func (b *bench) close() {
	b.insp.Close()
	b.rdb.Close()
}

// describe names the store for the report.
func (b *bench) describe() string {
	return fmt.Sprintf("%s db %d", b.opt.Addr, b.opt.DB)
}

// measure runs one configuration: n tasks of its workload enqueued on an
// empty queue, then its worker processes started on it. The clock starts when the last
// of them fetches (its "worker started" line), so the rate is that of all
// procs together, without their start-up; it stops when asynq has counted
// the last task processed. Every task must succeed and every process must
// drain and exit 0.
func (b *bench) measure(ctx context.Context, c config, n int) (measurement, error) {
	if err := b.rdb.FlushDB(ctx).Err(); err != nil {
		return measurement{}, err
	}
	if err := b.enqueue(ctx, c.Workload.Type, n); err != nil {
		return measurement{}, err
	}
	ps, err := b.startWorkers(ctx, c.Procs, c.Slots)
	defer ps.stop() // a no-op once drained below
	if err != nil {
		return measurement{}, err
	}
	start := time.Now()
	before, err := b.processed(ctx)
	if err != nil {
		return measurement{}, err
	}
	if before > n/2 {
		return measurement{}, fmt.Errorf("%d of %d tasks were processed while the processes started: enqueue more", before, n)
	}
	deadline := start.Add(time.Duration(n)*time.Millisecond + time.Minute) // at least 1,000 tasks/s, plus a minute
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		got, err := b.processed(ctx)
		if err != nil {
			return measurement{}, err
		}
		if got >= n {
			break
		}
		if err := ps.died(); err != nil {
			return measurement{}, err
		}
		if time.Now().After(deadline) {
			return measurement{}, fmt.Errorf("%d of %d tasks processed after %s", got, n, time.Since(start).Round(time.Second))
		}
		select {
		case <-ctx.Done():
			return measurement{}, ctx.Err()
		case <-tick.C:
		}
	}
	elapsed := time.Since(start)

	if err := ps.drain(); err != nil {
		return measurement{}, err
	}
	info, err := b.insp.GetQueueInfo(Queue)
	if err != nil {
		return measurement{}, err
	}
	if info.ProcessedTotal != n || info.FailedTotal != 0 || info.Pending+info.Active+info.Retry+info.Archived != 0 {
		return measurement{}, fmt.Errorf("queue after the run: processed %d of %d, failed %d, pending %d, active %d, retry %d, archived %d",
			info.ProcessedTotal, n, info.FailedTotal, info.Pending, info.Active, info.Retry, info.Archived)
	}
	return measurement{Tasks: n - before, Elapsed: elapsed, Rate: float64(n-before) / elapsed.Seconds()}, nil
}

// processed reads asynq's count of the queue's processed tasks.
func (b *bench) processed(ctx context.Context) (int, error) {
	n, err := b.rdb.Get(ctx, processedKey).Int()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return n, err
}

// enqueue puts n tasks of type typ on the queue from a few goroutines.
// MaxRetry 0: a failing task is archived, and measure reports it. The
// client is new each time: an asynq client registers a queue in Valkey once
// in its life, and the database was flushed since.
func (b *bench) enqueue(ctx context.Context, typ string, n int) error {
	const senders = 4
	client := asynq.NewClient(b.opt)
	defer client.Close()
	errs := make(chan error, senders)
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := s; i < n; i += senders {
				if _, err := client.EnqueueContext(ctx, asynq.NewTask(typ, nil), asynq.Queue(Queue), asynq.MaxRetry(0)); err != nil {
					errs <- fmt.Errorf("enqueue: %w", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs // nil when the channel is empty
}

// proc is one worker process.
type proc struct {
	cmd   *exec.Cmd
	ready chan struct{} // closed at the "worker started" log line
	done  chan struct{} // closed when the process has exited
	err   error         // cmd.Wait's, set before done is closed
	mu    sync.Mutex
	tail  []string // the last lines of its log, for error messages
}

func (p *proc) logTail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, "\n")
}

// procs are the worker processes of one measurement.
type procs []*proc

// startWorkers starts n worker processes of slots slots each and waits
// until each one fetches (its "worker started" line). The environment is
// built here, not inherited: no DATABASE_URL, so the workers open no
// database.
func (b *bench) startWorkers(ctx context.Context, n, slots int) (procs, error) {
	env := []string{
		"VALKEY_URL=" + b.url,
		"HTTP_ADDR=127.0.0.1:0",
		"LOG_FORMAT=json",
		"LOG_LEVEL=info", // a success is logged at debug: no line per task
		"SCALE_QUEUE=" + Queue,
		"SCALE_CONCURRENCY=" + strconv.Itoa(slots),
		"SCALE_IO_WAIT=" + b.ioWait.String(),
		"SHUTDOWN_TIMEOUT=10s",
	}
	for _, k := range []string{"PATH", "FETCH_LOOPS", "TASK_CHECK_INTERVAL", "GOMAXPROCS", "GOGC", "GOMEMLIMIT"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	var ps procs
	for range n {
		p, err := startWorker(b.workerBin, env)
		if err != nil {
			return ps, err
		}
		ps = append(ps, p)
	}
	timeout := time.After(30 * time.Second)
	for i, p := range ps {
		select {
		case <-p.ready:
		case <-p.done:
			return ps, fmt.Errorf("worker %d exited at start (%v):\n%s", i, p.err, p.logTail())
		case <-timeout:
			return ps, fmt.Errorf("worker %d not started after 30s:\n%s", i, p.logTail())
		case <-ctx.Done():
			return ps, ctx.Err()
		}
	}
	return ps, nil
}

func startWorker(bin string, env []string) (*proc, error) {
	cmd := exec.Command(bin)
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &proc{cmd: cmd, ready: make(chan struct{}), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		started := false
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.tail = append(p.tail, line)
			if len(p.tail) > 20 {
				p.tail = p.tail[1:]
			}
			p.mu.Unlock()
			var rec struct {
				Msg string `json:"msg"`
			}
			if !started && json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "worker started" {
				started = true
				close(p.ready)
			}
		}
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// died reports a process that exited while it should be working.
func (ps procs) died() error {
	for i, p := range ps {
		select {
		case <-p.done:
			return fmt.Errorf("worker %d exited during the run (%v):\n%s", i, p.err, p.logTail())
		default:
		}
	}
	return nil
}

// drain sends SIGTERM to every process and waits for each to exit 0.
func (ps procs) drain() error {
	for _, p := range ps {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	timeout := time.After(30 * time.Second)
	for i, p := range ps {
		select {
		case <-p.done:
			if p.err != nil {
				return fmt.Errorf("worker %d: %v after SIGTERM:\n%s", i, p.err, p.logTail())
			}
		case <-timeout:
			return fmt.Errorf("worker %d still running 30s after SIGTERM", i)
		}
	}
	return nil
}

// stop kills what is still running (after a failed measurement) and waits.
func (ps procs) stop() {
	for _, p := range ps {
		select {
		case <-p.done:
			continue
		default:
		}
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// redisServer is a private redis-server started for the run.
type redisServer struct {
	cmd     *exec.Cmd
	addr    string
	url     string
	version string
}

// startRedis starts redis-server on a free loopback port, without
// persistence, and waits until it answers.
func startRedis(ctx context.Context) (*redisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not found (apt-get install redis-server), or give -valkey-url: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	s := &redisServer{cmd: cmd, addr: fmt.Sprintf("127.0.0.1:%d", port)}
	s.url = "redis://" + s.addr + "/0"
	c := redis.NewClient(&redis.Options{Addr: s.addr})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(ctx).Err() != nil {
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("redis-server on %s does not answer after 10s", s.addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.version = "redis-server"
	if info, err := c.Info(ctx, "server").Result(); err == nil {
		for line := range strings.SplitSeq(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "redis_version:"); ok {
				s.version += " " + v
			}
		}
	}
	return s, nil
}

func (s *redisServer) stop() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}
