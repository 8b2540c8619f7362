package testmoimport

import (
	"context"
	"fmt"
	"time"
)

// The manual test run phases: runs, their links, tests, tags, results and step results.

type runRow struct {
	ID          ID   `json:"id"`
	ProjectID   ID   `json:"project_id"`
	ConfigID    ID   `json:"config_id"`
	MilestoneID ID   `json:"milestone_id"`
	StateID     ID   `json:"state_id"`
	Name        Text `json:"name"`
	Note        Text `json:"note"`
	Docs        Text `json:"docs"`
	Forecast    ID   `json:"forecast"`
	Elapsed     ID   `json:"elapsed"`
	IsClosed    Flag `json:"is_closed"`
	ClosedAt    Time `json:"closed_at"`
	CreatedAt   Time `json:"created_at"`
	CreatedBy   ID   `json:"created_by"`
}

type runTestRow struct {
	ID         ID `json:"id"`
	RunID      ID `json:"run_id"`
	CaseID     ID `json:"case_id"`
	StatusID   ID `json:"status_id"`
	AssigneeID ID `json:"assignee_id"`
	Elapsed    ID `json:"elapsed"`
}

type runResultRow struct {
	ID        ID   `json:"id"`
	RunID     ID   `json:"run_id"`
	TestID    ID   `json:"test_id"`
	StatusID  ID   `json:"status_id"`
	Elapsed   ID   `json:"elapsed"`
	Comment   Text `json:"comment"`
	IsDeleted Flag `json:"is_deleted"`
	CreatedAt Time `json:"created_at"`
	CreatedBy ID   `json:"created_by"`
}

// runResultStepRow is a run_result_steps row; its text1..text4 (the step's text as it was run)
// are staged outside rowData and not read: the result points at the case's step instead.
type runResultStepRow struct {
	ID           ID   `json:"id"`
	ResultID     ID   `json:"result_id"`
	StatusID     ID   `json:"status_id"`
	DisplayOrder ID   `json:"display_order"`
	Elapsed      ID   `json:"elapsed"`
	Comment      Text `json:"comment"`
}

func (im *importer) runPhases() []*phase {
	return []*phase{
		{name: "testRuns", label: "Test Runs", dataset: "runs", chunk: 1000, rows: im.runs},
		linkPhase("runLinks", "Run Links", "run_links", "runs", "run_id", "TestRuns", true,
			func(r *linkRow) ID { return r.RunID }),
		{name: "testRunCases", label: "Test Run Cases", dataset: "run_tests", chunk: 2000, rows: im.runTests},
		pairPhase("runTags", "Run Tags", "run_tags", "_TagsToTestRuns",
			side{"tags", "tag_id", func(r *pairRow) ID { return r.TagID }},
			side{"runs", "run_id", func(r *pairRow) ID { return r.RunID }}),
		{name: "testRunResults", label: "Test Run Results", dataset: "run_results", chunk: 2000, rows: im.runResults},
		{name: "testRunStepResults", label: "Test Run Step Results", dataset: "run_result_steps", chunk: 2000, rows: im.runResultSteps},
	}
}

func (im *importer) runs(ctx context.Context, c *chunk) error {
	var rf refs
	_ = each(c, func(r *runRow) error {
		rf.want("projects", r.ProjectID)
		rf.want("configs", r.ConfigID)
		rf.want("milestones", r.MilestoneID)
		rf.want("states", r.StateID)
		rf.want("users", r.CreatedBy)
		return nil
	})
	if err := rf.resolve(ctx, c); err != nil {
		return err
	}
	state, err := rf.states(ctx, c, "RUNS")
	if err != nil {
		return err
	}
	ids, err := c.nextIDs(ctx, "TestRuns", len(c.rows))
	if err != nil {
		return err
	}
	var rows [][]any
	i := 0
	err = each(c, func(r *runRow) error {
		project, err := rf.must(c, "projects", r.ProjectID, "project_id")
		if err != nil {
			return err
		}
		var completed any
		if r.IsClosed {
			completed = r.ClosedAt.Or(r.CreatedAt.Or(c.now()))
		}
		id := ids[i]
		i++
		rows = append(rows, []any{id, project, orText(r.Name, "Untitled run"), richText(r.Note), richText(r.Docs),
			rf.opt("configs", r.ConfigID), rf.opt("milestones", r.MilestoneID), state(r.StateID), seconds(r.Forecast),
			seconds(r.Elapsed), bool(r.IsClosed), completed, r.CreatedAt.Or(c.now()), rf.user(c, r.CreatedBy), "REGULAR"})
		return c.mapID("runs", r.ID, id, "TestRuns", true)
	})
	if err != nil {
		return err
	}
	return c.copyRows(ctx, "TestRuns", testRunColumns, rows)
}

