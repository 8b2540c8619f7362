package reindex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// The SQL of the documents. Every query takes the project as $1 (0: every
// project that is not deleted), and the page queries the keyset position
// as $2 and the page size as $3; the batch queries take the page's ids as
// $1. A page query's predicate restricting the project is written for the
// scope (one project or all) so that each form gets its own plan.

// scope is the project filter and page size of one Docs, IDs or Count call.
type scope struct {
	projectID int
	limit     int
}

func newScope(projectID, limit int) scope { return scope{projectID: projectID, limit: limit} }

// proj returns the predicate that restricts the project id column col to
// the scope; both forms use $1, so every query takes the same arguments.
func (q scope) proj(col string) string {
	if q.projectID > 0 {
		return col + " = $1"
	}
	return "$1::int = 0"
}

// selection is the FROM ... WHERE of a kind's documents: alias is the row
// table's alias in it.
type selection struct {
	alias, from string
}

// selectionOf returns the rows that make kind k's documents, the same rows
// as the page queries read.
func selectionOf(k Kind, projectID int) (selection, error) {
	if projectID < 0 {
		return selection{}, fmt.Errorf("reindex: project id %d: must be positive, or 0 for all", projectID)
	}
	q := scope{projectID: projectID}
	switch k {
	case KindRepositoryCases:
		return selection{"c", `FROM "RepositoryCases" c JOIN "Projects" p ON p.id = c."projectId"
			WHERE NOT c."isArchived" AND NOT p."isDeleted" AND ` + q.proj(`c."projectId"`)}, nil
	case KindSharedSteps:
		return selection{"g", `FROM "SharedStepGroup" g JOIN "Projects" p ON p.id = g."projectId"
			WHERE NOT p."isDeleted" AND ` + q.proj(`g."projectId"`)}, nil
	case KindTestRuns:
		return selection{"r", `FROM "TestRuns" r JOIN "Projects" p ON p.id = r."projectId"
			WHERE NOT p."isDeleted" AND ` + q.proj(`r."projectId"`)}, nil
	case KindSessions:
		return selection{"s", `FROM "Sessions" s JOIN "Projects" p ON p.id = s."projectId"
			WHERE NOT p."isDeleted" AND ` + q.proj(`s."projectId"`)}, nil
	case KindMilestones:
		return selection{"m", `FROM "Milestones" m JOIN "Projects" p ON p.id = m."projectId"
			WHERE NOT p."isDeleted" AND ` + q.proj(`m."projectId"`)}, nil
	case KindProjects:
		return selection{"p", `FROM "Projects" p WHERE ` + q.proj(`p.id`)}, nil
	case KindIssues:
		return selection{"i", `FROM "Issue" i LEFT JOIN "Projects" dp ON dp.id = i."projectId"
			WHERE ` + q.issueSelected()}, nil
	default:
		return selection{}, fmt.Errorf("%w %q", ErrUnknownKind, string(k))
	}
}

// issueLinked is the project an issue reaches through its links, in the
// original's order of relations (cases, sessions, runs, session results,
// run results, step results), the lowest project id within one relation;
// NULL when none reaches a project of the scope that is not deleted.
// Deleted sessions and runs do not count, deleted cases do (as in the
// original's issueSearch.ts).
func (q scope) issueLinked() string {
	p := q.proj("p.id")
	return `COALESCE(
		(SELECT min(p.id) FROM "_IssueToRepositoryCases" j JOIN "RepositoryCases" c ON c.id = j."B"
			JOIN "Projects" p ON p.id = c."projectId"
			WHERE j."A" = i.id AND NOT p."isDeleted" AND ` + p + `),
		(SELECT min(p.id) FROM "_IssueToSessions" j JOIN "Sessions" s ON s.id = j."B"
			JOIN "Projects" p ON p.id = s."projectId"
			WHERE j."A" = i.id AND NOT s."isDeleted" AND NOT p."isDeleted" AND ` + p + `),
		(SELECT min(p.id) FROM "_IssueToTestRuns" j JOIN "TestRuns" r ON r.id = j."B"
			JOIN "Projects" p ON p.id = r."projectId"
			WHERE j."A" = i.id AND NOT r."isDeleted" AND NOT p."isDeleted" AND ` + p + `),
		(SELECT min(p.id) FROM "_IssueToSessionResults" j JOIN "SessionResults" sr ON sr.id = j."B"
			JOIN "Sessions" s ON s.id = sr."sessionId" JOIN "Projects" p ON p.id = s."projectId"
			WHERE j."A" = i.id AND NOT s."isDeleted" AND NOT p."isDeleted" AND ` + p + `),
		(SELECT min(p.id) FROM "_IssueToTestRunResults" j JOIN "TestRunResults" rr ON rr.id = j."B"
			JOIN "TestRuns" r ON r.id = rr."testRunId" JOIN "Projects" p ON p.id = r."projectId"
			WHERE j."A" = i.id AND NOT r."isDeleted" AND NOT p."isDeleted" AND ` + p + `),
		(SELECT min(p.id) FROM "_IssueToTestRunStepResults" j JOIN "TestRunStepResults" x ON x.id = j."B"
			JOIN "TestRunResults" rr ON rr.id = x."testRunResultId" JOIN "TestRuns" r ON r.id = rr."testRunId"
			JOIN "Projects" p ON p.id = r."projectId"
			WHERE j."A" = i.id AND NOT r."isDeleted" AND NOT p."isDeleted" AND ` + p + `))`
}

