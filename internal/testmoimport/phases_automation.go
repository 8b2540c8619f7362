package testmoimport

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// The automation phases: Testmo's automation cases become JUnit repository cases in an
// "Automation" folder of their project, its automation runs JUnit test runs with one suite
// each, its run tests a run case plus a JUnit result.

type automationCaseRow struct {
	ID        ID   `json:"id"`
	ProjectID ID   `json:"project_id"`
	Name      Text `json:"name"`
	Folder    Text `json:"folder"`
	CreatedAt Time `json:"created_at"`
}

type automationRunRow struct {
	ID          ID    `json:"id"`
	ProjectID   ID    `json:"project_id"`
	ConfigID    ID    `json:"config_id"`
	MilestoneID ID    `json:"milestone_id"`
	Name        Text  `json:"name"`
	Elapsed     ID    `json:"elapsed"` // microseconds
	IsCompleted *Flag `json:"is_completed"`
	CompletedAt Time  `json:"completed_at"`
	TotalCount  ID    `json:"total_count"`
	CreatedAt   Time  `json:"created_at"`
	CreatedBy   ID    `json:"created_by"`
}

type automationTestRow struct {
	ID       ID   `json:"id"`
	RunID    ID   `json:"run_id"`
	CaseID   ID   `json:"case_id"`
	Name     Text `json:"name"`
	Status   Text `json:"status"`
	StatusID ID   `json:"status_id"`
	Elapsed  ID   `json:"elapsed"` // microseconds
}

type automationFieldRow struct {
	RunID  ID   `json:"run_id"`
	TestID ID   `json:"test_id"`
	Name   Text `json:"name"`
	Type   ID   `json:"type"`
	Value  Text `json:"value"`
}

// maxFieldValue caps one automation test field merged into a JUnit result, as the original.
const maxFieldValue = 500_000

func (im *importer) automationPhases() []*phase {
	return []*phase{
		{name: "automationCases", label: "Automation Cases", dataset: "automation_cases", chunk: 1000, rows: im.automationCases},
		{name: "automationRuns", label: "Automation Runs", dataset: "automation_runs", chunk: 500, rows: im.automationRuns},
		{name: "automationRunTests", label: "Automation Run Tests", dataset: "automation_run_tests", chunk: 2000, rows: im.automationTests},
		{name: "automationSuites", label: "Automation Runs", fix: func(ctx context.Context, c *chunk) error {
			// The suites' totals, from their results, as the original recomputes them.
			_, err := c.tx.Exec(ctx, `UPDATE "JUnitTestSuite" s SET tests = t.n, failures = t.failures, errors = t.errors,
					skipped = t.skipped, time = t.time
				FROM (SELECT "testSuiteId", count(*)::int AS n,
						count(*) FILTER (WHERE type = 'FAILURE')::int AS failures,
						count(*) FILTER (WHERE type = 'ERROR')::int AS errors,
						count(*) FILTER (WHERE type = 'SKIPPED')::int AS skipped,
						COALESCE(sum(time), 0) AS time
					FROM "JUnitTestResult" GROUP BY "testSuiteId") t
				WHERE s.id = t."testSuiteId" AND s."testRunId" IN (SELECT "targetId"::int FROM "TestmoImportMapping"
					WHERE "jobId" = $1 AND "entityType" = 'automation_runs')`, c.im.job.ID)
			return err
		}},
		{name: "automationRunFields", label: "Automation Run Fields", dataset: "automation_run_fields", chunk: 1000, rows: im.automationRunFields},
		// TestPlanIt keeps these links as attachments, a table outside the subset.
		skipPhase("automationRunLinks", "Automation Run Links", "automation_run_links"),
		{name: "automationRunTestFields", label: "Automation Run Test Fields", dataset: "automation_run_test_fields", chunk: 1000, rows: im.automationTestFields},
		pairPhase("automationRunTags", "Automation Run Tags", "automation_run_tags", "_TagsToTestRuns",
			side{"tags", "tag_id", func(r *pairRow) ID { return r.TagID }},
			side{"automation_runs", "run_id", func(r *pairRow) ID { return r.RunID }}),
	}
}

