package reindex

import (
	"encoding/json"
	"fmt"
	"maps"
)

// Mapping returns the full body of a new index for kind k: the original's
// settings (one shard, replicas from "AppConfig" elasticsearch_replicas, see
// [Replicas], and its analyzer named "standard": the standard analyzer with
// English stop words) and explicit mappings.
//
// The mappings are the original's unified ones (ENTITY_MAPPINGS in
// unifiedElasticsearchService.ts), which the search page queries (typed
// customFields values, nested tags, steps and items), completed with every
// field the documents carry that they leave out: the case creator fields,
// the case name's completion sub-field of the original's other case mapping
// (repositoryCaseMapping), "keyword" sub-fields where the web app
// aggregates on "<field>.keyword" (projectName, templateName, stateName,
// creatorName, folderPath, createdById, assignedToId), and an ignore_above on
// keyword fields (see maxKeywordChars). They are "dynamic":
// "strict": a document field missing from the mapping is an indexing error
// rather than a silently guessed type, so the mapping and the documents
// cannot drift apart (a test indexes every document kind's fields against
// its mapping).
func Mapping(k Kind, replicas int) ([]byte, error) {
	if replicas < 0 {
		return nil, fmt.Errorf("reindex: %d replicas: must not be negative", replicas)
	}
	props, err := properties(k)
	if err != nil {
		return nil, err
	}
	body := obj{
		"settings": obj{
			"number_of_shards":   1,
			"number_of_replicas": replicas,
			"analysis": obj{
				"analyzer": obj{
					"standard": obj{"type": "standard", "stopwords": "_english_"},
				},
			},
		},
		"mappings": obj{
			"dynamic":    "strict",
			"properties": props,
		},
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("reindex: encoding the %s mapping: %w", k, err)
	}
	return b, nil
}

// maxKeywordChars is the ignore_above of keyword fields: a longer value (a
// long "Text String" custom field, say) stays in _source but is not indexed
// as a term, where without it the whole document would be refused (Lucene
// terms are at most 32,766 bytes; 8,191 characters of 4 bytes fit).
const maxKeywordChars = 8191

// obj is a JSON object being built.
type obj = map[string]any

func typed(t string) obj { return obj{"type": t} }

func nested(props obj) obj { return obj{"type": "nested", "properties": props} }
func object(props obj) obj { return obj{"type": "object", "properties": props} }
func integer() obj         { return typed("integer") }
func keyword() obj         { return obj{"type": "keyword", "ignore_above": maxKeywordChars} }
func boolean() obj         { return typed("boolean") }
func date() obj            { return typed("date") }
func text() obj            { return typed("text") }
func keywordWithSub() obj {
	k := keyword()
	k["fields"] = obj{"keyword": keyword()}
	return k
}
func textWithKeyword() obj { return obj{"type": "text", "fields": obj{"keyword": keyword()}} }
func analyzedWithKeyword() obj {
	return obj{"type": "text", "analyzer": "standard",
		"fields": obj{"keyword": obj{"type": "keyword", "ignore_above": 256}}}
}

// tagProps is the nested tags mapping.
func tagProps() obj { return nested(obj{"id": integer(), "name": keyword()}) }

// optionProps is a field option as customFields carries it.
func optionProps() obj {
	return obj{
		"id":        integer(),
		"name":      keyword(),
		"icon":      object(obj{"name": keyword()}),
		"iconColor": object(obj{"value": keyword()}),
	}
}

// baseProps is the original's baseMapping, with keyword sub-fields where
// the web app aggregates on them.
func baseProps() obj {
	return obj{
		"id":                integer(),
		"projectId":         integer(),
		"projectName":       keywordWithSub(),
		"projectIconUrl":    keyword(),
		"createdAt":         date(),
		"updatedAt":         date(),
		"createdById":       keywordWithSub(),
		"createdByName":     keyword(),
		"createdByImage":    keyword(),
		"searchableContent": analyzedWithKeyword(),
		"customFields": nested(obj{
			"fieldId":      integer(),
			"fieldName":    keyword(),
			"fieldType":    keyword(),
			"value":        text(),
			"valueKeyword": keyword(),
			"valueNumeric": typed("double"),
			"valueBoolean": boolean(),
			"valueDate":    date(),
			"valueArray":   keyword(),
			"fieldOption":  object(optionProps()),
			"fieldOptions": nested(optionProps()),
		}),
	}
}

// withBase returns the base properties with extra added.
func withBase(extra obj) obj {
	p := baseProps()
	maps.Copy(p, extra)
	return p
}

