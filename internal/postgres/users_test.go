package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/postgres"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// insertUser adds a user, with a "UserPreferences" row in mode unless mode
// is "".
func insertUser(t *testing.T, db *pgxpool.Pool, id, mode string, active, deleted bool) {
	t.Helper()
	ctx := context.Background()
	if _, err := db.Exec(ctx, `INSERT INTO "User" (id, name, email, password, "isActive", "isDeleted", "updatedAt")
VALUES ($1, 'Name ' || $1, $1 || '@example.com', 'x', $2, $3, now())`, id, active, deleted); err != nil {
		t.Fatal(err)
	}
	if mode == "" {
		return
	}
	if _, err := db.Exec(ctx, `INSERT INTO "UserPreferences" (id, "userId", "notificationMode", locale, timezone)
VALUES ($1, $2, $3::"NotificationMode", 'fr_FR', 'Asia/Kolkata')`, postgres.NewUUID(), id, mode); err != nil {
		t.Fatal(err)
	}
}

func TestLoadUserEffectiveMode(t *testing.T) {
	t.Parallel()
	db, _ := testenv.Postgres(t)
	ctx := context.Background()
	if _, err := db.Exec(ctx, `INSERT INTO "Roles" (id, name) VALUES (1, 'user')`); err != nil {
		t.Fatal(err)
	}
	// One user per stored mode, plus one without preferences.
	modes := []string{"NONE", "IN_APP", "IN_APP_EMAIL_IMMEDIATE", "IN_APP_EMAIL_DAILY", "USE_GLOBAL", ""}
	for _, m := range modes {
		insertUser(t, db, "u-"+m, m, true, false)
	}
	// The global default in every shape "AppConfig" may hold it ("" = no row).
	for _, g := range []struct {
		name, value string
		want        task.NotificationMode // the effective mode of USE_GLOBAL and of no preferences
	}{
		{"no AppConfig row", "", task.NotificationModeInApp},
		{"daily", `{"defaultMode":"IN_APP_EMAIL_DAILY"}`, task.NotificationModeInAppEmailDaily},
		{"immediate", `{"defaultMode":"IN_APP_EMAIL_IMMEDIATE"}`, task.NotificationModeInAppEmailImmediate},
		{"none", `{"defaultMode":"NONE"}`, task.NotificationModeNone},
		{"in-app", `{"defaultMode":"IN_APP"}`, task.NotificationModeInApp},
		{"USE_GLOBAL (no mode)", `{"defaultMode":"USE_GLOBAL"}`, task.NotificationModeInApp},
		{"invalid value", `{"defaultMode":"bogus"}`, task.NotificationModeInApp},
		{"wrong case", `{"defaultMode":"in_app_email_daily"}`, task.NotificationModeInApp},
		{"not a string", `{"defaultMode":3}`, task.NotificationModeInApp},
		{"null", `{"defaultMode":null}`, task.NotificationModeInApp},
		{"key missing", `{"other":"IN_APP_EMAIL_DAILY"}`, task.NotificationModeInApp},
		{"not an object", `"IN_APP_EMAIL_DAILY"`, task.NotificationModeInApp},
	} {
		t.Run(g.name, func(t *testing.T) {
			if _, err := db.Exec(ctx, `DELETE FROM "AppConfig"`); err != nil {
				t.Fatal(err)
			}
			if g.value != "" {
				if _, err := db.Exec(ctx, `INSERT INTO "AppConfig" (key, value) VALUES ('notificationSettings', $1::jsonb)`, g.value); err != nil {
					t.Fatal(err)
				}
			}
			for _, m := range modes {
				want := task.NotificationMode(m)
				if m == "" || m == "USE_GLOBAL" {
					want = g.want
				}
				u, err := postgres.LoadUser(ctx, db, "u-"+m)
				if err != nil {
					t.Fatal(err)
				}
				if u.NotificationMode != want {
					t.Errorf("stored mode %q: effective %q, want %q", m, u.NotificationMode, want)
				}
			}
		})
	}
}