// automationFolder returns the repository and the root "Automation" folder of a project,
// creating either when missing.
func (c *chunk) automationFolder(ctx context.Context, project int32) (repo, folder int32, err error) {
	err = c.tx.QueryRow(ctx, `SELECT id FROM "Repositories" WHERE "projectId" = $1 AND NOT "isDeleted"
		ORDER BY "isArchived", id LIMIT 1`, project).Scan(&repo)
	if err != nil {
		if err = c.tx.QueryRow(ctx, `INSERT INTO "Repositories" ("projectId") VALUES ($1) RETURNING id`, project).Scan(&repo); err != nil {
			return 0, 0, fmt.Errorf("testmo import: %s: create a repository for project %d: %w", c.phase.label, project, err)
		}
	}
	err = c.tx.QueryRow(ctx, `SELECT id FROM "RepositoryFolders" WHERE "projectId" = $1 AND "repositoryId" = $2
		AND "parentId" IS NULL AND name = 'Automation' AND NOT "isDeleted" ORDER BY id LIMIT 1`, project, repo).Scan(&folder)
	if err != nil {
		if err = c.tx.QueryRow(ctx, `INSERT INTO "RepositoryFolders" ("projectId", "repositoryId", name, "creatorId")
			VALUES ($1, $2, 'Automation', $3) RETURNING id`, project, repo, c.im.job.CreatedByID).Scan(&folder); err != nil {
			return 0, 0, fmt.Errorf("testmo import: %s: create the Automation folder of project %d: %w", c.phase.label, project, err)
		}
	}
	return repo, folder, nil
}

