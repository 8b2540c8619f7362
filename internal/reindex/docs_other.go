package reindex

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
)

// The documents of shared step groups, test runs, sessions, projects,
// issues and milestones: one page query each, plus one query for the page's
// tags (runs, sessions) or items (shared steps).

// newDoc starts a document's JSON.
func newDoc() *jsonWriter {
	w := &jsonWriter{b: make([]byte, 0, 512)}
	w.open('{')
	return w
}

// finish closes the document and returns it.
func finish(w *jsonWriter, id, projectID int32) Doc {
	w.close('}')
	return Doc{ID: itoa(id), ProjectID: int(projectID), Body: w.b}
}

// writeTags writes "tags": [{id, name}...] and returns the names joined by
// spaces, as tags.map(t => t.name).join(" ").
func writeTags(w *jsonWriter, tags []tagRow) string {
	w.key("tags")
	w.open('[')
	var names []byte
	for i, t := range tags {
		w.open('{')
		w.kInt("id", int64(t.id))
		w.kStr("name", t.name)
		w.close('}')
		if i > 0 {
			names = append(names, ' ')
		}
		names = append(names, t.name...)
	}
	w.close(']')
	return string(names)
}

// readTagMap runs a tags query (owner id, tag id, tag name) for ids.
func readTagMap(ctx context.Context, tx pgx.Tx, sql string, ids []int32) (map[int32][]tagRow, error) {
	rows, err := tx.Query(ctx, sql, ids)
	if err != nil {
		return nil, err
	}
	tags := make(map[int32][]tagRow, len(ids))
	var owner int32
	var t tagRow
	_, err = pgx.ForEachRow(rows, []any{&owner, &t.id, &t.name}, func() error {
		tags[owner] = append(tags[owner], t)
		return nil
	})
	return tags, err
}

// jsonText is a Json column as the original's String(x) or
// JSON.stringify(x) gives it: a JSON string's own text, anything else its
// compact JSON.
func jsonText(raw []byte) string {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			return s
		}
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// sharedStepBatch: sharedStepSearch.ts buildSharedStepDocument. The items
// keep their step and expected result as JSON text, as the original sends
// them; searchableContent has their plain text.
func (q scope) sharedStepBatch(ctx context.Context, tx pgx.Tx, after int) (batch, error) {
	type item struct {
		id, order      int32
		step, expected []byte
	}
	type group struct {
		id, projectID              int32
		name, projectName          string
		projectIconURL             *string
		createdAt                  time.Time
		createdByID, createdByName string
		createdByImage             *string
		isDeleted                  bool
		items                      []item
	}
	rows, err := tx.Query(ctx, q.sharedStepPageSQL(), q.projectID, after, q.limit)
	if err != nil {
		return batch{}, err
	}
	var groups []group
	at := map[int32]int{}
	var g group
	_, err = pgx.ForEachRow(rows, []any{&g.id, &g.name, &g.projectID, &g.projectName, &g.projectIconURL,
		&g.createdAt, &g.createdByID, &g.createdByName, &g.createdByImage, &g.isDeleted}, func() error {
		at[g.id] = len(groups)
		groups = append(groups, g)
		return nil
	})
	if err != nil || len(groups) == 0 {
		return batch{}, err
	}
	ids := make([]int32, len(groups))
	for i := range groups {
		ids[i] = groups[i].id
	}
	rows, err = tx.Query(ctx, sharedItemsSQL, ids)
	if err != nil {
		return batch{}, err
	}
	var owner int32
	var it item
	_, err = pgx.ForEachRow(rows, []any{&owner, &it.id, &it.order, &it.step, &it.expected}, func() error {
		g := &groups[at[owner]]
		g.items = append(g.items, it)
		return nil
	})
	if err != nil {
		return batch{}, err
	}

	result := make([]Doc, len(groups))
	for i := range groups {
		g := &groups[i]
		w := newDoc()
		w.kInt("id", int64(g.id))
		w.kStr("name", g.name)
		w.kInt("projectId", int64(g.projectID))
		w.kStr("projectName", g.projectName)
		w.kStrOrNull("projectIconUrl", g.projectIconURL)
		w.kTime("createdAt", g.createdAt)
		w.kStr("createdById", g.createdByID)
		w.kStr("createdByName", g.createdByName)
		w.kStrOrNull("createdByImage", g.createdByImage)
		w.kBool("isDeleted", g.isDeleted)
		var search searchText
		search.add(g.name)
		w.key("items")
		w.open('[')
		for _, it := range g.items {
			w.open('{')
			w.kInt("id", int64(it.id))
			w.kInt("order", int64(it.order))
			w.kStr("step", jsonText(it.step))
			w.kStr("expectedResult", jsonText(it.expected))
			w.close('}')
			search.add(richTextJSON(it.step))
			search.add(richTextJSON(it.expected))
		}
		w.close(']')
		w.key("searchableContent")
		w.rawString(search.b)
		result[i] = finish(w, g.id, g.projectID)
	}
	return built(result, len(groups), int(groups[len(groups)-1].id)), nil
}

