package issuesync

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/tracker"
)

// Store is the SQL of the issue-sync tasks on one tenant's database:
// TestPlanIt's "Integration", "UserIntegrationAuth" and "Issue" tables.
type Store struct {
	db *pgxpool.Pool
}

// NewStore returns the store of db, a tenant's pool opened by the runtime
// (timestamps bound and read as UTC).
func NewStore(db *pgxpool.Pool) *Store { return &Store{db: db} }

// ErrIntegrationNotFound is returned, wrapped, by [Store.LoadIntegration]
// when no "Integration" row has the id.
var ErrIntegrationNotFound = errors.New("integration not found")

// ErrIssueNotFound is returned, wrapped, when no "Issue" row of the
// integration matches a fetched issue: the sync never creates issues. The
// message is the original's, which TestPlanIt's pages show.
//
//lint:ignore ST1005 the original's message, word for word
var ErrIssueNotFound = errors.New("Issues must be created through the UI before they can be synced")

// Integration is an "Integration" row with the requesting user's newest
// active "UserIntegrationAuth", as stored: credentials and tokens are still
// encrypted.
type Integration struct {
	ID        int
	Name      string
	Provider  string // "IntegrationProvider": JIRA, GITHUB, AZURE_DEVOPS, LINEAR, SIMPLE_URL
	AuthType  string // "IntegrationAuthType": NONE, OAUTH2, PERSONAL_ACCESS_TOKEN, API_KEY
	Status    string // "IntegrationStatus": ACTIVE, INACTIVE, ERROR
	IsDeleted bool
	// Credentials is the raw JSON column: {"encrypted": "<base64>"} or
	// plain JSON.
	Credentials []byte
	// Settings is the raw JSON column (baseUrl, organizationUrl, project,
	// owner, repo, ...); nil when NULL.
	Settings []byte
	// Auth is the user's newest active auth row, nil when there is none.
	Auth *UserAuth
}

// UserAuth is a "UserIntegrationAuth" row; the tokens are encrypted in the
// original's format.
type UserAuth struct {
	ID             string
	UserID         string
	AccessToken    string
	RefreshToken   string // "" when NULL
	TokenExpiresAt *time.Time
	AdditionalData []byte // raw JSON, nil when NULL
}

// LoadIntegration reads integration id with userID's newest active
// (isActive) auth row. A missing integration is an error wrapping
// [ErrIntegrationNotFound]; whether it may be synced is for the caller
// ([Integration.check]).
func (s *Store) LoadIntegration(ctx context.Context, id int, userID string) (*Integration, error) {
	in := &Integration{}
	var (
		authID, authUser, access, refresh *string
		expires                           *time.Time
		additional                        []byte
	)
	err := s.db.QueryRow(ctx, `
SELECT i.id, i.name, i.provider::text, i."authType"::text, i.status::text, i."isDeleted",
       i.credentials::text, i.settings::text,
       a.id, a."userId", a."accessToken", a."refreshToken", a."tokenExpiresAt", a."additionalData"::text
FROM "Integration" i
LEFT JOIN LATERAL (
  SELECT * FROM "UserIntegrationAuth" a
  WHERE a."integrationId" = i.id AND a."userId" = $2 AND a."isActive"
  ORDER BY a."updatedAt" DESC, a.id
  LIMIT 1
) a ON true
WHERE i.id = $1`, id, userID).Scan(&in.ID, &in.Name, &in.Provider, &in.AuthType, &in.Status, &in.IsDeleted,
		&in.Credentials, &in.Settings, &authID, &authUser, &access, &refresh, &expires, &additional)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("issuesync: integration %d: %w", id, ErrIntegrationNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("issuesync: loading integration %d: %w", id, err)
	}
	if authID != nil {
		in.Auth = &UserAuth{ID: *authID, UserID: deref(authUser), AccessToken: deref(access),
			RefreshToken: deref(refresh), TokenExpiresAt: expires, AdditionalData: additional}
	}
	return in, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// IssueRow is what a sync reads of a local "Issue" to fetch it again.
type IssueRow struct {
	ID          int
	ProjectID   *int
	Name        string
	ExternalID  string // "" when NULL
	ExternalKey string // "" when NULL
	ExternalURL string // "" when NULL
	// ExternalData is the raw "externalData" JSON, nil when NULL.
	ExternalData []byte
}

// CountIssues counts the issues of the integration (of one project when
// projectID > 0), as the original's total.
func (s *Store) CountIssues(ctx context.Context, integrationID, projectID int) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, `
SELECT count(*) FROM "Issue"
WHERE "integrationId" = $1 AND ($2 = 0 OR "projectId" = $2)`, integrationID, projectID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("issuesync: counting issues of integration %d: %w", integrationID, err)
	}
	return n, nil
}

