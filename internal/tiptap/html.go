package tiptap

import (
	"bytes"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// The converter reads the HTML tokens once and writes the JSON as it goes.
// Two stacks carry the state: the HTML elements open in the input (for end
// tags, marks and the browser's closing rules), and the nodes open in the
// output (to write separators and closers, and to keep the schema: a
// node's "content" member is written with its first child, text goes into
// a textblock opened when needed, an empty container gets the content
// TipTap would fill it with). An element that opened a node records which;
// the node may be closed before the element (an image or a list ends the
// paragraph it interrupts), which its generation number tells.

const (
	// maxBlocks is the output nesting from which lists, list items and
	// blockquotes are no longer opened; their content joins the enclosing
	// node. It bounds the JSON's depth at a few levels more than twice it.
	maxBlocks = 64
	// maxElements is the number of open HTML elements beyond which further
	// start tags are ignored (elements whose content is dropped excepted).
	maxElements = 512
)

// nodeType is an output node that has content, or nodeLeaf for prepare.
type nodeType uint8

const (
	nodeDoc nodeType = iota
	nodeParagraph
	nodeHeading
	nodeCodeBlock
	nodeBlockquote
	nodeBulletList
	nodeOrderedList
	nodeListItem
	nodeLeaf // image, horizontalRule
)

func (t nodeType) isTextblock() bool {
	return t == nodeParagraph || t == nodeHeading || t == nodeCodeBlock
}

func (t nodeType) isList() bool { return t == nodeBulletList || t == nodeOrderedList }

// name returns the TipTap name of t.
func (t nodeType) name() string {
	switch t {
	case nodeDoc:
		return "doc"
	case nodeParagraph:
		return "paragraph"
	case nodeHeading:
		return "heading"
	case nodeCodeBlock:
		return "codeBlock"
	case nodeBlockquote:
		return "blockquote"
	case nodeBulletList:
		return "bulletList"
	case nodeOrderedList:
		return "orderedList"
	default:
		return "listItem"
	}
}

// filler returns the content ProseMirror gives a node of type t that
// would be empty, "" when t may be empty.
func (t nodeType) filler() string {
	switch t {
	case nodeDoc, nodeBlockquote, nodeListItem:
		return `{"type":"paragraph"}`
	case nodeBulletList, nodeOrderedList:
		return `{"type":"listItem","content":[{"type":"paragraph"}]}`
	}
	return ""
}

// block is an open output node.
type block struct {
	typ      nodeType
	implicit bool   // opened for content that needed it, not by an element
	n        int    // children written
	gen      uint32 // tells it from a later node at the same depth
}

// kind is what an HTML element does.
type kind uint8

const (
	kindInline     kind = iota // span, font, unknown elements: content kept
	kindMark                   // b, strong, i, em, s, del, strike, u, code
	kindLink                   // a
	kindParagraph              // p
	kindHeading                // h1–h6
	kindList                   // ul, ol
	kindListItem               // li
	kindBlockquote             // blockquote
	kindPre                    // pre
	kindBoundary               // div and the other block elements without a node
	kindSpace                  // a block element inside a table row
	kindTable                  // table
	kindRow                    // tr
	kindCell                   // td, th
	kindIgnore                 // script, style, …: content dropped
	// Void elements: never pushed.
	kindBreak // br
	kindRule  // hr
	kindImage // img
	kindVoid  // input, meta, wbr, …
)

// classify returns the kind of the element a and its detail: the mark of a
// kindMark, the heading level of a kindHeading.
func classify(a atom.Atom) (kind, int) {
	switch a {
	case atom.B, atom.Strong:
		return kindMark, markBold
	case atom.I, atom.Em:
		return kindMark, markItalic
	case atom.S, atom.Del, atom.Strike:
		return kindMark, markStrike
	case atom.U:
		return kindMark, markUnderline
	case atom.Code:
		return kindMark, markCode
	case atom.A:
		return kindLink, 0
	case atom.P:
		return kindParagraph, 0
	case atom.H1:
		return kindHeading, 1
	case atom.H2:
		return kindHeading, 2
	case atom.H3:
		return kindHeading, 3
	case atom.H4, atom.H5, atom.H6:
		return kindHeading, 4
	case atom.Ul, atom.Ol, atom.Menu, atom.Dir:
		return kindList, 0
	case atom.Li:
		return kindListItem, 0
	case atom.Blockquote:
		return kindBlockquote, 0
	case atom.Pre, atom.Listing:
		return kindPre, 0
	case atom.Div, atom.Section, atom.Article, atom.Aside, atom.Header, atom.Footer,
		atom.Nav, atom.Main, atom.Search, atom.Address, atom.Figure, atom.Figcaption,
		atom.Fieldset, atom.Legend, atom.Form, atom.Dl, atom.Dt, atom.Dd, atom.Center,
		atom.Details, atom.Summary, atom.Hgroup, atom.Caption, atom.Output, atom.Canvas:
		return kindBoundary, 0
	case atom.Table:
		return kindTable, 0
	case atom.Tr:
		return kindRow, 0
	case atom.Td, atom.Th:
		return kindCell, 0
	case atom.Script, atom.Style, atom.Title, atom.Noscript, atom.Object, atom.Template,
		atom.Iframe, atom.Noembed, atom.Noframes:
		return kindIgnore, 0
	case atom.Br:
		return kindBreak, 0
	case atom.Hr:
		return kindRule, 0
	case atom.Img, atom.Image:
		return kindImage, 0
	case atom.Area, atom.Base, atom.Col, atom.Embed, atom.Input, atom.Keygen, atom.Link,
		atom.Meta, atom.Param, atom.Source, atom.Track, atom.Wbr:
		return kindVoid, 0
	}
	return kindInline, 0
}

// tagName reads the name of the start or end tag raw (the token's raw
// bytes, "<name …" or "</name …") as the tokenizer does, lower case. It
// returns the name's atom and a key that identifies the name: the atom, or
// for a name without one (a custom element) a hash with the top bit set.
// Reading the raw bytes spares the copy Tokenizer.TagName makes.
func tagName(raw []byte) (atom.Atom, uint64) {
	i := 1
	if len(raw) > 1 && raw[1] == '/' {
		i = 2
	}
	var buf [16]byte
	n := 0
	h := uint64(14695981039346656037) // FNV-1a
loop:
	for ; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == ' ', c == '\n', c == '\r', c == '\t', c == '\f', c == '/', c == '>':
			break loop
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		}
		if n < len(buf) {
			buf[n] = c
		}
		n++
		h ^= uint64(c)
		h *= 1099511628211
	}
	if n <= len(buf) {
		if a := atom.Lookup(buf[:n]); a != 0 {
			return a, uint64(a)
		}
	}
	return 0, h | 1<<63
}

