package worker

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

type stepClock struct{ t time.Time }

func (c *stepClock) Now() time.Time          { return c.t }
func (c *stepClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

type recorder struct{ docs []ProgressDoc }

func (r *recorder) Write(b []byte) (int, error) {
	var d ProgressDoc
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&d); err != nil {
		return 0, err
	}
	r.docs = append(r.docs, d)
	return len(b), nil
}

func TestProgressThrottlesAndComputesRate(t *testing.T) {
	clk := &stepClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	rec := &recorder{}
	p := NewProgress(rec, clk, time.Second)

	mustWrite := func(want bool, phase string, n, total int64) {
		t.Helper()
		wrote, err := p.Update(phase, n, total, "")
		if err != nil || wrote != want {
			t.Fatalf("Update(%s, %d) wrote=%v err=%v, want wrote=%v", phase, n, wrote, err, want)
		}
	}
	mustWrite(true, "cases", 0, 1000) // first write always goes out
	clk.Advance(300 * time.Millisecond)
	mustWrite(false, "cases", 100, 1000) // throttled
	clk.Advance(700 * time.Millisecond)
	mustWrite(true, "cases", 200, 1000) // a second after the last write
	clk.Advance(10 * time.Millisecond)
	mustWrite(true, "runs", 0, 50) // a phase change always goes out
	clk.Advance(10 * time.Millisecond)
	if err := p.Done("runs", 50, 50, "finished"); err != nil {
		t.Fatal(err)
	}

	if len(rec.docs) != 4 {
		t.Fatalf("wrote %d docs, want 4", len(rec.docs))
	}
	d := rec.docs[1]
	if d.Percent != 20 || d.RatePerSec != 200 || d.ETASeconds != 4 {
		t.Errorf("doc %+v: want 20%%, 200/s, ETA 4s", d)
	}
	last := rec.docs[3]
	if last.Phase != "runs" || last.Percent != 100 || last.Message != "finished" || last.ETASeconds != 0 {
		t.Errorf("final doc %+v", last)
	}
}

func TestProgressNilWriterIsNoop(t *testing.T) {
	var p *Progress
	if wrote, err := p.Update("x", 1, 2, ""); wrote || err != nil {
		t.Fatal("nil Progress wrote")
	}
}