// IssuePage returns up to limit issues of the integration (of one project
// when projectID > 0) whose id is above afterID, in id order: keyset
// pagination, so rows are neither skipped nor repeated while others change
// (the original used skip/take without ORDER BY).
func (s *Store) IssuePage(ctx context.Context, integrationID, projectID, afterID, limit int) ([]IssueRow, error) {
	rows, err := s.db.Query(ctx, `
SELECT id, "projectId", name, coalesce("externalId", ''), coalesce("externalKey", ''),
       coalesce("externalUrl", ''), "externalData"::text
FROM "Issue"
WHERE "integrationId" = $1 AND ($2 = 0 OR "projectId" = $2) AND id > $3
ORDER BY id
LIMIT $4`, integrationID, projectID, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("issuesync: reading issues of integration %d: %w", integrationID, err)
	}
	page, err := pgx.CollectRows(rows, scanIssueRow)
	if err != nil {
		return nil, fmt.Errorf("issuesync: reading issues of integration %d: %w", integrationID, err)
	}
	return page, nil
}

func scanIssueRow(r pgx.CollectableRow) (IssueRow, error) {
	var row IssueRow
	var data *string
	err := r.Scan(&row.ID, &row.ProjectID, &row.Name, &row.ExternalID, &row.ExternalKey, &row.ExternalURL, &data)
	if data != nil {
		row.ExternalData = []byte(*data)
	}
	return row, err
}

// FindIssue returns the integration's issue whose "externalId" or
// "externalKey" is ref (an id or key as the web app sends it), preferring
// an "externalId" match, then the lowest id; nil when there is none.
func (s *Store) FindIssue(ctx context.Context, integrationID int, ref string) (*IssueRow, error) {
	rows, err := s.db.Query(ctx, `
SELECT id, "projectId", name, coalesce("externalId", ''), coalesce("externalKey", ''),
       coalesce("externalUrl", ''), "externalData"::text
FROM "Issue"
WHERE "integrationId" = $1 AND ("externalId" = $2 OR "externalKey" = $2)
ORDER BY ("externalId" = $2) DESC NULLS LAST, id
LIMIT 1`, integrationID, ref)
	if err != nil {
		return nil, fmt.Errorf("issuesync: looking up issue %q: %w", ref, err)
	}
	found, err := pgx.CollectRows(rows, scanIssueRow)
	if err != nil {
		return nil, fmt.Errorf("issuesync: looking up issue %q: %w", ref, err)
	}
	if len(found) == 0 {
		return nil, nil
	}
	return &found[0], nil
}

// Update is one fetched issue to write into the local row RowID.
type Update struct {
	RowID int
	Issue *tracker.Issue
}

// Updated is a row an update wrote.
type Updated struct {
	RowID     int
	ProjectID *int
}

// RowError is an update that failed for its row alone (a unique
// constraint, usually: another row of the integration already has the
// fetched id).
type RowError struct {
	RowID int
	Err   error
}

// updateSQL writes fetched issues into their rows as the original's
// SyncService.updateExistingIssue does (reference section 7.2): name = key
// ?? id, description ?? "", priority ?? "medium", externalId = id,
// externalStatus = status, externalData = customFields ?? {}, lastSyncedAt =
// now. What the provider left out (key, url, issue type, an empty status)
// keeps its stored value, as Prisma does with the original's undefined.
// The rows come as parallel arrays; $14 is now.
const updateSQL = `
UPDATE "Issue" i SET
  name = u.name,
  title = u.title,
  description = u.description,
  status = coalesce(u.status, i.status),
  priority = u.priority,
  "externalId" = u.eid,
  "externalKey" = coalesce(u.ekey, i."externalKey"),
  "externalUrl" = coalesce(u.url, i."externalUrl"),
  "externalStatus" = coalesce(u.status, i."externalStatus"),
  "externalData" = u.data::jsonb,
  "issueTypeId" = coalesce(u.tid, i."issueTypeId"),
  "issueTypeName" = coalesce(u.tname, i."issueTypeName"),
  "issueTypeIconUrl" = coalesce(u.ticon, i."issueTypeIconUrl"),
  "lastSyncedAt" = $14
FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
            $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])
     AS u(id, name, title, description, status, priority, eid, ekey, url, data, tid, tname, ticon)
WHERE i.id = u.id
RETURNING i.id, i."projectId"`

