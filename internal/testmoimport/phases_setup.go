package testmoimport

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/testplanit/tpi-workers/internal/cuid"
)

// The configuration phases: small datasets, each row mapped (by the configuration, else by
// name or e-mail) or created. They read one row at a time; their datasets hold dozens of rows.

// setupRow is the columns the configuration datasets use.
type setupRow struct {
	ID         ID    `json:"id"`
	Name       Text  `json:"name"`
	SystemName Text  `json:"system_name"`
	Email      Text  `json:"email"`
	FullName   Text  `json:"full_name"`
	IsActive   *Flag `json:"is_active"`
	IsAPI      Flag  `json:"is_api"`
	IsPassed   Flag  `json:"is_passed"`
	IsFailed   Flag  `json:"is_failed"`
	IsFinal    Flag  `json:"is_final"`
	IsDefault  Flag  `json:"is_default"`
	Type       ID    `json:"type"`
	URL        Text  `json:"url"`
}

// setupPhase builds a configuration phase: find returns the existing row's id ("" if none),
// create inserts one and returns its id.
func setupPhase(name, label, dataset, targetType string,
	find func(ctx context.Context, c *chunk, r *setupRow) (string, error),
	create func(ctx context.Context, c *chunk, r *setupRow, e mappingEntry) (string, error)) *phase {
	return &phase{name: name, label: label, dataset: dataset, chunk: 10000,
		rows: func(ctx context.Context, c *chunk) error {
			return each(c, func(r *setupRow) error {
				e, configured := c.im.cfg.entry(dataset, r.ID)
				switch {
				case configured && e.Action == "map" || configured && e.Action == "map-variant":
					return c.mapID(dataset, r.ID, e.target(), targetType, false)
				case configured && e.Action != "":
					// create (or a configuration variant to create)
				default:
					id, err := find(ctx, c, r)
					if err != nil {
						return err
					}
					if id != "" {
						return c.mapID(dataset, r.ID, id, targetType, false)
					}
				}
				id, err := create(ctx, c, r, e)
				if err != nil {
					return err
				}
				return c.mapID(dataset, r.ID, id, targetType, true)
			})
		}}
}

// queryID runs a query returning one id, "" when it finds none.
func queryID(ctx context.Context, c *chunk, q string, args ...any) (string, error) {
	var id any
	err := c.tx.QueryRow(ctx, q, args...).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("testmo import: %s: %w", c.phase.label, err)
	}
	return fmt.Sprint(id), nil
}

func orText(t Text, def string) string {
	if t == "" {
		return def
	}
	return string(t)
}

func entryName(e mappingEntry, r *setupRow) string {
	if e.Name != "" {
		return e.Name
	}
	return orText(r.Name, "Imported "+strconv.FormatInt(r.ID.N, 10))
}

