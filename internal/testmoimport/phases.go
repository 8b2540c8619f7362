package testmoimport

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// phases returns the import's phases in the original's order (reference section 4.4), moved
// only where a dependency needs it: issue targets run with the configuration entities, and the
// parent fix-ups and JUnit suite totals run right after the rows they complete.
func (im *importer) phases() []*phase {
	var out []*phase
	out = append(out, im.setupPhases()...)
	out = append(out,
		// Datasets TestPlanIt's subset has no table for (groups, template fields):
		// counted as skipped.
		skipPhase("groups", "Groups", "groups"),
		skipPhase("userGroups", "User Groups", "user_groups"),
		skipPhase("templateFields", "Template Fields", "template_fields"),
	)
	out = append(out, im.fieldPhases()...)
	// Projects, then what hangs off them alone (links, milestones, sessions), then the
	// repositories and their folders, cases and steps.
	repo := im.repositoryPhases()
	i := slices.IndexFunc(repo, func(ph *phase) bool { return ph.name == "projects" })
	out = append(out, repo[:i+1]...)
	out = append(out, im.milestonePhases()...)
	out = append(out, im.sessionPhases()...)
	out = append(out, repo[i+1:]...)
	out = append(out, &phase{name: "repositoryCaseValues", label: "Repository Case Values", dataset: "repository_case_values",
		chunk: 5000, rows: im.caseMultiValues})
	out = append(out, im.automationPhases()...)
	out = append(out, skipPhase("sessionValues", "Session Values", "session_values"))
	out = append(out, im.runPhases()...)
	out = append(out, im.issuePhases()...)
	for _, ph := range out {
		if im.h.Chunk > 0 && ph.dataset != "" {
			ph.chunk = im.h.Chunk
		}
	}
	return out
}

// skipPhase is the phase of a dataset TestPlanIt has no table for: its rows are counted as
// skipped, so the job's counts account for every staged row.
func skipPhase(name, label, dataset string) *phase {
	return &phase{name: name, label: label, dataset: dataset, chunk: 10000, rows: func(_ context.Context, c *chunk) error {
		c.counts.skipped += int64(len(c.rows))
		return nil
	}}
}

// side is one column of a join dataset: the entity its ids refer to and how to read it.
type side struct {
	entity, column string
	id             func(r *pairRow) ID
}

// pairPhase is the phase of a join dataset: each row's two ids, resolved through their
// entities' id maps, become one row ("A", "B") of an implicit many-to-many table. Both sides
// are required; a pair that is there already is not written twice but still counts.
func pairPhase(name, label, dataset, table string, a, b side) *phase {
	return &phase{name: name, label: label, dataset: dataset, chunk: 5000, rows: func(ctx context.Context, c *chunk) error {
		var rf refs
		_ = each(c, func(r *pairRow) error { rf.want(a.entity, a.id(r)); rf.want(b.entity, b.id(r)); return nil })
		if err := rf.resolve(ctx, c); err != nil {
			return err
		}
		var as, bs []int32
		err := each(c, func(r *pairRow) error {
			x, err := rf.must(c, a.entity, a.id(r), a.column)
			if err != nil {
				return err
			}
			y, err := rf.must(c, b.entity, b.id(r), b.column)
			if err != nil {
				return err
			}
			as, bs = append(as, x), append(bs, y)
			c.counts.created++
			return nil
		})
		if err != nil {
			return err
		}
		return c.insertPairs(ctx, table, as, bs)
	}}
}

// opt returns the target of an optional integer reference, or nil (SQL NULL) when the id is
// null or was never imported.
func (r *refs) opt(entity string, id ID) any {
	if n, ok := r.getInt(entity, id); ok {
		return n
	}
	return nil
}

// optUser returns the imported user of an optional user column (an assignee), or nil.
func (r *refs) optUser(id ID) any {
	if t, ok := r.get("users", id); ok {
		return t
	}
	return nil
}

// status returns the imported status of a Testmo status id, else TestPlanIt's untested status.
func (r *refs) status(c *chunk, id ID) int32 {
	if n, ok := r.getInt("statuses", id); ok {
		return n
	}
	return c.im.def.untested
}

// states returns the workflow state of a Testmo state id for rows of scope (RUNS, SESSIONS):
// the imported workflow when it has that scope, else the scope's default.
func (r *refs) states(ctx context.Context, c *chunk, scope string) (func(id ID) int32, error) {
	ids := r.targets("states")
	ok := map[int32]bool{}
	if len(ids) > 0 {
		rows, err := c.tx.Query(ctx, `SELECT id FROM "Workflows" WHERE id = ANY($1) AND scope::text = $2`, ids, scope)
		if err != nil {
			return nil, fmt.Errorf("testmo import: %s: look up workflow scopes: %w", c.phase.label, err)
		}
		in, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return nil, fmt.Errorf("testmo import: %s: look up workflow scopes: %w", c.phase.label, err)
		}
		for _, id := range in {
			ok[id] = true
		}
	}
	def := c.im.def.workflow[scope]
	return func(id ID) int32 {
		if n, found := r.getInt("states", id); found && ok[n] {
			return n
		}
		return def
	}, nil
}