var testRunColumns = []string{"id", "projectId", "name", "note", "docs", "configId", "milestoneId", "stateId",
	"forecastManual", "elapsed", "isCompleted", "completedAt", "createdAt", "createdById", "testRunType"}

// existingRunCases is the query behind [chunk.pairKeys] for "TestRunCases"'s unique
// (testRunId, repositoryCaseId).
const existingRunCases = `SELECT "testRunId", "repositoryCaseId", id FROM "TestRunCases"
	WHERE ("testRunId", "repositoryCaseId") IN (SELECT * FROM unnest($1::int[], $2::int[]))`

func (im *importer) runTests(ctx context.Context, c *chunk) error {
	var rf refs
	_ = each(c, func(r *runTestRow) error {
		rf.want("runs", r.RunID)
		rf.want("repository_cases", r.CaseID)
		rf.want("statuses", r.StatusID)
		rf.want("users", r.AssigneeID)
		return nil
	})
	if err := rf.resolve(ctx, c); err != nil {
		return err
	}
	// (testRunId, repositoryCaseId) is unique: a case that is in the run already (a repeat
	// in the export, or a resumed chunk's neighbour) maps to that row.
	var rs, cs []int32
	_ = each(c, func(r *runTestRow) error {
		run, ok1 := rf.getInt("runs", r.RunID)
		cs1, ok2 := rf.getInt("repository_cases", r.CaseID)
		if ok1 && ok2 {
			rs, cs = append(rs, run), append(cs, cs1)
		}
		return nil
	})
	seen, err := c.pairKeys(ctx, existingRunCases, rs, cs)
	if err != nil {
		return err
	}
	ids, err := c.nextIDs(ctx, "TestRunCases", len(c.rows))
	if err != nil {
		return err
	}
	var rows [][]any
	i := 0
	err = each(c, func(r *runTestRow) error {
		run, err := rf.must(c, "runs", r.RunID, "run_id")
		if err != nil {
			return err
		}
		cs, err := rf.must(c, "repository_cases", r.CaseID, "case_id")
		if err != nil {
			return err
		}
		if id, ok := seen[[2]int32{run, cs}]; ok {
			return c.mapID("run_tests", r.ID, id, "TestRunCases", false)
		}
		status, tested := rf.getInt("statuses", r.StatusID)
		var statusID any
		if tested {
			statusID = status
		}
		id := ids[i]
		i++
		seen[[2]int32{run, cs}] = id
		rows = append(rows, []any{id, run, cs, int32(clampInt32(c.current)), statusID, rf.optUser(r.AssigneeID),
			tested && status != c.im.def.untested, seconds(r.Elapsed)})
		return c.mapID("run_tests", r.ID, id, "TestRunCases", true)
	})
	if err != nil {
		return err
	}
	return c.copyRows(ctx, "TestRunCases", []string{"id", "testRunId", "repositoryCaseId", "order", "statusId",
		"assignedToId", "isCompleted", "elapsed"}, rows)
}

func (im *importer) runResults(ctx context.Context, c *chunk) error {
	var rf refs
	_ = each(c, func(r *runResultRow) error {
		rf.want("runs", r.RunID)
		rf.want("run_tests", r.TestID)
		rf.want("statuses", r.StatusID)
		rf.want("users", r.CreatedBy)
		return nil
	})
	if err := rf.resolve(ctx, c); err != nil {
		return err
	}
	ids, err := c.nextIDs(ctx, "TestRunResults", len(c.rows))
	if err != nil {
		return err
	}
	var rows [][]any
	i := 0
	err = each(c, func(r *runResultRow) error {
		run, err := rf.must(c, "runs", r.RunID, "run_id")
		if err != nil {
			return err
		}
		test, err := rf.must(c, "run_tests", r.TestID, "test_id")
		if err != nil {
			return err
		}
		id := ids[i]
		i++
		rows = append(rows, []any{id, run, test, rf.status(c, r.StatusID), rf.user(c, r.CreatedBy), r.CreatedAt.Or(c.now()),
			seconds(r.Elapsed), richText(r.Comment), bool(r.IsDeleted)})
		return c.mapID("run_results", r.ID, id, "TestRunResults", true)
	})
	if err != nil {
		return err
	}
	return c.copyRows(ctx, "TestRunResults", []string{"id", "testRunId", "testRunCaseId", "statusId", "executedById",
		"executedAt", "elapsed", "notes", "isDeleted"}, rows)
}

