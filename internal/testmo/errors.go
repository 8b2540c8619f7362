package testmo

import (
	"errors"
	"fmt"
	"strconv"
)

// FormatError reports an export that cannot be read: malformed JSON, a wrong shape, or a
// value beyond one of the [Limits]. Retrying cannot help; the worker fails the import job and
// shows Error() to the user (TestmoImportJob.statusMessage).
type FormatError struct {
	// Dataset is the dataset being read, "" when the error is outside any dataset.
	Dataset string
	// Row is the 0-based position of the row in its dataset's row array (the staging
	// rowIndex), -1 when the error is not inside a row.
	Row int64
	// Offset is the byte offset in the export at or just before the problem.
	Offset int64
	// Reason says what is wrong, in words a user can act on.
	Reason string
	// Err is the underlying decoder error, if any.
	Err error
}

func (e *FormatError) Error() string {
	b := []byte("testmo export: ")
	if e.Dataset != "" {
		b = append(b, "dataset "...)
		b = strconv.AppendQuote(b, e.Dataset)
		b = append(b, ' ')
	}
	if e.Row >= 0 {
		b = append(b, "row "...)
		b = strconv.AppendInt(b, e.Row, 10)
		b = append(b, ' ')
	}
	b = append(b, "(byte "...)
	b = strconv.AppendInt(b, e.Offset, 10)
	b = append(b, "): "...)
	b = append(b, e.Reason...)
	return string(b)
}

func (e *FormatError) Unwrap() error { return e.Err }

// ErrValueTooLarge is wrapped by a FormatError when a single value (a string, a number, a
// nested value or a schema) exceeds Limits.MaxValueBytes, or a row exceeds Limits.MaxRowBytes.
var ErrValueTooLarge = errors.New("value too large")

// ErrTooDeep is wrapped by a FormatError when the nesting exceeds Limits.MaxDepth.
var ErrTooDeep = errors.New("nesting too deep")

// ReadError is an I/O failure of the underlying reader (for example an S3 stream that broke).
// Unlike a FormatError it says nothing about the export, and a retry may succeed.
type ReadError struct {
	Offset int64
	Err    error
}

func (e *ReadError) Error() string {
	return fmt.Sprintf("testmo export: reading at byte %d: %v", e.Offset, e.Err)
}

func (e *ReadError) Unwrap() error { return e.Err }
