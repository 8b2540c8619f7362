package testmoimport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// mappingEntry is one entry of the saved mapping configuration (reference section 4.4):
// map the Testmo row to an existing TestPlanIt row, or create one.
type mappingEntry struct {
	Action   string          `json:"action"`
	MappedTo json.RawMessage `json:"mappedTo,omitempty"`
	Name     string          `json:"name,omitempty"`
	Email    string          `json:"email,omitempty"`
	Password *string         `json:"password,omitempty"`
	Access   string          `json:"access,omitempty"`
	RoleID   *int32          `json:"roleId,omitempty"`
	IsActive *bool           `json:"isActive,omitempty"`
	IsAPI    *bool           `json:"isApi,omitempty"`
}

// target returns mappedTo as text ("12", "clx…"), "" when absent.
func (e mappingEntry) target() string {
	s := string(e.MappedTo)
	if s == "" || s == "null" {
		return ""
	}
	return unquote(e.MappedTo)
}

// mappingConfig is "TestmoImportJob".configuration: per section (workflows, statuses,
// users, …) the entries by Testmo id.
type mappingConfig map[string]map[string]mappingEntry

// configSection is the configuration section of a dataset.
func configSection(dataset string) string {
	switch dataset {
	case "states":
		return "workflows"
	case "milestone_types":
		return "milestoneTypes"
	case "configs":
		return "configurations"
	case "issue_targets":
		return "issueTargets"
	}
	return dataset // statuses, roles, tags, users, templates, groups
}

// entry returns the configured entry of a dataset's row; ok is false when none is configured
// (the default then applies: map by name or email, else create).
func (m mappingConfig) entry(dataset string, id ID) (mappingEntry, bool) {
	if !id.Valid {
		return mappingEntry{}, false
	}
	e, ok := m[configSection(dataset)][strconv.FormatInt(id.N, 10)]
	return e, ok && e.Action != ""
}

func parseConfig(raw json.RawMessage) (mappingConfig, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return mappingConfig{}, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%w is not a JSON object: %v", errConfig, err)
	}
	out := mappingConfig{}
	for section, v := range m {
		var entries map[string]mappingEntry
		if err := json.Unmarshal(v, &entries); err != nil {
			continue // sections we do not read (options, flags) may hold anything
		}
		for id, e := range entries {
			switch e.Action {
			case "", "map", "create", "map-variant", "create-variant-existing-category", "create-category-variant":
			default:
				return nil, fmt.Errorf("%w: %s[%s]: unknown action %q", errConfig, section, id, e.Action)
			}
			if e.Action == "map" && e.target() == "" {
				return nil, fmt.Errorf("%w: %s[%s]: action \"map\" without mappedTo", errConfig, section, id)
			}
		}
		out[section] = entries
	}
	return out, nil
}

// defaults are the TestPlanIt rows that stand in when a Testmo row does not say: the default
// template, the first workflow of each scope, the "untested" status, the default milestone
// type, a color for created statuses and workflows.
type defaults struct {
	template      int32
	workflow      map[string]int32 // by scope: CASES, RUNS, SESSIONS
	untested      int32
	milestoneType int32
	color, icon   int32
}

func loadDefaults(ctx context.Context, db *pgxpool.Pool) (defaults, error) {
	d := defaults{workflow: map[string]int32{}}
	one := func(what string, dst *int32, q string) error {
		err := db.QueryRow(ctx, q).Scan(dst)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: TestPlanIt has no %s to fall back on; create one first", errConfig, what)
		}
		if err != nil {
			return fmt.Errorf("look up the default %s: %w", what, err)
		}
		return nil
	}
	if err := one("template", &d.template, `SELECT id FROM "Templates" WHERE NOT "isDeleted" ORDER BY "isDefault" DESC, id LIMIT 1`); err != nil {
		return d, err
	}
	if err := one("status", &d.untested, `SELECT id FROM "Status" WHERE NOT "isDeleted"
		ORDER BY (lower("systemName") = 'untested') DESC, id LIMIT 1`); err != nil {
		return d, err
	}
	if err := one("milestone type", &d.milestoneType, `SELECT id FROM "MilestoneTypes" WHERE NOT "isDeleted" ORDER BY "isDefault" DESC, id LIMIT 1`); err != nil {
		return d, err
	}
	if err := one("color", &d.color, `SELECT id FROM "Color" ORDER BY id LIMIT 1`); err != nil {
		return d, err
	}
	if err := one("icon", &d.icon, `SELECT id FROM "FieldIcon" ORDER BY id LIMIT 1`); err != nil {
		return d, err
	}
	for _, scope := range []string{"CASES", "RUNS", "SESSIONS"} {
		var id int32
		if err := one("workflow state for "+scope, &id, `SELECT id FROM "Workflows" WHERE NOT "isDeleted" AND scope = '`+scope+`'
			ORDER BY "isDefault" DESC, "order", id LIMIT 1`); err != nil {
			return d, err
		}
		d.workflow[scope] = id
	}
	return d, nil
}