// element is an open HTML element.
type element struct {
	key   uint64
	kind  kind
	mark  uint8  // kindMark: its mark
	link  int32  // kindLink: index into converter.links plus one, 0 without a usable href
	block int32  // index of the node it opened in converter.blocks, -1 for none
	gen   uint32 // that node's generation
}

// converter holds the state of one conversion.
type converter struct {
	out    []byte
	blocks []block
	elems  []element
	links  []linkAttrs
	marks  [markCount]int32 // open elements per mark
	link   int32            // the innermost open link
	// curMarks is the marks of text written now, from marks and link.
	curMarks markSet
	gen      uint32

	// The text of the open textblock.
	textOpen     bool    // a text node is open: its string is being written
	textMarks    markSet // the marks of that text node
	lastSpace    bool    // the text so far ends with a space or a break, or there is none
	pending      bool    // a space is owed before the next text
	pendingMarks markSet // the marks of that space

	skip int // open elements whose content is dropped

	// Tables.
	tables   int  // open table elements
	row      bool // in a row: its cells make one paragraph
	cell     int  // the current cell of the row
	lastCell int  // the last cell that had content, -1 for none
	cellSeen bool // a cell has started in the row

	// The open codeBlock, written whole when it closes.
	pre      bool
	preStart bool // nothing read yet: a leading newline is dropped
	preFirst bool // no element read yet: the first may name the language
	code     []byte
	lang     string

	blockBuf [8]block
	elemBuf  [16]element
}

