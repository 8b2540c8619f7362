package reindex

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// caseRow is one "RepositoryCases" row with what its document needs.
type caseRow struct {
	id, projectID, repositoryID, folderID, templateID, stateID int32
	projectName                                                string
	projectIconURL                                             *string
	folderPath, templateName, name                             string
	className                                                  *string
	source                                                     string
	stateName, stateIcon, stateColor                           string
	estimate, forecastManual                                   *int32
	forecastAutomated                                          *float64
	automated, isArchived, isDeleted                           bool
	createdAt                                                  time.Time
	creatorID, creatorName                                     string
	creatorImage                                               *string

	tags   []tagRow
	steps  []stepRow
	values []valueRow
}

type tagRow struct {
	id   int32
	name string
}

// stepRow is a non-deleted "Steps" row. groupID and groupName are set for
// a shared step: one that stands for the items of its group.
type stepRow struct {
	id, order      int32
	step, expected []byte // JSON, nil for NULL
	groupID        *int32
	groupName      *string
	group          *sharedGroup // resolved before the batch is built
}

// valueRow is a "CaseFieldValues" row.
type valueRow struct {
	fieldID int32
	value   []byte     // JSON, nil for NULL
	field   *caseField // resolved before the batch is built; nil if the field is gone
}

// sharedGroup is a shared step group's items, their texts flattened once.
// It is not changed once a batch refers to it.
type sharedGroup struct {
	items []sharedItemText
}

type sharedItemText struct {
	step, expected string
}

// caseLoader reads case documents. For the duration of one Docs call it
// keeps the shared step groups and field definitions it has read, so that a
// later page reads only the ones it has not seen. Only the reading
// goroutine touches its maps; a batch's build sees the groups and fields
// through pointers resolved while reading.
type caseLoader struct {
	q       scope
	pageSQL string
	groups  map[int32]*sharedGroup
	fields  map[int32]*caseField
}

func newCaseLoader(q scope) *caseLoader {
	return &caseLoader{q: q, pageSQL: q.casePageSQL(), groups: map[int32]*sharedGroup{}, fields: map[int32]*caseField{}}
}

// load reads one page of cases and their tags, steps, shared items, field
// values and fields: at most six queries whatever the page holds.
func (l *caseLoader) load(ctx context.Context, tx pgx.Tx, after int) (batch, error) {
	rows, err := tx.Query(ctx, l.pageSQL, l.q.projectID, after, l.q.limit)
	if err != nil {
		return batch{}, err
	}
	cases := make([]caseRow, 0, l.q.limit)
	var c caseRow
	_, err = pgx.ForEachRow(rows, []any{&c.id, &c.projectID, &c.projectName, &c.projectIconURL, &c.repositoryID,
		&c.folderID, &c.folderPath, &c.templateID, &c.templateName, &c.name, &c.className, &c.source, &c.stateID,
		&c.stateName, &c.stateIcon, &c.stateColor, &c.estimate, &c.forecastManual, &c.forecastAutomated,
		&c.automated, &c.isArchived, &c.isDeleted, &c.createdAt, &c.creatorID, &c.creatorName, &c.creatorImage},
		func() error {
			cases = append(cases, c)
			return nil
		})
	if err != nil || len(cases) == 0 {
		return batch{}, err
	}
	ids := make([]int32, len(cases))
	at := make(map[int32]int, len(cases))
	for i := range cases {
		ids[i] = cases[i].id
		at[cases[i].id] = i
	}
	if err := l.readTags(ctx, tx, ids, cases, at); err != nil {
		return batch{}, err
	}
	if err := l.readSteps(ctx, tx, ids, cases, at); err != nil {
		return batch{}, err
	}
	if err := l.readValues(ctx, tx, ids, cases, at); err != nil {
		return batch{}, err
	}
	return batch{rows: len(cases), last: int(cases[len(cases)-1].id), build: func() []Doc { return buildCases(cases) }}, nil
}

func (l *caseLoader) readTags(ctx context.Context, tx pgx.Tx, ids []int32, cases []caseRow, at map[int32]int) error {
	rows, err := tx.Query(ctx, caseTagsSQL, ids)
	if err != nil {
		return err
	}
	return forRawRows(rows, func(fds []pgconn.FieldDescription, v [][]byte) error {
		owner, err := rawInt32(fds[0], v[0])
		if err != nil {
			return err
		}
		id, err := rawInt32(fds[1], v[1])
		if err != nil {
			return err
		}
		c := &cases[at[owner]]
		c.tags = append(c.tags, tagRow{id: id, name: string(v[2])})
		return nil
	})
}

