package testmoimport

import (
	"context"
)

// The project-level phases: project links, milestones (and their links), sessions and their
// results and tags.

type milestoneRow struct {
	ID          ID   `json:"id"`
	ProjectID   ID   `json:"project_id"`
	ParentID    ID   `json:"parent_id"`
	RootID      ID   `json:"root_id"`
	TypeID      ID   `json:"type_id"`
	Name        Text `json:"name"`
	Note        Text `json:"note"`
	Docs        Text `json:"docs"`
	IsStarted   Flag `json:"is_started"`
	StartedAt   Time `json:"started_at"`
	IsCompleted Flag `json:"is_completed"`
	CompletedAt Time `json:"completed_at"`
	CreatedAt   Time `json:"created_at"`
	CreatedBy   ID   `json:"created_by"`
}

type sessionRow struct {
	ID          ID   `json:"id"`
	ProjectID   ID   `json:"project_id"`
	TemplateID  ID   `json:"template_id"`
	StateID     ID   `json:"state_id"`
	ConfigID    ID   `json:"config_id"`
	MilestoneID ID   `json:"milestone_id"`
	AssigneeID  ID   `json:"assignee_id"`
	Name        Text `json:"name"`
	Note        Text `json:"note"`
	Mission     Text `json:"custom_mission"`
	Estimate    ID   `json:"estimate"`
	Elapsed     ID   `json:"elapsed"`
	IsClosed    Flag `json:"is_closed"`
	ClosedAt    Time `json:"closed_at"`
	CreatedAt   Time `json:"created_at"`
	CreatedBy   ID   `json:"created_by"`
}

type sessionResultRow struct {
	ID        ID   `json:"id"`
	SessionID ID   `json:"session_id"`
	StatusID  ID   `json:"status_id"`
	Comment   Text `json:"comment"`
	Elapsed   ID   `json:"elapsed"`
	CreatedAt Time `json:"created_at"`
	CreatedBy ID   `json:"created_by"`
}

func (im *importer) milestonePhases() []*phase {
	return []*phase{
		linkPhase("projectLinks", "Project Links", "project_links", "projects", "project_id", "Projects", false,
			func(r *linkRow) ID { return r.ProjectID }),
		{name: "milestones", label: "Milestones", dataset: "milestones", chunk: 1000, rows: im.milestones},
		{name: "milestoneParents", label: "Milestones", fix: func(ctx context.Context, c *chunk) error {
			// Parents and roots that came after their children in the export. A root
			// milestone's root_id is its own id: it keeps a NULL "rootId".
			_, err := c.tx.Exec(ctx, `UPDATE "Milestones" ms SET
					"parentId" = COALESCE(ms."parentId", p."targetId"::int),
					"rootId" = COALESCE(ms."rootId", r."targetId"::int)
				FROM "TestmoImportStaging" s
				JOIN "TestmoImportMapping" m ON m."jobId" = s."jobId" AND m."entityType" = 'milestones'
					AND m."sourceId" = (s."rowData"->>'id')::int
				LEFT JOIN "TestmoImportMapping" p ON p."jobId" = s."jobId" AND p."entityType" = 'milestones'
					AND p."sourceId" = (s."rowData"->>'parent_id')::int
				LEFT JOIN "TestmoImportMapping" r ON r."jobId" = s."jobId" AND r."entityType" = 'milestones'
					AND r."sourceId" = (s."rowData"->>'root_id')::int AND s."rowData"->>'root_id' <> s."rowData"->>'id'
				WHERE s."jobId" = $1 AND s."datasetName" = 'milestones'
					AND (s."rowData"->>'parent_id' IS NOT NULL OR s."rowData"->>'root_id' IS NOT NULL)
					AND ms.id = m."targetId"::int AND (ms."parentId" IS NULL AND p."targetId" IS NOT NULL
						OR ms."rootId" IS NULL AND r."targetId" IS NOT NULL)`, c.im.job.ID)
			return err
		}},
		linkPhase("milestoneLinks", "Milestone Links", "milestone_links", "milestones", "milestone_id", "Milestones", true,
			func(r *linkRow) ID { return r.MilestoneID }),
	}
}

