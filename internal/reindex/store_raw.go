package reindex

import (
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// The case pages' tags, steps and field values are most of the rows a
// reindex reads (several per case). They are decoded from their wire bytes
// here rather than through pgx's per-value Scan, which costs a reflective
// plan and an allocation per nullable value: an int4, text or jsonb column in
// either wire format.

// forRawRows calls f with each row's raw values; f must copy what it keeps.
func forRawRows(rows pgx.Rows, f func(fds []pgconn.FieldDescription, vals [][]byte) error) error {
	defer rows.Close()
	fds := rows.FieldDescriptions()
	for rows.Next() {
		if err := f(fds, rows.RawValues()); err != nil {
			return err
		}
	}
	return rows.Err()
}

// rawInt32 decodes a non-null int4 column.
func rawInt32(fd pgconn.FieldDescription, b []byte) (int32, error) {
	if b == nil {
		return 0, fmt.Errorf("column %s: unexpected NULL", fd.Name)
	}
	if fd.DataTypeOID != pgtype.Int4OID {
		return 0, fmt.Errorf("column %s: type %d, want int4", fd.Name, fd.DataTypeOID)
	}
	if fd.Format == pgtype.BinaryFormatCode {
		if len(b) != 4 {
			return 0, fmt.Errorf("column %s: %d bytes for an int4", fd.Name, len(b))
		}
		return int32(binary.BigEndian.Uint32(b)), nil
	}
	n, err := strconv.ParseInt(string(b), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("column %s: %w", fd.Name, err)
	}
	return int32(n), nil
}

// rawNullInt32 decodes a nullable int4 column.
func rawNullInt32(fd pgconn.FieldDescription, b []byte) (*int32, error) {
	if b == nil {
		return nil, nil
	}
	n, err := rawInt32(fd, b)
	return &n, err
}

// rawNullText decodes a nullable text column.
func rawNullText(fd pgconn.FieldDescription, b []byte) (*string, error) {
	if b == nil {
		return nil, nil
	}
	if fd.DataTypeOID != pgtype.TextOID {
		return nil, fmt.Errorf("column %s: type %d, want text", fd.Name, fd.DataTypeOID)
	}
	s := string(b)
	return &s, nil
}

// rawJSON decodes a nullable jsonb column into its JSON text (nil for
// NULL), copied into arena so that a page's values share a few
// allocations.
func rawJSON(arena *[]byte, fd pgconn.FieldDescription, b []byte) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	switch fd.DataTypeOID {
	case pgtype.JSONBOID:
		if fd.Format == pgtype.BinaryFormatCode {
			if len(b) == 0 || b[0] != 1 {
				return nil, fmt.Errorf("column %s: unknown jsonb version", fd.Name)
			}
			b = b[1:]
		}
	case pgtype.JSONOID:
	default:
		return nil, fmt.Errorf("column %s: type %d, want jsonb", fd.Name, fd.DataTypeOID)
	}
	if cap(*arena)-len(*arena) < len(b) {
		*arena = make([]byte, 0, max(64<<10, 2*len(b)))
	}
	start := len(*arena)
	*arena = append(*arena, b...)
	return (*arena)[start:len(*arena):len(*arena)], nil
}
