// Command vsbullmq summarises `make bench-vs-bullmq`, internal to the fleet:
// it reads the rounds' output on stdin (the go test benchmark lines of
// BenchmarkRuntimeNoop and BenchmarkBareAsynqLoops, and the JSON lines of
// bench/bullmq/bench.mjs and cpu.mjs), passes it through, and prints the
// medians per concurrency: runtime, BullMQ, bare asynq with the same loops,
// their ratios, and the CPU per task of each side, then the lines
// `vs-bullmq c=<C>: <ratio>` last.
//
//	make bench-vs-bullmq   # or: <rounds' output> | go run ./test/vsbullmq
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// samples holds one series of measurements per name, e.g. "runtime c=10".
type samples map[string][]float64

func (s samples) add(name string, v float64) { s[name] = append(s[name], v) }

func (s samples) median(name string) float64 {
	v := slices.Clone(s[name])
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// benchLine matches a go test line: name, then value/unit pairs.
var benchLine = regexp.MustCompile(`^Benchmark(RuntimeNoop|BareAsynqLoops)/c=(\d+)-\d+\s+\d+\s+(.*)$`)

func parse(r io.Reader, echo io.Writer) (samples, []int, error) {
	s := samples{}
	var cs []int
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(echo, line)
		if m := benchLine.FindStringSubmatch(line); m != nil {
			who := map[string]string{"RuntimeNoop": "runtime", "BareAsynqLoops": "bare"}[m[1]]
			c, _ := strconv.Atoi(m[2])
			if !slices.Contains(cs, c) {
				cs = append(cs, c)
			}
			f := strings.Fields(m[3])
			for i := 0; i+1 < len(f); i += 2 {
				v, err := strconv.ParseFloat(f[i], 64)
				if err != nil {
					continue
				}
				s.add(fmt.Sprintf("%s %s c=%d", who, f[i+1], c), v)
			}
			continue
		}
		if strings.HasPrefix(line, `{"engine":"bullmq"`) {
			var j struct {
				Concurrency int      `json:"concurrency"`
				PerS        float64  `json:"process_per_s"`
				CPU         *float64 `json:"cpu_us_per_job"`
				RedisCPU    *float64 `json:"redis_cpu_us_per_job"`
			}
			if err := json.Unmarshal([]byte(line), &j); err != nil {
				return nil, nil, fmt.Errorf("bullmq line %q: %w", line, err)
			}
			if j.CPU != nil { // cpu.mjs: its throughput is not the bench.mjs figure
				s.add(fmt.Sprintf("bullmq cpu-µs/task c=%d", j.Concurrency), *j.CPU)
				s.add(fmt.Sprintf("bullmq redis-cpu-µs/task c=%d", j.Concurrency), *j.RedisCPU)
				continue
			}
			s.add(fmt.Sprintf("bullmq tasks/s c=%d", j.Concurrency), j.PerS)
		}
	}
	return s, cs, sc.Err()
}

func main() {
	s, cs, err := parse(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vsbullmq:", err)
		os.Exit(1)
	}
	if len(cs) == 0 {
		fmt.Fprintln(os.Stderr, "vsbullmq: no benchmark line in the input")
		os.Exit(1)
	}
	slices.Sort(cs)
	fmt.Printf("\nmedians of %d rounds\n", len(s[fmt.Sprintf("runtime tasks/s c=%d", cs[0])]))
	fmt.Printf("%-4s %10s %10s %10s %12s %12s   %s\n", "c", "runtime", "bullmq", "bare", "runtime/bull", "runtime/bare", "CPU µs/task (worker + redis): runtime, bare, bullmq")
	for _, c := range cs {
		rt, bq, bare := s.median(fmt.Sprintf("runtime tasks/s c=%d", c)), s.median(fmt.Sprintf("bullmq tasks/s c=%d", c)), s.median(fmt.Sprintf("bare tasks/s c=%d", c))
		cpu := func(who string) string {
			w, r := s.median(fmt.Sprintf("%s cpu-µs/task c=%d", who, c)), s.median(fmt.Sprintf("%s redis-cpu-µs/task c=%d", who, c))
			return fmt.Sprintf("%.1f + %.1f = %.1f", w, r, w+r)
		}
		fmt.Printf("%-4d %10.0f %10.0f %10.0f %12.2f %12.2f   %s; %s; %s\n", c, rt, bq, bare, ratio(rt, bq), ratio(rt, bare), cpu("runtime"), cpu("bare"), cpu("bullmq"))
	}
	for _, c := range cs {
		fmt.Printf("vs-bullmq c=%d: %.2f\n", c, ratio(s.median(fmt.Sprintf("runtime tasks/s c=%d", c)), s.median(fmt.Sprintf("bullmq tasks/s c=%d", c))))
	}
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