// readSteps reads the page's steps, then the items of the shared step
// groups they use that this call has not read yet.
func (l *caseLoader) readSteps(ctx context.Context, tx pgx.Tx, ids []int32, cases []caseRow, at map[int32]int) error {
	rows, err := tx.Query(ctx, caseStepsSQL, ids)
	if err != nil {
		return err
	}
	var missing []int32
	var arena []byte
	err = forRawRows(rows, func(fds []pgconn.FieldDescription, v [][]byte) error {
		var s stepRow
		owner, err := rawInt32(fds[0], v[0])
		if err == nil {
			s.id, err = rawInt32(fds[1], v[1])
		}
		if err == nil {
			s.order, err = rawInt32(fds[2], v[2])
		}
		if err == nil {
			s.step, err = rawJSON(&arena, fds[3], v[3])
		}
		if err == nil {
			s.expected, err = rawJSON(&arena, fds[4], v[4])
		}
		if err == nil {
			s.groupID, err = rawNullInt32(fds[5], v[5])
		}
		if err == nil {
			s.groupName, err = rawNullText(fds[6], v[6])
		}
		if err != nil {
			return err
		}
		if s.groupID != nil {
			if _, ok := l.groups[*s.groupID]; !ok {
				l.groups[*s.groupID] = &sharedGroup{}
				missing = append(missing, *s.groupID)
			}
		}
		c := &cases[at[owner]]
		c.steps = append(c.steps, s)
		return nil
	})
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		rows, err = tx.Query(ctx, sharedItemsSQL, missing)
		if err != nil {
			return err
		}
		var group, itemID, order int32
		var step, expected []byte
		_, err = pgx.ForEachRow(rows, []any{&group, &itemID, &order, &step, &expected}, func() error {
			g := l.groups[group]
			g.items = append(g.items, sharedItemText{step: richTextJSON(step), expected: richTextJSON(expected)})
			return nil
		})
		if err != nil {
			return err
		}
	}
	for i := range cases {
		for k := range cases[i].steps {
			if s := &cases[i].steps[k]; s.groupID != nil {
				s.group = l.groups[*s.groupID]
			}
		}
	}
	return nil
}

// readValues reads the page's custom field values, then the definitions of
// the fields that this call has not read yet.
func (l *caseLoader) readValues(ctx context.Context, tx pgx.Tx, ids []int32, cases []caseRow, at map[int32]int) error {
	rows, err := tx.Query(ctx, caseValuesSQL, ids)
	if err != nil {
		return err
	}
	var missing []int32
	seen := map[int32]bool{}
	var arena []byte
	err = forRawRows(rows, func(fds []pgconn.FieldDescription, raw [][]byte) error {
		var v valueRow
		owner, err := rawInt32(fds[0], raw[0])
		if err == nil {
			v.fieldID, err = rawInt32(fds[1], raw[1])
		}
		if err == nil {
			v.value, err = rawJSON(&arena, fds[2], raw[2])
		}
		if err != nil {
			return err
		}
		if _, ok := l.fields[v.fieldID]; !ok && !seen[v.fieldID] {
			seen[v.fieldID] = true
			missing = append(missing, v.fieldID)
		}
		c := &cases[at[owner]]
		c.values = append(c.values, v)
		return nil
	})
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		if err := readCaseFields(ctx, tx, missing, l.fields); err != nil {
			return err
		}
		for _, id := range missing {
			if _, ok := l.fields[id]; !ok {
				l.fields[id] = nil // deleted since the values were read: not looked up again
			}
		}
	}
	for i := range cases {
		for k := range cases[i].values {
			v := &cases[i].values[k]
			v.field = l.fields[v.fieldID]
		}
	}
	return nil
}

// buildCases builds the documents of a page of cases. (Building a page in
// parallel chunks was measured slower on two cores: the reader and
// PostgreSQL need the other one.)
func buildCases(cases []caseRow) []Doc {
	docs := make([]Doc, len(cases))
	var cb caseBuilder
	hint := 2048
	for i := range cases {
		cb.w = jsonWriter{b: make([]byte, 0, hint)}
		cb.write(&cases[i])
		if n := len(cb.w.b); n > hint {
			hint = n + n/4
		}
		docs[i] = Doc{ID: itoa(cases[i].id), ProjectID: int(cases[i].projectID), Body: cb.w.b}
	}
	return docs
}

// caseBuilder writes case documents, reusing its search text buffer.
type caseBuilder struct {
	w      jsonWriter
	search searchText
}

