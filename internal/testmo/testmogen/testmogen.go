// Package testmogen writes synthetic Testmo exports for tests and benchmarks: about fifty
// datasets in the proportions of a real instance (run results dominate), integer foreign
// keys that always point at an existing row of a dataset written earlier, a snapshot
// repository whose rows the snapshot rule skips, and attachment datasets. Output is
// deterministic for a seed and written as a stream in constant memory.
//
// It is internal to the tpi-workers fleet.
package testmogen

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"
)

// Config chooses the export.
type Config struct {
	// TargetBytes is the approximate size of the export (within a few percent above
	// 1 MB). Default 1 MiB; the smallest export is about 40 KB.
	TargetBytes int64
	// Seed makes the content; the same Config gives the same bytes.
	Seed uint64
	// Container is the key wrapping the datasets: "datasets" (default), "entities", or
	// "none" for datasets at the top level.
	Container string
}

// Dataset is one dataset as written.
type Dataset struct {
	Name string
	// Rows is the number of rows written (what testmo.Decode reports as Rows).
	Rows int64
	// Snapshot is how many of them belong to the snapshot repository and are skipped by the
	// snapshot rule.
	Snapshot int64
}

// Report says what Generate wrote.
type Report struct {
	Bytes    int64
	Datasets []Dataset
}

// Rows is the total number of rows.
func (r Report) Rows() int64 {
	var n int64
	for _, d := range r.Datasets {
		n += d.Rows
	}
	return n
}

// Generate writes an export to w.
func Generate(ctx context.Context, w io.Writer, cfg Config) (Report, error) {
	if cfg.TargetBytes <= 0 {
		cfg.TargetBytes = 1 << 20
	}
	switch cfg.Container {
	case "":
		cfg.Container = "datasets"
	case "datasets", "entities", "none":
	default:
		return Report{}, fmt.Errorf("testmogen: unknown container %q", cfg.Container)
	}
	// Calibrate: the size is nearly affine in the scale, so a secant through two dry runs
	// gives the scale; a second pair near a tenth of the result corrects for the number of
	// projects growing with the scale.
	scale, err := calibrate(ctx, cfg, 4, 8)
	if err != nil {
		return Report{}, err
	}
	if s1 := scale / 16; s1 > 8 {
		if scale, err = calibrate(ctx, cfg, s1, 2*s1); err != nil {
			return Report{}, err
		}
	}
	return generate(ctx, w, cfg, scale)
}

func calibrate(ctx context.Context, cfg Config, s1, s2 int) (int, error) {
	r1, err := generate(ctx, io.Discard, cfg, s1)
	if err != nil {
		return 0, err
	}
	r2, err := generate(ctx, io.Discard, cfg, s2)
	if err != nil {
		return 0, err
	}
	per := float64(r2.Bytes-r1.Bytes) / float64(s2-s1)
	return max(1, int((float64(cfg.TargetBytes)-float64(r1.Bytes))/per)+s1), nil
}

// countingWriter counts bytes written.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

type gen struct {
	ctx   context.Context
	cw    *countingWriter
	w     *bufio.Writer
	rng   *rand.Rand
	buf   []byte
	first bool // no dataset written yet
	rows  int64
	cur   *Dataset
	rep   Report
	err   error
}

func generate(ctx context.Context, w io.Writer, cfg Config, scale int) (Report, error) {
	cw := &countingWriter{w: w}
	g := &gen{
		ctx:   ctx,
		cw:    cw,
		w:     bufio.NewWriterSize(cw, 64<<10),
		rng:   rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		first: true,
	}
	g.raw(`{"meta":{"source":"testmo","generator":"testmogen","version":1},`)
	if cfg.Container != "none" {
		g.raw(`"` + cfg.Container + `":{`)
	}
	g.first = true
	g.write(scale)
	if cfg.Container != "none" {
		g.raw("}")
	}
	g.raw(`,"summary":{"generated":true}}` + "\n")
	if g.err == nil {
		g.err = g.w.Flush()
	}
	g.rep.Bytes = cw.n
	if g.err != nil {
		return g.rep, fmt.Errorf("testmogen: %w", g.err)
	}
	return g.rep, nil
}

func (g *gen) raw(s string) {
	if g.err == nil {
		_, g.err = g.w.WriteString(s)
	}
}

// dataset starts a dataset with its schema: columns as "name:type".
func (g *gen) dataset(name string, cols ...string) {
	if !g.first {
		g.raw(",")
	}
	g.first = false
	g.rep.Datasets = append(g.rep.Datasets, Dataset{Name: name})
	g.cur = &g.rep.Datasets[len(g.rep.Datasets)-1]
	b := g.buf[:0]
	b = strconv.AppendQuote(b, name)
	b = append(b, `:{"schema":{`...)
	for i, c := range cols {
		if i > 0 {
			b = append(b, ',')
		}
		n, t := c, "string"
		for j := range c {
			if c[j] == ':' {
				n, t = c[:j], c[j+1:]
				break
			}
		}
		b = append(b, '"')
		b = append(b, n...)
		b = append(b, `":"`...)
		b = append(b, t...)
		b = append(b, '"')
	}
	b = append(b, `},"data":[`...)
	g.buf = b
	g.flushBuf()
}