// UpdateIssues writes the fetched issues into their rows in one statement,
// at now. When the statement fails on a row's constraint, the rows are
// written one by one so that only the offending ones fail; those come back
// as RowErrors. A database failure is returned as the error.
func (s *Store) UpdateIssues(ctx context.Context, now time.Time, ups []Update) ([]Updated, []RowError, error) {
	if len(ups) == 0 {
		return nil, nil, nil
	}
	done, err := s.update(ctx, now, ups)
	if err == nil {
		return done, nil, nil
	}
	if !isRowError(err) {
		return nil, nil, fmt.Errorf("issuesync: updating issues: %w", err)
	}
	done = done[:0]
	var failed []RowError
	for _, u := range ups {
		d, err := s.update(ctx, now, []Update{u})
		switch {
		case err == nil:
			done = append(done, d...)
		case isRowError(err):
			failed = append(failed, RowError{RowID: u.RowID, Err: fmt.Errorf("updating issue %d: %w", u.RowID, err)})
		default:
			return done, failed, fmt.Errorf("issuesync: updating issue %d: %w", u.RowID, err)
		}
	}
	return done, failed, nil
}

func (s *Store) update(ctx context.Context, now time.Time, ups []Update) ([]Updated, error) {
	n := len(ups)
	ids := make([]int, n)
	strs := func() []string { return make([]string, n) }
	ptrs := func() []*string { return make([]*string, n) }
	names, titles, descs, prios, eids, datas := strs(), strs(), strs(), strs(), strs(), strs()
	statuses, ekeys, urls, tids, tnames, ticons := ptrs(), ptrs(), ptrs(), ptrs(), ptrs(), ptrs()
	for i, u := range ups {
		is := u.Issue
		ids[i] = u.RowID
		names[i] = cmp.Or(is.Key, is.ID)
		titles[i] = is.Title
		descs[i] = is.Description
		statuses[i] = opt(is.Status)
		prios[i] = cmp.Or(is.Priority, "medium")
		eids[i] = is.ID
		ekeys[i] = opt(is.Key)
		urls[i] = opt(is.URL)
		datas[i] = "{}"
		if len(is.CustomFields) > 0 {
			b, err := json.Marshal(is.CustomFields)
			if err != nil {
				return nil, fmt.Errorf("encoding the custom fields of %s: %w", is.ID, err)
			}
			datas[i] = string(b)
		}
		if is.Type != nil {
			tids[i], tnames[i], ticons[i] = opt(is.Type.ID), opt(is.Type.Name), opt(is.Type.IconURL)
		}
	}
	rows, err := s.db.Query(ctx, updateSQL, ids, names, titles, descs, statuses, prios, eids, ekeys, urls, datas,
		tids, tnames, ticons, now)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Updated, error) {
		var u Updated
		err := r.Scan(&u.RowID, &u.ProjectID)
		return u, err
	})
}

