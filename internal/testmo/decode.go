package testmo

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
)

// Visitor receives the content of an export as Decode reads it: BeginDataset, then Row for
// each row (none for attachment datasets), then EndDataset. An error returned by a method
// stops the decode and is returned by Decode, wrapped.
type Visitor interface {
	BeginDataset(ctx context.Context, ds *Dataset) error
	Row(ctx context.Context, row *Row) error
	EndDataset(ctx context.Context, ds *Dataset) error
}

// SnapshotVisitor is implemented by a Visitor that wants the rows the snapshot rule skips
// (the original stages the id, key and project_id of skipped repository_cases rows so the
// import can resolve snapshot case ids to master cases). Optional.
type SnapshotVisitor interface {
	SnapshotRow(ctx context.Context, row *Row) error
}

// Dataset describes the dataset being decoded. The decoder owns it; it is valid until
// EndDataset returns.
type Dataset struct {
	// Name is the dataset's key in the export ("repository_cases").
	Name string
	// Offset is the byte offset of the dataset's value in the export.
	Offset int64
	// Attachment is true for datasets whose name contains "attachment" (any case): their rows
	// are counted, checked to be objects, and not passed to the visitor.
	Attachment bool
	// Schema is the raw JSON of the dataset's schema (key "schema", "columns" or "fields"),
	// nil if none has been read yet: it is complete by EndDataset, and during Row only if the
	// export places it before the rows.
	Schema Value
	// Rows counts the rows read so far, including skipped and attachment rows (the original's
	// rowCount). At EndDataset it is the dataset's total.
	Rows int64
	// Skipped counts the rows skipped by the snapshot rule so far.
	Skipped int64

	repoScoped bool
}

// DatasetSummary is one dataset's totals, in Summary.
type DatasetSummary struct {
	Name       string
	Rows       int64 // all rows, as the original's rowCount
	Skipped    int64 // rows skipped by the snapshot rule
	Attachment bool
}

// Summary is what Decode read.
type Summary struct {
	// Datasets in file order.
	Datasets []DatasetSummary
	// Rows is the total of Datasets[i].Rows.
	Rows int64
	// Bytes is the number of bytes of the export consumed.
	Bytes int64
	// IgnoredKeys lists top-level keys whose scalar values were ignored (at most 100).
	IgnoredKeys []string
}

// Limits bound what one export may contain, so a hostile or broken file cannot exhaust
// memory. Zero fields take the defaults.
type Limits struct {
	// MaxDepth bounds JSON nesting, counted from the top-level object (depth 1). Default 64.
	MaxDepth int
	// MaxValueBytes bounds any single value read whole: a string, a number, a row column
	// (nested values included), a schema, and the whitespace before it. Checked within
	// 64 KiB. Default 16 MiB.
	MaxValueBytes int
	// MaxRowBytes bounds the total size of one row's values. Default 64 MiB.
	MaxRowBytes int
	// MaxDatasets bounds the number of datasets. Default 10,000.
	MaxDatasets int
	// MaxRepositories bounds the master repository ids remembered for the snapshot rule.
	// Default 1,000,000.
	MaxRepositories int
}

// Defaults for Limits and Decoder.
const (
	DefaultMaxDepth        = 64
	DefaultMaxValueBytes   = 16 << 20
	DefaultMaxRowBytes     = 64 << 20
	DefaultMaxDatasets     = 10_000
	DefaultMaxRepositories = 1_000_000
	DefaultCheckEvery      = 1024
)

func (l Limits) withDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxValueBytes <= 0 {
		l.MaxValueBytes = DefaultMaxValueBytes
	}
	if l.MaxRowBytes <= 0 {
		l.MaxRowBytes = DefaultMaxRowBytes
	}
	if l.MaxDatasets <= 0 {
		l.MaxDatasets = DefaultMaxDatasets
	}
	if l.MaxRepositories <= 0 {
		l.MaxRepositories = DefaultMaxRepositories
	}
	return l
}

// Decoder decodes Testmo exports. The zero value is ready to use with the defaults; a
// Decoder holds no state between calls and may be used concurrently.
type Decoder struct {
	Limits Limits
	// KeepSnapshotRows turns the snapshot rule off: every row goes to Visitor.Row.
	KeepSnapshotRows bool
	// CheckEvery is how many rows pass between checks of ctx. Default 1024.
	CheckEvery int
}

// Decode reads an export from r with the default Decoder.
func Decode(ctx context.Context, r io.Reader, v Visitor) (Summary, error) {
	var d Decoder
	return d.Decode(ctx, r, v)
}

