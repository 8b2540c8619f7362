package testmoimport

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Custom fields: Testmo's "fields" become "CaseFields" (matched by system name), their
// "field_values" become "FieldOptions" assigned to the field, and a case's values —
// custom_<system_name> columns on repository_cases, multi-select rows in
// repository_case_values — become "CaseFieldValues" whose JSON depends on the field's type.

// testmoFieldTypes are Testmo's field type numbers and TestPlanIt's "CaseFieldTypes".type.
func testmoFieldType(n int64) string {
	switch n {
	case 1:
		return "Text String"
	case 2:
		return "Text Long"
	case 3:
		return "Integer"
	case 4:
		return "Number"
	case 5:
		return "Date"
	case 6:
		return "Link"
	case 7:
		return "Checkbox"
	case 8:
		return "Dropdown"
	case 9:
		return "Multi-Select"
	case 10:
		return "Steps"
	}
	return "Text String"
}

type fieldRow struct {
	ID         ID    `json:"id"`
	Name       Text  `json:"name"`
	SystemName Text  `json:"system_name"`
	Type       ID    `json:"type"`
	IsEnabled  *Flag `json:"is_enabled"`
}

type fieldValueRow struct {
	ID           ID   `json:"id"`
	FieldID      ID   `json:"field_id"`
	Name         Text `json:"name"`
	DisplayOrder ID   `json:"display_order"`
	IsDefault    Flag `json:"is_default"`
}

type caseValueRow struct {
	CaseID  ID `json:"case_id"`
	FieldID ID `json:"field_id"`
	ValueID ID `json:"value_id"`
}

// customField is what a case value needs of its field.
type customField struct {
	target int32  // "CaseFields".id
	typ    string // "CaseFieldTypes".type
}

func (im *importer) fieldPhases() []*phase {
	return []*phase{
		{name: "fields", label: "Fields", dataset: "fields", chunk: 10000, rows: func(ctx context.Context, c *chunk) error {
			return each(c, func(r *fieldRow) error {
				sys := strings.ToLower(orText(r.SystemName, string(r.Name)))
				if sys == "" {
					return c.fail("field has no name")
				}
				id, err := queryID(ctx, c, `SELECT id FROM "CaseFields" WHERE lower("systemName") = $1 AND NOT "isDeleted" LIMIT 1`, sys)
				if err != nil {
					return err
				}
				if id != "" {
					return c.mapID("fields", r.ID, id, "CaseFields", false)
				}
				typ, err := queryID(ctx, c, `INSERT INTO "CaseFieldTypes" (type) VALUES ($1)
					ON CONFLICT (type) DO UPDATE SET type = EXCLUDED.type RETURNING id`, testmoFieldType(r.Type.N))
				if err != nil {
					return err
				}
				// "systemName" is unique, deleted fields included.
				id, err = queryID(ctx, c, `INSERT INTO "CaseFields" ("displayName", "systemName", "typeId", "isEnabled")
					VALUES ($1, CASE WHEN EXISTS (SELECT 1 FROM "CaseFields" WHERE "systemName" = $2) THEN $2 || '_' || $5 ELSE $2 END, $3, $4)
					RETURNING id`, orText(r.Name, sys), sys, typ, r.IsEnabled == nil || bool(*r.IsEnabled), strconv.FormatInt(r.ID.N, 10))
				if err != nil {
					return err
				}
				return c.mapID("fields", r.ID, id, "CaseFields", true)
			})
		}},
		{name: "fieldValues", label: "Field Values", dataset: "field_values", chunk: 10000, rows: func(ctx context.Context, c *chunk) error {
			var rf refs
			_ = each(c, func(r *fieldValueRow) error { rf.want("fields", r.FieldID); return nil })
			if err := rf.resolve(ctx, c); err != nil {
				return err
			}
			return each(c, func(r *fieldValueRow) error {
				field, err := rf.must(c, "fields", r.FieldID, "field_id")
				if err != nil {
					return err
				}
				name := orText(r.Name, "Option "+strconv.FormatInt(r.ID.N, 10))
				id, err := queryID(ctx, c, `SELECT o.id FROM "FieldOptions" o JOIN "CaseFieldAssignment" a ON a."fieldOptionId" = o.id
					WHERE a."caseFieldId" = $1 AND lower(o.name) = lower($2) AND NOT o."isDeleted" LIMIT 1`, field, name)
				if err != nil {
					return err
				}
				if id != "" {
					return c.mapID("field_values", r.ID, id, "FieldOptions", false)
				}
				if id, err = queryID(ctx, c, `WITH o AS (INSERT INTO "FieldOptions" (name, "isDefault", "order") VALUES ($1, $2, $3) RETURNING id),
					a AS (INSERT INTO "CaseFieldAssignment" ("fieldOptionId", "caseFieldId") SELECT id, $4 FROM o)
					SELECT id FROM o`, name, bool(r.IsDefault), int32(r.DisplayOrder.N), field); err != nil {
					return err
				}
				return c.mapID("field_values", r.ID, id, "FieldOptions", true)
			})
		}},
	}
}

