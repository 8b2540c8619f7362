// Command scale is `make bench-scale`, internal to the fleet: how one
// worker's throughput grows with its processes. It runs 1, 2 and 4 real OS
// processes of ./scaleworker (the fleet's runtime, concurrency 10 each,
// FETCH_LOOPS at its default) on I/O-bound tasks that wait 10 ms as a
// network call would, then on no-op tasks that show where the store
// saturates, and prints tasks/s per process count: every round, then the
// medians, and last the line `scale io 4/1: <ratio>`. For reference it also
// runs the I/O-bound tasks on one process holding as many slots as the
// largest count of processes (1x40 beside 4x10): concurrency against
// processes.
//
// Each measurement enqueues its tasks on an empty queue, starts the
// processes, and times from the moment the last of them fetches until asynq
// has counted every task processed (the queue drained), counting the tasks
// done in that time. The configurations alternate within each round, in a
// rotated order, so machine noise hits them all alike. By default the store is a private redis-server
// started for the run on a free port (nothing of anyone else's is touched);
// -valkey-url names an empty database instead, which the run flushes between
// measurements.
//
//	go build -o /tmp/scaleworker ./test/scale/scaleworker
//	go run ./test/scale -worker /tmp/scaleworker [-rounds 5] [-procs 1,2,4]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/testplanit/tpi-workers/internal/worker"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-scale:", err)
		os.Exit(1)
	}
}

// run parses args, measures every configuration in rounds and writes the
// rounds and the summary to out.
func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	workerBin := fs.String("worker", "", "path of the built scaleworker binary (required)")
	rounds := fs.Int("rounds", 5, "rounds; every configuration runs once per round")
	procsFlag := fs.String("procs", "1,2,4", "process counts, comma-separated, the first being the base of the ratios")
	concurrency := fs.Int("concurrency", 10, "SCALE_CONCURRENCY of each process")
	ioPerProc := fs.Int("io-tasks", 2000, "I/O-bound tasks in a measurement per -concurrency slots (a 10 ms task each)")
	noopTasks := fs.Int("noop-tasks", 10000, "no-op tasks in a measurement, whatever the process count")
	wide := fs.Bool("wide", true, "also run the I/O-bound tasks on one process with the slots of the most processes")
	ioWait := fs.Duration("io-wait", 10*time.Millisecond, "how long an I/O-bound task waits (SCALE_IO_WAIT)")
	valkeyURL := fs.String("valkey-url", "", "an empty Valkey/Redis database to use instead of a private redis-server")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *workerBin == "" {
		return fmt.Errorf("-worker is required (go build -o /tmp/scaleworker ./test/scale/scaleworker)")
	}
	procs, err := parseProcs(*procsFlag)
	if err != nil {
		return err
	}
	if *rounds < 1 || *concurrency < 1 || *ioPerProc < 1 || *noopTasks < 1 {
		return fmt.Errorf("-rounds, -concurrency, -io-tasks and -noop-tasks must be positive")
	}

	url, what := *valkeyURL, ""
	if url == "" {
		srv, err := startRedis(ctx)
		if err != nil {
			return err
		}
		defer srv.stop()
		url, what = srv.url, "private "+srv.version+" on "+srv.addr
	}
	b, err := newBench(ctx, url, *workerBin, *ioWait, *valkeyURL != "")
	if err != nil {
		return err
	}
	defer b.close()
	if what == "" {
		what = b.describe()
	}

	c := *concurrency
	io := workload{Name: "io", Type: TypeIO, Tasks: func(slots int) int { return *ioPerProc * slots / c }}
	noop := workload{Name: "noop", Type: TypeNoop, Tasks: func(int) int { return *noopTasks }}
	var configs []config
	for _, w := range []workload{io, noop} {
		for _, p := range procs {
			configs = append(configs, config{w, p, c})
		}
		if top := procs[len(procs)-1]; w.Type == TypeIO && *wide && top > 1 {
			configs = append(configs, config{w, 1, top * c})
		}
	}
	fmt.Fprintf(out, "bench-scale: scaleworker processes (the runtime, %d slots each, FETCH_LOOPS %s), "+
		"io tasks wait %s, store %s; %d rounds, the configurations alternating\n",
		c, fetchLoopsNote(c), *ioWait, what, *rounds)
	res := results{}
	start := time.Now()
	for r := range *rounds {
		for i := range configs {
			cf := configs[(i+r)%len(configs)] // rotate, so no configuration always runs first
			n := cf.Workload.Tasks(cf.Procs * cf.Slots)
			m, err := b.measure(ctx, cf, n)
			if err != nil {
				return fmt.Errorf("round %d, %s %s: %w", r+1, cf.Workload.Name, cf.label(), err)
			}
			res.add(cf, m.Rate)
			fmt.Fprintf(out, "round %d  %-4s %-5s  %6d tasks (%6d timed) in %6.2fs  %8.0f tasks/s\n",
				r+1, cf.Workload.Name, cf.label(), n, m.Tasks, m.Elapsed.Seconds(), m.Rate)
		}
	}
	fmt.Fprintf(out, "(%d measurements in %s)\n", len(configs)**rounds, time.Since(start).Round(time.Second))
	report(out, res, configs, *ioWait)
	return nil
}

// parseProcs reads -procs: distinct positive counts.
func parseProcs(s string) ([]int, error) {
	var procs []int
	seen := map[int]bool{}
	for f := range strings.SplitSeq(s, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || p < 1 || p > 64 || seen[p] {
			return nil, fmt.Errorf("-procs %q: want distinct counts from 1 to 64, e.g. 1,2,4", s)
		}
		seen[p] = true
		procs = append(procs, p)
	}
	return procs, nil
}

// fetchLoopsNote says how many fetch loops a process runs.
func fetchLoopsNote(concurrency int) string {
	if v := os.Getenv("FETCH_LOOPS"); v != "" {
		return v + " from the environment"
	}
	return fmt.Sprintf("default: %d", worker.DefaultFetchLoops(concurrency))
}
