package testmo

import (
	"bytes"

	"github.com/go-json-experiment/json/jsontext"
)

// Kind is the JSON kind of a Value.
type Kind byte

// The kinds of a Value, named after the first byte of their JSON text.
const (
	KindInvalid Kind = 0
	KindNull    Kind = 'n'
	KindFalse   Kind = 'f'
	KindTrue    Kind = 't'
	KindString  Kind = '"'
	KindNumber  Kind = '0'
	KindObject  Kind = '{'
	KindArray   Kind = '['
)

// Value is the raw JSON text of one column value, exactly as it appears in the export
// (already validated: well-formed, valid UTF-8). It can be written as is into a jsonb
// column. Like the Row it comes from, it is only valid during the visitor callback; copy
// it (bytes.Clone) to keep it.
type Value []byte

// Kind reports the JSON kind of v.
func (v Value) Kind() Kind {
	if len(v) == 0 {
		return KindInvalid
	}
	switch c := v[0]; c {
	case 'n', 'f', 't', '"', '{', '[':
		return Kind(c)
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return KindNumber
	}
	return KindInvalid
}

// IsNull reports whether v is JSON null (or absent).
func (v Value) IsNull() bool { return len(v) == 0 || v[0] == 'n' }

// Int returns v as an integer: a JSON number without fraction or exponent, or a string
// holding one (Testmo ids are integers; some exports quote them). ok is false otherwise,
// including on overflow.
func (v Value) Int() (n int64, ok bool) {
	b := []byte(v)
	if len(b) >= 2 && b[0] == '"' {
		b = bytes.TrimSpace(b[1 : len(b)-1])
	}
	return parseInt(b)
}

func parseInt(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg, b = true, b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if neg {
		if n > 1<<63 {
			return 0, false
		}
		return -int64(n), true
	}
	if n > 1<<63-1 {
		return 0, false
	}
	return int64(n), true
}

// Bool returns v as a boolean the way Testmo writes them: true/false, the numbers 0 and 1,
// or the strings "true", "false", "1", "0" (any case). ok is false otherwise.
func (v Value) Bool() (b, ok bool) {
	switch v.Kind() {
	case KindTrue:
		return true, true
	case KindFalse:
		return false, true
	case KindNumber, KindString:
		s := []byte(v)
		if s[0] == '"' {
			s = bytes.TrimSpace(s[1 : len(s)-1])
		}
		switch {
		case bytes.Equal(s, []byte("1")), bytes.EqualFold(s, []byte("true")):
			return true, true
		case bytes.Equal(s, []byte("0")), bytes.EqualFold(s, []byte("false")):
			return false, true
		}
	}
	return false, false
}

// AppendText appends v as text, the way it goes into a PostgreSQL text column: a string
// unquoted and unescaped, a number or boolean as written, a nested value as its JSON text.
// Null appends nothing; ok is false for null.
func (v Value) AppendText(dst []byte) (out []byte, ok bool) {
	switch v.Kind() {
	case KindInvalid, KindNull:
		return dst, false
	case KindString:
		if bytes.IndexByte(v[1:len(v)-1], '\\') < 0 {
			return append(dst, v[1:len(v)-1]...), true
		}
		out, err := jsontext.AppendUnquote(dst, []byte(v))
		return out, err == nil
	}
	return append(dst, v...), true
}

// Text returns v as text (see AppendText); it allocates.
func (v Value) Text() string {
	b, _ := v.AppendText(nil)
	return string(b)
}

type span struct{ start, end int }

// Row is one row of a dataset: its columns in file order, each a name and a raw JSON Value.
// A Row and everything obtained from it (values, names' backing) are only valid during the
// Visitor.Row call: the decoder reuses its buffers for the next row.
type Row struct {
	dataset *Dataset
	index   int64
	offset  int64
	names   []*name
	spans   []span
	buf     []byte
}

type name struct {
	text   string // unescaped
	quoted string // canonical JSON string, for AppendJSON
}

func (r *Row) reset(ds *Dataset, index, offset int64) {
	r.dataset, r.index, r.offset = ds, index, offset
	r.names, r.spans, r.buf = r.names[:0], r.spans[:0], r.buf[:0]
}

// Dataset is the dataset the row belongs to.
func (r *Row) Dataset() *Dataset { return r.dataset }

// Index is the row's 0-based position in its dataset's row array, counting rows that are
// skipped by the snapshot rule (so indexes have gaps where rows were skipped).
func (r *Row) Index() int64 { return r.index }

// Offset is the byte offset of the row's opening brace in the export.
func (r *Row) Offset() int64 { return r.offset }

// Len is the number of columns.
func (r *Row) Len() int { return len(r.names) }

// Name is the i-th column's name.
func (r *Row) Name(i int) string { return r.names[i].text }

// Value is the i-th column's raw JSON value.
func (r *Row) Value(i int) Value {
	s := r.spans[i]
	return Value(r.buf[s.start:s.end:s.end])
}

// Get returns the value of the column called name (the first, if the export repeats it).
func (r *Row) Get(name string) (Value, bool) {
	for i, n := range r.names {
		if n.text == name {
			return r.Value(i), true
		}
	}
	return nil, false
}

// AppendJSON appends the row as a JSON object, names and values as read (no re-encoding of
// values), for staging into a jsonb column.
func (r *Row) AppendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	for i, n := range r.names {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, n.quoted...)
		dst = append(dst, ':')
		dst = append(dst, r.Value(i)...)
	}
	return append(dst, '}')
}
