package testmoimport

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/testmo"
)

// stagingCopy is the COPY that stages rows; "processed" and "createdAt" take their defaults.
const stagingCopy = `COPY "TestmoImportStaging" (id, "jobId", "datasetName", "rowIndex", "rowData",
	"fieldName", "fieldValue", text1, text2, text3, text4, "updatedAt") FROM STDIN`

// sampleRows is how many rows of each dataset are kept as its sample, as the original.
const sampleRows = 5

// errCanceled ends a phase when the job's cancelRequested is set.
var errCanceled = errors.New("testmo import canceled")

// datasetInfo is what analyze keeps of a dataset for its "TestmoImportDataset" row.
type datasetInfo struct {
	name    string
	rows    int64
	skipped int64
	schema  []byte
	samples [][]byte
}

// stager is the decoder's visitor during analyze: it writes each row as one line of COPY
// text to w (a pipe into PostgreSQL) and keeps each dataset's summary.
type stager struct {
	jobID   string
	now     []byte // "updatedAt" in COPY text
	w       *bufio.Writer
	line    []byte
	scratch []byte
	text    []byte
	rows    atomic.Int64
	sets    []*datasetInfo
	cur     *datasetInfo
	tick    func(ctx context.Context) error // progress and cancel, called every few thousand rows
}

func (s *stager) BeginDataset(_ context.Context, ds *testmo.Dataset) error {
	s.cur = &datasetInfo{name: ds.Name}
	s.sets = append(s.sets, s.cur)
	return nil
}

func (s *stager) EndDataset(_ context.Context, ds *testmo.Dataset) error {
	s.cur.rows, s.cur.skipped = ds.Rows, ds.Skipped
	if len(ds.Schema) > 0 {
		s.cur.schema = fixNUL(bytes.Clone(ds.Schema))
	}
	return nil
}

// movedColumns are the columns the original stages outside rowData, to keep huge strings out
// of jsonb: automation_run_test_fields' name and value, run_result_steps' text1..text4.
func movedColumns(dataset string) []string {
	switch dataset {
	case "automation_run_test_fields":
		return []string{"name", "value"}
	case "run_result_steps":
		return []string{"text1", "text2", "text3", "text4"}
	}
	return nil
}

func (s *stager) Row(ctx context.Context, r *testmo.Row) error {
	ds := r.Dataset()
	moved := movedColumns(ds.Name)
	// rowData: the row as read, without the moved columns.
	data := s.scratch[:0]
	if moved == nil {
		data = r.AppendJSON(data)
	} else {
		data = append(data, '{')
		n := 0
		for i := range r.Len() {
			if contains(moved, r.Name(i)) {
				continue
			}
			if n > 0 {
				data = append(data, ',')
			}
			n++
			data, _ = jsontext.AppendQuote(data, r.Name(i))
			data = append(data, ':')
			data = append(data, r.Value(i)...)
		}
		data = append(data, '}')
	}
	data = fixNUL(data)
	if len(s.cur.samples) < sampleRows {
		s.cur.samples = append(s.cur.samples, sample(data))
	}

	l := s.line[:0]
	l = appendCopy(l, []byte(s.jobID))
	l = append(l, ':')
	l = appendCopy(l, []byte(ds.Name))
	l = append(l, ':')
	l = strconv.AppendInt(l, r.Index(), 10)
	l = append(l, '\t')
	l = appendCopy(l, []byte(s.jobID))
	l = append(l, '\t')
	l = appendCopy(l, []byte(ds.Name))
	l = append(l, '\t')
	l = strconv.AppendInt(l, r.Index(), 10)
	l = append(l, '\t')
	l = appendCopy(l, data)
	// fieldName, fieldValue, text1..text4
	var texts [6]testmo.Value
	switch ds.Name {
	case "automation_run_test_fields":
		texts[0], _ = r.Get("name")
		texts[1], _ = r.Get("value")
	case "run_result_steps":
		for i := range 4 {
			texts[2+i], _ = r.Get("text" + strconv.Itoa(i+1))
		}
	}
	for _, v := range texts {
		l = append(l, '\t')
		t, ok := v.AppendText(s.text[:0])
		if !ok {
			l = append(l, `\N`...)
			continue
		}
		s.text = t
		l = appendCopy(l, bytes.ReplaceAll(t, []byte{0}, nil))
	}
	l = append(l, '\t')
	l = append(l, s.now...)
	l = append(l, '\n')
	s.line, s.scratch = l, data
	if _, err := s.w.Write(l); err != nil {
		return err
	}
	if n := s.rows.Add(1); n%4096 == 0 && s.tick != nil {
		return s.tick(ctx)
	}
	return nil
}

// snapshotCases is the staging dataset of the repository_cases rows the snapshot rule skips:
// their id, key, name and project, so the import can point references to a snapshot's case
// (a run executed against a snapshot) at the master repository's case, as the original does.
const snapshotCases = "snapshot:repository_cases"