// convert converts src and returns c.out with the document appended.
func (c *converter) convert(src string) []byte {
	c.blocks = c.blockBuf[:0]
	c.elems = c.elemBuf[:0]
	c.lastSpace = true
	c.out = append(c.out, `{"type":"doc"`...)
	c.blocks = append(c.blocks, block{typ: nodeDoc})
	z := html.NewTokenizer(strings.NewReader(src))
	for {
		switch z.Next() {
		case html.ErrorToken: // io.EOF: the reader cannot fail
			c.closeTo(0)
			return c.out
		case html.TextToken:
			c.text(z.Text())
		case html.StartTagToken:
			c.start(z, false)
		case html.SelfClosingTagToken:
			c.start(z, true)
		case html.EndTagToken:
			c.end(z)
		}
	}
}

// start handles a start tag; selfClosing ("<x/>") ends the element at once,
// more leniently than a browser, which ignores the slash on elements that
// are not void.
func (c *converter) start(z *html.Tokenizer, selfClosing bool) {
	a, key := tagName(z.Raw())
	k, detail := classify(a)
	e := element{key: key, kind: k, block: -1}

	if c.skip > 0 || c.pre {
		if c.skip == 0 { // in a pre: only text and line breaks count
			c.preStart = false
			if c.preFirst {
				c.preFirst = false
				if lang, ok := classLanguage(z); ok {
					c.lang = lang
				}
			}
			if k == kindBreak {
				c.code = append(c.code, '\n')
			}
		}
		if k >= kindBreak {
			return
		}
		if k != kindIgnore { // past the limit, only those are kept
			if len(c.elems) >= maxElements {
				return
			}
			e.kind = kindInline
		}
		c.push(e)
		if selfClosing && !isRawText(a) {
			c.popTo(len(c.elems) - 1)
		}
		return
	}

	switch k {
	case kindBreak:
		c.hardBreak()
		return
	case kindRule:
		if !c.row {
			c.closeP()
			c.prepare(nodeLeaf)
			c.child()
			c.out = append(c.out, `{"type":"horizontalRule"}`...)
		}
		return
	case kindImage:
		c.image(z)
		return
	case kindVoid:
		return
	}
	if k != kindIgnore && len(c.elems) >= maxElements {
		return
	}
	if c.row {
		switch k {
		case kindParagraph, kindHeading, kindList, kindListItem, kindBlockquote, kindPre, kindBoundary:
			k = kindSpace
			e.kind = k
			c.space()
		}
	}
	deep := len(c.blocks) >= maxBlocks
	switch k {
	case kindMark:
		e.mark = uint8(detail)
	case kindLink:
		c.closeLink()
		e.link = c.linkOf(z)
	case kindParagraph:
		c.closeP()
		c.prepare(nodeParagraph)
		c.open(&e, nodeParagraph, 0)
	case kindHeading:
		c.closeP()
		if n := len(c.elems); n > 0 && c.elems[n-1].kind == kindHeading {
			c.popTo(n - 1)
		}
		c.prepare(nodeHeading)
		c.open(&e, nodeHeading, detail)
	case kindList:
		c.closeP()
		if deep {
			e.kind = kindBoundary
			c.boundary()
			break
		}
		t, start := nodeBulletList, 0
		if a == atom.Ol {
			t, start = nodeOrderedList, listStart(z)
		}
		c.prepare(t)
		c.open(&e, t, start)
	case kindListItem:
		c.closeLi()
		c.closeP()
		if deep {
			e.kind = kindBoundary
			c.boundary()
			break
		}
		c.prepare(nodeListItem)
		c.open(&e, nodeListItem, 0)
	case kindBlockquote:
		c.closeP()
		if deep {
			e.kind = kindBoundary
			c.boundary()
			break
		}
		c.prepare(nodeBlockquote)
		c.open(&e, nodeBlockquote, 0)
	case kindPre:
		c.closeP()
		lang, _ := classLanguage(z)
		c.prepare(nodeCodeBlock)
		c.open(&e, nodeCodeBlock, 0)
		c.pre, c.preStart, c.preFirst, c.lang = true, true, true, lang
		c.code = c.code[:0]
	case kindBoundary:
		c.closeP()
		c.boundary()
	case kindTable:
		c.closeP()
		c.endRow()
		c.closeTextblock()
	case kindRow:
		if c.tables == 0 { // as a browser ignores it outside a table
			e.kind = kindInline
			break
		}
		c.startRow()
	case kindCell:
		if c.tables == 0 {
			e.kind = kindInline
			break
		}
		if !c.row {
			c.startRow()
		}
		c.startCell()
	}
	c.push(e)
	if selfClosing && !isRawText(a) {
		c.popTo(len(c.elems) - 1)
	}
}