// Decode reads an export from r as a stream, calling v for each dataset and row, and
// returns what it read. Errors: a *FormatError for anything wrong with the export, a
// *ReadError when r fails, ctx.Err() (wrapped) on cancellation, or a visitor's error
// (wrapped). On error the Summary holds what was read before it.
func (d *Decoder) Decode(ctx context.Context, r io.Reader, v Visitor) (Summary, error) {
	s := &state{
		ctx:        ctx,
		v:          v,
		lim:        d.Limits.withDefaults(),
		keepSnap:   d.KeepSnapshotRows,
		checkEvery: d.CheckEvery,
		rowIdx:     -1,
		names:      make(map[string]*name),
		seen:       make(map[string]struct{}),
		masters:    make(map[int64]struct{}),
	}
	if s.checkEvery <= 0 {
		s.checkEvery = DefaultCheckEvery
	}
	s.snapV, _ = v.(SnapshotVisitor)
	s.g = &guard{r: bufio.NewReaderSize(r, 64<<10), limit: int64(s.lim.MaxValueBytes)}
	s.dec = jsontext.NewDecoder(s.g)
	s.g.dec = s.dec
	err := s.run()
	s.sum.Bytes = s.dec.InputOffset()
	return s.sum, err
}

// maxRead bounds each read handed to the tokenizer, so the value-size check is precise to
// within this many bytes.
const maxRead = 64 << 10

// guard sits between the source and the tokenizer. The tokenizer reads more only while it
// has not found the end of the current token or value, so bytes handed out beyond its last
// completed token are the size of the value being read: that is bounded here, before the
// tokenizer's buffer can grow without limit.
type guard struct {
	r       io.Reader
	dec     *jsontext.Decoder
	n       int64
	limit   int64
	readErr error
}

var errGuard = errors.New("value exceeds the size limit")

func (g *guard) Read(p []byte) (int, error) {
	if g.n-g.dec.InputOffset() > g.limit {
		return 0, errGuard
	}
	if len(p) > maxRead {
		p = p[:maxRead]
	}
	n, err := g.r.Read(p)
	g.n += int64(n)
	if err != nil && err != io.EOF {
		g.readErr = err
	}
	return n, err
}

type state struct {
	ctx        context.Context
	v          Visitor
	snapV      SnapshotVisitor
	lim        Limits
	keepSnap   bool
	checkEvery int
	sinceCheck int

	g   *guard
	dec *jsontext.Decoder
	sub *jsontext.Decoder
	rd  bytes.Reader

	ds     *Dataset // dataset being read, for errors
	rowIdx int64    // row being read, -1 outside rows
	row    Row

	names   map[string]*name    // interned column names by raw JSON text
	seen    map[string]struct{} // dataset names
	masters map[int64]struct{}  // non-snapshot repository ids
	sum     Summary
}

var (
	containerKeys = []string{"datasets", "entities"}
	ignoredKeys   = []string{"meta", "summary"}
	schemaKeys    = []string{"schema", "columns", "fields"}
	rowKeys       = []string{"data", "rows", "records", "items"}
	entryNameKeys = []string{"name", "dataset"}
)

func in(s string, set []string) bool {
	for _, x := range set {
		if s == x {
			return true
		}
	}
	return false
}

// formatErr builds a FormatError at the current position.
func (s *state) formatErr(reason string, err error) error {
	fe := &FormatError{Row: s.rowIdx, Offset: s.dec.InputOffset(), Reason: reason, Err: err}
	if s.ds != nil {
		fe.Dataset = s.ds.Name
	}
	return fe
}

// fail classifies an error from the tokenizer.
func (s *state) fail(err error) error {
	if s.g.readErr != nil {
		return &ReadError{Offset: s.dec.InputOffset(), Err: s.g.readErr}
	}
	if errors.Is(err, errGuard) {
		return s.formatErr(fmt.Sprintf("a value is larger than %d bytes", s.lim.MaxValueBytes), ErrValueTooLarge)
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return s.formatErr("unexpected end of file: the export is truncated", io.ErrUnexpectedEOF)
	}
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		fe := s.formatErr("invalid JSON: "+se.Err.Error(), err).(*FormatError)
		fe.Offset = se.ByteOffset
		return fe
	}
	return s.formatErr("invalid JSON: "+err.Error(), err)
}

// peek returns the kind of the next token, or the error that stops it.
func (s *state) peek() (jsontext.Kind, error) {
	if k := s.dec.PeekKind(); k != 0 {
		return k, nil
	}
	_, err := s.dec.ReadToken()
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return 0, s.fail(err)
}