func (im *importer) automationCases(ctx context.Context, c *chunk) error {
	var rf refs
	_ = each(c, func(r *automationCaseRow) error { rf.want("projects", r.ProjectID); return nil })
	if err := rf.resolve(ctx, c); err != nil {
		return err
	}
	// (projectId, name, className, source) is unique: a JUnit case that is there already
	// (an earlier import, or a repeat in the export) is mapped, and undeleted, as the original.
	type key struct {
		project   int32
		name, cls string
	}
	name := func(r *automationCaseRow) string { return orText(r.Name, "Automation Case "+fmt.Sprint(r.ID.N)) }
	var ps []int32
	var ns []string
	_ = each(c, func(r *automationCaseRow) error {
		if p, ok := rf.getInt("projects", r.ProjectID); ok {
			ps, ns = append(ps, p), append(ns, name(r))
		}
		return nil
	})
	seen := map[key]int32{}
	if len(ps) > 0 {
		rows, err := c.tx.Query(ctx, `SELECT "projectId", name, COALESCE("className", ''), min(id) FROM "RepositoryCases"
			WHERE source = 'JUNIT' AND ("projectId", name) IN (SELECT * FROM unnest($1::int[], $2::text[]))
			GROUP BY 1, 2, 3`, ps, ns)
		if err != nil {
			return fmt.Errorf("testmo import: %s: look up existing cases: %w", c.phase.label, err)
		}
		for rows.Next() {
			var k key
			var id int32
			if err := rows.Scan(&k.project, &k.name, &k.cls, &id); err != nil {
				rows.Close()
				return err
			}
			seen[k] = id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	ids, err := c.nextIDs(ctx, "RepositoryCases", len(c.rows))
	if err != nil {
		return err
	}
	type place struct{ repo, folder int32 }
	places := map[int32]place{}
	var rows [][]any
	var mapped []int32
	i := 0
	err = each(c, func(r *automationCaseRow) error {
		project, err := rf.must(c, "projects", r.ProjectID, "project_id")
		if err != nil {
			return err
		}
		k := key{project, name(r), strings.TrimSpace(string(r.Folder))}
		if id, ok := seen[k]; ok {
			mapped = append(mapped, id)
			return c.mapID("automation_cases", r.ID, id, "RepositoryCases", false)
		}
		pl, ok := places[project]
		if !ok {
			if pl.repo, pl.folder, err = c.automationFolder(ctx, project); err != nil {
				return err
			}
			places[project] = pl
		}
		var cls any
		if k.cls != "" {
			cls = k.cls
		}
		id := ids[i]
		i++
		seen[k] = id
		rows = append(rows, []any{id, project, pl.repo, pl.folder, c.im.def.template, k.name, cls, "JUNIT",
			c.im.def.workflow["CASES"], true, int32(clampInt32(c.current)), r.CreatedAt.Or(c.now()), c.im.job.CreatedByID})
		return c.mapID("automation_cases", r.ID, id, "RepositoryCases", true)
	})
	if err != nil {
		return err
	}
	if len(mapped) > 0 {
		if _, err := c.tx.Exec(ctx, `UPDATE "RepositoryCases" SET "isDeleted" = false, automated = true
			WHERE id = ANY($1) AND ("isDeleted" OR NOT automated)`, mapped); err != nil {
			return fmt.Errorf("testmo import: %s: %w", c.phase.label, err)
		}
	}
	return c.copyRows(ctx, "RepositoryCases", []string{"id", "projectId", "repositoryId", "folderId", "templateId",
		"name", "className", "source", "stateId", "automated", "order", "createdAt", "creatorId"}, rows)
}

func (im *importer) automationRuns(ctx context.Context, c *chunk) error {
	var rf refs
	_ = each(c, func(r *automationRunRow) error {
		rf.want("projects", r.ProjectID)
		rf.want("configs", r.ConfigID)
		rf.want("milestones", r.MilestoneID)
		rf.want("users", r.CreatedBy)
		return nil
	})
	if err := rf.resolve(ctx, c); err != nil {
		return err
	}
	ids, err := c.nextIDs(ctx, "TestRuns", len(c.rows))
	if err != nil {
		return err
	}
	suites, err := c.nextIDs(ctx, "JUnitTestSuite", len(c.rows))
	if err != nil {
		return err
	}
	var runs, suiteRows [][]any
	i := 0
	err = each(c, func(r *automationRunRow) error {
		project, err := rf.must(c, "projects", r.ProjectID, "project_id")
		if err != nil {
			return err
		}
		created := r.CreatedAt.Or(c.now())
		done := r.IsCompleted == nil || bool(*r.IsCompleted)
		var completed any
		if done {
			completed = r.CompletedAt.Or(created)
		}
		var secs any
		if r.Elapsed.Valid {
			secs = float64(r.Elapsed.N) / 1e6
		}
		name := orText(r.Name, "Automation Run "+fmt.Sprint(r.ID.N))
		user := rf.user(c, r.CreatedBy)
		id := ids[i]
		runs = append(runs, []any{id, project, name, nil, nil, rf.opt("configs", r.ConfigID), rf.opt("milestones", r.MilestoneID),
			c.im.def.workflow["RUNS"], nil, micros(r.Elapsed), done, completed, created, user, "JUNIT"})
		var total any
		if r.TotalCount.Valid {
			total = clampInt32(r.TotalCount.N)
		}
		suiteRows = append(suiteRows, []any{suites[i], name, secs, total, created, id, created, user})
		i++
		return c.mapID("automation_runs", r.ID, id, "TestRuns", true)
	})
	if err != nil {
		return err
	}
	if err := c.copyRows(ctx, "TestRuns", testRunColumns, runs); err != nil {
		return err
	}
	return c.copyRows(ctx, "JUnitTestSuite", []string{"id", "name", "time", "tests", "timestamp", "testRunId",
		"createdAt", "createdById"}, suiteRows)
}

// junitType is the JUnit result type of a status, by its flags and names as the original:
// skip/block/omit → SKIPPED, error/exception → ERROR, failure → FAILURE, else PASSED.
func junitType(st statusInfo, raw string) string {
	has := func(needles ...string) bool {
		for _, s := range []string{strings.ToLower(raw), st.name, st.system} {
			for _, n := range needles {
				if s != "" && strings.Contains(s, n) {
					return true
				}
			}
		}
		return false
	}
	switch {
	case has("skip", "block", "omit"):
		return "SKIPPED"
	case has("error", "exception"):
		return "ERROR"
	case st.failure || has("fail"):
		return "FAILURE"
	}
	return "PASSED"
}

type statusInfo struct {
	name, system string
	failure      bool
}

func (im *importer) automationTests(ctx context.Context, c *chunk) error {
	var rf refs
	_ = each(c, func(r *automationTestRow) error {
		rf.want("automation_runs", r.RunID)
		rf.want("automation_cases", r.CaseID)
		rf.want("statuses", r.StatusID)
		return nil
	})
	if err := rf.resolve(ctx, c); err != nil {
		return err
	}
	// Each run's suite and time (completion, else creation), the statuses' names and flags.
	type runInfo struct {
		suite int32
		at    time.Time
	}
	runs := map[int32]runInfo{}
	if ids := rf.targets("automation_runs"); len(ids) > 0 {
		rows, err := c.tx.Query(ctx, `SELECT r.id, min(s.id), COALESCE(r."completedAt", r."createdAt") FROM "TestRuns" r
			JOIN "JUnitTestSuite" s ON s."testRunId" = r.id WHERE r.id = ANY($1) GROUP BY r.id`, ids)
		if err != nil {
			return fmt.Errorf("testmo import: %s: look up suites: %w", c.phase.label, err)
		}
		for rows.Next() {
			var id int32
			var ri runInfo
			if err := rows.Scan(&id, &ri.suite, &ri.at); err != nil {
				rows.Close()
				return err
			}
			runs[id] = ri
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	statuses := map[int32]statusInfo{}
	rows, err := c.tx.Query(ctx, `SELECT id, lower(name), lower("systemName"), "isFailure" FROM "Status" WHERE id = ANY($1)`,
		append(rf.targets("statuses"), c.im.def.untested))
	if err != nil {
		return fmt.Errorf("testmo import: %s: look up statuses: %w", c.phase.label, err)
	}
	for rows.Next() {
		var id int32
		var st statusInfo
		if err := rows.Scan(&id, &st.name, &st.system, &st.failure); err != nil {
			rows.Close()
			return err
		}
		statuses[id] = st
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var rs, cs []int32
	_ = each(c, func(r *automationTestRow) error {
		run, ok1 := rf.getInt("automation_runs", r.RunID)
		cs1, ok2 := rf.getInt("automation_cases", r.CaseID)
		if ok1 && ok2 {
			rs, cs = append(rs, run), append(cs, cs1)
		}
		return nil
	})
	seen, err := c.pairKeys(ctx, existingRunCases, rs, cs)
	if err != nil {
		return err
	}
	caseIDs, err := c.nextIDs(ctx, "TestRunCases", len(c.rows))
	if err != nil {
		return err
	}
	resultIDs, err := c.nextIDs(ctx, "JUnitTestResult", len(c.rows))
	if err != nil {
		return err
	}
	var runCases, results [][]any
	pending := map[int32]int{} // run case id → its index in runCases
	ci, ri := 0, 0
	err = each(c, func(r *automationTestRow) error {
		run, err := rf.must(c, "automation_runs", r.RunID, "run_id")
		if err != nil {
			return err
		}
		cs, err := rf.must(c, "automation_cases", r.CaseID, "case_id")
		if err != nil {
			return err
		}
		info, ok := runs[run]
		if !ok {
			return c.fail("run_id %d: the test run has no JUnit suite", r.RunID.N)
		}
		status := rf.status(c, r.StatusID)
		var secs any
		if r.Elapsed.Valid {
			secs = float64(r.Elapsed.N) / 1e6
		}
		// A case repeated in a run keeps one run case (the unique index), with the last
		// status, and gets a JUnit result per test.
		key := [2]int32{run, cs}
		rc, ok := seen[key]
		idx, here := pending[rc]
		switch {
		case !ok:
			rc = caseIDs[ci]
			ci++
			seen[key] = rc
			pending[rc] = len(runCases)
			runCases = append(runCases, []any{rc, run, cs, int32(clampInt32(c.current)), status, true, info.at, micros(r.Elapsed)})
		case here:
			runCases[idx][4], runCases[idx][7] = status, micros(r.Elapsed)
		default:
			if _, err := c.tx.Exec(ctx, `UPDATE "TestRunCases" SET "statusId" = $2, elapsed = $3 WHERE id = $1`,
				rc, status, micros(r.Elapsed)); err != nil {
				return fmt.Errorf("testmo import: %s: %w", c.phase.label, err)
			}
		}
		id := resultIDs[ri]
		ri++
		results = append(results, []any{id, junitType(statuses[status], string(r.Status)), cs, info.at, secs, info.suite,
			info.at, c.im.job.CreatedByID, status})
		return c.mapID("automation_run_tests", r.ID, id, "JUnitTestResult", true)
	})
	if err != nil {
		return err
	}
	if err := c.copyRows(ctx, "TestRunCases", []string{"id", "testRunId", "repositoryCaseId", "order", "statusId",
		"isCompleted", "completedAt", "elapsed"}, runCases); err != nil {
		return err
	}
	return c.copyRows(ctx, "JUnitTestResult", []string{"id", "type", "repositoryCaseId", "executedAt", "time",
		"testSuiteId", "createdAt", "createdById", "statusId"}, results)
}

// automationRunFields stores each run's fields in its note as {name: {type, value}}, as the
// original.
func (im *importer) automationRunFields(ctx context.Context, c *chunk) error {
	var rf refs
	_ = each(c, func(r *automationFieldRow) error { rf.want("automation_runs", r.RunID); return nil })
	if err := rf.resolve(ctx, c); err != nil {
		return err
	}
	fields := map[int32]map[string]any{}
	var order []int32
	err := each(c, func(r *automationFieldRow) error {
		run, err := rf.must(c, "automation_runs", r.RunID, "run_id")
		if err != nil {
			return err
		}
		if r.Name == "" {
			c.counts.skipped++
			return nil
		}
		if fields[run] == nil {
			fields[run] = map[string]any{}
			order = append(order, run)
		}
		var typ any
		if r.Type.Valid {
			typ = r.Type.N
		}
		fields[run][string(r.Name)] = map[string]any{"type": typ, "value": string(r.Value)}
		c.counts.created++
		return nil
	})
	if err != nil || len(order) == 0 {
		return err
	}
	objs := make([]string, len(order))
	for i, run := range order {
		b, err := json.Marshal(fields[run])
		if err != nil {
			return err
		}
		objs[i] = string(b)
	}
	if _, err := c.tx.Exec(ctx, `UPDATE "TestRuns" t SET note = CASE WHEN jsonb_typeof(t.note) = 'object' THEN t.note ELSE '{}' END || v.f::jsonb
		FROM unnest($1::int[], $2::text[]) AS v(id, f) WHERE t.id = v.id`, order, objs); err != nil {
		return fmt.Errorf("testmo import: %s: write run fields: %w", c.phase.label, err)
	}
	return nil
}

// automationTestFields merges each test's fields into its JUnit result, as the original: a
// field named like "error" into systemErr, like "output" into systemOut as is, any other into
// systemOut as "name: value". Name and value are staged outside rowData.
func (im *importer) automationTestFields(ctx context.Context, c *chunk) error {
	var rf refs
	_ = each(c, func(r *automationFieldRow) error { rf.want("automation_run_tests", r.TestID); return nil })
	if err := rf.resolve(ctx, c); err != nil {
		return err
	}
	type merged struct{ out, err []string }
	byResult := map[int32]*merged{}
	var order []int32
	k := 0
	err := each(c, func(r *automationFieldRow) error {
		s := c.rows[k]
		k++
		result, err := rf.must(c, "automation_run_tests", r.TestID, "test_id")
		if err != nil {
			return err
		}
		name, value := deref(s.fieldName, string(r.Name)), deref(s.fieldValue, string(r.Value))
		if strings.TrimSpace(name) == "" || strings.TrimSpace(value) == "" {
			c.counts.skipped++
			return nil
		}
		if len(value) > maxFieldValue {
			value = fmt.Sprintf("%s\n\n... (truncated, original length: %d characters)", value[:maxFieldValue], len(value))
		}
		m := byResult[result]
		if m == nil {
			m = &merged{}
			byResult[result] = m
			order = append(order, result)
		}
		switch lower := strings.ToLower(name); {
		case strings.Contains(lower, "error"):
			m.err = append(m.err, strings.TrimSpace(value))
		case strings.Contains(lower, "output"):
			m.out = append(m.out, strings.TrimSpace(value))
		default:
			m.out = append(m.out, name+": "+strings.TrimSpace(value))
		}
		c.counts.created++
		return nil
	})
	if err != nil || len(order) == 0 {
		return err
	}
	outs, errs := make([]*string, len(order)), make([]*string, len(order))
	for i, id := range order {
		m := byResult[id]
		if len(m.out) > 0 {
			s := strings.Join(m.out, "\n\n")
			outs[i] = &s
		}
		if len(m.err) > 0 {
			s := strings.Join(m.err, "\n\n")
			errs[i] = &s
		}
	}
	if _, err := c.tx.Exec(ctx, `UPDATE "JUnitTestResult" t SET
			"systemOut" = CASE WHEN v.o IS NULL THEN t."systemOut" WHEN btrim(COALESCE(t."systemOut", '')) = '' THEN v.o
				ELSE t."systemOut" || E'\n\n' || v.o END,
			"systemErr" = CASE WHEN v.e IS NULL THEN t."systemErr" WHEN btrim(COALESCE(t."systemErr", '')) = '' THEN v.e
				ELSE t."systemErr" || E'\n\n' || v.e END
		FROM unnest($1::int[], $2::text[], $3::text[]) AS v(id, o, e) WHERE t.id = v.id`, order, outs, errs); err != nil {
		return fmt.Errorf("testmo import: %s: write test fields: %w", c.phase.label, err)
	}
	return nil
}

func deref(p *string, def string) string {
	if p != nil {
		return *p
	}
	return def
}
