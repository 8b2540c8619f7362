package reindex

import (
	"context"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// caseField is a "CaseFields" row with its type and options.
type caseField struct {
	id      int32
	name    string // "displayName"
	typ     string // "CaseFieldTypes".type: Checkbox, Date, Dropdown, Integer, Link, Multi-Select, Number, Steps, Text String, Text Long
	options []fieldOption
}

// fieldOption is a "FieldOptions" row offered by a field
// ("CaseFieldAssignment"), in the options' display order.
type fieldOption struct {
	id         int32
	name       string
	icon       *string // "FieldIcon".name
	colorValue *string // "Color".value
}

// readCaseFields reads the fields ids (with their options) into fields.
func readCaseFields(ctx context.Context, tx pgx.Tx, ids []int32, fields map[int32]*caseField) error {
	rows, err := tx.Query(ctx, caseFieldsSQL, ids)
	if err != nil {
		return err
	}
	var fid int32
	var name, typ string
	var oid *int32
	var oname, icon, color *string
	_, err = pgx.ForEachRow(rows, []any{&fid, &name, &typ, &oid, &oname, &icon, &color}, func() error {
		f := fields[fid]
		if f == nil {
			f = &caseField{id: fid, name: name, typ: typ}
			fields[fid] = f
		}
		if oid != nil && oname != nil {
			f.options = append(f.options, fieldOption{id: *oid, name: *oname, icon: icon, colorValue: color})
		}
		return nil
	})
	return err
}

// customField is one element of a case document's customFields
// (unifiedElasticsearchService.ts buildCustomFieldDocuments and
// transformCustomFieldValue).
type customField struct {
	field *caseField
	value string
	// The typed copy of the value, at most one of them.
	keyword  *string
	numeric  *float64
	boolean  *bool
	date     string
	array    []string
	hasArray bool
	// option is the selected option of a Dropdown; options says to list the
	// field's options (Multi-Select).
	option  *fieldOption
	options bool
}

// buildCustomField turns a "CaseFieldValues".value of field f into its
// document entry; ok is false when the original drops the entry (empty
// value) or when the value is NULL (SQL or JSON null, which the original
// would index as the text "null").
func buildCustomField(f *caseField, raw []byte) (cf customField, ok bool) {
	if raw == nil {
		return cf, false
	}
	cf.field = f
	if f.typ == "Text Long" {
		cf.value = richTextJSON(raw)
		return cf, cf.value != ""
	}
	v, ok := decodeJSON(raw)
	if !ok || v == nil {
		return cf, false
	}
	switch f.typ {
	case "Checkbox":
		b := jsTruthy(v)
		cf.boolean = &b
		cf.value = jsString(v)
	case "Date":
		t, ok := jsDate(v)
		if !ok {
			return cf, false
		}
		cf.date = string(appendISOTime(nil, t))
		cf.value = cf.date
	case "Number", "Integer":
		if n, ok := jsNumber(v); ok {
			cf.numeric = &n
		}
		cf.value = jsString(v)
	case "Multi-Select":
		cf.options = true
		var arr []any
		switch x := v.(type) {
		case []any:
			arr, cf.hasArray = x, true
		case string:
			var p any
			if err := json.Unmarshal([]byte(x), &p); err != nil {
				cf.value = x
			} else if a, isArray := p.([]any); isArray {
				arr, cf.hasArray = a, true
			}
		}
		if cf.hasArray {
			cf.array = make([]string, len(arr))
			parts := make([]string, len(arr))
			for i, e := range arr {
				cf.array[i] = jsString(e)
				if e != nil {
					parts[i] = cf.array[i]
				}
			}
			cf.value = strings.Join(parts, " ")
		}
	case "Select", "Text String", "Link":
		s := jsString(v)
		cf.keyword = &s
		cf.value = s
	case "Steps":
		if jsTruthy(v) {
			cf.value = jsString(v)
		}
	default: // Dropdown, and types the original does not know
		cf.value = jsString(v)
	}
	if cf.value == "" {
		return cf, false
	}
	if (f.typ == "Select" || f.typ == "Dropdown") && jsTruthy(v) {
		if id, isID := optionID(v); isID {
			for i := range f.options {
				if f.options[i].id == id {
					cf.option = &f.options[i]
					break
				}
			}
		}
	}
	return cf, true
}

// decodeJSON decodes a JSON value as encoding/json decodes it into an any,
// without its cost for the scalars that most values are.
func decodeJSON(raw []byte) (any, bool) {
	p := richFlattener{in: raw}
	p.space()
	if p.i >= len(raw) {
		return nil, false
	}
	start := p.i
	switch c := raw[start]; {
	case c == '"':
		if !p.skipString() {
			return nil, false
		}
		end := p.i
		if !p.atEnd() {
			return nil, false
		}
		return string(appendUnquoted(nil, raw[start:end])), true
	case c == 't', c == 'f', c == 'n':
		if !p.skipValue() || !p.atEnd() {
			return nil, false
		}
		switch raw[start] {
		case 't':
			return true, true
		case 'f':
			return false, true
		default:
			return nil, true
		}
	case c == '-' || (c >= '0' && c <= '9'):
		if !p.number() {
			return nil, false
		}
		end := p.i
		if !p.atEnd() {
			return nil, false
		}
		f, err := strconv.ParseFloat(string(raw[start:end]), 64)
		return f, err == nil
	default:
		var v any
		err := json.Unmarshal(raw, &v)
		return v, err == nil
	}
}

// optionID reads a selected option id: a JSON number (what TestPlanIt
// stores) or, beyond the original, a string holding one.
func optionID(v any) (int32, bool) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case string:
		p, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return 0, false
		}
		f = p
	default:
		return 0, false
	}
	if f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32 {
		return 0, false
	}
	return int32(f), true
}

