package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgStore is the [store] of one tenant's database.
type pgStore struct {
	db *pgxpool.Pool
}

// insertSQL writes the rows of the JSON array $1 (see recordsetRow), skipping
// ids that exist. The project check is part of the statement: a row whose
// project no longer exists gets "projectId" NULL and metadata.originalProjectId.
const insertSQL = `
INSERT INTO "AuditLog" (id, "userId", "userEmail", "userName", action, "entityType", "entityId",
                        "entityName", changes, metadata, "timestamp", "projectId")
SELECT r.id, r.user_id, r.user_email, r.user_name, r.action::"AuditAction", r.entity_type, r.entity_id,
       r.entity_name, r.changes,
       CASE WHEN r.project_id IS NOT NULL AND p.id IS NULL
            THEN coalesce(r.metadata, '{}'::jsonb) || jsonb_build_object('originalProjectId', r.project_id)
            ELSE r.metadata END,
       r.ts, p.id
FROM jsonb_to_recordset($1::jsonb) AS r(id text, user_id text, user_email text, user_name text,
        action text, entity_type text, entity_id text, entity_name text, changes jsonb, metadata jsonb,
        ts timestamptz, project_id integer)
LEFT JOIN "Projects" p ON p.id = r.project_id
ON CONFLICT (id) DO NOTHING`

// recordsetRow is a row as insertSQL reads it; empty texts are NULL.
type recordsetRow struct {
	ID         string          `json:"id"`
	UserID     *string         `json:"user_id"`
	UserEmail  *string         `json:"user_email"`
	UserName   *string         `json:"user_name"`
	Action     string          `json:"action"`
	EntityType string          `json:"entity_type"`
	EntityID   string          `json:"entity_id"`
	EntityName *string         `json:"entity_name"`
	Changes    json.RawMessage `json:"changes,omitempty"`
	Metadata   json.RawMessage `json:"metadata,omitempty"`
	Timestamp  string          `json:"ts"`
	ProjectID  *int            `json:"project_id"`
}

// InsertAuditLogs implements [store].
func (s pgStore) InsertAuditLogs(ctx context.Context, rows []row) (int64, error) {
	recs := make([]recordsetRow, len(rows))
	for i, r := range rows {
		recs[i] = recordsetRow{
			ID: r.ID, UserID: nullable(r.UserID), UserEmail: nullable(r.UserEmail), UserName: nullable(r.UserName),
			Action: string(r.Action), EntityType: r.EntityType, EntityID: r.EntityID, EntityName: nullable(r.EntityName),
			Changes: r.Changes, Metadata: r.Metadata,
			Timestamp: r.Timestamp.UTC().Format("2006-01-02T15:04:05.999999Z"),
			ProjectID: r.ProjectID,
		}
	}
	b, err := json.Marshal(recs)
	if err != nil {
		return 0, fmt.Errorf("encode audit logs: %w", err)
	}
	tag, err := s.db.Exec(ctx, insertSQL, string(b))
	if err != nil {
		return 0, fmt.Errorf("insert %d audit logs: %w", len(rows), err)
	}
	return tag.RowsAffected(), nil
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// refused reports whether PostgreSQL answered err (it refused the statement),
// as opposed to a connection or context error.
func refused(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe)
}

// invalidData reports whether PostgreSQL refused the data itself (SQLSTATE
// class 22, data exception: a value the column or jsonb cannot hold).
func invalidData(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && strings.HasPrefix(pe.Code, "22")
}