// isRawText reports whether the tokenizer reads the content of a as text
// up to its end tag, even when the start tag ends in "/>" (which a browser
// ignores). Such an element is not closed by "/>", or its content would be
// taken for text.
func isRawText(a atom.Atom) bool {
	switch a {
	case atom.Script, atom.Style, atom.Title, atom.Noscript, atom.Iframe, atom.Noembed,
		atom.Noframes, atom.Textarea, atom.Xmp, atom.Plaintext:
		return true
	}
	return false
}

// end handles an end tag: it closes the innermost open element of that
// name and, unless that is a formatting element, the elements opened
// inside it. A formatting element is closed alone, which is what a
// browser's adoption agency comes to for the usual misnesting.
func (c *converter) end(z *html.Tokenizer) {
	a, key := tagName(z.Raw())
	if a == atom.Br { // </br> is read as <br>
		c.hardBreak()
		return
	}
	for i := len(c.elems) - 1; i >= 0; i-- {
		if c.elems[i].key != key {
			continue
		}
		if k := c.elems[i].kind; k == kindMark || k == kindLink {
			c.remove(i)
		} else {
			c.popTo(i)
		}
		return
	}
}

// push opens the element e.
func (c *converter) push(e element) {
	switch e.kind {
	case kindMark:
		c.marks[e.mark]++
		c.markOpened()
	case kindLink:
		c.link = e.link
		c.markOpened()
	case kindIgnore:
		c.skip++
	case kindTable:
		c.tables++
	}
	c.elems = append(c.elems, e)
}

// release ends the element e, already off the stack.
func (c *converter) release(e element) {
	switch e.kind {
	case kindMark:
		c.marks[e.mark]--
		c.markOpened()
	case kindLink:
		c.link = 0
		for i := len(c.elems) - 1; i >= 0; i-- {
			if c.elems[i].kind == kindLink {
				c.link = c.elems[i].link
				break
			}
		}
		c.markOpened()
	case kindIgnore:
		c.skip--
	case kindTable:
		c.tables--
		c.endRow()
		c.closeTextblock()
	case kindRow:
		c.endRow()
	case kindSpace:
		c.space()
	case kindBoundary:
		c.boundary()
	}
	if e.block >= 0 && int(e.block) < len(c.blocks) && c.blocks[e.block].gen == e.gen {
		c.closeTo(int(e.block))
	}
}

// remove closes the element at index i alone.
func (c *converter) remove(i int) {
	e := c.elems[i]
	c.elems = append(c.elems[:i], c.elems[i+1:]...)
	c.release(e)
}

// popTo closes the element at index i and those above it. The formatting
// elements among the latter are opened again after, as a browser
// reconstructs its active formatting elements.
func (c *converter) popTo(i int) {
	var buf [8]element
	reopen := buf[:0]
	for j := len(c.elems) - 1; j >= i; j-- {
		e := c.elems[j]
		c.elems = c.elems[:j]
		c.release(e)
		if j > i && (e.kind == kindMark || e.kind == kindLink) {
			reopen = append(reopen, e)
		}
	}
	for j := len(reopen) - 1; j >= 0 && len(c.elems) < maxElements; j-- {
		c.push(reopen[j])
	}
}

