package dashboard

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// asynqmon's page (its embedded index.html) links two Google Fonts style
// sheets and holds two inline scripts (its settings and webpack's loader).
// The page is rewritten as it is served: every link to another origin is
// removed, so the browser fetches nothing outside the dashboard (the theme's
// font stack is "Roboto", Helvetica, Arial, sans-serif: a local Roboto, else
// a system font; the icons are inline SVG, the Material Icons font unused),
// and the inline scripts are allowed by their SHA-256 in the page's policy
// rather than by 'unsafe-inline'. Material UI injects <style> elements at
// run time, hence style-src 'unsafe-inline'; no data or credentials are
// reachable through a style.

var (
	// externalLink matches a <link> whose href names another origin
	// (scheme-relative included).
	externalLink = regexp.MustCompile(`(?is)<link\b[^>]*\bhref\s*=\s*["']?(?:[a-z][a-z0-9+.-]*:)?//[^>]*>`)
	// inlineScript matches a <script> element; group 1 its attributes,
	// group 2 its text.
	inlineScript = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script\s*>`)
	srcAttr      = regexp.MustCompile(`(?i)\bsrc\s*=`)
)

// asynqmonCSP returns the policy of asynqmon's page whose inline scripts
// have the given hashes ('sha256-<base64>').
func asynqmonCSP(scriptHashes []string) string {
	script := "script-src 'self'"
	for _, h := range scriptHashes {
		script += " '" + h + "'"
	}
	return "default-src 'self'; " + script + "; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; " +
		"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
}

// rewriteIndex strips page's links to other origins and returns it with the
// hashes of its inline scripts.
func rewriteIndex(page []byte) ([]byte, []string) {
	page = externalLink.ReplaceAll(page, nil)
	var hashes []string
	for _, m := range inlineScript.FindAllSubmatch(page, -1) {
		if srcAttr.Match(m[1]) {
			continue
		}
		sum := sha256.Sum256(m[2])
		hashes = append(hashes, "sha256-"+base64.StdEncoding.EncodeToString(sum[:]))
	}
	return page, hashes
}

// maxIndexBytes bounds the HTML held to be rewritten; asynqmon's is 3 KB.
const maxIndexBytes = 1 << 20

// indexRewriter is the ResponseWriter given to asynqmon for its pages and
// files: an HTML answer is held, rewritten by [rewriteIndex] and sent with
// its policy by finish; anything else passes through untouched.
type indexRewriter struct {
	w    http.ResponseWriter
	code int
	// decided is set once the first byte (or the status of an empty
	// answer) shows what the answer is; html then says whether it is held.
	decided, html bool
	buf           bytes.Buffer
}

func (ir *indexRewriter) Header() http.Header { return ir.w.Header() }

func (ir *indexRewriter) WriteHeader(code int) {
	if ir.code == 0 {
		ir.code = code
	}
}

func (ir *indexRewriter) Write(p []byte) (int, error) {
	if !ir.decided {
		ir.decide(p)
	}
	if !ir.html {
		return ir.w.Write(p)
	}
	if ir.buf.Len()+len(p) > maxIndexBytes {
		// Not asynqmon's page: send what is held and pass the rest on.
		ir.html = false
		ir.w.WriteHeader(ir.status())
		if _, err := ir.w.Write(ir.buf.Bytes()); err != nil {
			return 0, err
		}
		ir.buf.Reset()
		return ir.w.Write(p)
	}
	return ir.buf.Write(p)
}

// decide looks at the declared (else sniffed) type of the answer.
func (ir *indexRewriter) decide(first []byte) {
	ir.decided = true
	ct := ir.w.Header().Get("Content-Type")
	if ct == "" {
		ct = http.DetectContentType(first)
		ir.w.Header().Set("Content-Type", ct)
	}
	mt, _, _ := mime.ParseMediaType(ct)
	ir.html = mt == "text/html" && ir.status() == http.StatusOK
	if !ir.html {
		ir.w.WriteHeader(ir.status())
	}
}

func (ir *indexRewriter) status() int {
	if ir.code == 0 {
		return http.StatusOK
	}
	return ir.code
}

// finish sends a held page, rewritten; it must run after asynqmon returns.
func (ir *indexRewriter) finish() {
	if !ir.decided {
		ir.w.WriteHeader(ir.status())
		return
	}
	if !ir.html {
		return
	}
	page, hashes := rewriteIndex(ir.buf.Bytes())
	h := ir.w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", asynqmonCSP(hashes))
	h.Set("Cache-Control", noStore)
	h.Set("Content-Length", strconv.Itoa(len(page)))
	ir.w.WriteHeader(ir.status())
	_, _ = ir.w.Write(page)
}

// serveAsynqmon serves r from an asynqmon handler, rewriting its page; its
// JSON API (under DASHBOARD_PATH/api/) is passed straight through.
func (s *Server) serveAsynqmon(h http.Handler, w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, s.cfg.RootPath+"/api/") || r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.ServeHTTP(w, r)
		return
	}
	ir := &indexRewriter{w: w}
	h.ServeHTTP(ir, r)
	ir.finish()
}
