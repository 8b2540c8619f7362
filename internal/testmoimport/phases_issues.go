package testmoimport

import (
	"context"
	"fmt"
)

// The issue phases: Testmo's issues (references to issues in an issue tracker) and the join
// datasets that tie them to cases, runs, results and sessions.

type issueRow struct {
	ID        ID   `json:"id"`
	ProjectID ID   `json:"project_id"`
	TargetID  ID   `json:"target_id"`
	DisplayID Text `json:"display_id"`
}

func (im *importer) issuePhases() []*phase {
	issue := side{"issues", "issue_id", func(r *pairRow) ID { return r.IssueID }}
	return []*phase{
		{name: "issues", label: "Issues", dataset: "issues", chunk: 1000, rows: im.issues},
		// Milestones have no issues in TestPlanIt's schema; the original skips them too.
		skipPhase("milestoneIssues", "Milestone Issues", "milestone_issues"),
		pairPhase("repositoryCaseIssues", "Repository Case Issues", "repository_case_issues", "_IssueToRepositoryCases",
			issue, side{"repository_cases", "case_id", func(r *pairRow) ID { return r.CaseID }}),
		pairPhase("runIssues", "Run Issues", "run_issues", "_IssueToTestRuns",
			issue, side{"runs", "run_id", func(r *pairRow) ID { return r.RunID }}),
		pairPhase("runResultIssues", "Run Result Issues", "run_result_issues", "_IssueToTestRunResults",
			issue, side{"run_results", "result_id", func(r *pairRow) ID { return r.ResultID }}),
		pairPhase("sessionIssues", "Session Issues", "session_issues", "_IssueToSessions",
			issue, side{"sessions", "session_id", func(r *pairRow) ID { return r.SessionID }}),
		pairPhase("sessionResultIssues", "Session Result Issues", "session_result_issues", "_IssueToSessionResults",
			issue, side{"session_results", "result_id", func(r *pairRow) ID { return r.ResultID }}),
	}
}

// issues writes one Issue per Testmo issue: name, title, externalId and externalKey are the
// tracker's key (display_id), the integration is the issue target's. ("externalId",
// "integrationId") is unique: an issue that is there already is mapped.
func (im *importer) issues(ctx context.Context, c *chunk) error {
	var rf refs
	_ = each(c, func(r *issueRow) error {
		rf.want("projects", r.ProjectID)
		rf.want("issue_targets", r.TargetID)
		return nil
	})
	if err := rf.resolve(ctx, c); err != nil {
		return err
	}
	key := func(r *issueRow) string { return orText(r.DisplayID, fmt.Sprint(r.ID.N)) }
	var keys []string
	var targets []*int32
	_ = each(c, func(r *issueRow) error {
		keys = append(keys, key(r))
		if n, ok := rf.getInt("issue_targets", r.TargetID); ok {
			targets = append(targets, &n)
		} else {
			targets = append(targets, nil)
		}
		return nil
	})
	type ik struct {
		external    string
		integration int32 // 0: none
	}
	seen := map[ik]int32{}
	rows, err := c.tx.Query(ctx, `SELECT i."externalId", COALESCE(i."integrationId", 0), min(i.id) FROM "Issue" i
		JOIN unnest($1::text[], $2::int[]) AS v(ext, integration)
			ON i."externalId" = v.ext AND i."integrationId" IS NOT DISTINCT FROM v.integration
		GROUP BY 1, 2`, keys, targets)
	if err != nil {
		return fmt.Errorf("testmo import: %s: look up existing issues: %w", c.phase.label, err)
	}
	for rows.Next() {
		var k ik
		var id int32
		if err := rows.Scan(&k.external, &k.integration, &id); err != nil {
			rows.Close()
			return err
		}
		seen[k] = id
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	ids, err := c.nextIDs(ctx, "Issue", len(c.rows))
	if err != nil {
		return err
	}
	var out [][]any
	i := 0
	err = each(c, func(r *issueRow) error {
		var project any
		if r.ProjectID.Valid {
			p, err := rf.must(c, "projects", r.ProjectID, "project_id")
			if err != nil {
				return err
			}
			project = p
		}
		integration, _ := rf.getInt("issue_targets", r.TargetID)
		k := ik{key(r), integration}
		if id, ok := seen[k]; ok {
			return c.mapID("issues", r.ID, id, "Issue", false)
		}
		var integ any
		if integration != 0 {
			integ = integration
		}
		id := ids[i]
		i++
		seen[k] = id
		out = append(out, []any{id, k.external, k.external, k.external, k.external, c.now(), c.im.job.CreatedByID, project, integ})
		return c.mapID("issues", r.ID, id, "Issue", true)
	})
	if err != nil {
		return err
	}
	return c.copyRows(ctx, "Issue", []string{"id", "name", "title", "externalId", "externalKey", "createdAt",
		"createdById", "projectId", "integrationId"}, out)
}
