package testmoimport

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/testplanit/tpi-workers/internal/worker"
)

// maxLogEntries bounds "activityLog": the original rewrote its whole, ever-growing log on
// every progress write; ours keeps the latest entries.
const maxLogEntries = 50

// persistEvery is the least time between two progress writes to the job row within a phase.
const persistEvery = 500 * time.Millisecond

// entityCount is one entity of "entityProgress", as the import panel reads it.
type entityCount struct {
	Total   int64 `json:"total"`
	Created int64 `json:"created"`
	Mapped  int64 `json:"mapped"`
	Skipped int64 `json:"skipped,omitempty"`
}

// logEntry is one "activityLog" entry: a phase summary or a message.
type logEntry struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Entity    string    `json:"entity,omitempty"`
	Total     *int64    `json:"total,omitempty"`
	Created   *int64    `json:"created,omitempty"`
	Mapped    *int64    `json:"mapped,omitempty"`
	Message   string    `json:"message,omitempty"`
	Details   any       `json:"details,omitempty"`
}

// progress writes the job's progress fields the import panel polls, and the runtime's
// progress document (the task's asynq result). Its writes are best effort, as the
// original's persistProgress: a failed write is logged, the import goes on.
type progress struct {
	js   jobs
	id   string
	rt   *worker.Progress
	log  *slog.Logger
	now  func() time.Time
	ents map[string]*entityCount
	acts []logEntry

	processed, total int64
	last             time.Time
	rate             float64 // items per second, EMA
	rateAt           time.Time
	rateN            int64
	started          time.Time
	startN           int64
}

func newProgress(js jobs, id string, rt *worker.Progress, log *slog.Logger, now func() time.Time) *progress {
	return &progress{js: js, id: id, rt: rt, log: log, now: now, ents: map[string]*entityCount{}}
}

// publish sends the runtime's progress document (analyze).
func (p *progress) publish(phase string, done, total int64, msg string) {
	if _, err := p.rt.Update(phase, done, total, msg); err != nil {
		p.log.Warn("progress not published", "err", err)
	}
}

func (p *progress) done(phase string, done, total int64, msg string) {
	if err := p.rt.Done(phase, done, total, msg); err != nil {
		p.log.Warn("progress not published", "err", err)
	}
}

func (p *progress) message(msg string) {
	p.acts = append(p.acts, logEntry{Type: "message", Timestamp: p.now(), Message: msg})
	if len(p.acts) > maxLogEntries {
		p.acts = p.acts[len(p.acts)-maxLogEntries:]
	}
}

// plan sets an entity's planned total.
func (p *progress) plan(ph *phase, total int64) {
	p.ents[ph.name] = &entityCount{Total: total}
	p.total += total
}

func (p *progress) set(ph *phase, c counts) {
	e := p.ents[ph.name]
	if e == nil {
		e = &entityCount{}
		p.ents[ph.name] = e
	}
	before := e.Created + e.Mapped + e.Skipped
	e.Created, e.Mapped, e.Skipped = c.created, c.mapped, c.skipped
	p.processed += c.total() - before
}

func (p *progress) begin(ctx context.Context, ph *phase, c counts) {
	p.set(ph, c)
	if p.started.IsZero() {
		p.started, p.startN = p.now(), p.processed
	}
	p.persist(ctx, ph, fmt.Sprintf("%s: starting", ph.label), true)
}

func (p *progress) chunk(ctx context.Context, ph *phase, c counts, _ int64) {
	p.set(ph, c)
	p.persist(ctx, ph, "", false)
}

func (p *progress) end(ctx context.Context, ph *phase, c counts) {
	p.set(ph, c)
	e := p.ents[ph.name]
	total, created, mapped := c.total(), c.created, c.mapped
	entry := logEntry{Type: "summary", Timestamp: p.now(), Entity: ph.name, Total: &total, Created: &created, Mapped: &mapped}
	if c.skipped > 0 {
		entry.Details = map[string]int64{"skipped": c.skipped}
	}
	p.acts = append(p.acts, entry)
	if len(p.acts) > maxLogEntries {
		p.acts = p.acts[len(p.acts)-maxLogEntries:]
	}
	if e.Total < total {
		p.total += total - e.Total
		e.Total = total
	}
	p.persist(ctx, ph, "", true)
}

// persist writes the job's progress fields, at most every persistEvery unless force.
func (p *progress) persist(ctx context.Context, ph *phase, msg string, force bool) {
	now := p.now()
	if !force && now.Sub(p.last) < persistEvery {
		return
	}
	p.last = now
	e := p.ents[ph.name]
	if msg == "" {
		msg = fmt.Sprintf("%s: %d processed — %d created · %d mapped", ph.label, e.Created+e.Mapped+e.Skipped, e.Created, e.Mapped)
		if e.Skipped > 0 {
			msg += fmt.Sprintf(" · %d skipped", e.Skipped)
		}
	}
	// Rate: an EMA (α 0.3) of the items per second between writes, as the original.
	var rate, eta any
	if !p.rateAt.IsZero() {
		if dt := now.Sub(p.rateAt).Seconds(); dt > 0 {
			inst := float64(p.processed-p.rateN) / dt
			if p.rate == 0 {
				p.rate = inst
			} else {
				p.rate = 0.3*inst + 0.7*p.rate
			}
			if all := now.Sub(p.started).Seconds(); all > 0 {
				p.rate = max(p.rate, 0.2*float64(p.processed-p.startN)/all)
			}
		}
	}
	p.rateAt, p.rateN = now, p.processed
	if p.rate > 0 {
		rate = fmt.Sprintf("%.1f items/sec", p.rate)
		if p.total > p.processed {
			eta = strconv.Itoa(int(float64(p.total-p.processed) / p.rate))
		}
	}
	if err := p.js.update(ctx, p.id, set{"currentEntity": ph.name, "processedCount": clampInt32(p.processed),
		"totalCount": clampInt32(p.total), "entityProgress": p.ents, "activityLog": p.acts, "statusMessage": msg,
		"processingRate": rate, "estimatedTimeRemaining": eta}); err != nil && ctx.Err() == nil {
		p.log.Warn("testmo import progress not saved", "err", err)
	}
	if _, err := p.rt.Update(PhaseImporting, p.processed, p.total, msg); err != nil {
		p.log.Warn("progress not published", "err", err)
	}
}