// closeP closes an open p element, as the start of a block element does in
// a browser ("close a p element" when one is in button scope).
func (c *converter) closeP() {
	for i := len(c.elems) - 1; i >= 0; i-- {
		switch c.elems[i].kind {
		case kindParagraph:
			c.popTo(i)
			return
		case kindTable, kindRow, kindCell, kindIgnore:
			return
		}
	}
}

// closeLi closes the open li that a new li ends in a browser: the innermost
// one, unless a block element other than div, address or p is open inside
// it.
func (c *converter) closeLi() {
	for i := len(c.elems) - 1; i >= 0; i-- {
		e := c.elems[i]
		switch e.kind {
		case kindListItem:
			c.popTo(i)
			return
		case kindMark, kindLink, kindInline, kindParagraph:
		case kindBoundary:
			if e.key != uint64(atom.Div) && e.key != uint64(atom.Address) {
				return
			}
		default:
			return
		}
	}
}

// closeLink closes an open a element, as a new a closes it in a browser.
func (c *converter) closeLink() {
	for i := len(c.elems) - 1; i >= 0; i-- {
		if c.elems[i].kind == kindLink {
			c.remove(i)
			return
		}
	}
}

// boundary ends the paragraph that a block element without a node of its
// own (div, section, …) starts or ends inside. A heading goes on.
func (c *converter) boundary() {
	if c.row {
		c.space()
		return
	}
	if c.top().typ == nodeParagraph {
		c.closeTop()
	}
}

func (c *converter) top() *block { return &c.blocks[len(c.blocks)-1] }

// prepare makes the innermost open node one that can hold a child of type
// t, closing and opening nodes as ProseMirror's parser would: a textblock
// is closed; a list gets a list item; a list item gets its leading
// paragraph; a list item outside a list gets a bullet list.
func (c *converter) prepare(t nodeType) {
	for {
		b := c.top()
		switch {
		case b.typ.isTextblock():
			c.closeTop()
		case b.typ.isList():
			if t == nodeListItem {
				return
			}
			if b.implicit {
				c.closeTop()
				continue
			}
			c.open(nil, nodeListItem, 0)
		case b.typ == nodeListItem:
			if t == nodeListItem {
				if b.implicit {
					c.closeTop()
					continue
				}
				if b.n == 0 {
					c.emptyParagraph()
				}
				c.open(nil, nodeBulletList, 0)
				return
			}
			if b.n == 0 && t != nodeParagraph {
				c.emptyParagraph()
			}
			return
		default: // doc, blockquote
			if t == nodeListItem {
				c.open(nil, nodeBulletList, 0)
			}
			return
		}
	}
}

// open writes the start of a node of type t and makes it the innermost;
// e, when the node is an element's, records it. attr is a heading's level
// or an ordered list's start.
func (c *converter) open(e *element, t nodeType, attr int) {
	c.child()
	c.gen++
	if t != nodeCodeBlock {
		c.out = append(c.out, `{"type":"`...)
		c.out = append(c.out, t.name()...)
		c.out = append(c.out, '"')
		switch t {
		case nodeHeading:
			c.out = append(c.out, `,"attrs":{"level":`...)
			c.out = appendInt(c.out, attr)
			c.out = append(c.out, '}')
		case nodeOrderedList:
			c.out = append(c.out, `,"attrs":{"start":`...)
			c.out = appendInt(c.out, attr)
			c.out = append(c.out, '}')
		}
	}
	c.blocks = append(c.blocks, block{typ: t, implicit: e == nil, gen: c.gen})
	if e != nil {
		e.block, e.gen = int32(len(c.blocks)-1), c.gen
	}
	if t.isTextblock() {
		c.lastSpace, c.pending = true, false
	}
}

// child writes what comes before a new child of the innermost node.
func (c *converter) child() {
	c.closeText()
	b := c.top()
	if b.n == 0 {
		c.out = append(c.out, `,"content":[`...)
	} else {
		c.out = append(c.out, ',')
	}
	b.n++
}

func (c *converter) emptyParagraph() {
	c.child()
	c.out = append(c.out, `{"type":"paragraph"}`...)
}