// SnapshotRow stages the identity of a skipped snapshot case (testmo.SnapshotVisitor).
func (s *stager) SnapshotRow(ctx context.Context, r *testmo.Row) error {
	if r.Dataset().Name != "repository_cases" {
		return nil
	}
	data := s.scratch[:0]
	data = append(data, '{')
	n := 0
	for i := range r.Len() {
		switch r.Name(i) {
		case "id", "key", "name", "project_id":
		default:
			continue
		}
		if n > 0 {
			data = append(data, ',')
		}
		n++
		data, _ = jsontext.AppendQuote(data, r.Name(i))
		data = append(data, ':')
		data = append(data, r.Value(i)...)
	}
	data = fixNUL(append(data, '}'))
	l := s.line[:0]
	l = appendCopy(l, []byte(s.jobID))
	l = append(l, ':')
	l = append(l, snapshotCases...)
	l = append(l, ':')
	l = strconv.AppendInt(l, r.Index(), 10)
	l = append(l, '\t')
	l = appendCopy(l, []byte(s.jobID))
	l = append(l, '\t')
	l = append(l, snapshotCases...)
	l = append(l, '\t')
	l = strconv.AppendInt(l, r.Index(), 10)
	l = append(l, '\t')
	l = appendCopy(l, data)
	l = append(l, "\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t"...) // no moved columns
	l = append(l, s.now...)
	l = append(l, '\n')
	s.line, s.scratch = l, data
	_, err := s.w.Write(l)
	return err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// appendCopy appends b escaped for COPY's text format.
func appendCopy(dst, b []byte) []byte {
	for {
		i := bytes.IndexAny(b, "\\\n\r\t")
		if i < 0 {
			return append(dst, b...)
		}
		dst = append(dst, b[:i]...)
		switch b[i] {
		case '\\':
			dst = append(dst, `\\`...)
		case '\n':
			dst = append(dst, `\n`...)
		case '\r':
			dst = append(dst, `\r`...)
		case '\t':
			dst = append(dst, `\t`...)
		}
		b = b[i+1:]
	}
}

// fixNUL replaces the JSON escape \u0000, which jsonb refuses, by \ufffd, in place.
func fixNUL(b []byte) []byte {
	if !bytes.Contains(b, []byte(`\u0000`)) {
		return b
	}
	for i := 0; i+1 < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		if b[i+1] == 'u' && i+6 <= len(b) && string(b[i+2:i+6]) == "0000" {
			copy(b[i+2:i+6], "fffd")
		}
		i++ // skip the escaped character
	}
	return b
}