func (im *importer) milestones(ctx context.Context, c *chunk) error {
	var rf refs
	_ = each(c, func(r *milestoneRow) error {
		rf.want("projects", r.ProjectID)
		rf.want("milestones", r.ParentID)
		rf.want("milestones", r.RootID)
		rf.want("milestone_types", r.TypeID)
		rf.want("users", r.CreatedBy)
		return nil
	})
	if err := rf.resolve(ctx, c); err != nil {
		return err
	}
	// Milestones are matched by (projectId, name) among those not deleted, as the original.
	type key struct {
		project int32
		name    string
	}
	var ps []int32
	var ns []string
	_ = each(c, func(r *milestoneRow) error {
		if p, ok := rf.getInt("projects", r.ProjectID); ok {
			ps, ns = append(ps, p), append(ns, orText(r.Name, "Milestone"))
		}
		return nil
	})
	existing := map[key]int32{}
	if len(ps) > 0 {
		rows, err := c.tx.Query(ctx, `SELECT "projectId", name, min(id) FROM "Milestones"
			WHERE NOT "isDeleted" AND ("projectId", name) IN (SELECT * FROM unnest($1::int[], $2::text[]))
			GROUP BY "projectId", name`, ps, ns)
		if err != nil {
			return err
		}
		for rows.Next() {
			var k key
			var id int32
			if err := rows.Scan(&k.project, &k.name, &id); err != nil {
				rows.Close()
				return err
			}
			existing[k] = id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	ids, err := c.nextIDs(ctx, "Milestones", len(c.rows))
	if err != nil {
		return err
	}
	inChunk := map[int64]int32{}
	ref := func(id ID) any {
		if n, ok := rf.getInt("milestones", id); ok {
			return n
		}
		if n, ok := inChunk[id.N]; ok && id.Valid {
			return n
		}
		return nil
	}
	var rows [][]any
	i := 0
	err = each(c, func(r *milestoneRow) error {
		project, err := rf.must(c, "projects", r.ProjectID, "project_id")
		if err != nil {
			return err
		}
		name := orText(r.Name, "Milestone")
		k := key{project, name}
		if id, ok := existing[k]; ok {
			inChunk[r.ID.N] = id
			return c.mapID("milestones", r.ID, id, "Milestones", false)
		}
		mtype, ok := rf.getInt("milestone_types", r.TypeID)
		if !ok {
			mtype = c.im.def.milestoneType
		}
		id := ids[i]
		i++
		existing[k] = id
		inChunk[r.ID.N] = id
		var root any
		if r.RootID.Valid && r.RootID != r.ID {
			root = ref(r.RootID)
		}
		rows = append(rows, []any{id, project, root, ref(r.ParentID), mtype, name, richText(r.Note), richText(r.Docs),
			bool(r.IsStarted), bool(r.IsCompleted), r.StartedAt.Ptr(), r.CompletedAt.Ptr(), r.CreatedAt.Or(c.now()),
			rf.user(c, r.CreatedBy)})
		return c.mapID("milestones", r.ID, id, "Milestones", true)
	})
	if err != nil {
		return err
	}
	return c.copyRows(ctx, "Milestones", []string{"id", "projectId", "rootId", "parentId", "milestoneTypesId", "name",
		"note", "docs", "isStarted", "isCompleted", "startedAt", "completedAt", "createdAt", "createdBy"}, rows)
}

func (im *importer) sessionPhases() []*phase {
	return []*phase{
		{name: "sessions", label: "Sessions", dataset: "sessions", chunk: 1000, rows: im.sessions},
		{name: "sessionResults", label: "Session Results", dataset: "session_results", chunk: 2000, rows: im.sessionResults},
		pairPhase("sessionTags", "Session Tags", "session_tags", "_SessionsToTags",
			side{"sessions", "session_id", func(r *pairRow) ID { return r.SessionID }},
			side{"tags", "tag_id", func(r *pairRow) ID { return r.TagID }}),
	}
}

func (im *importer) sessions(ctx context.Context, c *chunk) error {
	var rf refs
	_ = each(c, func(r *sessionRow) error {
		rf.want("projects", r.ProjectID)
		rf.want("templates", r.TemplateID)
		rf.want("states", r.StateID)
		rf.want("configs", r.ConfigID)
		rf.want("milestones", r.MilestoneID)
		rf.want("users", r.AssigneeID)
		rf.want("users", r.CreatedBy)
		return nil
	})
	if err := rf.resolve(ctx, c); err != nil {
		return err
	}
	state, err := rf.states(ctx, c, "SESSIONS")
	if err != nil {
		return err
	}
	ids, err := c.nextIDs(ctx, "Sessions", len(c.rows))
	if err != nil {
		return err
	}
	var rows [][]any
	i := 0
	err = each(c, func(r *sessionRow) error {
		project, err := rf.must(c, "projects", r.ProjectID, "project_id")
		if err != nil {
			return err
		}
		template, ok := rf.getInt("templates", r.TemplateID)
		if !ok {
			template = c.im.def.template
		}
		var completed any
		if r.IsClosed {
			completed = r.ClosedAt.Or(r.CreatedAt.Or(c.now()))
		}
		id := ids[i]
		i++
		rows = append(rows, []any{id, project, template, orText(r.Name, "Untitled session"), richText(r.Note), richText(r.Mission),
			rf.opt("configs", r.ConfigID), rf.opt("milestones", r.MilestoneID), state(r.StateID), rf.optUser(r.AssigneeID),
			seconds(r.Estimate), seconds(r.Elapsed), bool(r.IsClosed), completed, r.CreatedAt.Or(c.now()), rf.user(c, r.CreatedBy)})
		return c.mapID("sessions", r.ID, id, "Sessions", true)
	})
	if err != nil {
		return err
	}
	return c.copyRows(ctx, "Sessions", []string{"id", "projectId", "templateId", "name", "note", "mission", "configId",
		"milestoneId", "stateId", "assignedToId", "estimate", "elapsed", "isCompleted", "completedAt", "createdAt",
		"createdById"}, rows)
}

func (im *importer) sessionResults(ctx context.Context, c *chunk) error {
	var rf refs
	_ = each(c, func(r *sessionResultRow) error {
		rf.want("sessions", r.SessionID)
		rf.want("statuses", r.StatusID)
		rf.want("users", r.CreatedBy)
		return nil
	})
	if err := rf.resolve(ctx, c); err != nil {
		return err
	}
	ids, err := c.nextIDs(ctx, "SessionResults", len(c.rows))
	if err != nil {
		return err
	}
	var rows [][]any
	i := 0
	err = each(c, func(r *sessionResultRow) error {
		session, err := rf.must(c, "sessions", r.SessionID, "session_id")
		if err != nil {
			return err
		}
		id := ids[i]
		i++
		rows = append(rows, []any{id, session, richText(r.Comment), r.CreatedAt.Or(c.now()), rf.user(c, r.CreatedBy),
			rf.status(c, r.StatusID), seconds(r.Elapsed)})
		return c.mapID("session_results", r.ID, id, "SessionResults", true)
	})
	if err != nil {
		return err
	}
	return c.copyRows(ctx, "SessionResults", []string{"id", "sessionId", "resultData", "createdAt", "createdById",
		"statusId", "elapsed"}, rows)
}