// testRunBatch: testRunSearch.ts syncProjectTestRunsToElasticsearch.
func (q scope) testRunBatch(ctx context.Context, tx pgx.Tx, after int) (batch, error) {
	type run struct {
		id, projectID, stateID     int32
		projectName, name          string
		note, docs                 []byte
		configID, milestoneID      *int32
		configName, milestoneName  *string
		stateName                  string
		forecastManual, elapsed    *int32
		forecastAutomated          *float64
		isCompleted, isDeleted     bool
		completedAt                *time.Time
		runType                    string
		createdAt                  time.Time
		createdByID, createdByName string
	}
	rows, err := tx.Query(ctx, q.testRunPageSQL(), q.projectID, after, q.limit)
	if err != nil {
		return batch{}, err
	}
	var runs []run
	var r run
	_, err = pgx.ForEachRow(rows, []any{&r.id, &r.projectID, &r.projectName, &r.name, &r.note, &r.docs,
		&r.configID, &r.configName, &r.milestoneID, &r.milestoneName, &r.stateID, &r.stateName,
		&r.forecastManual, &r.forecastAutomated, &r.elapsed, &r.isCompleted, &r.isDeleted, &r.completedAt,
		&r.runType, &r.createdAt, &r.createdByID, &r.createdByName}, func() error {
		runs = append(runs, r)
		return nil
	})
	if err != nil || len(runs) == 0 {
		return batch{}, err
	}
	ids := make([]int32, len(runs))
	for i := range runs {
		ids[i] = runs[i].id
	}
	tags, err := readTagMap(ctx, tx, testRunTagsSQL, ids)
	if err != nil {
		return batch{}, err
	}

	result := make([]Doc, len(runs))
	for i := range runs {
		r := &runs[i]
		note, docs := richTextJSON(r.note), richTextJSON(r.docs)
		w := newDoc()
		w.kInt("id", int64(r.id))
		w.kInt("projectId", int64(r.projectID))
		w.kStr("projectName", r.projectName)
		w.kStr("name", r.name)
		w.kStr("note", note)
		w.kStr("docs", docs)
		w.kIntOrNull("configId", r.configID)
		w.kStrIfSet("configurationName", r.configName)
		w.kIntOrNull("milestoneId", r.milestoneID)
		w.kStrIfSet("milestoneName", r.milestoneName)
		w.kInt("stateId", int64(r.stateID))
		w.kStr("stateName", r.stateName)
		w.kIntOrNull("forecastManual", r.forecastManual)
		w.kFloatOrNull("forecastAutomated", r.forecastAutomated)
		w.kIntOrNull("elapsed", r.elapsed)
		w.kBool("isCompleted", r.isCompleted)
		w.kBool("isDeleted", r.isDeleted)
		w.kTimeOrNull("completedAt", r.completedAt)
		w.kStr("testRunType", r.runType)
		w.kTime("createdAt", r.createdAt)
		w.kStr("createdById", r.createdByID)
		w.kStr("createdByName", r.createdByName)
		tagNames := writeTags(w, tags[r.id])
		w.kStr("searchableContent", joinNonEmpty(r.name, note, docs, tagNames))
		result[i] = finish(w, r.id, r.projectID)
	}
	return built(result, len(runs), int(runs[len(runs)-1].id)), nil
}