func (s *state) readToken() (jsontext.Token, error) {
	t, err := s.dec.ReadToken()
	if err != nil {
		return t, s.fail(err)
	}
	return t, nil
}

func kindWord(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 'f', 't':
		return "a boolean"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "nothing"
}

func (s *state) run() error {
	k := s.dec.PeekKind()
	if k == 0 {
		if _, err := s.dec.ReadToken(); err == io.EOF {
			return s.formatErr("the export is empty", io.ErrUnexpectedEOF)
		} else if err != nil {
			return s.fail(err)
		}
	}
	var err error
	switch k {
	case '{':
		err = s.readDatasets(true)
	case '[':
		err = s.readEntries()
	default:
		return s.formatErr("the export is "+kindWord(k)+", not a JSON object of datasets", nil)
	}
	if err != nil {
		return err
	}
	switch _, err := s.dec.ReadToken(); {
	case err == io.EOF:
		return nil
	case err == nil:
		return s.formatErr("data after the end of the export", nil)
	default:
		return s.fail(err)
	}
}

// readDatasets reads an object of datasets: the top level (where container keys and
// ignored keys are recognised) or a container's value.
func (s *state) readDatasets(top bool) error {
	if _, err := s.readToken(); err != nil {
		return err
	}
	for {
		k, err := s.peek()
		if err != nil {
			return err
		}
		if k == '}' {
			_, err := s.readToken()
			return err
		}
		tok, err := s.readToken()
		if err != nil {
			return err
		}
		key := tok.String()
		if k, err = s.peek(); err != nil {
			return err
		}
		switch {
		case top && in(key, containerKeys) && k == '{':
			err = s.readDatasets(false)
		case top && in(key, containerKeys) && k == '[':
			err = s.readEntries()
		case in(key, ignoredKeys):
			err = s.skip()
		case k == '{':
			err = s.readDataset(key)
		case k == '[':
			s.ds = &Dataset{Name: key}
			return s.formatErr("dataset is an array; expected an object with its rows under \"data\", \"rows\", \"records\" or \"items\"", nil)
		default:
			if len(s.sum.IgnoredKeys) < 100 {
				s.sum.IgnoredKeys = append(s.sum.IgnoredKeys, key)
			}
			err = s.skip()
		}
		if err != nil {
			return err
		}
	}
}

func (s *state) begin(name string) (*Dataset, error) {
	s.ds = &Dataset{Name: name, Offset: s.dec.InputOffset()}
	if name == "" {
		return nil, s.formatErr("a dataset has an empty name", nil)
	}
	if _, dup := s.seen[name]; dup {
		return nil, s.formatErr("dataset appears twice in the export", nil)
	}
	if len(s.seen) >= s.lim.MaxDatasets {
		return nil, s.formatErr(fmt.Sprintf("more than %d datasets", s.lim.MaxDatasets), nil)
	}
	s.seen[name] = struct{}{}
	if err := s.ctx.Err(); err != nil {
		return nil, fmt.Errorf("testmo export: %w", err)
	}
	ds := s.ds
	ds.Attachment = strings.Contains(strings.ToLower(name), "attachment")
	ds.repoScoped = strings.HasPrefix(name, "repository_") && name != "repository_case_tags"
	if err := s.v.BeginDataset(s.ctx, ds); err != nil {
		return nil, fmt.Errorf("testmo export: dataset %q: %w", name, err)
	}
	return ds, nil
}

func (s *state) end(ds *Dataset) error {
	s.sum.Datasets = append(s.sum.Datasets, DatasetSummary{Name: ds.Name, Rows: ds.Rows, Skipped: ds.Skipped, Attachment: ds.Attachment})
	s.sum.Rows += ds.Rows
	if err := s.v.EndDataset(s.ctx, ds); err != nil {
		return fmt.Errorf("testmo export: dataset %q: %w", ds.Name, err)
	}
	s.ds = nil
	return nil
}

// readDataset reads {"schema": ..., "data": [rows...], ...}.
func (s *state) readDataset(name string) error {
	ds, err := s.begin(name)
	if err != nil {
		return err
	}
	if _, err := s.readToken(); err != nil {
		return err
	}
	for {
		k, err := s.peek()
		if err != nil {
			return err
		}
		if k == '}' {
			if _, err := s.readToken(); err != nil {
				return err
			}
			return s.end(ds)
		}
		tok, err := s.readToken()
		if err != nil {
			return err
		}
		switch key := tok.String(); {
		case in(key, schemaKeys):
			err = s.readSchema(ds)
		case in(key, rowKeys):
			err = s.readRows(ds, key)
		default:
			err = s.skip()
		}
		if err != nil {
			return err
		}
	}
}