// write appends case c's document (repositoryCaseSync.ts
// buildRepositoryCaseDocument, searchableContent as bulkIndexRepositoryCases
// adds it).
func (cb *caseBuilder) write(c *caseRow) {
	w := &cb.w
	search := &cb.search
	search.reset()

	w.open('{')
	w.kInt("id", int64(c.id))
	w.kInt("projectId", int64(c.projectID))
	w.kStr("projectName", c.projectName)
	w.kStrOrNull("projectIconUrl", c.projectIconURL)
	w.kInt("repositoryId", int64(c.repositoryID))
	w.kInt("folderId", int64(c.folderID))
	w.kStr("folderPath", c.folderPath)
	w.kInt("templateId", int64(c.templateID))
	w.kStr("templateName", c.templateName)
	w.kStr("name", c.name)
	w.kStrOrNull("className", c.className)
	w.kStr("source", c.source)
	w.kInt("stateId", int64(c.stateID))
	w.kStr("stateName", c.stateName)
	w.kStr("stateIcon", c.stateIcon)
	w.kStr("stateColor", c.stateColor)
	w.kIntOrNull("estimate", c.estimate)
	w.kIntOrNull("forecastManual", c.forecastManual)
	w.kFloatOrNull("forecastAutomated", c.forecastAutomated)
	w.kBool("automated", c.automated)
	w.kBool("isArchived", c.isArchived)
	w.kBool("isDeleted", c.isDeleted)
	w.kTime("createdAt", c.createdAt)
	w.kStr("creatorId", c.creatorID)
	w.kStr("creatorName", c.creatorName)
	w.kStrOrNull("creatorImage", c.creatorImage)

	// searchableContent: [name, className, tag names joined, custom field
	// texts, step texts].filter(Boolean).join(" "); the last two are
	// themselves non-empty texts joined by spaces.
	search.add(c.name)
	if c.className != nil {
		search.add(*c.className)
	}

	w.key("tags")
	w.open('[')
	search.beginPart()
	for i, t := range c.tags {
		w.open('{')
		w.kInt("id", int64(t.id))
		w.kStr("name", t.name)
		w.close('}')
		search.partText(i > 0, t.name)
	}
	search.endPart()
	w.close(']')

	w.key("customFields")
	w.open('[')
	for _, v := range c.values {
		if v.field == nil {
			continue // the field was deleted between the two reads
		}
		cf, ok := buildCustomField(v.field, v.value)
		if !ok {
			continue
		}
		cf.write(w)
		search.add(cf.searchText())
	}
	w.close(']')

	w.key("steps")
	w.open('[')
	for i := range c.steps {
		s := &c.steps[i]
		if s.group != nil {
			for k, it := range s.group.items {
				w.open('{')
				w.kInt("id", int64(s.id)*1000+int64(k))
				w.kInt("order", int64(s.order))
				w.kStr("step", it.step)
				w.kStr("expectedResult", it.expected)
				w.kBool("isSharedStep", true)
				w.kInt("sharedStepGroupId", int64(*s.groupID))
				w.kStr("sharedStepGroupName", *s.groupName)
				w.close('}')
				search.add(it.step)
				search.add(it.expected)
				search.add(*s.groupName)
			}
			continue
		}
		step, expected := richTextJSON(s.step), richTextJSON(s.expected)
		w.open('{')
		w.kInt("id", int64(s.id))
		w.kInt("order", int64(s.order))
		w.kStr("step", step)
		w.kStr("expectedResult", expected)
		w.kBool("isSharedStep", false)
		w.close('}')
		search.add(step)
		search.add(expected)
	}
	w.close(']')

	w.key("searchableContent")
	w.rawString(search.b)
	w.close('}')
}

// searchText accumulates searchableContent: non-empty texts joined by
// single spaces, as the original's [...].filter(Boolean).join(" ").
type searchText struct {
	b    []byte
	mark int // beginPart: where the part's separator went
}

func (s *searchText) reset() { s.b = s.b[:0] }

// add appends t unless it is empty.
func (s *searchText) add(t string) {
	if t == "" {
		return
	}
	if len(s.b) > 0 {
		s.b = append(s.b, ' ')
	}
	s.b = append(s.b, t...)
}

// beginPart starts a part whose own texts are joined with a plain
// .join(" ") (empty ones included); the part is dropped if it ends empty.
func (s *searchText) beginPart() {
	s.mark = len(s.b)
	if len(s.b) > 0 {
		s.b = append(s.b, ' ')
	}
}

// partText appends t to the part, after a space unless it is the first.
func (s *searchText) partText(notFirst bool, t string) {
	if notFirst {
		s.b = append(s.b, ' ')
	}
	s.b = append(s.b, t...)
}

// endPart drops the part if it is empty.
func (s *searchText) endPart() {
	if n := len(s.b) - s.mark; n == 0 || (n == 1 && s.mark > 0) {
		s.b = s.b[:s.mark]
	}
}

// joinNonEmpty joins the non-empty parts with single spaces.
func joinNonEmpty(parts ...string) string {
	var s searchText
	for _, p := range parts {
		s.add(p)
	}
	return string(s.b)
}