// sessionBatch: sessionSearch.ts syncProjectSessionsToElasticsearch.
func (q scope) sessionBatch(ctx context.Context, tx pgx.Tx, after int) (batch, error) {
	type session struct {
		id, projectID, templateID, stateID int32
		projectName, templateName, name    string
		note, mission                      []byte
		configID, milestoneID              *int32
		configName, milestoneName          *string
		stateName                          string
		assignedToID, assignedToName       *string
		estimate, forecastManual, elapsed  *int32
		forecastAutomated                  *float64
		isCompleted, isDeleted             bool
		completedAt                        *time.Time
		createdAt                          time.Time
		createdByID, createdByName         string
	}
	rows, err := tx.Query(ctx, q.sessionPageSQL(), q.projectID, after, q.limit)
	if err != nil {
		return batch{}, err
	}
	var sessions []session
	var s session
	_, err = pgx.ForEachRow(rows, []any{&s.id, &s.projectID, &s.projectName, &s.templateID, &s.templateName,
		&s.name, &s.note, &s.mission, &s.configID, &s.configName, &s.milestoneID, &s.milestoneName, &s.stateID,
		&s.stateName, &s.assignedToID, &s.assignedToName, &s.estimate, &s.forecastManual, &s.forecastAutomated,
		&s.elapsed, &s.isCompleted, &s.isDeleted, &s.completedAt, &s.createdAt, &s.createdByID,
		&s.createdByName}, func() error {
		sessions = append(sessions, s)
		return nil
	})
	if err != nil || len(sessions) == 0 {
		return batch{}, err
	}
	ids := make([]int32, len(sessions))
	for i := range sessions {
		ids[i] = sessions[i].id
	}
	tags, err := readTagMap(ctx, tx, sessionTagsSQL, ids)
	if err != nil {
		return batch{}, err
	}

	result := make([]Doc, len(sessions))
	for i := range sessions {
		s := &sessions[i]
		note, mission := richTextJSON(s.note), richTextJSON(s.mission)
		w := newDoc()
		w.kInt("id", int64(s.id))
		w.kInt("projectId", int64(s.projectID))
		w.kStr("projectName", s.projectName)
		w.kInt("templateId", int64(s.templateID))
		w.kStr("templateName", s.templateName)
		w.kStr("name", s.name)
		w.kStr("note", note)
		w.kStr("mission", mission)
		w.kIntOrNull("configId", s.configID)
		w.kStrIfSet("configurationName", s.configName)
		w.kIntOrNull("milestoneId", s.milestoneID)
		w.kStrIfSet("milestoneName", s.milestoneName)
		w.kInt("stateId", int64(s.stateID))
		w.kStr("stateName", s.stateName)
		w.kStrOrNull("assignedToId", s.assignedToID)
		w.kStrIfSet("assignedToName", s.assignedToName)
		w.kIntOrNull("estimate", s.estimate)
		w.kIntOrNull("forecastManual", s.forecastManual)
		w.kFloatOrNull("forecastAutomated", s.forecastAutomated)
		w.kIntOrNull("elapsed", s.elapsed)
		w.kBool("isCompleted", s.isCompleted)
		w.kBool("isDeleted", s.isDeleted)
		w.kTimeOrNull("completedAt", s.completedAt)
		w.kTime("createdAt", s.createdAt)
		w.kStr("createdById", s.createdByID)
		w.kStr("createdByName", s.createdByName)
		tagNames := writeTags(w, tags[s.id])
		w.kStr("searchableContent", joinNonEmpty(s.name, note, mission, tagNames))
		result[i] = finish(w, s.id, s.projectID)
	}
	return built(result, len(sessions), int(sessions[len(sessions)-1].id)), nil
}

// projectBatch: projectSearch.ts syncAllProjectsToElasticsearch. note and
// docs are sent as stored (serialised TipTap JSON in TEXT columns), their
// plain text goes into searchableContent.
func (q scope) projectBatch(ctx context.Context, tx pgx.Tx, after int) (batch, error) {
	rows, err := tx.Query(ctx, q.projectPageSQL(), q.projectID, after, q.limit)
	if err != nil {
		return batch{}, err
	}
	var result []Doc
	last := 0
	var id int32
	var name, createdBy, creatorName string
	var iconURL, note, docs, creatorImage *string
	var isDeleted bool
	var createdAt time.Time
	_, err = pgx.ForEachRow(rows, []any{&id, &name, &iconURL, &note, &docs, &isDeleted, &createdAt, &createdBy,
		&creatorName, &creatorImage}, func() error {
		w := newDoc()
		w.kInt("id", int64(id))
		w.kStr("name", name)
		w.kStrOrNull("iconUrl", iconURL)
		w.kStrOrNull("note", note)
		w.kStrOrNull("docs", docs)
		w.kBool("isDeleted", isDeleted)
		w.kTime("createdAt", createdAt)
		w.kStr("createdById", createdBy)
		w.kStr("createdByName", creatorName)
		w.kStrOrNull("createdByImage", creatorImage)
		var noteText, docsText string
		if note != nil {
			noteText = richTextString(*note)
		}
		if docs != nil {
			docsText = richTextString(*docs)
		}
		w.kStr("searchableContent", joinNonEmpty(name, noteText, docsText))
		result = append(result, finish(w, id, id))
		last = int(id)
		return nil
	})
	return built(result, len(result), last), err
}