// readEntries reads our extension, an array of {"name": ..., "rows": [...]} (the name, or
// "dataset", must come before the rows).
func (s *state) readEntries() error {
	if _, err := s.readToken(); err != nil {
		return err
	}
	for {
		k, err := s.peek()
		if err != nil {
			return err
		}
		switch k {
		case ']':
			_, err := s.readToken()
			return err
		case '{':
			if err := s.readEntry(); err != nil {
				return err
			}
		default:
			return s.formatErr("a dataset entry is "+kindWord(k)+", not an object", nil)
		}
	}
}

func (s *state) readEntry() error {
	if _, err := s.readToken(); err != nil {
		return err
	}
	var ds *Dataset
	var schema Value
	for {
		k, err := s.peek()
		if err != nil {
			return err
		}
		if k == '}' {
			if _, err := s.readToken(); err != nil {
				return err
			}
			if ds == nil {
				return s.formatErr("a dataset entry has no \"name\"", nil)
			}
			return s.end(ds)
		}
		tok, err := s.readToken()
		if err != nil {
			return err
		}
		key := tok.String()
		if k, err = s.peek(); err != nil {
			return err
		}
		switch {
		case in(key, entryNameKeys) && ds == nil && k == '"':
			tok, err := s.readToken()
			if err != nil {
				return err
			}
			if ds, err = s.begin(tok.String()); err != nil {
				return err
			}
			ds.Schema = schema
		case in(key, schemaKeys):
			if ds == nil {
				ds = &Dataset{}
				err = s.readSchema(ds)
				schema, ds = ds.Schema, nil
			} else {
				err = s.readSchema(ds)
			}
		case in(key, rowKeys):
			if ds == nil {
				return s.formatErr("a dataset entry has rows before its \"name\"", nil)
			}
			err = s.readRows(ds, key)
		default:
			err = s.skip()
		}
		if err != nil {
			return err
		}
	}
}

func (s *state) readSchema(ds *Dataset) error {
	k, err := s.peek()
	if err != nil {
		return err
	}
	v, err := s.dec.ReadValue()
	if err != nil {
		return s.fail(err)
	}
	if k == '{' || k == '[' {
		if err := s.checkDepth(v); err != nil {
			return err
		}
	}
	ds.Schema = append(ds.Schema[:0], v...)
	return nil
}

// checkDepth checks a nested value read whole against MaxDepth.
func (s *state) checkDepth(v []byte) error {
	base := s.dec.StackDepth()
	s.rd.Reset(v)
	if s.sub == nil {
		s.sub = jsontext.NewDecoder(&s.rd)
	} else {
		s.sub.Reset(&s.rd)
	}
	for {
		if _, err := s.sub.ReadToken(); err != nil {
			return nil // v was validated already: this is its end
		}
		if base+s.sub.StackDepth() > s.lim.MaxDepth {
			return s.formatErr(fmt.Sprintf("JSON nested deeper than %d levels", s.lim.MaxDepth), ErrTooDeep)
		}
	}
}

// skip skips the next value, within MaxDepth and MaxValueBytes.
func (s *state) skip() error {
	k, err := s.peek()
	if err != nil {
		return err
	}
	if k != '{' && k != '[' {
		if _, err := s.dec.ReadValue(); err != nil {
			return s.fail(err)
		}
		return nil
	}
	start := s.dec.StackDepth()
	for {
		if _, err := s.dec.ReadToken(); err != nil {
			return s.fail(err)
		}
		d := s.dec.StackDepth()
		if d > s.lim.MaxDepth {
			return s.formatErr(fmt.Sprintf("JSON nested deeper than %d levels", s.lim.MaxDepth), ErrTooDeep)
		}
		if d <= start {
			return nil
		}
	}
}