// opt is nil for "", else &s.
func opt(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// isRowError reports whether err is a constraint or data error of a row
// (SQLSTATE classes 22 and 23) rather than a database failure.
func isRowError(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || len(pe.Code) < 2 {
		return false
	}
	return pe.Code[:2] == "23" || pe.Code[:2] == "22"
}

// MatchIssue returns the id of the integration's row that a fetched issue
// belongs to, matched as the original does: "externalId" ∈ {id, key} or
// "externalKey" ∈ {key, id} (an absent key is left out, where Prisma's
// undefined would match every row), preferring prefer when it matches, then
// an "externalId" equal to the id, then the lowest id. It is an error
// wrapping [ErrIssueNotFound] when none matches.
func (s *Store) MatchIssue(ctx context.Context, integrationID int, is *tracker.Issue, prefer int) (int, error) {
	keys := []string{is.ID}
	if is.Key != "" && is.Key != is.ID {
		keys = append(keys, is.Key)
	}
	var id int
	err := s.db.QueryRow(ctx, `
SELECT id FROM "Issue"
WHERE "integrationId" = $1 AND ("externalId" = ANY($2) OR "externalKey" = ANY($2))
ORDER BY (id = $3) DESC, ("externalId" = $4) DESC NULLS LAST, id
LIMIT 1`, integrationID, keys, prefer, is.ID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		name := is.Key
		if name == "" {
			name = is.ID
		}
		return 0, fmt.Errorf("issue %s not found in local database: %w", name, ErrIssueNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("issuesync: looking up issue %s: %w", is.ID, err)
	}
	return id, nil
}

// saveTokensSQL writes an auth row's tokens ($2 access, $3 refresh: NULL
// keeps the stored one, $4 expiry) and "updatedAt" ($5) into row $1.
const saveTokensSQL = `
UPDATE "UserIntegrationAuth"
SET "accessToken" = $2, "refreshToken" = coalesce($3, "refreshToken"), "tokenExpiresAt" = $4, "updatedAt" = $5
WHERE id = $1`

// SaveTokens writes refreshed OAuth tokens, encrypted in the original's
// format by the caller, into auth row id, with "updatedAt" = now as Prisma's
// @updatedAt would. An empty refresh token keeps the stored one.
func (s *Store) SaveTokens(ctx context.Context, authID, access, refresh string, expiresAt *time.Time, now time.Time) error {
	tag, err := s.db.Exec(ctx, saveTokensSQL, authID, access, opt(refresh), expiresAt, now)
	if err != nil {
		return fmt.Errorf("issuesync: saving refreshed tokens of auth %s: %w", authID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("issuesync: saving refreshed tokens: auth %s no longer exists", authID)
	}
	return nil
}

// StoredTokens are an auth row's OAuth tokens, encrypted as stored.
type StoredTokens struct {
	Access, Refresh string // "" when NULL
	ExpiresAt       *time.Time
}

// UpdateTokensLocked runs update with auth row authID's tokens while it
// holds the row's lock (SELECT ... FOR UPDATE), and stores what update
// returns when it says so, with "updatedAt" = now() as Prisma's @updatedAt
// would; an empty refresh token keeps the stored one. The processes
// refreshing a grant through it do so one after the other, each seeing
// what the one before stored. update may take a network round trip: the
// lock is the row's, and TestPlanIt's own writes to it wait as long.
func (s *Store) UpdateTokensLocked(ctx context.Context, authID string, now func() time.Time,
	update func(StoredTokens) (next StoredTokens, store bool, err error)) error {
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var cur StoredTokens
		var access, refresh *string
		err := tx.QueryRow(ctx, `
SELECT "accessToken", "refreshToken", "tokenExpiresAt" FROM "UserIntegrationAuth" WHERE id = $1 FOR UPDATE`,
			authID).Scan(&access, &refresh, &cur.ExpiresAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("issuesync: refreshing tokens: auth %s no longer exists", authID)
		}
		if err != nil {
			return fmt.Errorf("issuesync: locking the tokens of auth %s: %w", authID, err)
		}
		cur.Access, cur.Refresh = deref(access), deref(refresh)
		next, store, err := update(cur)
		if err != nil || !store {
			return err
		}
		if _, err := tx.Exec(ctx, saveTokensSQL, authID, next.Access, opt(next.Refresh), next.ExpiresAt, now().UTC()); err != nil {
			return fmt.Errorf("issuesync: saving refreshed tokens of auth %s: %w", authID, err)
		}
		return nil
	})
}

// SetLastSyncAt records a completed bulk sync on the integration. It leaves
// "updatedAt" alone: that tells when an administrator changed the
// integration.
func (s *Store) SetLastSyncAt(ctx context.Context, integrationID int, now time.Time) error {
	if _, err := s.db.Exec(ctx, `UPDATE "Integration" SET "lastSyncAt" = $2 WHERE id = $1`, integrationID, now); err != nil {
		return fmt.Errorf("issuesync: setting lastSyncAt of integration %d: %w", integrationID, err)
	}
	return nil
}
