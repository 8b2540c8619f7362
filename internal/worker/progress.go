package worker

import (
	"encoding/json"
	"io"
	"math"
	"sync"
	"time"
)

// Clock tells the time; tests inject a fixed or stepping one.
type Clock interface{ Now() time.Time }

// SystemClock is the wall clock, in UTC (TestPlanIt's columns hold UTC).
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now().UTC() }

// ProgressDoc is the JSON document a long task publishes as its asynq result,
// which the dashboard shows beside the task.
type ProgressDoc struct {
	Phase      string    `json:"phase"`
	Processed  int64     `json:"processed"`
	Total      int64     `json:"total,omitempty"`
	Percent    float64   `json:"percent,omitempty"`
	RatePerSec float64   `json:"ratePerSec,omitempty"`
	ETASeconds float64   `json:"etaSeconds,omitempty"`
	Message    string    `json:"message,omitempty"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// Progress publishes [ProgressDoc]s to a writer (a task's ResultWriter) at
// most once per interval, plus on every phase change and on [Progress.Done].
// It is safe for concurrent use.
type Progress struct {
	w        io.Writer
	clock    Clock
	interval time.Duration

	mu         sync.Mutex
	phase      string
	phaseStart time.Time
	last       time.Time
	wrote      bool
}

// NewProgress returns a Progress writing to w. A nil clock means the wall
// clock; interval 0 means one second.
func NewProgress(w io.Writer, clock Clock, interval time.Duration) *Progress {
	if clock == nil {
		clock = SystemClock{}
	}
	if interval <= 0 {
		interval = time.Second
	}
	return &Progress{w: w, clock: clock, interval: interval}
}

// Update records processed of total items (total 0 when unknown) in phase,
// and publishes it unless the last publication is younger than the interval
// and the phase is unchanged. It reports whether it wrote.
func (p *Progress) Update(phase string, processed, total int64, msg string) (bool, error) {
	return p.publish(phase, processed, total, msg, false)
}

// Done publishes the final state whatever the throttle.
func (p *Progress) Done(phase string, processed, total int64, msg string) error {
	_, err := p.publish(phase, processed, total, msg, true)
	return err
}

func (p *Progress) publish(phase string, processed, total int64, msg string, force bool) (bool, error) {
	if p == nil || p.w == nil {
		return false, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock.Now()
	if phase != p.phase {
		p.phase, p.phaseStart = phase, now
		force = true
	}
	if !force && p.wrote && now.Sub(p.last) < p.interval {
		return false, nil
	}
	doc := ProgressDoc{Phase: phase, Processed: processed, Total: total, Message: msg, UpdatedAt: now.UTC()}
	if total > 0 {
		doc.Percent = math.Round(float64(processed)/float64(total)*1000) / 10
	}
	if secs := now.Sub(p.phaseStart).Seconds(); secs > 0 && processed > 0 {
		doc.RatePerSec = math.Round(float64(processed)/secs*10) / 10
		if total > processed {
			doc.ETASeconds = math.Round(float64(total-processed) / (float64(processed) / secs))
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return false, err
	}
	if _, err := p.w.Write(b); err != nil {
		return false, err
	}
	p.last, p.wrote = now, true
	return true, nil
}