// closeTop closes the innermost node.
func (c *converter) closeTop() {
	b := c.blocks[len(c.blocks)-1]
	c.blocks = c.blocks[:len(c.blocks)-1]
	switch {
	case b.typ == nodeCodeBlock:
		c.writeCode()
		return
	case b.typ.isTextblock():
		c.closeText()
		c.lastSpace, c.pending = true, false
	}
	switch {
	case b.n > 0:
		c.out = append(c.out, "]}"...)
	case b.typ.filler() != "":
		c.out = append(c.out, `,"content":[`...)
		c.out = append(c.out, b.typ.filler()...)
		c.out = append(c.out, "]}"...)
	default:
		c.out = append(c.out, '}')
	}
}

// closeTo closes the node at index i and those inside it.
func (c *converter) closeTo(i int) {
	for len(c.blocks) > i {
		c.closeTop()
	}
}

// closeTextblock closes the innermost node if it is a textblock.
func (c *converter) closeTextblock() {
	if c.top().typ.isTextblock() {
		c.closeTop()
	}
}

// writeCode writes the codeBlock that closes.
func (c *converter) writeCode() {
	c.out = append(c.out, `{"type":"codeBlock","attrs":{"language":`...)
	c.out = appendNullable(c.out, c.lang, c.lang != "")
	c.out = append(c.out, '}')
	if len(c.code) > 0 {
		c.out = append(c.out, `,"content":[{"type":"text","text":"`...)
		c.out = appendEscaped(c.out, c.code)
		c.out = append(c.out, `"}]`...)
	}
	c.out = append(c.out, '}')
	c.pre, c.code, c.lang = false, c.code[:0], ""
	c.lastSpace, c.pending = true, false
}

// text handles a text token.
func (c *converter) text(s []byte) {
	if c.skip > 0 {
		return
	}
	if c.pre {
		if c.preStart {
			c.preStart = false
			s = bytes.TrimPrefix(s, []byte{'\n'})
		}
		for len(s) > 0 { // without NUL
			i := bytes.IndexByte(s, 0)
			if i < 0 {
				c.code = append(c.code, s...)
				break
			}
			c.code = append(c.code, s[:i]...)
			s = s[i+1:]
		}
		return
	}
	for i := 0; i < len(s); {
		if n := spaceAt(s, i); n > 0 {
			c.space()
			i += n
			continue
		}
		if s[i] == 0 {
			i++
			continue
		}
		j := i + 1
		for j < len(s) && s[j] != 0 && spaceAt(s, j) == 0 {
			j++
		}
		c.inline(s[i:j])
		i = j
	}
}

// spaceAt returns the length of the white space at s[i], 0 for none.
func spaceAt(s []byte, i int) int {
	switch s[i] {
	case ' ', '\t', '\n', '\r', '\f':
		return 1
	case 0xc2: // U+00A0 NO-BREAK SPACE
		if i+1 < len(s) && s[i+1] == 0xa0 {
			return 2
		}
	}
	return 0
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
}

// space handles white space outside a pre: one space is owed to the next
// text unless the text so far ends with one.
func (c *converter) space() {
	if !c.lastSpace {
		c.pending, c.pendingMarks, c.lastSpace = true, c.cur(), true
	}
}

// inline writes run, text without white space or NUL.
func (c *converter) inline(run []byte) {
	c.ensureInline()
	c.cellContent()
	m := c.cur()
	if c.pending {
		c.pending = false
		c.textNode(c.pendingMarks)
		c.out = append(c.out, ' ')
	}
	c.textNode(m)
	c.out = appendEscaped(c.out, run)
	c.lastSpace = false
}

// ensureInline makes the innermost node a textblock.
func (c *converter) ensureInline() {
	if !c.top().typ.isTextblock() {
		c.prepare(nodeParagraph)
		c.open(nil, nodeParagraph, 0)
	}
}

// textNode makes the open text node one with the marks m.
func (c *converter) textNode(m markSet) {
	if c.textOpen && c.sameMarks(c.textMarks, m) {
		return
	}
	c.child()
	c.out = append(c.out, `{"type":"text"`...)
	c.out = appendMarks(c.out, m, c.links)
	c.out = append(c.out, `,"text":"`...)
	c.textOpen, c.textMarks = true, m
}