func (cf *customField) write(w *jsonWriter) {
	w.open('{')
	w.kInt("fieldId", int64(cf.field.id))
	w.kStr("fieldName", cf.field.name)
	w.kStr("fieldType", cf.field.typ)
	switch {
	case cf.boolean != nil:
		w.kBool("valueBoolean", *cf.boolean)
	case cf.date != "":
		w.kStr("valueDate", cf.date)
	case cf.numeric != nil:
		w.key("valueNumeric")
		w.float(*cf.numeric)
	case cf.hasArray:
		w.key("valueArray")
		w.open('[')
		for _, s := range cf.array {
			w.str(s)
		}
		w.close(']')
	case cf.keyword != nil:
		w.kStr("valueKeyword", *cf.keyword)
	}
	w.kStr("value", cf.value)
	if cf.option != nil {
		w.key("fieldOption")
		writeOption(w, cf.option)
	}
	if cf.options {
		w.key("fieldOptions")
		w.open('[')
		for i := range cf.field.options {
			writeOption(w, &cf.field.options[i])
		}
		w.close(']')
	}
	w.close('}')
}

func writeOption(w *jsonWriter, o *fieldOption) {
	w.open('{')
	w.kInt("id", int64(o.id))
	w.kStr("name", o.name)
	if o.icon != nil {
		w.key("icon")
		w.open('{')
		w.kStr("name", *o.icon)
		w.close('}')
	}
	if o.colorValue != nil {
		w.key("iconColor")
		w.open('{')
		w.kStr("value", *o.colorValue)
		w.close('}')
	}
	w.close('}')
}

// searchText is the entry's part of the case's searchableContent
// (elasticsearchIndexing.ts buildCustomFieldSearchableText): option names
// rather than ids, a checked checkbox's field name.
func (cf *customField) searchText() string {
	switch cf.field.typ {
	case "Select", "Dropdown":
		if cf.option != nil {
			return cf.option.name
		}
		return ""
	case "Multi-Select":
		if !cf.hasArray {
			return ""
		}
		var names []byte
		n := 0
		for _, o := range cf.field.options {
			id := strconv.FormatInt(int64(o.id), 10)
			for _, s := range cf.array {
				if s == id {
					if n > 0 {
						names = append(names, ' ')
					}
					names = append(names, o.name...)
					n++
					break
				}
			}
		}
		return string(names)
	case "Checkbox":
		if cf.boolean != nil && *cf.boolean {
			return cf.field.name
		}
		return ""
	case "Number", "Integer":
		if cf.numeric != nil {
			return jsNumberString(*cf.numeric)
		}
		return ""
	case "Date":
		return cf.date
	default: // Text String, Text Long, Link, Steps, others
		return cf.value
	}
}

// jsString is JavaScript's String(v) for a decoded JSON value, except that
// an object gives its JSON text rather than "[object Object]".
func jsString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return jsNumberString(x)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return "null"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			if e != nil {
				parts[i] = jsString(e)
			}
		}
		return strings.Join(parts, ",")
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

// jsNumber is JavaScript's Number(v), ok only for a finite result.
func jsNumber(v any) (float64, bool) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case bool:
		if x {
			f = 1
		}
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return 0, true
		}
		p, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, false
		}
		f = p
	default:
		return 0, false
	}
	return f, !math.IsNaN(f) && !math.IsInf(f, 0)
}

// jsTruthy is JavaScript's Boolean(v), except that the string "false" is
// false (a checkbox stored as text).
func jsTruthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case float64:
		return x != 0 && !math.IsNaN(x)
	case string:
		return x != "" && !strings.EqualFold(x, "false")
	default:
		return true
	}
}

// jsDate is new Date(v) for what TestPlanIt stores in a Date field: an ISO
// 8601 date or date-time string (without a zone: UTC) or epoch
// milliseconds.
func jsDate(v any) (time.Time, bool) {
	switch x := v.(type) {
	case string:
		s := strings.TrimSpace(x)
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC(), true
			}
		}
	case float64:
		const maxJSTime = 8.64e15 // ECMAScript's time value range, in ms
		if !math.IsNaN(x) && math.Abs(x) <= maxJSTime {
			return time.UnixMilli(int64(x)).UTC(), true
		}
	}
	return time.Time{}, false
}
