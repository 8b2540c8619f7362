package linear

import (
	"encoding/json"
	"strconv"
	"strings"
)

// issueFields is the fragment every issue is read with. labels asks for 50,
// Linear's default page, stated so the query's complexity is bounded.
const issueFields = `fragment TpiIssue on Issue {
  id
  identifier
  title
  description
  url
  priority
  priorityLabel
  trashed
  archivedAt
  createdAt
  updatedAt
  state { name }
  team { key }
  labels(first: 50) { nodes { name } }
  assignee { id name email }
  creator { id name email }
}`

// operationName names the query in Linear's logs.
const operationName = "TpiSyncIssues"

// byIDAlias is the alias of the issues connection that reads the UUIDs.
const byIDAlias = "byId"

// query is one GraphQL request for a set of canonical refs.
type query struct {
	text      string
	variables map[string]any
	ids       []string          // UUIDs asked through byId
	idents    []string          // identifiers, asked through aliasName(i)
	aliases   map[string]string // alias → identifier
}

// buildQuery writes the request for refs (canonical, each once). Refs travel
// as variables, never inside the query text.
func buildQuery(refs []string) *query {
	q := &query{variables: map[string]any{}, aliases: map[string]string{}}
	for _, r := range refs {
		if isUUID(r) {
			q.ids = append(q.ids, r)
		} else {
			q.idents = append(q.idents, r)
		}
	}
	var params, fields []string
	if len(q.ids) > 0 {
		params = append(params, "$ids: [ID!]!")
		q.variables["ids"] = q.ids
		fields = append(fields, "  "+byIDAlias+": issues(filter: {id: {in: $ids}}, first: "+strconv.Itoa(len(q.ids))+
			", includeArchived: true) { nodes { ...TpiIssue } }")
	}
	for i, ident := range q.idents {
		alias := aliasName(i)
		q.aliases[alias] = ident
		q.variables[alias] = ident
		params = append(params, "$"+alias+": String!")
		fields = append(fields, "  "+alias+": issue(id: $"+alias+") { ...TpiIssue }")
	}
	var b strings.Builder
	b.WriteString("query " + operationName + "(" + strings.Join(params, ", ") + ") {\n")
	b.WriteString(strings.Join(fields, "\n"))
	b.WriteString("\n}\n")
	b.WriteString(issueFields)
	q.text = b.String()
	return q
}

// body is the JSON of the POST.
func (q *query) body() ([]byte, error) {
	return json.Marshal(map[string]any{
		"query":         q.text,
		"variables":     q.variables,
		"operationName": operationName,
	})
}

// aliasName is the alias of the i-th identifier: k0, k1, ...
func aliasName(i int) string { return "k" + strconv.Itoa(i) }
