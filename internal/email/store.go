package email

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/postgres"
)

// pgStore is the [store] of one tenant's database.
type pgStore struct{ db *pgxpool.Pool }

func newStore(db *pgxpool.Pool) pgStore { return pgStore{db: db} }

// Recipient implements [store].
func (s pgStore) Recipient(ctx context.Context, userID string) (recipient, error) {
	u, err := postgres.LoadUser(ctx, s.db, userID)
	if errors.Is(err, postgres.ErrNoUser) {
		return recipient{}, fmt.Errorf("%w: %w", errNotFound, err)
	}
	if err != nil {
		return recipient{}, err
	}
	loc, err := time.LoadLocation(u.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	return recipient{
		Recipient: Recipient{UserID: u.ID, Name: u.Name, Email: u.Email, Locale: LocaleFromDB(u.Locale), TimeZone: loc},
		Active:    u.Active,
		Deleted:   u.Deleted,
	}, nil
}

// Notifications implements [store].
func (s pgStore) Notifications(ctx context.Context, ids []string) ([]storedNotification, error) {
	rows, err := s.db.Query(ctx, `
SELECT id, "userId", type::text, title, message, coalesce(data, 'null'::jsonb), "createdAt", "isRead", "isDeleted"
FROM "Notification"
WHERE id = ANY($1)
ORDER BY "createdAt" DESC, id`, ids)
	if err != nil {
		return nil, fmt.Errorf("load notifications: %w", err)
	}
	ns, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storedNotification, error) {
		var n storedNotification
		err := r.Scan(&n.ID, &n.UserID, &n.Type, &n.Title, &n.Message, &n.Data, &n.CreatedAt, &n.Read, &n.Deleted)
		return n, err
	})
	if err != nil {
		return nil, fmt.Errorf("load notifications: %w", err)
	}
	return ns, nil
}

// MarkRead implements [store].
func (s pgStore) MarkRead(ctx context.Context, userID string, ids []string, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := s.db.Exec(ctx, `
UPDATE "Notification" SET "isRead" = true, "updatedAt" = $3
WHERE id = ANY($1) AND "userId" = $2 AND NOT "isRead"`, ids, userID, at)
	if err != nil {
		return fmt.Errorf("mark digest notifications read: %w", err)
	}
	return nil
}

// ledgerDetail is the detail column of a delivery.
type ledgerDetail struct {
	NotificationIDs []string `json:"notificationIds"`
}

// Delivered implements [store].
func (s pgStore) Delivered(ctx context.Context, key string) (bool, []string, error) {
	var detail []byte
	err := s.db.QueryRow(ctx, `SELECT detail FROM worker.email_deliveries WHERE key = $1`, key).Scan(&detail)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil, nil
	}
	if err != nil {
		return false, nil, fmt.Errorf("read delivery ledger: %w", err)
	}
	var d ledgerDetail
	if len(detail) > 0 {
		_ = json.Unmarshal(detail, &d)
	}
	return true, d.NotificationIDs, nil
}

// RecordDelivery implements [store].
func (s pgStore) RecordDelivery(ctx context.Context, d delivery) error {
	var detail []byte
	if d.NotificationIDs != nil {
		detail, _ = json.Marshal(ledgerDetail{NotificationIDs: d.NotificationIDs})
	}
	_, err := s.db.Exec(ctx, `
INSERT INTO worker.email_deliveries (key, kind, recipient, message_id, sent_at, detail)
VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key) DO NOTHING`, d.Key, d.Kind, d.Recipient, d.MessageID, d.SentAt, detail)
	if err != nil {
		return fmt.Errorf("record delivery %s: %w", d.Key, err)
	}
	return nil
}

// PruneDeliveries implements [store].
func (s pgStore) PruneDeliveries(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.db.Exec(ctx, `DELETE FROM worker.email_deliveries WHERE sent_at < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("prune deliveries: %w", err)
	}
	return tag.RowsAffected(), nil
}