func (c *converter) closeText() {
	if c.textOpen {
		c.out = append(c.out, `"}`...)
		c.textOpen = false
	}
}

// cur returns the marks of text written now.
func (c *converter) cur() markSet { return c.curMarks }

// markOpened updates curMarks when a formatting element opens or closes.
func (c *converter) markOpened() {
	if c.marks[markCode] > 0 { // code excludes the other marks
		c.curMarks = markSet{bits: 1 << markCode}
		return
	}
	m := markSet{link: c.link}
	for i, n := range c.marks {
		if n > 0 {
			m.bits |= 1 << i
		}
	}
	c.curMarks = m
}

func (c *converter) sameMarks(a, b markSet) bool {
	return a.bits == b.bits && (a.link == b.link ||
		a.link > 0 && b.link > 0 && c.links[a.link-1] == c.links[b.link-1])
}

// hardBreak handles br.
func (c *converter) hardBreak() {
	switch {
	case c.skip > 0:
		return
	case c.pre:
		c.code = append(c.code, '\n')
		return
	}
	c.ensureInline()
	c.cellContent()
	c.pending = false
	c.child()
	c.out = append(c.out, `{"type":"hardBreak"`...)
	c.out = appendMarks(c.out, c.cur(), c.links)
	c.out = append(c.out, '}')
	c.lastSpace = true
}

// image handles img: a block node, as TipTap's Image is by default.
func (c *converter) image(z *html.Tokenizer) {
	var src, alt, title []byte
	var hasSrc, hasAlt, hasTitle bool
	for more := true; more; {
		var k, v []byte
		k, v, more = z.TagAttr()
		if k == nil { // no attributes
			break
		}
		switch string(k) { // the first of duplicates counts, as in a browser
		case "src":
			if !hasSrc {
				src, hasSrc = v, true
			}
		case "alt":
			if !hasAlt {
				alt, hasAlt = v, true
			}
		case "title":
			if !hasTitle {
				title, hasTitle = v, true
			}
		}
	}
	if !hasSrc || bytes.HasPrefix(src, []byte("data:")) {
		return
	}
	c.prepare(nodeLeaf)
	c.child()
	c.out = append(c.out, `{"type":"image","attrs":{"src":`...)
	c.out = appendNullable(c.out, src, true)
	c.out = append(c.out, `,"alt":`...)
	c.out = appendNullable(c.out, alt, hasAlt)
	c.out = append(c.out, `,"title":`...)
	c.out = appendNullable(c.out, title, hasTitle)
	c.out = append(c.out, "}}"...)
}

// linkOf reads the attributes of an a element and returns its link, 0
// when it has no href or one TipTap refuses.
func (c *converter) linkOf(z *html.Tokenizer) int32 {
	l := linkAttrs{target: "_blank", rel: "noopener noreferrer nofollow"}
	var seen [4]bool
	for more := true; more; {
		var k, v []byte
		k, v, more = z.TagAttr()
		if k == nil { // no attributes
			break
		}
		switch string(k) {
		case "href":
			if !seen[0] {
				l.href, seen[0] = string(v), true
			}
		case "target":
			if !seen[1] {
				l.target, seen[1] = string(v), true
			}
		case "rel":
			if !seen[2] {
				l.rel, seen[2] = string(v), true
			}
		case "class":
			if !seen[3] {
				l.class, l.hasClass, seen[3] = string(v), true, true
			}
		}
	}
	if l.href == "" || !allowedURI(l.href) {
		return 0
	}
	c.links = append(c.links, l)
	return int32(len(c.links))
}