// targets returns the integer targets resolved for entity.
func (r *refs) targets(entity string) []int32 {
	var out []int32
	for _, t := range r.resolved[entity] {
		if n, err := strconv.ParseInt(t, 10, 32); err == nil {
			out = append(out, int32(n))
		}
	}
	return out
}

// seconds returns an elapsed or estimate column as stored (Testmo stores manual times in
// seconds), or nil.
func seconds(v ID) any {
	if !v.Valid {
		return nil
	}
	return clampInt32(v.N)
}

// micros returns an automation elapsed column (microseconds) in whole seconds, or nil.
func micros(v ID) any {
	if !v.Valid {
		return nil
	}
	return clampInt32((v.N + 500_000) / 1_000_000)
}

// linkRow is a row of project_links, milestone_links and run_links.
type linkRow struct {
	ProjectID   ID   `json:"project_id"`
	MilestoneID ID   `json:"milestone_id"`
	RunID       ID   `json:"run_id"`
	Name        Text `json:"name"`
	URL         Text `json:"url"`
	Note        Text `json:"note"`
}

// linkPhase appends each link of a links dataset to its entity's docs TipTap document as a
// paragraph "<a href=url>name</a> (note)", as the original. A link without a URL is skipped;
// one whose entity is not in the export fails the row.
func linkPhase(name, label, dataset, entity, column, table string, jsonb bool, id func(r *linkRow) ID) *phase {
	return &phase{name: name, label: label, dataset: dataset, chunk: 1000, rows: func(ctx context.Context, c *chunk) error {
		var rf refs
		_ = each(c, func(r *linkRow) error { rf.want(entity, id(r)); return nil })
		if err := rf.resolve(ctx, c); err != nil {
			return err
		}
		nodes := map[int32][]any{}
		err := each(c, func(r *linkRow) error {
			target, err := rf.must(c, entity, id(r), column)
			if err != nil {
				return err
			}
			if r.URL == "" {
				c.counts.skipped++
				return nil
			}
			nodes[target] = append(nodes[target], linkNode(orText(r.Name, string(r.URL)), string(r.URL), string(r.Note)))
			c.counts.created++
			return nil
		})
		if err != nil {
			return err
		}
		return c.appendDocs(ctx, table, jsonb, nodes)
	}}
}

func linkNode(name, url, note string) any {
	content := []any{map[string]any{"type": "text", "text": name,
		"marks": []any{map[string]any{"type": "link", "attrs": map[string]any{"href": url, "target": "_blank"}}}}}
	if note != "" {
		content = append(content, map[string]any{"type": "text", "text": " (" + note + ")"})
	}
	return map[string]any{"type": "paragraph", "content": content}
}

// appendDocs appends nodes to the docs document of rows of table ("docs" is JSONB, or TEXT
// holding JSON when jsonb is false); docs that are empty or not a TipTap document start anew.
func (c *chunk) appendDocs(ctx context.Context, table string, jsonb bool, nodes map[int32][]any) error {
	if len(nodes) == 0 {
		return nil
	}
	ids := make([]int32, 0, len(nodes))
	for id := range nodes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	rows, err := c.tx.Query(ctx, fmt.Sprintf(`SELECT id, docs::text FROM %q WHERE id = ANY($1)`, table), ids)
	if err != nil {
		return fmt.Errorf("testmo import: %s: read %s docs: %w", c.phase.label, table, err)
	}
	docs := map[int32]*string{}
	for rows.Next() {
		var id int32
		var d *string
		if err := rows.Scan(&id, &d); err != nil {
			rows.Close()
			return err
		}
		docs[id] = d
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		doc := map[string]any{}
		if d := docs[id]; d != nil {
			if json.Unmarshal([]byte(*d), &doc) != nil || doc["type"] != "doc" {
				doc = map[string]any{}
			}
		}
		content, _ := doc["content"].([]any)
		doc["type"] = "doc"
		doc["content"] = append(content, nodes[id]...)
		b, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		out[i] = string(b)
	}
	cast := ""
	if jsonb {
		cast = "::jsonb"
	}
	if _, err := c.tx.Exec(ctx, fmt.Sprintf(`UPDATE %q t SET docs = v.d%s FROM unnest($1::int[], $2::text[]) AS v(id, d)
		WHERE t.id = v.id`, table, cast), ids, out); err != nil {
		return fmt.Errorf("testmo import: %s: write %s docs: %w", c.phase.label, table, err)
	}
	return nil
}

// pairKeys are the (a, b) pairs of a unique index that are in the table already, with their
// row ids: q selects a, b, id for the pairs given as $1 and $2.
func (c *chunk) pairKeys(ctx context.Context, q string, a, b []int32) (map[[2]int32]int32, error) {
	out := map[[2]int32]int32{}
	if len(a) == 0 {
		return out, nil
	}
	rows, err := c.tx.Query(ctx, q, a, b)
	if err != nil {
		return nil, fmt.Errorf("testmo import: %s: look up existing rows: %w", c.phase.label, err)
	}
	defer rows.Close()
	for rows.Next() {
		var x, y, id int32
		if err := rows.Scan(&x, &y, &id); err != nil {
			return nil, err
		}
		if _, ok := out[[2]int32{x, y}]; !ok {
			out[[2]int32{x, y}] = id
		}
	}
	return out, rows.Err()
}
