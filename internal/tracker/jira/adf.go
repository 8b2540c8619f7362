package jira

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// adfNode is a node of an Atlassian Document Format document.
type adfNode struct {
	Type    string         `json:"type"`
	Text    string         `json:"text"`
	Attrs   map[string]any `json:"attrs"`
	Content []adfNode      `json:"content"`
}

// maxADFDepth bounds the structured rendering; deeper nodes give their text
// only, so nesting cannot make the rendering quadratic.
const maxADFDepth = 48

// adfToText flattens an ADF document to plain text: blocks (paragraphs,
// headings, code blocks, list items, table rows) on their own lines, hard
// breaks as newlines, mentions, emojis, dates, statuses and cards as their
// text. A document that does not decode as ADF gives the text of its "text"
// members.
func adfToText(raw []byte) string {
	var doc adfNode
	if err := json.Unmarshal(raw, &doc); err != nil {
		var v any
		if json.Unmarshal(raw, &v) != nil {
			return ""
		}
		var b strings.Builder
		looseText(v, &b)
		return strings.Trim(b.String(), "\n")
	}
	s, _ := renderADF(&doc, 0)
	return strings.Trim(s, "\n")
}

// renderADF returns n's text and whether n is a block (on its own lines).
func renderADF(n *adfNode, depth int) (string, bool) {
	if depth > maxADFDepth {
		var b strings.Builder
		flatText(n, &b)
		return b.String(), false
	}
	switch n.Type {
	case "text":
		return n.Text, false
	case "hardBreak":
		return "\n", false
	case "mention", "status", "placeholder":
		return attrString(n.Attrs, "text"), false
	case "emoji":
		if s := attrString(n.Attrs, "text"); s != "" {
			return s, false
		}
		return attrString(n.Attrs, "shortName"), false
	case "date":
		return adfDate(n.Attrs["timestamp"]), false
	case "inlineCard":
		return attrString(n.Attrs, "url"), false
	case "blockCard", "embedCard":
		return attrString(n.Attrs, "url"), true
	case "media", "mediaInline":
		return attrString(n.Attrs, "alt"), false
	case "rule":
		return "---", true
	case "paragraph", "heading", "codeBlock":
		s, _ := renderChildren(n.Content, depth)
		return s, true
	case "bulletList", "orderedList":
		start := 1
		if f, ok := n.Attrs["order"].(float64); ok && f >= 0 && f < 1e9 {
			start = int(f)
		}
		lines := make([]string, 0, len(n.Content))
		for i := range n.Content {
			marker := "- "
			if n.Type == "orderedList" {
				marker = strconv.Itoa(start+i) + ". "
			}
			s, _ := renderADF(&n.Content[i], depth+1)
			lines = append(lines, marker+indent(s, len(marker)))
		}
		return strings.Join(lines, "\n"), true
	case "taskItem":
		s, _ := renderChildren(n.Content, depth)
		if attrString(n.Attrs, "state") == "DONE" {
			return "[x] " + indent(s, 4), true
		}
		return "[ ] " + indent(s, 4), true
	case "tableRow":
		cells := make([]string, 0, len(n.Content))
		for i := range n.Content {
			s, _ := renderADF(&n.Content[i], depth+1)
			cells = append(cells, strings.Join(strings.Fields(s), " "))
		}
		return strings.Join(cells, " | "), true
	}
	s, childBlock := renderChildren(n.Content, depth)
	return s, childBlock || adfBlock(n.Type)
}

// renderChildren joins nodes: inline text runs together, blocks go on their
// own lines.
func renderChildren(nodes []adfNode, depth int) (string, bool) {
	var b strings.Builder
	started, prevBlock, anyBlock := false, false, false
	for i := range nodes {
		s, block := renderADF(&nodes[i], depth+1)
		if (block || prevBlock) && started {
			b.WriteByte('\n')
		}
		b.WriteString(s)
		started = started || block || s != ""
		prevBlock = block
		anyBlock = anyBlock || block
	}
	return b.String(), anyBlock
}

// adfBlock reports whether a container type is a block.
func adfBlock(typ string) bool {
	switch typ {
	case "doc", "blockquote", "panel", "expand", "nestedExpand", "layoutSection", "layoutColumn",
		"listItem", "table", "tableCell", "tableHeader", "taskList", "decisionList", "decisionItem",
		"mediaSingle", "mediaGroup", "extension", "bodiedExtension", "multiBodiedExtension", "extensionFrame":
		return true
	}
	return false
}

// indent indents the lines of s after the first by n spaces.
func indent(s string, n int) string {
	if !strings.Contains(s, "\n") {
		return s
	}
	return strings.ReplaceAll(s, "\n", "\n"+strings.Repeat(" ", n))
}

// flatText appends the text of n and its descendants, without structure.
func flatText(n *adfNode, b *strings.Builder) {
	stack := []*adfNode{n}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		b.WriteString(n.Text)
		if s := attrString(n.Attrs, "text"); s != "" && n.Type != "text" {
			b.WriteString(s)
		}
		for i := len(n.Content) - 1; i >= 0; i-- {
			stack = append(stack, &n.Content[i])
		}
	}
}

// looseText appends the "text" strings found anywhere in v.
func looseText(v any, b *strings.Builder) {
	switch v := v.(type) {
	case map[string]any:
		if s, ok := v["text"].(string); ok {
			b.WriteString(s)
		}
		if c, ok := v["content"]; ok {
			looseText(c, b)
		}
	case []any:
		for _, e := range v {
			looseText(e, b)
		}
	}
}

func attrString(attrs map[string]any, name string) string {
	switch v := attrs[name].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

// adfDate renders a date node's timestamp (milliseconds since the epoch,
// as a string or a number) as YYYY-MM-DD.
func adfDate(ts any) string {
	var ms int64
	switch v := ts.(type) {
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return v
		}
		ms = n
	case float64:
		if v != v || v > 1e15 || v < -1e15 {
			return ""
		}
		ms = int64(v)
	default:
		return ""
	}
	if ms > 1e15 || ms < -1e15 {
		return fmt.Sprint(ms)
	}
	return time.UnixMilli(ms).UTC().Format(time.DateOnly)
}