// importJob replays the staged export into TestPlanIt's tables, phase by phase from the
// checkpoints, then completes the job and enqueues the tenant's reindex.
func (h *Handler) importJob(ctx context.Context, db *pgxpool.Pool, tenantID string, js jobs, job *Job, prog *progress) error {
	switch {
	case job.Status == StatusReady:
	case job.Status == StatusRunning: // queued by the web app, or an interrupted attempt
	default:
		return fmt.Errorf("%w: the job is %s; import needs an analyzed job (READY)", errConfig, job.Status)
	}
	cfg, err := parseConfig(job.Configuration)
	if err != nil {
		return err
	}
	def, err := loadDefaults(ctx, db)
	if err != nil {
		return err
	}
	im := &importer{h: h, db: db, js: js, job: job, cfg: cfg, prog: prog, def: def, cache: map[string]map[int64]string{}}
	cps, err := im.checkpoints(ctx)
	if err != nil {
		return err
	}
	phases := im.phases()
	// Planned totals: each data phase's staged rows.
	sizes, err := stagedCounts(ctx, db, job.ID)
	if err != nil {
		return err
	}
	for _, ph := range phases {
		prog.plan(ph, sizes[ph.dataset])
		if cp, ok := cps[ph.name]; ok {
			prog.set(ph, cp.counts)
		}
	}
	start := h.now()
	cols := set{"status": StatusRunning, "phase": PhaseImporting, "lastImportStartedAt": start,
		"statusMessage": "Background import started"}
	if len(cps) > 0 {
		cols["statusMessage"] = "Background import resumed from its last checkpoint"
		prog.message(cols["statusMessage"].(string))
	} else {
		prog.message("Background import started")
	}
	if job.StartedAt == nil {
		cols["startedAt"] = start
	}
	if err := js.update(ctx, job.ID, cols); err != nil {
		return err
	}
	for _, ph := range phases {
		cp, ok := cps[ph.name]
		if !ok {
			cp.lastRow = -1 // rowIndex starts at 0
		}
		if err := im.run(ctx, ph, cp); err != nil {
			return err
		}
	}

	// Completion, as the original: COMPLETED, phase null, the configuration saved back.
	final, err := im.finalConfiguration(ctx)
	if err != nil {
		return err
	}
	end := h.now()
	began := start
	if job.StartedAt != nil {
		began = *job.StartedAt
	}
	prog.message("Import completed successfully.")
	if err := js.update(ctx, job.ID, set{"status": StatusCompleted, "phase": nil,
		"statusMessage": "Import completed successfully.", "completedAt": end,
		"durationMs": clampInt32(end.Sub(began).Milliseconds()), "currentEntity": nil,
		"estimatedTimeRemaining": nil, "processedCount": clampInt32(prog.processed),
		"activityLog": prog.acts, "entityProgress": prog.ents, "configuration": final}); err != nil {
		return err
	}
	prog.done(PhaseImporting, prog.processed, prog.total, "Import completed successfully.")
	if err := cleanup(ctx, db, job.ID); err != nil {
		worker.LoggerFrom(ctx).Warn("testmo import work tables not removed", "err", err)
	}
	// One reindex per import, deduplicated by its task ID, in the job's tenant.
	t, err := task.NewReindex(task.Reindex{EntityType: task.EntityAll, UserID: job.CreatedByID,
		ImportJobID: job.ID, TenantID: tenantID})
	if err == nil {
		_, err = task.Enqueue(ctx, h.Enqueuer, t)
	}
	if err != nil {
		worker.LoggerFrom(ctx).Error("reindex after testmo import not enqueued", "err", err)
	}
	return nil
}

func stagedCounts(ctx context.Context, db *pgxpool.Pool, jobID string) (map[string]int64, error) {
	// The staged rows, not the summaries' "rowCount": that one counts the rows the snapshot
	// rule skipped too, which no phase will ever process.
	rows, err := db.Query(ctx, `SELECT "datasetName", count(*) FROM "TestmoImportStaging" WHERE "jobId" = $1 GROUP BY 1`, jobID)
	if err != nil {
		return nil, fmt.Errorf("count the staged rows: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var n string
		var c int64
		if err := rows.Scan(&n, &c); err != nil {
			return nil, err
		}
		out[n] = c
	}
	return out, rows.Err()
}

// finalConfiguration is the job's configuration as the original saves it back when the
// import completes: every user entry becomes {action: "map", mappedTo: <the user's id>}, and
// the passwords typed for created users are gone (the original kept them in plain text).
func (im *importer) finalConfiguration(ctx context.Context) (any, error) {
	if len(im.job.Configuration) == 0 || string(im.job.Configuration) == "null" {
		return nil, nil
	}
	var cfg map[string]any
	if err := json.Unmarshal(im.job.Configuration, &cfg); err != nil {
		return nil, fmt.Errorf("%w is not a JSON object: %v", errConfig, err)
	}
	users, _ := cfg["users"].(map[string]any)
	if len(users) == 0 {
		return cfg, nil
	}
	tx, err := im.db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read only
	m, err := im.cachedMap(ctx, tx, "users")
	if err != nil {
		return nil, err
	}
	for id, v := range users {
		entry, _ := v.(map[string]any)
		if entry == nil {
			continue
		}
		delete(entry, "password")
		if n, err := strconv.ParseInt(id, 10, 64); err == nil {
			if target, ok := m[n]; ok {
				entry["action"], entry["mappedTo"] = "map", target
			}
		}
	}
	return cfg, nil
}