func (g *gen) end() {
	g.flushBuf()
	g.raw("]}")
}

func (g *gen) flushBuf() {
	if g.err == nil {
		_, g.err = g.w.Write(g.buf)
	}
	g.buf = g.buf[:0]
}

// row is a row being built in g.buf.
type row struct {
	g     *gen
	first bool
}

func (g *gen) row() *row {
	if g.cur.Rows > 0 {
		g.buf = append(g.buf, ',')
	}
	g.buf = append(g.buf, '{')
	return &row{g: g, first: true}
}

// done finishes the row; snapshot marks it as one the snapshot rule skips.
func (r *row) done(snapshot bool) {
	g := r.g
	g.buf = append(g.buf, '}')
	g.cur.Rows++
	if snapshot {
		g.cur.Snapshot++
	}
	if len(g.buf) > 32<<10 {
		g.flushBuf()
	}
	if g.rows++; g.rows%4096 == 0 && g.err == nil {
		g.err = g.ctx.Err()
	}
}

func (r *row) key(k string) {
	b := r.g.buf
	if !r.first {
		b = append(b, ',')
	}
	r.first = false
	b = append(b, '"')
	b = append(b, k...)
	r.g.buf = append(b, '"', ':')
}

func (r *row) int(k string, v int) *row {
	r.key(k)
	r.g.buf = strconv.AppendInt(r.g.buf, int64(v), 10)
	return r
}

// ref writes a foreign key, null when v is 0.
func (r *row) ref(k string, v int) *row {
	if v == 0 {
		return r.null(k)
	}
	return r.int(k, v)
}

func (r *row) null(k string) *row {
	r.key(k)
	r.g.buf = append(r.g.buf, "null"...)
	return r
}

func (r *row) bit(k string, v bool) *row {
	if v {
		return r.int(k, 1)
	}
	return r.int(k, 0)
}

func (r *row) str(k, v string) *row {
	r.key(k)
	r.g.buf, _ = jsontext.AppendQuote(r.g.buf, v)
	return r
}

func (r *row) time(k string, g *gen) *row {
	return r.str(k, g.timestamp())
}

var words = []string{
	"login", "user", "checkout", "payment", "cart", "search", "filter", "report", "export",
	"import", "profile", "settings", "admin", "permission", "dashboard", "invoice", "email",
	"notification", "session", "token", "API", "mobile", "browser", "Safari", "Chrome",
	"timeout", "retry", "validation", "error", "message", "form", "button", "modal", "table",
	"pagination", "upload", "download", "résumé", "naïve", "日本語", "emoji 🚀", `"quoted"`,
}

func (g *gen) word() string { return words[g.rng.IntN(len(words))] }

func (g *gen) sentence(n int) string {
	b := make([]byte, 0, n*8)
	for i := range n {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, g.word()...)
	}
	return string(b)
}

// html is rich text as Testmo stores it.
func (g *gen) html(paras int) string {
	b := make([]byte, 0, 256)
	for range paras {
		switch g.rng.IntN(4) {
		case 0:
			b = append(b, "<ul><li>"...)
			b = append(b, g.sentence(4)...)
			b = append(b, "</li><li>"...)
			b = append(b, g.sentence(3)...)
			b = append(b, "</li></ul>"...)
		case 1:
			b = append(b, "<p>"...)
			b = append(b, g.sentence(5)...)
			b = append(b, " <strong>"...)
			b = append(b, g.word()...)
			b = append(b, "</strong> &amp; <code>"...)
			b = append(b, g.word()...)
			b = append(b, "</code></p>"...)
		default:
			b = append(b, "<p>"...)
			b = append(b, g.sentence(8+g.rng.IntN(8))...)
			b = append(b, "</p>"...)
		}
	}
	return string(b)
}

func (g *gen) timestamp() string {
	// 2023-01-01 .. about 2025, seconds resolution, as Testmo writes them.
	d := g.rng.IntN(700)
	y, doy := 2023+d/365, d%365
	m, day := doy/31+1, doy%28+1
	return fmt.Sprintf("%04d-%02d-%02d %02d:%02d:%02d", y, m, day, g.rng.IntN(24), g.rng.IntN(60), g.rng.IntN(60))
}

func (g *gen) pick(n int) int { return 1 + g.rng.IntN(n) } // a random id in 1..n

func (g *gen) chance(p float64) bool { return g.rng.Float64() < p }
