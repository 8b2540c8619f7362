package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// TestPlanIt's Prisma columns are timestamp(3) without time zone and hold
// UTC. pgx encodes a time.Time for such a column by keeping its wall clock
// and dropping its zone, so a time.Time in local time would be stored shifted
// by the process's offset. Every pool opened by this package registers the
// codecs below: timestamp parameters are converted to UTC before encoding,
// and timestamp values scan as UTC. No call site has to remember .UTC().

// registerUTC installs the UTC timestamp codecs on a new connection.
func registerUTC(_ context.Context, conn *pgx.Conn) error {
	m := conn.TypeMap()
	ts := &pgtype.Type{Name: "timestamp", OID: pgtype.TimestampOID, Codec: &utcTimestampCodec{pgtype.TimestampCodec{ScanLocation: time.UTC}}}
	m.RegisterType(ts)
	m.RegisterType(&pgtype.Type{Name: "_timestamp", OID: pgtype.TimestampArrayOID, Codec: &pgtype.ArrayCodec{ElementType: ts}})
	return nil
}

// utcTimestampCodec is pgx's TimestampCodec with parameters moved to UTC
// first.
type utcTimestampCodec struct{ pgtype.TimestampCodec }

func (c *utcTimestampCodec) PlanEncode(m *pgtype.Map, oid uint32, format int16, value any) pgtype.EncodePlan {
	next := c.TimestampCodec.PlanEncode(m, oid, format, value)
	if next == nil {
		return nil
	}
	return utcEncodePlan{next}
}

type utcEncodePlan struct{ next pgtype.EncodePlan }

func (p utcEncodePlan) Encode(value any, buf []byte) ([]byte, error) {
	ts, err := value.(pgtype.TimestampValuer).TimestampValue()
	if err != nil {
		return nil, err
	}
	if ts.Valid && ts.InfinityModifier == pgtype.Finite {
		ts.Time = ts.Time.UTC()
	}
	return p.next.Encode(ts, buf)
}
