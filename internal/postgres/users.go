package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/testplanit/tpi-workers/pkg/task"
)

// EffectiveModeSQL is the SQL expression, of type text, for a user's effective notification
// mode, in a query where the user's "UserPreferences" row is joined as p (a LEFT JOIN: all NULL
// when the user has none). It is the one definition of the rule, used by [LoadUser] and by the
// daily digest sweep: the user's "notificationMode", unless it is USE_GLOBAL or the user has no
// preferences; then the global default, "AppConfig" 'notificationSettings' value->>'defaultMode',
// itself IN_APP when absent, USE_GLOBAL or not a mode. It never yields USE_GLOBAL.
//
// The global default is an uncorrelated subquery: PostgreSQL reads it once per statement.
const EffectiveModeSQL = `(CASE WHEN p."notificationMode" IS NULL OR p."notificationMode" = 'USE_GLOBAL'
      THEN coalesce((SELECT CASE WHEN app.value->>'defaultMode' IN ('NONE', 'IN_APP', 'IN_APP_EMAIL_IMMEDIATE', 'IN_APP_EMAIL_DAILY')
                                 THEN app.value->>'defaultMode' END
                     FROM "AppConfig" app WHERE app.key = 'notificationSettings'), 'IN_APP')
      ELSE p."notificationMode"::text END)`

// User is a "User" row with the preferences the workers read.
type User struct {
	ID    string
	Name  string
	Email string
	// Active and Deleted are "isActive" and "isDeleted".
	Active, Deleted bool
	// Locale is "UserPreferences".locale as stored ("en_US", "es_ES", ...), "en_US" when the user
	// has no preferences.
	Locale string
	// TimeZone is "UserPreferences".timezone as stored, not checked, "Etc/UTC" when the user has
	// no preferences.
	TimeZone string
	// NotificationMode is the effective mode ([EffectiveModeSQL]), never USE_GLOBAL.
	NotificationMode task.NotificationMode
}

// ErrNoUser is returned, wrapped, by [LoadUser] when there is no user with the id.
var ErrNoUser = errors.New("no such user")

// RowQuerier runs a query that returns one row: a *pgxpool.Pool, *pgx.Conn or pgx.Tx.
type RowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// LoadUser loads user id with their preferences and effective notification mode, deleted and
// inactive users included: what to do with them is the caller's business. A missing user is an
// error wrapping [ErrNoUser].
func LoadUser(ctx context.Context, db RowQuerier, id string) (User, error) {
	var u User
	var mode string
	err := db.QueryRow(ctx, `
SELECT u.id, u.name, u.email, u."isActive", u."isDeleted",
       coalesce(p.locale::text, 'en_US'), coalesce(p.timezone, 'Etc/UTC'), `+EffectiveModeSQL+`
FROM "User" u LEFT JOIN "UserPreferences" p ON p."userId" = u.id
WHERE u.id = $1`, id).Scan(&u.ID, &u.Name, &u.Email, &u.Active, &u.Deleted, &u.Locale, &u.TimeZone, &mode)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, fmt.Errorf("load user %s: %w", id, ErrNoUser)
	}
	if err != nil {
		return User{}, fmt.Errorf("load user %s: %w", id, err)
	}
	u.NotificationMode = task.NotificationMode(mode)
	return u, nil
}
