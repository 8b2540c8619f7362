package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// results holds the rates of every round per configuration, in round order.
type results map[string][]float64

// key names a configuration in results.
func key(c config) string { return c.Workload.Name + " " + c.label() }

func (r results) add(c config, rate float64) { r[key(c)] = append(r[key(c)], rate) }

// median of xs (the mean of the middle two for an even count); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// report writes the table of medians in the order of configs, then the
// ratios of medians: per workload, the most processes over the fewest (the
// same slots each), the io one last: `scale io 4/1: 3.62`.
func report(w io.Writer, res results, configs []config, ioWait time.Duration) {
	// Per workload, in order of appearance: the base (fewest processes) and
	// top (most processes) configurations of equal slots, and a wide one
	// (one process holding the top's slots), if run.
	type span struct{ base, top, wide *config }
	spans := map[string]*span{}
	var order []string
	for i := range configs {
		c := &configs[i]
		s := spans[c.Workload.Name]
		if s == nil {
			s = &span{base: c, top: c}
			spans[c.Workload.Name] = s
			order = append(order, c.Workload.Name)
		}
		switch {
		case c.Slots != s.base.Slots:
			s.wide = c
		case c.Procs < s.base.Procs:
			s.base = c
		case c.Procs > s.top.Procs:
			s.top = c
		}
	}

	fmt.Fprintf(w, "\n%-8s %-6s %-44s %9s %8s %9s\n", "workload", "procs", "rounds (tasks/s)", "median", "vs base", "of ideal")
	for _, c := range configs {
		rates := res[key(c)]
		m := median(rates)
		ideal := "-"
		if c.Workload.Type == TypeIO && ioWait > 0 {
			// Every slot busy all the time, each task taking exactly ioWait.
			ideal = fmt.Sprintf("%.0f%%", 100*m/(float64(c.Procs*c.Slots)/ioWait.Seconds()))
		}
		fmt.Fprintf(w, "%-8s %-6s %-44s %9.0f %8.2f %9s\n", c.Workload.Name, c.label(), joinFloats(rates, "%.0f"), m,
			ratio(m, median(res[key(*spans[c.Workload.Name].base)])), ideal)
	}
	fmt.Fprintln(w)

	// The io lines last, as `make bench-scale` promises.
	slices.SortStableFunc(order, func(a, b string) int {
		return boolInt(spans[a].base.Workload.Type == TypeIO) - boolInt(spans[b].base.Workload.Type == TypeIO)
	})
	for _, name := range order {
		s := spans[name]
		top, base := res[key(*s.top)], res[key(*s.base)]
		perRound := make([]float64, 0, len(top))
		for i := range min(len(top), len(base)) {
			perRound = append(perRound, ratio(top[i], base[i]))
		}
		fmt.Fprintf(w, "(%s %d/%d per round: %s)\n", name, s.top.Procs, s.base.Procs, joinFloats(perRound, "%.2f"))
		if s.wide != nil {
			fmt.Fprintf(w, "(%s: one process of %d slots gives %.2f of %d processes of %d, medians)\n", name, s.wide.Slots,
				ratio(median(res[key(*s.wide)]), median(top)), s.top.Procs, s.top.Slots)
		}
	}
	for _, name := range order {
		s := spans[name]
		fmt.Fprintf(w, "scale %s %d/%d: %.2f\n", name, s.top.Procs, s.base.Procs,
			ratio(median(res[key(*s.top)]), median(res[key(*s.base)])))
	}
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func joinFloats(xs []float64, format string) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(s, " ")
}