// allowedURI reports whether TipTap's Link (isAllowedUri) accepts uri: once
// its white space and control characters are removed, it starts with an
// allowed scheme, or with no scheme at all. It is the regular expression
// ^(?:(?:http|https|ftp|ftps|mailto|tel|callto|sms|cid|xmpp):|[^a-z]|[a-z0-9+.\-]+(?:[^a-z+.\-:]|$))
// (case-insensitive), worked out by hand.
func allowedURI(uri string) bool {
	var scheme [8]byte
	n := 0 // length of the leading [a-z0-9+.-] run
	for _, r := range uri {
		if isAttrWhitespace(r) {
			continue
		}
		if r >= 'A' && r <= 'Z' {
			r += 'a' - 'A'
		}
		letter := r >= 'a' && r <= 'z'
		switch {
		case n == 0 && !letter:
			return true // [^a-z]
		case letter, r == '+', r == '.', r == '-':
		case r >= '0' && r <= '9':
			return true // a run followed by a digit, which is not in [a-z+.\-:]
		case r == ':':
			return n <= len(scheme) && isAllowedScheme(string(scheme[:n]))
		default:
			return true // a run followed by neither a letter nor ':'
		}
		if n < len(scheme) {
			scheme[n] = byte(r)
		}
		n++
	}
	return n > 0 // a run up to the end; nothing at all does not match
}

// isAllowedScheme reports whether TipTap's Link allows the scheme s.
func isAllowedScheme(s string) bool {
	switch s {
	case "http", "https", "ftp", "ftps", "mailto", "tel", "callto", "sms", "cid", "xmpp":
		return true
	}
	return false
}

// isAttrWhitespace reports whether TipTap's ATTR_WHITESPACE matches r.
func isAttrWhitespace(r rune) bool {
	return r <= 0x20 || r == 0xa0 || r == 0x1680 || r == 0x180e ||
		r >= 0x2000 && r <= 0x2029 || r == 0x205f || r == 0x3000
}

// classLanguage returns the language a "language-x" class of the element
// names, and whether it has such a class; TipTap's CodeBlock reads the
// first, and makes null of an empty one.
func classLanguage(z *html.Tokenizer) (string, bool) {
	for more := true; more; {
		var k, v []byte
		k, v, more = z.TagAttr()
		if k == nil { // no attributes
			break
		}
		if string(k) != "class" {
			continue
		}
		for _, f := range bytes.Fields(v) {
			if lang, ok := bytes.CutPrefix(f, []byte("language-")); ok {
				return string(lang), true
			}
		}
		return "", false
	}
	return "", false
}

// listStart returns the start attribute of an ol, as parseInt reads it, 1
// when it has none or none that reads.
func listStart(z *html.Tokenizer) int {
	for more := true; more; {
		var k, v []byte
		k, v, more = z.TagAttr()
		if k == nil { // no attributes
			break
		}
		if string(k) != "start" {
			continue
		}
		s := bytes.TrimLeft(v, " \t\n\r\f\v")
		neg := false
		if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
			neg, s = s[0] == '-', s[1:]
		}
		n, digits := 0, 0
		for _, d := range s {
			if d < '0' || d > '9' {
				break
			}
			if n < 1<<31 {
				n = n*10 + int(d-'0')
			}
			digits++
		}
		if digits == 0 {
			return 1
		}
		n = min(n, 1<<31-1)
		if neg {
			n = -n
		}
		return n
	}
	return 1
}

// startRow starts a table row: its cells make one paragraph.
func (c *converter) startRow() {
	c.closeTextblock()
	c.row, c.cell, c.lastCell, c.cellSeen = true, 0, -1, false
}

// endRow ends the table row, if one is open.
func (c *converter) endRow() {
	if c.row {
		c.row = false
		c.closeTextblock()
	}
}

// startCell starts a table cell: white space at its ends is dropped.
func (c *converter) startCell() {
	if c.cellSeen {
		c.cell++
	}
	c.cellSeen = true
	c.pending, c.lastSpace = false, true
}

// cellContent writes the separator before the first content of a cell
// when an earlier cell of the row had content.
func (c *converter) cellContent() {
	if !c.row || c.cell == c.lastCell {
		return
	}
	if c.lastCell >= 0 {
		c.pending = false
		c.textNode(markSet{})
		c.out = append(c.out, " | "...)
	}
	c.lastCell = c.cell
}