// customFields returns the case fields by Testmo system name, loaded once from the staged
// "fields" dataset and the id map.
func (im *importer) customFields(ctx context.Context, c *chunk) (map[string]customField, error) {
	if im.custom != nil {
		return im.custom, nil
	}
	rows, err := c.tx.Query(ctx, `SELECT lower(COALESCE(NULLIF(s."rowData"->>'system_name', ''), s."rowData"->>'name')),
			m."targetId"::int, t.type
		FROM "TestmoImportStaging" s
		JOIN "TestmoImportMapping" m ON m."jobId" = s."jobId" AND m."entityType" = 'fields' AND m."sourceId" = (s."rowData"->>'id')::int
		JOIN "CaseFields" f ON f.id = m."targetId"::int
		JOIN "CaseFieldTypes" t ON t.id = f."typeId"
		WHERE s."jobId" = $1 AND s."datasetName" = 'fields'`, im.job.ID)
	if err != nil {
		return nil, fmt.Errorf("testmo import: %s: load the custom fields: %w", c.phase.label, err)
	}
	defer rows.Close()
	out := map[string]customField{}
	for rows.Next() {
		var sys string
		var f customField
		if err := rows.Scan(&sys, &f.target, &f.typ); err != nil {
			return nil, err
		}
		out[sys] = f
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	im.custom = out
	return out, nil
}

// caseValues writes the custom_* columns of the chunk's cases (ids: their new ids, by row)
// as "CaseFieldValues". Dropdown values are field_values ids, turned into option ids.
func (im *importer) caseValues(ctx context.Context, c *chunk, created map[int64]int32) error {
	fields, err := im.customFields(ctx, c)
	if err != nil || len(fields) == 0 {
		return err
	}
	type val struct {
		cs, field int32
		raw       json.RawMessage
		typ       string
	}
	var vals []val
	var rf refs
	for i := range c.rows {
		target, ok := created[c.rows[i].index]
		if !ok {
			continue // mapped to an existing case: its values stay as they are
		}
		var cols map[string]json.RawMessage
		if err := json.Unmarshal(c.rows[i].data, &cols); err != nil {
			c.current = c.rows[i].index
			return c.fail("%v", err)
		}
		for name, raw := range cols {
			sys, ok := strings.CutPrefix(name, "custom_")
			if !ok || isNull(raw) {
				continue
			}
			f, ok := fields[strings.ToLower(sys)]
			if !ok || f.typ == "Steps" || f.typ == "Multi-Select" {
				continue
			}
			if f.typ == "Dropdown" {
				var id ID
				if id.UnmarshalJSON(raw) == nil {
					rf.want("field_values", id)
				}
			}
			vals = append(vals, val{cs: target, field: f.target, raw: raw, typ: f.typ})
		}
	}
	if len(vals) == 0 {
		return nil
	}
	if err := rf.resolve(ctx, c); err != nil {
		return err
	}
	var cases, fieldIDs []int32
	var values []string
	for _, v := range vals {
		out, ok := fieldValue(v.typ, v.raw, &rf)
		if !ok {
			continue
		}
		cases, fieldIDs, values = append(cases, v.cs), append(fieldIDs, v.field), append(values, out)
	}
	if _, err := c.tx.Exec(ctx, `INSERT INTO "CaseFieldValues" ("testCaseId", "fieldId", value)
		SELECT * FROM unnest($1::int[], $2::int[], $3::jsonb[])`, cases, fieldIDs, values); err != nil {
		return fmt.Errorf("testmo import: %s: write field values: %w", c.phase.label, err)
	}
	return nil
}

// fieldValue converts a custom column's JSON to the "CaseFieldValues".value of a field type.
func fieldValue(typ string, raw json.RawMessage, rf *refs) (string, bool) {
	switch typ {
	case "Dropdown":
		var id ID
		if id.UnmarshalJSON(raw) != nil {
			return "", false
		}
		opt, ok := rf.getInt("field_values", id)
		return strconv.Itoa(int(opt)), ok
	case "Checkbox":
		var f Flag
		if f.UnmarshalJSON(raw) != nil {
			return "", false
		}
		return strconv.FormatBool(bool(f)), true
	case "Integer", "Number":
		var t Text
		if t.UnmarshalJSON(raw) != nil {
			return "", false
		}
		if _, err := strconv.ParseFloat(string(t), 64); err != nil {
			return "", false
		}
		return string(t), true
	case "Text Long":
		var t Text
		if t.UnmarshalJSON(raw) != nil {
			return "", false
		}
		doc, _ := richText(t).(string)
		return doc, doc != ""
	}
	var t Text
	if t.UnmarshalJSON(raw) != nil || t == "" {
		return "", false
	}
	b, _ := json.Marshal(string(t))
	return string(b), true
}

// caseMultiValues is the repository_case_values phase: multi-select options, gathered per
// case and field into one "CaseFieldValues" row holding the array of option ids.
func (im *importer) caseMultiValues(ctx context.Context, c *chunk) error {
	var rf refs
	_ = each(c, func(r *caseValueRow) error {
		rf.want("repository_cases", r.CaseID)
		rf.want("fields", r.FieldID)
		rf.want("field_values", r.ValueID)
		return nil
	})
	if err := rf.resolve(ctx, c); err != nil {
		return err
	}
	type key struct{ cs, field int32 }
	opts := map[key][]int32{}
	var order []key
	err := each(c, func(r *caseValueRow) error {
		cs, err := rf.must(c, "repository_cases", r.CaseID, "case_id")
		if err != nil {
			return err
		}
		field, err := rf.must(c, "fields", r.FieldID, "field_id")
		if err != nil {
			return err
		}
		opt, err := rf.must(c, "field_values", r.ValueID, "value_id")
		if err != nil {
			return err
		}
		k := key{cs, field}
		if _, ok := opts[k]; !ok {
			order = append(order, k)
		}
		opts[k] = append(opts[k], opt)
		c.counts.created++
		return nil
	})
	if err != nil || len(order) == 0 {
		return err
	}
	var cases, fieldIDs []int32
	var values []string
	for _, k := range order {
		b, _ := json.Marshal(opts[k])
		cases, fieldIDs, values = append(cases, k.cs), append(fieldIDs, k.field), append(values, string(b))
	}
	// A case's options may span chunks: add to its row when there is one.
	_, err = c.tx.Exec(ctx, `WITH v AS (SELECT * FROM unnest($1::int[], $2::int[], $3::jsonb[]) AS v(cs, f, o)),
		up AS (UPDATE "CaseFieldValues" cv SET value = COALESCE(cv.value, '[]'::jsonb) || v.o FROM v
			WHERE cv."testCaseId" = v.cs AND cv."fieldId" = v.f RETURNING cv."testCaseId", cv."fieldId")
		INSERT INTO "CaseFieldValues" ("testCaseId", "fieldId", value)
		SELECT cs, f, o FROM v WHERE NOT EXISTS (SELECT 1 FROM up WHERE up."testCaseId" = v.cs AND up."fieldId" = v.f)`,
		cases, fieldIDs, values)
	if err != nil {
		return fmt.Errorf("testmo import: %s: write multi-select values: %w", c.phase.label, err)
	}
	return nil
}