// issueSelected is true for an issue that makes a document: its own
// project ("Issue"."projectId", dp) is in the scope and not deleted, or a
// link reaches one.
func (q scope) issueSelected() string {
	return `((dp.id IS NOT NULL AND NOT dp."isDeleted" AND ` + q.proj("dp.id") + `) OR ` + q.issueLinked() + ` IS NOT NULL)`
}

// Case documents: the page with its scalar relations and folder paths
// (a recursive walk up from the page's folders), then the page's tags,
// steps, shared step items (groups not read yet in this call), custom field
// values and field definitions (fields not read yet in this call).

func (q scope) casePageSQL() string {
	return `
WITH RECURSIVE page AS MATERIALIZED (
	SELECT c.id, c."projectId", p.name AS "projectName", p."iconUrl", c."repositoryId", c."folderId",
	       c."templateId", t."templateName", c.name, c."className", c.source::text AS source, c."stateId",
	       w.name AS "stateName", fi.name AS "stateIcon", col.value AS "stateColor", c.estimate,
	       c."forecastManual", c."forecastAutomated", c.automated, c."isArchived", c."isDeleted", c."createdAt",
	       c."creatorId", u.name AS "creatorName", u.image
	FROM "RepositoryCases" c
	JOIN "Projects" p ON p.id = c."projectId"
	JOIN "Templates" t ON t.id = c."templateId"
	JOIN "Workflows" w ON w.id = c."stateId"
	JOIN "FieldIcon" fi ON fi.id = w."iconId"
	JOIN "Color" col ON col.id = w."colorId"
	JOIN "User" u ON u.id = c."creatorId"
	WHERE NOT c."isArchived" AND NOT p."isDeleted" AND ` + q.proj(`c."projectId"`) + ` AND c.id > $2
	ORDER BY c.id
	LIMIT $3
), up (folder, parent, path, depth) AS (
	SELECT f.id, f."parentId", f.name, 1
	FROM "RepositoryFolders" f WHERE f.id IN (SELECT "folderId" FROM page)
	UNION ALL
	SELECT up.folder, a."parentId", a.name || '/' || up.path, up.depth + 1
	FROM up JOIN "RepositoryFolders" a ON a.id = up.parent
	WHERE up.depth < ` + strconv.Itoa(maxFolderDepth) + `
), paths AS MATERIALIZED (
	SELECT folder, '/' || path AS path FROM up WHERE parent IS NULL
)
SELECT pg.id, pg."projectId", pg."projectName", pg."iconUrl", pg."repositoryId", pg."folderId",
       coalesce(paths.path, '/'), pg."templateId", pg."templateName", pg.name, pg."className", pg.source,
       pg."stateId", pg."stateName", pg."stateIcon", pg."stateColor", pg.estimate, pg."forecastManual",
       pg."forecastAutomated", pg.automated, pg."isArchived", pg."isDeleted", pg."createdAt", pg."creatorId",
       pg."creatorName", pg.image
FROM page pg LEFT JOIN paths ON paths.folder = pg."folderId"
ORDER BY pg.id`
}

// maxFolderDepth bounds the folder walk: a cycle in "parentId" (which the
// original would follow forever) ends there, and the case gets folder path
// "/".
const maxFolderDepth = 1000

const caseTagsSQL = `
SELECT j."A", t.id, t.name FROM "_RepositoryCasesToTags" j JOIN "Tags" t ON t.id = j."B"
WHERE j."A" = ANY($1) ORDER BY j."A", t.id`

