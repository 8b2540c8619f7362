package main

import (
	"io"
	"strings"
	"testing"
)

func TestParseMedians(t *testing.T) {
	in := `BenchmarkRuntimeNoop/c=10-2 	   20000	     41817 ns/op	        42.30 cpu-µs/task	        31.94 redis-cpu-µs/task	     23914 tasks/s
BenchmarkBareAsynqLoops/c=10-2         	   20000	     36682 ns/op	        36.84 cpu-µs/task	        29.78 redis-cpu-µs/task	     27262 tasks/s
{"engine":"bullmq","jobs":20000,"concurrency":10,"enqueue_per_s":26415,"process_per_s":18330,"rss_mb":130}
{"engine":"bullmq","jobs":20000,"concurrency":10,"process_per_s":1,"cpu_us_per_job":51.25,"redis_cpu_us_per_job":40.01}
BenchmarkRuntimeNoop/c=10-2 	   20000	     40277 ns/op	        41.69 cpu-µs/task	        31.06 redis-cpu-µs/task	     24828 tasks/s
{"engine":"bullmq","jobs":20000,"concurrency":10,"enqueue_per_s":25482,"process_per_s":19802,"rss_mb":135}
BenchmarkRuntimeNoop/c=10-2 	   20000	     40763 ns/op	        41.18 cpu-µs/task	        31.10 redis-cpu-µs/task	     24532 tasks/s
{"engine":"bullmq","jobs":20000,"concurrency":10,"enqueue_per_s":28897,"process_per_s":19111,"rss_mb":127}
`
	s, cs, err := parse(strings.NewReader(in), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0] != 10 {
		t.Fatalf("concurrencies %v", cs)
	}
	for name, want := range map[string]float64{
		"runtime tasks/s c=10":           24532,
		"runtime cpu-µs/task c=10":       41.69,
		"bare tasks/s c=10":              27262,
		"bullmq tasks/s c=10":            19111, // cpu.mjs's throughput is not counted
		"bullmq cpu-µs/task c=10":        51.25,
		"runtime redis-cpu-µs/task c=10": 31.10,
	} {
		if got := s.median(name); got != want {
			t.Errorf("median %s = %v, want %v", name, got, want)
		}
	}
	if n := len(s["bullmq tasks/s c=10"]); n != 3 {
		t.Errorf("%d BullMQ throughput samples, want 3", n)
	}
}