// sample returns a copy of a row's JSON for the dataset's sampleRows: at most 20 columns, each
// value at most 1,000 bytes of JSON (a longer string is cut, a longer nested value replaced by
// a note), like the original's sanitized samples.
func sample(row []byte) []byte {
	const maxKeys, maxValue = 20, 1000
	if len(row) <= maxValue {
		return bytes.Clone(row)
	}
	dec := jsontext.NewDecoder(bytes.NewReader(row))
	var out []byte
	out = append(out, '{')
	if _, err := dec.ReadToken(); err != nil { // {
		return []byte("{}")
	}
	for n := 0; dec.PeekKind() != '}'; n++ {
		k, err := dec.ReadToken()
		if err != nil {
			return []byte("{}")
		}
		v, err := dec.ReadValue()
		if err != nil {
			return []byte("{}")
		}
		if n >= maxKeys {
			continue
		}
		if n > 0 {
			out = append(out, ',')
		}
		out, _ = jsontext.AppendQuote(out, k.String())
		out = append(out, ':')
		switch {
		case len(v) <= maxValue:
			out = append(out, v...)
		case v.Kind() == '"':
			s := testmo.Value(v).Text()
			r := []rune(s)
			if len(r) > maxValue {
				s = string(r[:maxValue]) + "…"
			}
			out, _ = jsontext.AppendQuote(out, s)
		default:
			out, _ = jsontext.AppendQuote(out, fmt.Sprintf("[%d bytes of JSON, not sampled]", len(v)))
		}
	}
	return append(out, '}')
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// analyze stages the job's export and summarizes its datasets, all in one transaction: a
// crash, a cancel or bad input leaves no staged row behind, and a redelivery starts over.
func (h *Handler) analyze(ctx context.Context, db *pgxpool.Pool, js jobs, job *Job, prog *progress) error {
	start := h.now()
	if err := js.update(ctx, job.ID, set{"status": StatusRunning, "phase": PhaseAnalyzing,
		"statusMessage": "Opening and scanning export file...", "startedAt": start, "error": nil,
		"processedDatasets": 0, "processedRows": 0, "totalDatasets": nil, "totalRows": nil,
		"completedAt": nil, "durationMs": nil, "estimatedTimeRemaining": nil}); err != nil {
		return err
	}
	body, size, err := h.Exports.Open(ctx, job.StorageBucket, job.StorageKey)
	if err != nil {
		return err
	}
	defer body.Close()
	if size <= 0 {
		size = job.FileSize
	}
	in := &countingReader{r: body}

	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin staging: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit it is a no-op
	if err := clearStaging(ctx, tx, job.ID); err != nil {
		return err
	}
	if err := js.update(ctx, job.ID, set{"statusMessage": "Preparing data..."}); err != nil {
		return err
	}

	pr, pw := io.Pipe()
	st := &stager{jobID: job.ID, w: bufio.NewWriterSize(pw, 256<<10),
		now: []byte(start.UTC().Format("2006-01-02 15:04:05.000"))}
	lastPct, lastCancel := -1, h.now()
	st.tick = func(ctx context.Context) error {
		read := in.n.Load()
		now := h.now()
		if now.Sub(lastCancel) >= h.cancelEvery() {
			lastCancel = now
			if c, err := js.cancelRequested(ctx, job.ID); err != nil {
				return err
			} else if c {
				return errCanceled
			}
		}
		prog.publish(PhaseAnalyzing, read, size, "Scanning file")
		if size <= 0 {
			return nil
		}
		pct := int(read * 100 / size)
		if pct == lastPct {
			return nil
		}
		lastPct = pct
		cols := set{"statusMessage": fmt.Sprintf("Scanning file... %d%% complete", pct)}
		if el := now.Sub(start); el >= 2*time.Second && read > 0 {
			cols["estimatedTimeRemaining"] = strconv.Itoa(int(float64(size-read) / (float64(read) / el.Seconds())))
		}
		return js.update(ctx, job.ID, cols)
	}

	var summary testmo.Summary
	decodeErr := make(chan error, 1)
	go func() {
		var err error
		summary, err = h.decoder().Decode(ctx, in, st)
		if err == nil {
			err = st.w.Flush()
		}
		pw.CloseWithError(err) // nil: EOF for COPY
		decodeErr <- err
	}()
	_, copyErr := tx.Conn().PgConn().CopyFrom(ctx, pr, stagingCopy)
	pr.CloseWithError(errors.New("staging COPY ended")) // unblock the decoder if COPY failed first
	if err := <-decodeErr; err != nil {
		return err // the decoder's error says where the export is wrong
	}
	if copyErr != nil {
		return fmt.Errorf("stage rows: %w", copyErr)
	}

	// Dataset summaries, as the original: one row each, then "Found <name> (<n> rows)".
	var total int64
	for i, d := range st.sets {
		var samples any
		if len(d.samples) > 0 {
			samples = jsonArray(d.samples)
		}
		var schema any
		if d.schema != nil {
			schema = string(d.schema)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO "TestmoImportDataset" ("jobId", name, "rowCount", "sampleRowCount",
			truncated, schema, "sampleRows", "createdAt") VALUES ($1, $2, $3, $4, false, $5::jsonb, $6::jsonb, $7)`,
			job.ID, d.name, clampInt32(d.rows), len(d.samples), schema, samples, h.now()); err != nil {
			return fmt.Errorf("save dataset %q summary: %w", d.name, err)
		}
		total += d.rows
		if err := js.update(ctx, job.ID, set{"processedDatasets": i + 1, "processedRows": total,
			"statusMessage": fmt.Sprintf("Found %s (%d rows)", d.name, d.rows)}); err != nil {
			return err
		}
	}
	if c, err := js.cancelRequested(ctx, job.ID); err != nil {
		return err
	} else if c {
		return errCanceled
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit staging: %w", err)
	}
	// Statistics for the import's keyset reads of the rows just staged.
	if _, err := db.Exec(ctx, `ANALYZE "TestmoImportStaging"`); err != nil {
		return fmt.Errorf("analyze the staging: %w", err)
	}
	end := h.now()
	dur := end.Sub(start).Milliseconds()
	analysis := map[string]any{"meta": map[string]any{
		"totalDatasets": len(st.sets), "totalRows": total, "durationMs": dur,
		"startedAt": start.UTC(), "completedAt": end.UTC(), "fileSizeBytes": summary.Bytes,
	}}
	prog.done(PhaseAnalyzing, summary.Bytes, summary.Bytes, "Analysis complete")
	return js.update(ctx, job.ID, set{"status": StatusReady, "phase": PhaseConfiguring,
		"statusMessage": "Analysis complete. Configure mapping to continue.",
		"totalDatasets": len(st.sets), "totalRows": total, "durationMs": clampInt32(dur),
		"analysis": analysis, "analysisGeneratedAt": end, "estimatedTimeRemaining": nil,
		"processedCount": 0, "errorCount": 0, "skippedCount": 0, "totalCount": 0,
		"currentEntity": nil, "processingRate": nil, "activityLog": nil, "entityProgress": nil,
		"configuration": nil, "options": nil})
}

// clearStaging removes what an earlier analysis of the job staged (the original kept it,
// duplicating every row on a re-analysis).
func clearStaging(ctx context.Context, tx pgx.Tx, jobID string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM "TestmoImportStaging" WHERE "jobId" = $1`, jobID); err != nil {
		return fmt.Errorf("clear staging: %w", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM "TestmoImportDataset" WHERE "jobId" = $1`, jobID); err != nil {
		return fmt.Errorf("clear dataset summaries: %w", err)
	}
	return nil
}

func jsonArray(items [][]byte) string {
	var b []byte
	b = append(b, '[')
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it...)
	}
	return string(append(b, ']'))
}

func clampInt32(n int64) int64 {
	return min(n, 1<<31-1)
}