const caseStepsSQL = `
SELECT s."testCaseId", s.id, s."order", s.step, s."expectedResult", g.id, g.name
FROM "Steps" s LEFT JOIN "SharedStepGroup" g ON g.id = s."sharedStepGroupId"
WHERE s."testCaseId" = ANY($1) AND NOT s."isDeleted"
ORDER BY s."testCaseId", s."order", s.id`

const sharedItemsSQL = `
SELECT i."sharedStepGroupId", i.id, i."order", i.step, i."expectedResult" FROM "SharedStepItem" i
WHERE i."sharedStepGroupId" = ANY($1) ORDER BY i."sharedStepGroupId", i."order", i.id`

const caseValuesSQL = `
SELECT v."testCaseId", v."fieldId", v.value FROM "CaseFieldValues" v
WHERE v."testCaseId" = ANY($1) ORDER BY v."testCaseId", v.id`

const caseFieldsSQL = `
SELECT f.id, f."displayName", ft.type, o.id, o.name, fi.name, col.value
FROM "CaseFields" f JOIN "CaseFieldTypes" ft ON ft.id = f."typeId"
LEFT JOIN "CaseFieldAssignment" a ON a."caseFieldId" = f.id
LEFT JOIN "FieldOptions" o ON o.id = a."fieldOptionId"
LEFT JOIN "FieldIcon" fi ON fi.id = o."iconId"
LEFT JOIN "Color" col ON col.id = o."iconColorId"
WHERE f.id = ANY($1)
ORDER BY f.id, o."order", o.id`

func (q scope) sharedStepPageSQL() string {
	return `
SELECT g.id, g.name, g."projectId", p.name, p."iconUrl", g."createdAt", g."createdById", u.name, u.image, g."isDeleted"
FROM "SharedStepGroup" g JOIN "Projects" p ON p.id = g."projectId" JOIN "User" u ON u.id = g."createdById"
WHERE NOT p."isDeleted" AND ` + q.proj(`g."projectId"`) + ` AND g.id > $2
ORDER BY g.id LIMIT $3`
}

func (q scope) testRunPageSQL() string {
	return `
SELECT r.id, r."projectId", p.name, r.name, r.note, r.docs, r."configId", cf.name, r."milestoneId", m.name,
       r."stateId", w.name, r."forecastManual", r."forecastAutomated", r.elapsed, r."isCompleted", r."isDeleted",
       r."completedAt", r."testRunType"::text, r."createdAt", r."createdById", u.name
FROM "TestRuns" r
JOIN "Projects" p ON p.id = r."projectId"
JOIN "Workflows" w ON w.id = r."stateId"
JOIN "User" u ON u.id = r."createdById"
LEFT JOIN "Configurations" cf ON cf.id = r."configId"
LEFT JOIN "Milestones" m ON m.id = r."milestoneId"
WHERE NOT p."isDeleted" AND ` + q.proj(`r."projectId"`) + ` AND r.id > $2
ORDER BY r.id LIMIT $3`
}

const testRunTagsSQL = `
SELECT j."B", t.id, t.name FROM "_TagsToTestRuns" j JOIN "Tags" t ON t.id = j."A"
WHERE j."B" = ANY($1) ORDER BY j."B", t.id`

func (q scope) sessionPageSQL() string {
	return `
SELECT s.id, s."projectId", p.name, s."templateId", t."templateName", s.name, s.note, s.mission,
       s."configId", cf.name, s."milestoneId", m.name, s."stateId", w.name, s."assignedToId", a.name,
       s.estimate, s."forecastManual", s."forecastAutomated", s.elapsed, s."isCompleted", s."isDeleted",
       s."completedAt", s."createdAt", s."createdById", u.name
FROM "Sessions" s
JOIN "Projects" p ON p.id = s."projectId"
JOIN "Templates" t ON t.id = s."templateId"
JOIN "Workflows" w ON w.id = s."stateId"
JOIN "User" u ON u.id = s."createdById"
LEFT JOIN "User" a ON a.id = s."assignedToId"
LEFT JOIN "Configurations" cf ON cf.id = s."configId"
LEFT JOIN "Milestones" m ON m.id = s."milestoneId"
WHERE NOT p."isDeleted" AND ` + q.proj(`s."projectId"`) + ` AND s.id > $2
ORDER BY s.id LIMIT $3`
}

const sessionTagsSQL = `
SELECT j."A", t.id, t.name FROM "_SessionsToTags" j JOIN "Tags" t ON t.id = j."B"
WHERE j."A" = ANY($1) ORDER BY j."A", t.id`