func (s *state) readRows(ds *Dataset, key string) error {
	k, err := s.peek()
	if err != nil {
		return err
	}
	if k != '[' {
		return s.formatErr(fmt.Sprintf("%q is %s, not an array of rows", key, kindWord(k)), nil)
	}
	if _, err := s.readToken(); err != nil {
		return err
	}
	defer func() { s.rowIdx = -1 }()
	for {
		s.rowIdx = ds.Rows
		k, err := s.peek()
		if err != nil {
			return err
		}
		if k == ']' {
			s.rowIdx = -1
			_, err := s.readToken()
			return err
		}
		if k != '{' {
			return s.formatErr("row is "+kindWord(k)+", not a JSON object", nil)
		}
		if s.sinceCheck++; s.sinceCheck >= s.checkEvery {
			s.sinceCheck = 0
			if err := s.ctx.Err(); err != nil {
				return fmt.Errorf("testmo export: %w", err)
			}
		}
		ds.Rows++
		if ds.Attachment {
			if err := s.skip(); err != nil {
				return err
			}
			continue
		}
		if err := s.readRow(ds); err != nil {
			return err
		}
		if s.skipSnapshot(ds) {
			ds.Skipped++
			if s.snapV != nil {
				if err := s.snapV.SnapshotRow(s.ctx, &s.row); err != nil {
					return fmt.Errorf("testmo export: dataset %q row %d: %w", ds.Name, s.rowIdx, err)
				}
			}
			continue
		}
		if err := s.v.Row(s.ctx, &s.row); err != nil {
			return fmt.Errorf("testmo export: dataset %q row %d: %w", ds.Name, s.rowIdx, err)
		}
	}
}

func (s *state) readRow(ds *Dataset) error {
	if _, err := s.readToken(); err != nil {
		return err
	}
	r := &s.row
	r.reset(ds, s.rowIdx, s.dec.InputOffset()-1)
	for {
		k := s.dec.PeekKind()
		if k == '}' {
			_, err := s.readToken()
			return err
		}
		raw, err := s.dec.ReadValue()
		if err != nil {
			return s.fail(err)
		}
		n, err := s.intern(raw)
		if err != nil {
			return err
		}
		k = s.dec.PeekKind()
		v, err := s.dec.ReadValue()
		if err != nil {
			return s.fail(err)
		}
		if k == '{' || k == '[' {
			if err := s.checkDepth(v); err != nil {
				return err
			}
		}
		start := len(r.buf)
		if start+len(v) > s.lim.MaxRowBytes {
			return s.formatErr(fmt.Sprintf("row is larger than %d bytes", s.lim.MaxRowBytes), ErrValueTooLarge)
		}
		r.buf = append(r.buf, v...)
		r.names = append(r.names, n)
		r.spans = append(r.spans, span{start, len(r.buf)})
	}
}

const maxInterned = 1 << 16

// intern returns the column name for its raw JSON text, shared across rows.
func (s *state) intern(raw []byte) (*name, error) {
	if n, ok := s.names[string(raw)]; ok {
		return n, nil
	}
	text, err := jsontext.AppendUnquote(nil, raw)
	if err != nil {
		return nil, s.formatErr("invalid column name", err)
	}
	quoted, err := jsontext.AppendQuote(nil, text)
	if err != nil {
		return nil, s.formatErr("invalid column name", err)
	}
	n := &name{text: string(text), quoted: string(quoted)}
	if len(s.names) < maxInterned {
		s.names[string(raw)] = n
	}
	return n, nil
}

// skipSnapshot applies the original's snapshot rule to the row just read: rows of
// "repositories" with is_snapshot 1 or "true" are skipped (the others' ids remembered as
// master repositories), and rows of repository_* datasets but repository_case_tags whose
// repo_id is not a master repository seen so far are skipped, once any master is known.
func (s *state) skipSnapshot(ds *Dataset) bool {
	if s.keepSnap {
		return false
	}
	switch {
	case ds.Name == "repositories":
		v, _ := s.row.Get("is_snapshot")
		if isSnapshot(v) {
			return true
		}
		if id, ok := valueOf(&s.row, "id").Int(); ok && len(s.masters) < s.lim.MaxRepositories {
			s.masters[id] = struct{}{}
		}
	case ds.repoScoped && len(s.masters) > 0:
		if id, ok := valueOf(&s.row, "repo_id").Int(); ok {
			_, master := s.masters[id]
			return !master
		}
	}
	return false
}

func valueOf(r *Row, name string) Value {
	v, _ := r.Get(name)
	return v
}

// isSnapshot is the original's test: the number 1, or a string containing "true" (any case)
// or holding the number 1.
func isSnapshot(v Value) bool {
	switch v.Kind() {
	case KindNumber:
		return bytes.Equal(v, []byte("1")) || bytes.Equal(v, []byte("1.0"))
	case KindString:
		t, _ := v.AppendText(nil)
		if n, ok := parseInt(bytes.TrimSpace(t)); ok {
			return n == 1
		}
		return bytes.Contains(bytes.ToLower(t), []byte("true"))
	case KindTrue:
		return true
	}
	return false
}
