package testmoimport

import (
	"context"
	"fmt"
	"strings"

	"github.com/testplanit/tpi-workers/internal/tiptap"
)

// richText converts Testmo's HTML (or plain text) to the TipTap JSON TestPlanIt stores; ""
// stays NULL.
func richText(s Text) any {
	if strings.TrimSpace(string(s)) == "" {
		return nil
	}
	b, err := tiptap.FromHTML(string(s))
	if err != nil {
		return nil
	}
	return string(b)
}

// withData appends a step's "data" column the way the original does: <data>…</data>.
func withData(text, data *string) Text {
	var b strings.Builder
	if text != nil {
		b.WriteString(*text)
	}
	if data != nil && strings.TrimSpace(*data) != "" {
		b.WriteString("<data>")
		b.WriteString(*data)
		b.WriteString("</data>")
	}
	return Text(b.String())
}

// insertPairs writes rows of an implicit many-to-many table ("A", "B"), skipping pairs that
// are there already (a Testmo join dataset may repeat a pair).
func (c *chunk) insertPairs(ctx context.Context, table string, a, b []int32) error {
	if len(a) == 0 {
		return nil
	}
	_, err := c.tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %q ("A", "B") SELECT * FROM unnest($1::int[], $2::int[])
		ON CONFLICT DO NOTHING`, table), a, b)
	if err != nil {
		return fmt.Errorf("testmo import: %s: write %s: %w", c.phase.label, table, err)
	}
	return nil
}

type projectRow struct {
	ID          ID   `json:"id"`
	Name        Text `json:"name"`
	Note        Text `json:"note"`
	Docs        Text `json:"docs"`
	IsCompleted Flag `json:"is_completed"`
	CompletedAt Time `json:"completed_at"`
	CreatedAt   Time `json:"created_at"`
	CreatedBy   ID   `json:"created_by"`
}

type repositoryRow struct {
	ID        ID `json:"id"`
	ProjectID ID `json:"project_id"`
}

type folderRow struct {
	ID           ID   `json:"id"`
	ProjectID    ID   `json:"project_id"`
	RepoID       ID   `json:"repo_id"`
	ParentID     ID   `json:"parent_id"`
	Name         Text `json:"name"`
	Docs         Text `json:"docs"`
	DisplayOrder ID   `json:"display_order"`
	CreatedAt    Time `json:"created_at"`
	CreatedBy    ID   `json:"created_by"`
}

type caseRow struct {
	ID           ID   `json:"id"`
	ProjectID    ID   `json:"project_id"`
	RepoID       ID   `json:"repo_id"`
	FolderID     ID   `json:"folder_id"`
	TemplateID   ID   `json:"template_id"`
	StateID      ID   `json:"state_id"`
	Name         Text `json:"name"`
	Key          Text `json:"key"`
	Estimate     ID   `json:"estimate"`
	DisplayOrder ID   `json:"display_order"`
	CreatedAt    Time `json:"created_at"`
	CreatedBy    ID   `json:"created_by"`
}

type stepRow struct {
	ID           ID      `json:"id"`
	CaseID       ID      `json:"case_id"`
	DisplayOrder ID      `json:"display_order"`
	Text1        *string `json:"text1"`
	Text2        *string `json:"text2"`
	Text3        *string `json:"text3"`
	Text4        *string `json:"text4"`
}

type pairRow struct {
	CaseID    ID `json:"case_id"`
	TagID     ID `json:"tag_id"`
	RunID     ID `json:"run_id"`
	SessionID ID `json:"session_id"`
	IssueID   ID `json:"issue_id"`
	ResultID  ID `json:"result_id"`
	TestID    ID `json:"test_id"`
}

func (im *importer) repositoryPhases() []*phase {
	return []*phase{
		{name: "projects", label: "Projects", dataset: "projects", rows: func(ctx context.Context, c *chunk) error {
			var rf refs
			_ = each(c, func(r *projectRow) error { rf.want("users", r.CreatedBy); return nil })
			if err := rf.resolve(ctx, c); err != nil {
				return err
			}
			return each(c, func(r *projectRow) error {
				if r.Name == "" {
					return c.fail("project has no name")
				}
				// Projects are matched by their unique name, as the original.
				id, err := queryID(ctx, c, `SELECT id FROM "Projects" WHERE name = $1`, string(r.Name))
				if err != nil || id != "" {
					if err != nil {
						return err
					}
					return c.mapID("projects", r.ID, id, "Projects", false)
				}
				var completed any
				if r.CompletedAt.Valid {
					completed = r.CompletedAt.T
				}
				id, err = queryID(ctx, c, `INSERT INTO "Projects" (name, note, docs, "isCompleted", "completedAt", "createdAt", "createdBy")
					VALUES ($1, $2, $3, $4, $5::date, $6, $7) RETURNING id`, string(r.Name), richText(r.Note), richText(r.Docs),
					bool(r.IsCompleted), completed, r.CreatedAt.Or(c.now()), rf.user(c, r.CreatedBy))
				if err != nil {
					return err
				}
				return c.mapID("projects", r.ID, id, "Projects", true)
			})
		}},
		{name: "repositories", label: "Repositories", dataset: "repositories", rows: func(ctx context.Context, c *chunk) error {
			var rf refs
			_ = each(c, func(r *repositoryRow) error { rf.want("projects", r.ProjectID); return nil })
			if err := rf.resolve(ctx, c); err != nil {
				return err
			}
			return each(c, func(r *repositoryRow) error {
				project, err := rf.must(c, "projects", r.ProjectID, "project_id")
				if err != nil {
					return err
				}
				// One repository per project: an existing project keeps its own.
				id, err := queryID(ctx, c, `SELECT id FROM "Repositories" WHERE "projectId" = $1 AND NOT "isDeleted" ORDER BY id LIMIT 1`, project)
				if err != nil {
					return err
				}
				if id != "" {
					return c.mapID("repositories", r.ID, id, "Repositories", false)
				}
				if id, err = queryID(ctx, c, `INSERT INTO "Repositories" ("projectId") VALUES ($1) RETURNING id`, project); err != nil {
					return err
				}
				return c.mapID("repositories", r.ID, id, "Repositories", true)
			})
		}},
		{name: "repositoryFolders", label: "Repository Folders", dataset: "repository_folders", rows: im.folders},
		{name: "repositoryFolderParents", label: "Repository Folders", fix: func(ctx context.Context, c *chunk) error {
			// Parents that came after their children in the export.
			_, err := c.tx.Exec(ctx, `UPDATE "RepositoryFolders" f SET "parentId" = p."targetId"::int
				FROM "TestmoImportStaging" s
				JOIN "TestmoImportMapping" m ON m."jobId" = s."jobId" AND m."entityType" = 'repository_folders'
					AND m."sourceId" = (s."rowData"->>'id')::int
				JOIN "TestmoImportMapping" p ON p."jobId" = s."jobId" AND p."entityType" = 'repository_folders'
					AND p."sourceId" = (s."rowData"->>'parent_id')::int
				WHERE s."jobId" = $1 AND s."datasetName" = 'repository_folders' AND s."rowData"->>'parent_id' IS NOT NULL
					AND f.id = m."targetId"::int AND f."parentId" IS NULL`, c.im.job.ID)
			return err
		}},
		{name: "repositoryCases", label: "Repository Cases", dataset: "repository_cases", chunk: 500, rows: im.cases},
		{name: "snapshotCases", label: "Snapshot Cases", dataset: snapshotCases, chunk: 2000, rows: im.snapshotCases},
		{name: "repositoryCaseSteps", label: "Repository Case Steps", dataset: "repository_case_steps", chunk: 2000, rows: im.steps},
		{name: "repositoryCaseTags", label: "Repository Case Tags", dataset: "repository_case_tags", chunk: 5000, rows: func(ctx context.Context, c *chunk) error {
			var rf refs
			_ = each(c, func(r *pairRow) error { rf.want("repository_cases", r.CaseID); rf.want("tags", r.TagID); return nil })
			if err := rf.resolve(ctx, c); err != nil {
				return err
			}
			var a, b []int32
			err := each(c, func(r *pairRow) error {
				cs, err := rf.must(c, "repository_cases", r.CaseID, "case_id")
				if err != nil {
					return err
				}
				tg, err := rf.must(c, "tags", r.TagID, "tag_id")
				if err != nil {
					return err
				}
				a, b = append(a, cs), append(b, tg)
				c.counts.created++
				return nil
			})
			if err != nil {
				return err
			}
			return c.insertPairs(ctx, "_RepositoryCasesToTags", a, b)
		}},
	}
}

func (im *importer) folders(ctx context.Context, c *chunk) error {
	var rf refs
	_ = each(c, func(r *folderRow) error {
		rf.want("projects", r.ProjectID)
		rf.want("repositories", r.RepoID)
		rf.want("repository_folders", r.ParentID)
		rf.want("users", r.CreatedBy)
		return nil
	})
	if err := rf.resolve(ctx, c); err != nil {
		return err
	}
	ids, err := c.nextIDs(ctx, "RepositoryFolders", len(c.rows))
	if err != nil {
		return err
	}
	inChunk := map[int64]int32{}
	var rows [][]any
	i := 0
	err = each(c, func(r *folderRow) error {
		project, err := rf.must(c, "projects", r.ProjectID, "project_id")
		if err != nil {
			return err
		}
		repo, err := rf.must(c, "repositories", r.RepoID, "repo_id")
		if err != nil {
			return err
		}
		var parent any
		if p, ok := rf.getInt("repository_folders", r.ParentID); ok {
			parent = p
		} else if p, ok := inChunk[r.ParentID.N]; ok && r.ParentID.Valid {
			parent = p
		}
		id := ids[i]
		i++
		inChunk[r.ID.N] = id
		rows = append(rows, []any{id, project, repo, parent, orText(r.Name, "Folder"), richText(r.Docs),
			r.CreatedAt.Or(c.now()), rf.user(c, r.CreatedBy), int32(r.DisplayOrder.N)})
		return c.mapID("repository_folders", r.ID, id, "RepositoryFolders", true)
	})
	if err != nil {
		return err
	}
	return c.copyRows(ctx, "RepositoryFolders", []string{"id", "projectId", "repositoryId", "parentId", "name", "docs",
		"createdAt", "creatorId", "order"}, rows)
}

func (im *importer) cases(ctx context.Context, c *chunk) error {
	var rf refs
	_ = each(c, func(r *caseRow) error {
		rf.want("projects", r.ProjectID)
		rf.want("repositories", r.RepoID)
		rf.want("repository_folders", r.FolderID)
		rf.want("templates", r.TemplateID)
		rf.want("states", r.StateID)
		rf.want("users", r.CreatedBy)
		return nil
	})
	if err := rf.resolve(ctx, c); err != nil {
		return err
	}
	ids, err := c.nextIDs(ctx, "RepositoryCases", len(c.rows))
	if err != nil {
		return err
	}
	// (projectId, name, className, source) is unique: a case that is already there (an
	// earlier import, or a repeat in the export) is mapped, not written twice.
	type key struct {
		project   int32
		name, cls string
	}
	seen := map[key]int32{}
	// The cases of the chunk that are there already, in one query.
	var ps []int32
	var ns, ks []string
	_ = each(c, func(r *caseRow) error {
		if p, ok := rf.getInt("projects", r.ProjectID); ok && r.Key != "" {
			ps, ns, ks = append(ps, p), append(ns, orText(r.Name, "Untitled case")), append(ks, string(r.Key))
		}
		return nil
	})
	if len(ps) > 0 {
		rows, err := c.tx.Query(ctx, `SELECT c."projectId", c.name, c."className", min(c.id) FROM "RepositoryCases" c
			JOIN unnest($1::int[], $2::text[], $3::text[]) AS k(p, n, cls) ON c."projectId" = k.p AND c.name = k.n AND c."className" = k.cls
			WHERE c.source = 'MANUAL' GROUP BY 1, 2, 3`, ps, ns, ks)
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
	var rows [][]any
	created := map[int64]int32{} // rowIndex → new case id
	i := 0
	err = each(c, func(r *caseRow) error {
		project, err := rf.must(c, "projects", r.ProjectID, "project_id")
		if err != nil {
			return err
		}
		repo, err := rf.must(c, "repositories", r.RepoID, "repo_id")
		if err != nil {
			return err
		}
		folder, err := rf.must(c, "repository_folders", r.FolderID, "folder_id")
		if err != nil {
			return err
		}
		template, ok := rf.getInt("templates", r.TemplateID)
		if !ok {
			template = c.im.def.template
		}
		state, ok := rf.getInt("states", r.StateID)
		if !ok {
			state = c.im.def.workflow["CASES"]
		}
		name := orText(r.Name, "Untitled case")
		var cls any
		if r.Key != "" {
			k := key{project, name, string(r.Key)}
			if id, ok := seen[k]; ok {
				return c.mapID("repository_cases", r.ID, id, "RepositoryCases", false)
			}
			cls = string(r.Key)
			seen[k] = ids[i]
		}
		var estimate any
		if r.Estimate.Valid {
			estimate = clampInt32(r.Estimate.N) // seconds, as Testmo stores them
		}
		id := ids[i]
		i++
		created[c.current] = id
		rows = append(rows, []any{id, project, repo, folder, template, name, cls, state, estimate,
			int32(r.DisplayOrder.N), r.CreatedAt.Or(c.now()), rf.user(c, r.CreatedBy)})
		return c.mapID("repository_cases", r.ID, id, "RepositoryCases", true)
	})
	if err != nil {
		return err
	}
	if err := c.copyRows(ctx, "RepositoryCases", []string{"id", "projectId", "repositoryId", "folderId", "templateId",
		"name", "className", "stateId", "estimate", "order", "createdAt", "creatorId"}, rows); err != nil {
		return err
	}
	return im.caseValues(ctx, c, created)
}

func (im *importer) steps(ctx context.Context, c *chunk) error {
	var rf refs
	_ = each(c, func(r *stepRow) error { rf.want("repository_cases", r.CaseID); return nil })
	if err := rf.resolve(ctx, c); err != nil {
		return err
	}
	ids, err := c.nextIDs(ctx, "Steps", len(c.rows))
	if err != nil {
		return err
	}
	var rows [][]any
	i := 0
	err = each(c, func(r *stepRow) error {
		cs, err := rf.must(c, "repository_cases", r.CaseID, "case_id")
		if err != nil {
			return err
		}
		id := ids[i]
		i++
		rows = append(rows, []any{id, cs, int32(r.DisplayOrder.N), richText(withData(r.Text1, r.Text2)), richText(withData(r.Text3, r.Text4))})
		if r.ID.Valid {
			return c.mapID("repository_case_steps", r.ID, id, "Steps", true)
		}
		c.counts.created++
		return nil
	})
	if err != nil {
		return err
	}
	return c.copyRows(ctx, "Steps", []string{"id", "testCaseId", "order", "step", "expectedResult"}, rows)
}

// snapshotCases maps the cases of snapshot repositories to the master repository's case with
// the same key (else the same name) in the same project, so that runs executed against a
// snapshot point at the master case. A snapshot case with no master counterpart is skipped:
// a reference to it fails its row, naming it.
func (im *importer) snapshotCases(ctx context.Context, c *chunk) error {
	var rf refs
	_ = each(c, func(r *caseRow) error { rf.want("projects", r.ProjectID); return nil })
	if err := rf.resolve(ctx, c); err != nil {
		return err
	}
	var ids []int64
	var ps []int32
	var keys, names []string
	_ = each(c, func(r *caseRow) error {
		if p, ok := rf.getInt("projects", r.ProjectID); ok && r.ID.Valid {
			ids, ps, keys, names = append(ids, r.ID.N), append(ps, p), append(keys, string(r.Key)), append(names, string(r.Name))
		}
		return nil
	})
	found := map[int64]int32{}
	if len(ids) > 0 {
		rows, err := c.tx.Query(ctx, `SELECT k.id, (SELECT c.id FROM "RepositoryCases" c
				WHERE c."projectId" = k.p AND NOT c."isDeleted" AND c.source = 'MANUAL'
				  AND ((k.key <> '' AND c."className" = k.key) OR (k.key = '' AND c.name = k.name))
				ORDER BY c.id LIMIT 1)
			FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[]) AS k(id, p, key, name)`, ids, ps, keys, names)
		if err != nil {
			return fmt.Errorf("testmo import: %s: find master cases: %w", c.phase.label, err)
		}
		for rows.Next() {
			var id int64
			var target *int32
			if err := rows.Scan(&id, &target); err != nil {
				rows.Close()
				return err
			}
			if target != nil {
				found[id] = *target
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return each(c, func(r *caseRow) error {
		target, ok := found[r.ID.N]
		if !ok || !r.ID.Valid {
			c.counts.skipped++
			return nil
		}
		return c.mapID("repository_cases", r.ID, target, "RepositoryCases", false)
	})
}
