package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// PingTimeout bounds the connectivity check that [Open] performs.
const PingTimeout = 5 * time.Second

// applicationName is reported to PostgreSQL (pg_stat_activity) unless the URL sets its own.
const applicationName = "tpi-workers"

// Open parses a PostgreSQL URL (or keyword/value DSN), creates a pool and pings the server
// within [PingTimeout]. Pool sizing follows pgx's URL parameters (pool_max_conns, ...).
//
// Errors never contain the password: a parse error shows the URL redacted, a connection error
// names only the host, port, database and user, e.g.
// "postgres: cannot reach 127.0.0.1:5432/testplanit as user x: ...".
func Open(ctx context.Context, databaseURL string) (*pgxpool.Pool, error) {
	return OpenMax(ctx, databaseURL, 0)
}

// OpenMax is [Open] with the pool bounded to maxConns connections; 0 keeps
// pgx's default or the URL's pool_max_conns.
func OpenMax(ctx context.Context, databaseURL string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		// pgx redacts the password in its ParseConfigError; don't add the raw URL to it.
		return nil, fmt.Errorf("postgres: invalid database URL: %w", err)
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = applicationName
	}
	// Sessions read and write UTC whatever the server's or the process's
	// zone (see utc.go); a URL's own timezone parameter is overridden.
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	cfg.AfterConnect = registerUTC
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", describe(cfg), err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, PingTimeout)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: cannot reach %s: %w", describe(cfg), err)
	}
	return pool, nil
}

// describe names the server of a pool config without its password:
// "host:port/database as user u".
func describe(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	host := c.Host
	if strings.HasPrefix(host, "/") {
		host = "unix:" + host // a socket directory
	}
	return fmt.Sprintf("%s:%d/%s as user %s", host, c.Port, c.Database, c.User)
}

const redactedPassword = "xxxxx"

var (
	// password=secret or password='se cret' in a keyword/value DSN or a query string.
	dsnPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]*)`)
	// scheme://user:secret@ in a URL that net/url refuses to parse.
	urlUserinfo = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*://[^:/?#@]*):.*@`)
)

// Redact returns databaseURL with its password replaced by "xxxxx", wherever it appears: in the
// userinfo of a URL, in a password= query parameter, or in a keyword/value DSN. Use it whenever a
// database URL is logged or shown.
func Redact(databaseURL string) string {
	if u, err := url.Parse(databaseURL); err == nil && u.Scheme != "" && u.Opaque == "" {
		if u.User != nil {
			if _, ok := u.User.Password(); ok {
				u.User = url.UserPassword(u.User.Username(), redactedPassword)
			}
		}
		if u.RawQuery != "" {
			u.RawQuery = dsnPassword.ReplaceAllString(u.RawQuery, "${1}"+redactedPassword)
		}
		return u.String()
	}
	s := urlUserinfo.ReplaceAllString(databaseURL, "${1}:"+redactedPassword+"@")
	return dsnPassword.ReplaceAllString(s, "${1}"+redactedPassword)
}

// ErrWorkerSchemaMissing is returned by [CheckWorkerSchema].
var ErrWorkerSchemaMissing = errors.New("the worker schema is missing")

// CheckWorkerSchema checks that the worker schema's migrations were applied
// to db, and says what to run when they were not. Workers call it at start:
// without it every task would fail as a transient error.
func CheckWorkerSchema(ctx context.Context, db *pgxpool.Pool) error {
	var ok bool
	if err := db.QueryRow(ctx, `SELECT to_regclass('worker.goose_db_version') IS NOT NULL`).Scan(&ok); err != nil {
		return fmt.Errorf("postgres: %s: check the worker schema: %w", describe(db.Config()), err)
	}
	if !ok {
		return fmt.Errorf("postgres: %s: %w; run `tpictl migrate --mode worker-only` (on TestPlanIt's own database) or `tpictl migrate` (a fresh one)",
			describe(db.Config()), ErrWorkerSchemaMissing)
	}
	return nil
}