func (q scope) milestonePageSQL() string {
	return `
SELECT m.id, m."projectId", p.name, p."iconUrl", m.name, m.note, m.docs, m."milestoneTypesId", mt.name, fi.name,
       m."parentId", par.name, m."isCompleted", m."completedAt", m."isDeleted", m."createdAt", m."createdBy",
       u.name, u.image
FROM "Milestones" m
JOIN "Projects" p ON p.id = m."projectId"
JOIN "MilestoneTypes" mt ON mt.id = m."milestoneTypesId"
LEFT JOIN "FieldIcon" fi ON fi.id = mt."iconId"
LEFT JOIN "Milestones" par ON par.id = m."parentId"
JOIN "User" u ON u.id = m."createdBy"
WHERE NOT p."isDeleted" AND ` + q.proj(`m."projectId"`) + ` AND m.id > $2
ORDER BY m.id LIMIT $3`
}

func (q scope) projectPageSQL() string {
	return `
SELECT p.id, p.name, p."iconUrl", p.note, p.docs, p."isDeleted", p."createdAt", p."createdBy", u.name, u.image
FROM "Projects" p JOIN "User" u ON u.id = p."createdBy"
WHERE ` + q.proj(`p.id`) + ` AND p.id > $2
ORDER BY p.id LIMIT $3`
}

// issuePageSQL: the document's project is the issue's own, else the one
// its links reach.
func (q scope) issuePageSQL() string {
	return `
SELECT x.id, x.project, pp.name, pp."iconUrl", x.name, x.title, x.description, x."externalId", x.note,
       CASE WHEN jsonb_typeof(x.data -> 'url') = 'string' THEN x.data ->> 'url' END,
       ig.name, x."isDeleted", x."createdAt", x."createdById", u.name, u.image
FROM (
	SELECT i.id, COALESCE(i."projectId", ` + q.issueLinked() + `) AS project, i.name, i.title, i.description,
	       i."externalId", i.note, i.data, i."integrationId", i."isDeleted", i."createdAt", i."createdById"
	FROM "Issue" i LEFT JOIN "Projects" dp ON dp.id = i."projectId"
	WHERE i.id > $2 AND ` + q.issueSelected() + `
	ORDER BY i.id
	LIMIT $3
) x
JOIN "Projects" pp ON pp.id = x.project
JOIN "User" u ON u.id = x."createdById"
LEFT JOIN "Integration" ig ON ig.id = x."integrationId"
ORDER BY x.id`
}

// DefaultReplicas is the number of replicas when "AppConfig" has no
// elasticsearch_replicas (the original's default, for single-node clusters).
const DefaultReplicas = 0

// MaxReplicas is the largest elasticsearch_replicas the admin page accepts.
const MaxReplicas = 10

// ErrInvalidReplicas is returned, wrapped, when "AppConfig"
// elasticsearch_replicas is not a whole number from 0 to [MaxReplicas].
var ErrInvalidReplicas = errors.New("reindex: invalid AppConfig elasticsearch_replicas")

// Replicas returns "AppConfig" elasticsearch_replicas: the number of
// replicas of a new index. A missing key, JSON null, false or 0 give
// [DefaultReplicas] as in the original; a JSON number or numeric string
// from 0 to [MaxReplicas] gives that number. Anything else is
// [ErrInvalidReplicas]: the original would pass it on to Elasticsearch and
// fail to create the index, or fall back to 0 on a database error, where
// this says what is wrong.
func Replicas(ctx context.Context, db Querier) (int, error) {
	var raw []byte
	err := db.QueryRow(ctx, `SELECT value FROM "AppConfig" WHERE key = 'elasticsearch_replicas'`).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return DefaultReplicas, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reindex: reading AppConfig elasticsearch_replicas: %w", err)
	}
	return parseReplicas(raw)
}

func parseReplicas(raw []byte) (int, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, fmt.Errorf("%w: %s", ErrInvalidReplicas, raw)
	}
	var f float64
	switch x := v.(type) {
	case nil:
		return DefaultReplicas, nil
	case bool:
		if !x {
			return DefaultReplicas, nil
		}
		return 0, fmt.Errorf("%w: %s", ErrInvalidReplicas, raw)
	case float64:
		f = x
	case string:
		if x == "" {
			return DefaultReplicas, nil
		}
		p, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return 0, fmt.Errorf("%w: %s", ErrInvalidReplicas, raw)
		}
		f = p
	default:
		return 0, fmt.Errorf("%w: %s", ErrInvalidReplicas, raw)
	}
	if f != math.Trunc(f) || f < 0 || f > MaxReplicas {
		return 0, fmt.Errorf("%w: %s (want a whole number from 0 to %d)", ErrInvalidReplicas, raw, MaxReplicas)
	}
	return int(f), nil
}