func (im *importer) setupPhases() []*phase {
	byName := func(table, col string) func(ctx context.Context, c *chunk, r *setupRow) (string, error) {
		return func(ctx context.Context, c *chunk, r *setupRow) (string, error) {
			return queryID(ctx, c, fmt.Sprintf(`SELECT id FROM %q WHERE lower(%q) = lower($1) AND NOT "isDeleted" ORDER BY id LIMIT 1`, table, col), string(r.Name))
		}
	}
	return []*phase{
		setupPhase("workflows", "Workflows", "states", "Workflows", byName("Workflows", "name"),
			func(ctx context.Context, c *chunk, r *setupRow, e mappingEntry) (string, error) {
				return queryID(ctx, c, `INSERT INTO "Workflows" (name, "iconId", "colorId", scope) VALUES ($1, $2, $3, 'CASES') RETURNING id`,
					entryName(e, r), c.im.def.icon, c.im.def.color)
			}),
		setupPhase("statuses", "Statuses", "statuses", "Status",
			func(ctx context.Context, c *chunk, r *setupRow) (string, error) {
				return queryID(ctx, c, `SELECT id FROM "Status" WHERE NOT "isDeleted" AND (lower("systemName") = lower($1) OR lower(name) = lower($2))
					ORDER BY (lower("systemName") = lower($1)) DESC, id LIMIT 1`, orText(r.SystemName, string(r.Name)), string(r.Name))
			},
			func(ctx context.Context, c *chunk, r *setupRow, e mappingEntry) (string, error) {
				sys := orText(r.SystemName, string(r.Name))
				// "systemName" is unique: a clash with a deleted status gets the Testmo id appended.
				return queryID(ctx, c, `INSERT INTO "Status" (name, "systemName", "colorId", "isEnabled", "isSuccess", "isFailure", "isCompleted")
					VALUES ($1, CASE WHEN EXISTS (SELECT 1 FROM "Status" WHERE "systemName" = $2) THEN $2 || '_' || $7 ELSE $2 END,
					$3, true, $4, $5, $6) RETURNING id`, entryName(e, r), sys, c.im.def.color,
					bool(r.IsPassed), bool(r.IsFailed), bool(r.IsFinal), strconv.FormatInt(r.ID.N, 10))
			}),
		setupPhase("roles", "Roles", "roles", "Roles", byName("Roles", "name"),
			func(ctx context.Context, c *chunk, r *setupRow, e mappingEntry) (string, error) {
				return queryID(ctx, c, `INSERT INTO "Roles" (name) VALUES ($1) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id`, entryName(e, r))
			}),
		setupPhase("tags", "Tags", "tags", "Tags", byName("Tags", "name"),
			func(ctx context.Context, c *chunk, r *setupRow, e mappingEntry) (string, error) {
				return queryID(ctx, c, `INSERT INTO "Tags" (name) VALUES ($1) RETURNING id`, entryName(e, r))
			}),
		setupPhase("milestoneTypes", "Milestone Types", "milestone_types", "MilestoneTypes", byName("MilestoneTypes", "name"),
			func(ctx context.Context, c *chunk, r *setupRow, e mappingEntry) (string, error) {
				return queryID(ctx, c, `INSERT INTO "MilestoneTypes" (name) VALUES ($1) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id`, entryName(e, r))
			}),
		setupPhase("configurations", "Configurations", "configs", "Configurations", byName("Configurations", "name"),
			func(ctx context.Context, c *chunk, r *setupRow, e mappingEntry) (string, error) {
				return queryID(ctx, c, `INSERT INTO "Configurations" (name) VALUES ($1) RETURNING id`, entryName(e, r))
			}),
		setupPhase("templates", "Templates", "templates", "Templates", byName("Templates", "templateName"),
			func(ctx context.Context, c *chunk, r *setupRow, e mappingEntry) (string, error) {
				return queryID(ctx, c, `INSERT INTO "Templates" ("templateName", "isEnabled", "isDefault") VALUES ($1, true, false) RETURNING id`, entryName(e, r))
			}),
		setupPhase("users", "Users", "users", "User",
			func(ctx context.Context, c *chunk, r *setupRow) (string, error) {
				if r.Email == "" {
					return "", c.fail("user has no email")
				}
				return queryID(ctx, c, `SELECT id FROM "User" WHERE lower(email) = lower($1) LIMIT 1`, string(r.Email))
			},
			func(ctx context.Context, c *chunk, r *setupRow, e mappingEntry) (string, error) {
				email := orText(Text(e.Email), string(r.Email))
				if email == "" {
					return "", c.fail("user has no email")
				}
				// A configured "create" whose email already exists becomes a map, as the original.
				if id, err := queryID(ctx, c, `SELECT id FROM "User" WHERE lower(email) = lower($1) LIMIT 1`, email); err != nil || id != "" {
					return id, err
				}
				// No password given: "!" matches no bcrypt hash, so the account needs a reset
				// before anyone can sign in; a given one is hashed, never stored as typed.
				password := "!"
				if e.Password != nil && *e.Password != "" {
					h, err := bcrypt.GenerateFromPassword([]byte(*e.Password), bcrypt.DefaultCost)
					if err != nil {
						return "", err
					}
					password = string(h)
				}
				access := e.Access
				if access == "" {
					access = "USER"
				}
				active := r.IsActive == nil || bool(*r.IsActive)
				if e.IsActive != nil {
					active = *e.IsActive
				}
				isAPI := bool(r.IsAPI)
				if e.IsAPI != nil {
					isAPI = *e.IsAPI
				}
				name := e.Name
				if name == "" {
					name = orText(r.Name, orText(r.FullName, email))
				}
				id := cuid.New()
				_, err := c.tx.Exec(ctx, `INSERT INTO "User" (id, name, email, password, access, "roleId", "isActive", "isApi", "createdById", "updatedAt")
					VALUES ($1, $2, $3, $4, $5::"Access", COALESCE($6, (SELECT id FROM "Roles" WHERE "isDefault" ORDER BY id LIMIT 1), 1), $7, $8, $9, $10)`,
					id, name, email, password, access, e.RoleID, active, isAPI, c.im.job.CreatedByID, c.now())
				if err != nil {
					return "", fmt.Errorf("create user %s: %w", email, err)
				}
				return id, nil
			}),
		setupPhase("issueTargets", "Issue Targets", "issue_targets", "Integration", byName("Integration", "name"),
			func(ctx context.Context, c *chunk, r *setupRow, e mappingEntry) (string, error) {
				provider := "SIMPLE_URL"
				switch r.Type.N {
				case 1, 4:
					provider = "JIRA"
				case 2:
					provider = "GITHUB"
				case 3:
					provider = "AZURE_DEVOPS"
				}
				settings := map[string]any{"baseUrl": string(r.URL)}
				return queryID(ctx, c, `INSERT INTO "Integration" (name, provider, "authType", credentials, settings, "updatedAt")
					VALUES ($1, $2::"IntegrationProvider", 'NONE', '{}', $3, $4) RETURNING id`, entryName(e, r), provider, settings, c.now())
			}),
	}
}