// issueBatch: issueSearch.ts syncProjectIssuesToElasticsearch. An issue
// with no project of its own takes the project its links reach; one that
// reaches none is not indexed (as in the original).
func (q scope) issueBatch(ctx context.Context, tx pgx.Tx, after int) (batch, error) {
	rows, err := tx.Query(ctx, q.issuePageSQL(), q.projectID, after, q.limit)
	if err != nil {
		return batch{}, err
	}
	var result []Doc
	last := 0
	var id, projectID int32
	var projectName, name, title, createdByID, createdByName string
	var projectIconURL, description, externalID, url, integration, createdByImage *string
	var note []byte
	var isDeleted bool
	var createdAt time.Time
	_, err = pgx.ForEachRow(rows, []any{&id, &projectID, &projectName, &projectIconURL, &name, &title,
		&description, &externalID, &note, &url, &integration, &isDeleted, &createdAt, &createdByID,
		&createdByName, &createdByImage}, func() error {
		noteText := richTextJSON(note)
		system := "Unknown"
		if integration != nil && *integration != "" {
			system = *integration
		}
		w := newDoc()
		w.kInt("id", int64(id))
		w.kInt("projectId", int64(projectID))
		w.kStr("projectName", projectName)
		w.kStrOrNull("projectIconUrl", projectIconURL)
		w.kStr("name", name)
		w.kStr("title", title)
		w.kStrOrNull("description", description)
		w.kStrOrNull("externalId", externalID)
		w.kStr("note", noteText)
		w.kStrIfSet("url", url)
		w.kStr("issueSystem", system)
		w.kBool("isDeleted", isDeleted)
		w.kTime("createdAt", createdAt)
		w.kStr("createdById", createdByID)
		w.kStr("createdByName", createdByName)
		w.kStrOrNull("createdByImage", createdByImage)
		var search searchText
		for _, s := range []*string{&name, &title, description, externalID, &noteText, integration} {
			if s != nil {
				search.add(*s)
			}
		}
		w.key("searchableContent")
		w.rawString(search.b)
		result = append(result, finish(w, id, projectID))
		last = int(id)
		return nil
	})
	return built(result, len(result), last), err
}

// milestoneBatch: milestoneSearch.ts syncProjectMilestonesToElasticsearch,
// with createdByName and createdByImage taken from the creator (the
// original reads them off the "createdBy" id string and sends neither).
func (q scope) milestoneBatch(ctx context.Context, tx pgx.Tx, after int) (batch, error) {
	rows, err := tx.Query(ctx, q.milestonePageSQL(), q.projectID, after, q.limit)
	if err != nil {
		return batch{}, err
	}
	var result []Doc
	last := 0
	var id, projectID, typeID int32
	var parentID *int32
	var projectName, name, typeName, createdBy, creatorName string
	var projectIconURL, typeIcon, parentName, creatorImage *string
	var note, docs []byte
	var isCompleted, isDeleted bool
	var completedAt *time.Time
	var createdAt time.Time
	_, err = pgx.ForEachRow(rows, []any{&id, &projectID, &projectName, &projectIconURL, &name, &note, &docs,
		&typeID, &typeName, &typeIcon, &parentID, &parentName, &isCompleted, &completedAt, &isDeleted,
		&createdAt, &createdBy, &creatorName, &creatorImage}, func() error {
		noteText, docsText := richTextJSON(note), richTextJSON(docs)
		w := newDoc()
		w.kInt("id", int64(id))
		w.kInt("projectId", int64(projectID))
		w.kStr("projectName", projectName)
		w.kStrOrNull("projectIconUrl", projectIconURL)
		w.kStr("name", name)
		w.kStr("note", noteText)
		w.kStr("docs", docsText)
		w.kInt("milestoneTypeId", int64(typeID))
		w.kStr("milestoneTypeName", typeName)
		w.kStrIfSet("milestoneTypeIcon", typeIcon)
		w.kIntOrNull("parentId", parentID)
		w.kStrIfSet("parentName", parentName)
		w.kBool("isCompleted", isCompleted)
		w.kTimeOrNull("completedAt", completedAt)
		w.kBool("isDeleted", isDeleted)
		w.kTime("createdAt", createdAt)
		w.kStr("createdById", createdBy)
		w.kStr("createdByName", creatorName)
		w.kStrOrNull("createdByImage", creatorImage)
		w.kStr("searchableContent", joinNonEmpty(name, noteText, docsText))
		result = append(result, finish(w, id, projectID))
		last = int(id)
		return nil
	})
	return built(result, len(result), last), err
}