// properties returns kind k's mapping properties.
func properties(k Kind) (obj, error) {
	switch k {
	case KindRepositoryCases:
		name := analyzedWithKeyword()
		name["fields"].(obj)["suggest"] = typed("completion")
		return withBase(obj{
			"repositoryId":      integer(),
			"folderId":          integer(),
			"folderPath":        keywordWithSub(),
			"templateId":        integer(),
			"templateName":      keywordWithSub(),
			"name":              name,
			"className":         keyword(),
			"source":            keyword(),
			"stateId":           integer(),
			"stateName":         keywordWithSub(),
			"stateIcon":         keyword(),
			"stateColor":        keyword(),
			"estimate":          integer(),
			"forecastManual":    integer(),
			"forecastAutomated": typed("float"),
			"automated":         boolean(),
			"isArchived":        boolean(),
			"isDeleted":         boolean(),
			"creatorId":         keyword(),
			"creatorName":       textWithKeyword(),
			"creatorImage":      keyword(),
			"tags":              tagProps(),
			"steps": nested(obj{
				"id":                  integer(),
				"order":               integer(),
				"step":                text(),
				"expectedResult":      text(),
				"isSharedStep":        boolean(),
				"sharedStepGroupId":   integer(),
				"sharedStepGroupName": text(),
			}),
		}), nil
	case KindSharedSteps:
		return withBase(obj{
			"name":      analyzedWithKeyword(),
			"isDeleted": boolean(),
			"items": nested(obj{
				"id":             integer(),
				"order":          integer(),
				"step":           text(),
				"expectedResult": text(),
			}),
		}), nil
	case KindTestRuns:
		return withBase(obj{
			"name":              analyzedWithKeyword(),
			"note":              text(),
			"docs":              text(),
			"configId":          integer(),
			"configurationName": keyword(),
			"milestoneId":       integer(),
			"milestoneName":     keyword(),
			"stateId":           integer(),
			"stateName":         keyword(),
			"stateIcon":         keyword(),
			"stateColor":        keyword(),
			"forecastManual":    integer(),
			"forecastAutomated": typed("float"),
			"elapsed":           integer(),
			"isCompleted":       boolean(),
			"isDeleted":         boolean(),
			"completedAt":       date(),
			"testRunType":       keyword(),
			"tags":              tagProps(),
		}), nil
	case KindSessions:
		return withBase(obj{
			"templateId":        integer(),
			"templateName":      keyword(),
			"name":              analyzedWithKeyword(),
			"note":              text(),
			"mission":           text(),
			"configId":          integer(),
			"configurationName": keyword(),
			"milestoneId":       integer(),
			"milestoneName":     keyword(),
			"stateId":           integer(),
			"stateName":         keyword(),
			"stateIcon":         keyword(),
			"stateColor":        keyword(),
			"assignedToId":      keywordWithSub(),
			"assignedToName":    keyword(),
			"assignedToImage":   keyword(),
			"estimate":          integer(),
			"forecastManual":    integer(),
			"forecastAutomated": typed("float"),
			"elapsed":           integer(),
			"isCompleted":       boolean(),
			"isDeleted":         boolean(),
			"completedAt":       date(),
			"tags":              tagProps(),
		}), nil
	case KindProjects:
		return obj{
			"id":                integer(),
			"name":              analyzedWithKeyword(),
			"iconUrl":           keyword(),
			"note":              text(),
			"docs":              text(),
			"isDeleted":         boolean(),
			"createdAt":         date(),
			"createdById":       keywordWithSub(),
			"createdByName":     keyword(),
			"createdByImage":    keyword(),
			"searchableContent": text(),
		}, nil
	case KindIssues:
		return withBase(obj{
			"name":        analyzedWithKeyword(),
			"title":       analyzedWithKeyword(),
			"description": text(),
			"externalId":  keyword(),
			"note":        text(),
			"url":         keyword(),
			"issueSystem": text(),
			"isDeleted":   boolean(),
		}), nil
	case KindMilestones:
		return withBase(obj{
			"name":              analyzedWithKeyword(),
			"note":              text(),
			"docs":              text(),
			"milestoneTypeId":   integer(),
			"milestoneTypeName": keyword(),
			"milestoneTypeIcon": keyword(),
			"parentId":          integer(),
			"parentName":        keyword(),
			"dueDate":           date(),
			"isCompleted":       boolean(),
			"completedAt":       date(),
			"isDeleted":         boolean(),
		}), nil
	default:
		return nil, fmt.Errorf("%w %q", ErrUnknownKind, string(k))
	}
}