func TestLoadUser(t *testing.T) {
	t.Parallel()
	db, _ := testenv.Postgres(t)
	ctx := context.Background()
	if _, err := db.Exec(ctx, `INSERT INTO "Roles" (id, name) VALUES (1, 'user');
INSERT INTO "AppConfig" (key, value) VALUES ('notificationSettings', '{"defaultMode":"IN_APP_EMAIL_DAILY"}')`); err != nil {
		t.Fatal(err)
	}
	insertUser(t, db, "prefs", "IN_APP_EMAIL_IMMEDIATE", true, false)
	insertUser(t, db, "noprefs", "", true, false)
	insertUser(t, db, "inactive", "NONE", false, false)
	insertUser(t, db, "deleted", "USE_GLOBAL", true, true)
	insertUser(t, db, "gone", "", false, true)
	for _, want := range []postgres.User{
		{ID: "prefs", Active: true, Locale: "fr_FR", TimeZone: "Asia/Kolkata", NotificationMode: task.NotificationModeInAppEmailImmediate},
		{ID: "noprefs", Active: true, Locale: "en_US", TimeZone: "Etc/UTC", NotificationMode: task.NotificationModeInAppEmailDaily},
		// Inactive and deleted users load too, flagged: the callers skip them.
		{ID: "inactive", Locale: "fr_FR", TimeZone: "Asia/Kolkata", NotificationMode: task.NotificationModeNone},
		{ID: "deleted", Active: true, Deleted: true, Locale: "fr_FR", TimeZone: "Asia/Kolkata", NotificationMode: task.NotificationModeInAppEmailDaily},
		{ID: "gone", Deleted: true, Locale: "en_US", TimeZone: "Etc/UTC", NotificationMode: task.NotificationModeInAppEmailDaily},
	} {
		want.Name, want.Email = "Name "+want.ID, want.ID+"@example.com"
		got, err := postgres.LoadUser(ctx, db, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("LoadUser(%s) = %+v\nwant %+v", want.ID, got, want)
		}
	}
	_, err := postgres.LoadUser(ctx, db, "ghost")
	if !errors.Is(err, postgres.ErrNoUser) || err.Error() != "load user ghost: no such user" {
		t.Errorf("missing user: %v, want ErrNoUser", err)
	}
	// Any one-row querier will do: a transaction too.
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		_, err := postgres.LoadUser(ctx, tx, "prefs")
		return err
	})
	if err != nil {
		t.Errorf("LoadUser in a transaction: %v", err)
	}
	// A failing database is not ErrNoUser.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := postgres.LoadUser(cctx, db, "prefs"); err == nil || errors.Is(err, postgres.ErrNoUser) {
		t.Errorf("cancelled: %v, want an error other than ErrNoUser", err)
	}
}

// TestEffectiveModeSQLSetBased checks the fragment where the digest sweep
// uses it, in a query over many users, against LoadUser.
func TestEffectiveModeSQLSetBased(t *testing.T) {
	t.Parallel()
	db, _ := testenv.Postgres(t)
	ctx := context.Background()
	if _, err := db.Exec(ctx, `INSERT INTO "Roles" (id, name) VALUES (1, 'user');
INSERT INTO "AppConfig" (key, value) VALUES ('notificationSettings', '{"defaultMode":"NONE"}')`); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"NONE", "IN_APP", "IN_APP_EMAIL_IMMEDIATE", "IN_APP_EMAIL_DAILY", "USE_GLOBAL", ""} {
		insertUser(t, db, "u-"+m, m, true, false)
	}
	rows, err := db.Query(ctx, `SELECT u.id, `+postgres.EffectiveModeSQL+`
FROM "User" u LEFT JOIN "UserPreferences" p ON p."userId" = u.id ORDER BY u.id`)
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ id, mode string }
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		return x, r.Scan(&x.id, &x.mode)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 6 {
		t.Fatalf("%d rows", len(got))
	}
	for _, r := range got {
		u, err := postgres.LoadUser(ctx, db, r.id)
		if err != nil {
			t.Fatal(err)
		}
		if string(u.NotificationMode) != r.mode || r.mode == "USE_GLOBAL" {
			t.Errorf("%s: set-based %q, LoadUser %q", r.id, r.mode, u.NotificationMode)
		}
	}
}
