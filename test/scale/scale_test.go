package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/testplanit/tpi-workers/internal/testenv"
)

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{7}, 7},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{900, 100, 500, 800, 200}, 500},
	} {
		in := slices.Clone(tt.in)
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
		if !slices.Equal(in, tt.in) {
			t.Errorf("median reordered its argument: %v", tt.in)
		}
	}
}

func TestParseProcs(t *testing.T) {
	got, err := parseProcs("1, 2,4")
	if err != nil || !slices.Equal(got, []int{1, 2, 4}) {
		t.Errorf("parseProcs(1, 2,4) = %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "1,1", "1,x", "65"} {
		if _, err := parseProcs(bad); err == nil {
			t.Errorf("parseProcs(%q) accepted", bad)
		}
	}
}

// The io ratio is the last line, from the medians of the fewest and most
// processes, whatever order the workloads came in; the wide configuration
// is compared with the most processes.
func TestReportEndsWithTheIORatio(t *testing.T) {
	noop := workload{Name: "noop", Type: TypeNoop}
	io := workload{Name: "io", Type: TypeIO}
	configs := []config{{noop, 1, 10}, {noop, 4, 10}, {io, 1, 10}, {io, 2, 10}, {io, 4, 10}, {io, 1, 40}}
	res := results{}
	for _, c := range configs {
		var rates []float64
		switch c.label() {
		case "1x10":
			rates = []float64{800, 900, 850}
		case "2x10":
			rates = []float64{1700, 1650, 1800}
		case "4x10":
			rates = []float64{3000, 3100, 3200}
		case "1x40":
			rates = []float64{2480, 2000, 3000}
		}
		for _, r := range rates {
			if c.Workload.Type == TypeNoop {
				r *= 10
			}
			res.add(c, r)
		}
	}
	var out bytes.Buffer
	report(&out, res, configs, 10*time.Millisecond)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if got, want := lines[len(lines)-1], "scale io 4/1: 3.65"; got != want { // 3100 / 850
		t.Errorf("last line %q, want %q\n%s", got, want, out.String())
	}
	if got, want := lines[len(lines)-2], "scale noop 4/1: 3.65"; got != want {
		t.Errorf("line before %q, want %q", got, want)
	}
	for _, want := range []string{
		"3100     3.65       78%", // 4x10: median, vs 1x10, of 4000 tasks/s ideal
		"2480     2.92       62%", // 1x40
		"(io: one process of 40 slots gives 0.80 of 4 processes of 10, medians)",
		"(io 4/1 per round: 3.75 3.44 3.76)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

// buildWorker builds scaleworker into a temporary directory.
func buildWorker(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "scaleworker")
	build := exec.Command("go", "build", "-o", bin, "./scaleworker")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./scaleworker: %v\n%s", err, out)
	}
	return bin
}

// Real processes on a leased Redis database: every task is processed once
// and succeeds (measure checks the queue), and the rate of I/O-bound tasks
// cannot beat every slot waiting 10 ms per task, which a handler that did
// not wait, or a clock started late, would.
func TestMeasureRealProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs worker processes")
	}
	bin := buildWorker(t)
	_, url := testenv.Redis(t)
	ctx := context.Background()
	b, err := newBench(ctx, url, bin, 10*time.Millisecond, false)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()

	m, err := b.measure(ctx, config{workload{Name: "io", Type: TypeIO}, 2, 10}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	ideal := 2 * 10 / 0.010 // processes x slots / wait
	if m.Rate <= 0 || m.Rate > 1.05*ideal || m.Tasks < 500 {
		t.Errorf("io, 2 processes: %d tasks timed at %.0f tasks/s, want at most %.0f (ideal %.0f)", m.Tasks, m.Rate, 1.05*ideal, ideal)
	}
	// The database is flushed between measurements: the second starts from zero.
	m, err = b.measure(ctx, config{workload{Name: "noop", Type: TypeNoop}, 1, 5}, 500)
	if err != nil {
		t.Fatal(err)
	}
	if m.Rate <= 0 {
		t.Errorf("noop, 1 process: %.0f tasks/s", m.Rate)
	}
}

// A database named with -valkey-url is flushed by the run, so one that
// holds keys is refused.
func TestNamedDatabaseMustBeEmpty(t *testing.T) {
	opt, url := testenv.Redis(t)
	rc := testenv.RedisClient(t, opt)
	if err := rc.Set(context.Background(), "someone:else", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "scaleworker")
	if err := os.WriteFile(bin, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := newBench(context.Background(), url, bin, 10*time.Millisecond, true)
	if err == nil || !strings.Contains(err.Error(), "holds 1 keys") {
		t.Fatalf("newBench on a database with a key: %v, want a refusal", err)
	}
	if n, _ := rc.Exists(context.Background(), "someone:else").Result(); n != 1 {
		t.Error("the key was deleted")
	}
}