// runResultSteps writes step results. TestPlanIt's step result points at a step of the case
// ("stepId" is required); Testmo's names the step by display_order, so the step is the
// result's case's step of that order. A row whose case has no such step is skipped.
func (im *importer) runResultSteps(ctx context.Context, c *chunk) error {
	var rf refs
	_ = each(c, func(r *runResultStepRow) error {
		rf.want("run_results", r.ResultID)
		rf.want("statuses", r.StatusID)
		return nil
	})
	if err := rf.resolve(ctx, c); err != nil {
		return err
	}
	results := rf.targets("run_results")
	type stepKey struct{ result, order int32 }
	type step struct {
		id       int32
		executed time.Time
	}
	steps := map[stepKey]step{}
	if len(results) > 0 {
		rows, err := c.tx.Query(ctx, `SELECT r.id, s."order", min(s.id), r."executedAt" FROM "TestRunResults" r
			JOIN "TestRunCases" tc ON tc.id = r."testRunCaseId"
			JOIN "Steps" s ON s."testCaseId" = tc."repositoryCaseId" AND NOT s."isDeleted"
			WHERE r.id = ANY($1) GROUP BY r.id, s."order", r."executedAt"`, results)
		if err != nil {
			return fmt.Errorf("testmo import: %s: look up steps: %w", c.phase.label, err)
		}
		for rows.Next() {
			var k stepKey
			var s step
			if err := rows.Scan(&k.result, &k.order, &s.id, &s.executed); err != nil {
				rows.Close()
				return err
			}
			steps[k] = s
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	// A step result repeated for the same result and step maps to the first.
	var ra, sa []int32
	for k, s := range steps {
		ra, sa = append(ra, k.result), append(sa, s.id)
	}
	seen, err := c.pairKeys(ctx, `SELECT "testRunResultId", "stepId", min(id) FROM "TestRunStepResults"
		WHERE ("testRunResultId", "stepId") IN (SELECT * FROM unnest($1::int[], $2::int[])) AND "sharedStepItemId" IS NULL
		GROUP BY 1, 2`, ra, sa)
	if err != nil {
		return err
	}
	ids, err := c.nextIDs(ctx, "TestRunStepResults", len(c.rows))
	if err != nil {
		return err
	}
	var rows [][]any
	i := 0
	err = each(c, func(r *runResultStepRow) error {
		result, err := rf.must(c, "run_results", r.ResultID, "result_id")
		if err != nil {
			return err
		}
		s, ok := steps[stepKey{result, int32(clampInt32(r.DisplayOrder.N))}]
		if !ok || !r.DisplayOrder.Valid {
			c.counts.skipped++
			return nil
		}
		if id, ok := seen[[2]int32{result, s.id}]; ok {
			if r.ID.Valid {
				return c.mapID("run_result_steps", r.ID, id, "TestRunStepResults", false)
			}
			c.counts.mapped++
			return nil
		}
		id := ids[i]
		i++
		seen[[2]int32{result, s.id}] = id
		rows = append(rows, []any{id, result, s.id, rf.status(c, r.StatusID), richText(r.Comment), s.executed, seconds(r.Elapsed)})
		if r.ID.Valid {
			return c.mapID("run_result_steps", r.ID, id, "TestRunStepResults", true)
		}
		c.counts.created++
		return nil
	})
	if err != nil {
		return err
	}
	return c.copyRows(ctx, "TestRunStepResults", []string{"id", "testRunResultId", "stepId", "statusId", "notes",
		"executedAt", "elapsed"}, rows)
}
