package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/cuid"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// DefaultMaxBatch is the default of [Handler.MaxBatch].
const DefaultMaxBatch = 500

// Handler handles the audit-logs queue. Each task works on its tenant's
// database ([worker.TenantFrom]). The zero value is ready to use; do not
// copy it after first use.
type Handler struct {
	// Clock stamps the rows (timestamp and metadata.processedAt). Default
	// [worker.SystemClock].
	Clock worker.Clock
	// MaxBatch bounds the rows written by one statement. Default
	// [DefaultMaxBatch].
	MaxBatch int

	// wrap, if set, wraps each tenant's store: the tests' seam to count
	// statements and inject faults around the real one.
	wrap func(store) store

	mu sync.Mutex
	// groups holds the pending rows of each pool whose writer runs; a pool
	// is in the map exactly while its writer goroutine runs.
	groups map[*pgxpool.Pool]*group
}

// Register routes audit-logs:audit-event on mux to h.
func (h *Handler) Register(mux *asynq.ServeMux) {
	worker.Handle(mux, task.TypeAuditEvent, h.AuditEvent)
}

// row is one "AuditLog" row, as the handler builds it.
type row struct {
	ID         string
	UserID     string // "" is NULL, as are the other optional texts
	UserEmail  string
	UserName   string
	Action     task.AuditAction
	EntityType string
	EntityID   string
	EntityName string
	Changes    json.RawMessage // nil is NULL
	Metadata   json.RawMessage
	// ProjectID is the event's project; the store writes NULL instead, and
	// adds metadata.originalProjectId, when the project does not exist.
	ProjectID *int
	Timestamp time.Time
}

// store is what the handler needs of a tenant's database.
type store interface {
	// InsertAuditLogs writes rows with one statement, skipping ids that
	// exist, and returns the number of rows inserted.
	InsertAuditLogs(ctx context.Context, rows []row) (int64, error)
}

// RowID derives the "AuditLog".id of an audit-event task from its tenant
// ("" without one) and task ID ([cuid.Derive]), so a retried task (same ID)
// addresses the same row.
func RowID(tenantID, taskID string) string {
	return cuid.Derive(task.QueueAuditLogs, tenantID, taskID)
}

// AuditEvent handles audit-logs:audit-event: one "AuditLog" row per task
// whatever the retries.
func (h *Handler) AuditEvent(ctx context.Context, p task.AuditLog) error {
	tn := worker.TenantFrom(ctx)
	id := cuid.New() // a handler called without a server has no task ID
	if taskID, ok := asynq.GetTaskID(ctx); ok {
		id = RowID(tn.ID, taskID)
	}
	r, err := newRow(id, p, h.now())
	if err != nil {
		return worker.Permanent(err)
	}
	return h.commit(ctx, tn.DB, r)
}

func (h *Handler) now() time.Time {
	if h.Clock == nil {
		return worker.SystemClock{}.Now()
	}
	return h.Clock.Now().UTC()
}

// newRow applies the original's rules to a valid payload: the actor is the
// event's, field by field, else the context's; the metadata is the event's
// with the context's ipAddress, userAgent and requestId, queuedAt and
// processedAt (now, as JavaScript's toISOString writes it) set over it, a
// key whose value is absent being removed (as the original's spread of
// undefined values followed by their deletion does).
func newRow(id string, p task.AuditLog, now time.Time) (row, error) {
	e := p.Event
	var c task.AuditContext
	if p.Context != nil {
		c = *p.Context
	}
	meta := map[string]json.RawMessage{}
	if len(e.Metadata) > 0 {
		if err := json.Unmarshal(e.Metadata, &meta); err != nil {
			return row{}, fmt.Errorf("event.metadata: %w", err)
		}
	}
	for _, kv := range [...]struct{ k, v string }{
		{"ipAddress", c.IPAddress},
		{"userAgent", c.UserAgent},
		{"requestId", c.RequestID},
		{"queuedAt", p.QueuedAt},
		{"processedAt", now.UTC().Format(jsISO)},
	} {
		if kv.v == "" {
			delete(meta, kv.k)
			continue
		}
		b, err := json.Marshal(kv.v)
		if err != nil {
			return row{}, err
		}
		meta[kv.k] = b
	}
	metadata, err := json.Marshal(meta)
	if err != nil {
		return row{}, fmt.Errorf("metadata: %w", err)
	}
	return row{
		ID:         id,
		UserID:     or(e.UserID, c.UserID),
		UserEmail:  or(e.UserEmail, c.UserEmail),
		UserName:   or(e.UserName, c.UserName),
		Action:     e.Action,
		EntityType: e.EntityType,
		EntityID:   e.EntityID,
		EntityName: e.EntityName,
		Changes:    e.Changes,
		Metadata:   metadata,
		ProjectID:  e.ProjectID,
		Timestamp:  now.UTC(),
	}, nil
}

// jsISO is JavaScript's Date.prototype.toISOString layout, for UTC times.
const jsISO = "2006-01-02T15:04:05.000Z"

// or returns a, or b when a is empty: JavaScript's a || b on strings.
func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
