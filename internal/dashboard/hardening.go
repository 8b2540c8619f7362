package dashboard

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
)

// Security headers. Every answer gets X-Frame-Options and a
// Content-Security-Policy with frame-ancestors 'none' (no framing, so no
// clickjacking), nosniff and no Referer. strictCSP allows only same-origin
// scripts, styles, images and requests: the Job Queues page and every
// error page live with it. asynqmon's page needs more (see hardening_html.go)
// and gets its own policy.
const (
	strictCSP = "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
	// noStore keeps answers out of every cache: they hold queue data or
	// depend on credentials.
	noStore = "no-store"
	// staticCache lets a browser keep asynqmon's static files, whose names
	// carry a hash of their content, without sharing them with any proxy.
	staticCache = "private, max-age=86400"
)

// secureHeaders sets the headers above on every answer before next runs; a
// handler may still override Cache-Control or the policy (asynqmon's page,
// the Job Queues assets).
func (s *Server) secureHeaders(next http.Handler) http.Handler {
	static := s.cfg.RootPath + "/static/"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", strictCSP)
		if strings.HasPrefix(r.URL.Path, static) {
			h.Set("Cache-Control", staticCache)
		} else {
			h.Set("Cache-Control", noStore)
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackHostOnly refuses, in open mode, requests whose Host header is not
// a loopback name. Without it a web page the operator visits could reach the
// open dashboard by DNS rebinding: its own host name resolved to 127.0.0.1,
// the browser sends requests (with that name in Host) that the dashboard,
// open to everyone on loopback, would obey.
func loopbackHostOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isLoopbackHost(r.Host) {
			http.Error(w, fmt.Sprintf("misdirected request: Host %q is not a loopback name; the open dashboard (DASHBOARD_INSECURE_OPEN) "+
				"answers only localhost, *.localhost, 127.0.0.1 and [::1]", r.Host), http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isLoopbackHost reports whether host, a Host header with or without a
// port, names the loopback interface: localhost, a name under .localhost
// (RFC 6761: resolved to loopback by browsers themselves), or a loopback IP
// address.
func isLoopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	host = strings.ToLower(host)
	if host == "localhost" || strings.HasSuffix(host, ".localhost") && len(host) > len(".localhost") {
		return true
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	return false
}

// checkRootPath checks DASHBOARD_PATH: an absolute, clean path of segments
// made of [A-Za-z0-9._~-], neither "." nor "..", with at most a trailing
// slash, and not one of the paths served beside the dashboard. Anything
// else could not be registered on an http.ServeMux (a panic at start) or
// would mean something else than meant.
func checkRootPath(p string) error {
	bad := func(why string) error {
		return fmt.Errorf("config: DASHBOARD_PATH: %q %s (use a path such as /admin/queues)", p, why)
	}
	if !strings.HasPrefix(p, "/") {
		return bad("must start with /")
	}
	trimmed := strings.TrimSuffix(p, "/")
	if trimmed == "" {
		return bad("must not be / (the enqueue API and /metrics live beside the dashboard)")
	}
	for _, seg := range strings.Split(trimmed[1:], "/") {
		switch seg {
		case "":
			return bad("has an empty segment (//)")
		case ".", "..":
			return bad("has a . or .. segment")
		}
		for _, c := range seg {
			if !isPathChar(c) {
				return bad(fmt.Sprintf("has %q: only letters, digits and . _ ~ - are allowed in a segment", c))
			}
		}
	}
	switch first, _, _ := strings.Cut(trimmed[1:], "/"); first {
	case "api", "metrics", "healthz", "readyz":
		return bad("must not be or be below /" + first + ", which the dashboard process serves itself")
	}
	return nil
}

func isPathChar(c rune) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune("._~-", c)
}

// harden wraps the routes: the security headers on every answer, then, in
// open mode, the Host check, then the login throttle.
func (s *Server) harden(mux http.Handler) http.Handler {
	h := s.loginGate(mux)
	if s.cfg.InsecureOpen {
		h = loopbackHostOnly(h)
	}
	return s.secureHeaders(h)
}

// warnIgnoredCredentials says at start that open mode ignores the
// credentials that are set, lest an operator believe them in force.
func warnIgnoredCredentials(cfg Config, log *slog.Logger) {
	if !cfg.InsecureOpen {
		return
	}
	c := cfg.Credentials
	var set []string
	for _, v := range []struct{ name, value string }{
		{"DASHBOARD_USER", c.AdminUser}, {"DASHBOARD_PASSWORD_HASH", c.AdminPasswordHash}, {"DASHBOARD_TOKEN_HASH", c.AdminTokenHash},
		{"DASHBOARD_VIEWER_USER", c.ViewerUser}, {"DASHBOARD_VIEWER_PASSWORD_HASH", c.ViewerPasswordHash},
		{"DASHBOARD_VIEWER_TOKEN_HASH", c.ViewerTokenHash}, {"DASHBOARD_PRODUCER_TOKEN_HASH", c.ProducerTokenHash},
	} {
		if v.value != "" {
			set = append(set, v.name)
		}
	}
	if len(set) > 0 {
		log.Warn("DASHBOARD_INSECURE_OPEN is on: the configured credentials are IGNORED and everyone on loopback is admin and producer; unset DASHBOARD_INSECURE_OPEN to use them",
			"ignored", strings.Join(set, ","))
	}
}
