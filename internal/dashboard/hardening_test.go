package dashboard

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/net/html"

	"github.com/testplanit/tpi-workers/internal/config"
	"github.com/testplanit/tpi-workers/internal/forecast"
	"github.com/testplanit/tpi-workers/internal/schedule"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// stepClock is a clock that moves only when told.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *stepClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// serve runs r through the server's handler in process, so that a test can
// choose the client's address.
func (e *env) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(w, r)
	return w
}

func basicReq(method, path, remote, user, pass string) *http.Request {
	r := httptest.NewRequest(method, path, nil)
	r.RemoteAddr = remote
	r.SetBasicAuth(user, pass)
	return r
}

// --- 1. Open mode: loopback Host names only -------------------------------

func TestOpenModeRefusesForeignHostNames(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Addr = "127.0.0.1:0"; c.InsecureOpen = true; c.Credentials = Credentials{} })
	u, _ := url.Parse(e.url)
	pause := "/admin/queues/api/queues/" + task.QueueNotifications + ":pause"
	send := func(method, path, host, body string) (int, string) {
		t.Helper()
		r, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r.Host = host
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	digest := `{"type":"notifications:send-daily-digest"}`
	// DNS rebinding: the attacker's name, resolved to 127.0.0.1.
	for _, host := range []string{"attacker.example", "attacker.example:" + u.Port(), "localhost.attacker.example", "127.0.0.1.nip.io", "10.0.0.1"} {
		for _, r := range []struct{ method, path, body string }{
			{"GET", "/admin/queues/", ""},
			{"GET", "/admin/queues/api/queues", ""},
			{"POST", pause, ""},
			{"POST", "/api/v1/tasks", digest},
			{"GET", "/metrics", ""},
		} {
			code, body := send(r.method, r.path, host, r.body)
			if code != http.StatusMisdirectedRequest || !strings.Contains(body, "is not a loopback name") || !strings.Contains(body, "DASHBOARD_INSECURE_OPEN") {
				t.Errorf("%s %s with Host %s: %d %q, want 421 naming the rule", r.method, r.path, host, code, body)
			}
		}
	}
	if qi, err := e.insp.GetQueueInfo(task.QueueNotifications); err == nil && (qi.Paused || qi.Size > 0) {
		t.Fatalf("a foreign Host changed the queue: %+v", qi)
	}
	// Loopback names work, with or without a port.
	for _, host := range []string{"localhost", "localhost:" + u.Port(), "127.0.0.1:" + u.Port(), "[::1]:" + u.Port(), "dash.localhost:" + u.Port(), "LOCALHOST"} {
		if code, body := send("GET", "/admin/queues/", host, ""); code != 200 {
			t.Errorf("GET with Host %s: %d %.200s", host, code, body)
		}
	}
	if code, body := send("POST", "/api/v1/tasks", "localhost:"+u.Port(), digest); code != 201 {
		t.Errorf("POST with Host localhost: %d %s", code, body)
	}
}

func TestHostCheckIsOnlyForOpenMode(t *testing.T) {
	e := newEnv(t, nil)
	r := httptest.NewRequest("GET", "/admin/queues/", nil)
	r.Host = "dashboard.example.com"
	r.Header.Set("Authorization", "Bearer "+adminToken)
	if w := e.serve(r); w.Code != 200 {
		t.Fatalf("authenticated dashboard behind a real name: %d %s", w.Code, w.Body)
	}
}

func TestIsLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "localhost:8080": true, "LocalHost:1": true, "a.localhost": true, "a.b.localhost:9": true,
		"127.0.0.1": true, "127.0.0.1:80": true, "127.1.2.3:80": true, "[::1]": true, "[::1]:8080": true, "::1": true,
		"": false, "localhost.example": false, "xlocalhost": false, ".localhost": false, "attacker.example": false,
		"0.0.0.0": false, "10.0.0.1:80": false, "[::]:80": false, "[fe80::1]": false, "127.0.0.1.nip.io": false,
	} {
		if got := isLoopbackHost(host); got != want {
			t.Errorf("isLoopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestOpenModeWarnsThatItIgnoresCredentials(t *testing.T) {
	opt := asynq.RedisClientOpt{Addr: "127.0.0.1:6379"}
	for _, tt := range []struct {
		name  string
		creds Credentials
		want  string // "" = no warning
	}{
		{"credentials set", Credentials{AdminUser: "admin", AdminPasswordHash: adminHash, ProducerTokenHash: HashToken("p")}, "ignored=DASHBOARD_USER,DASHBOARD_PASSWORD_HASH,DASHBOARD_PRODUCER_TOKEN_HASH"},
		{"none set", Credentials{}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			s, err := New(Config{Addr: "127.0.0.1:0", RootPath: "/q", Redis: opt, InsecureOpen: true, Credentials: tt.creds},
				slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			warned := strings.Contains(logs.String(), "credentials are IGNORED")
			switch {
			case tt.want == "" && warned:
				t.Errorf("warned without credentials:\n%s", logs.String())
			case tt.want != "" && (!warned || !strings.Contains(logs.String(), tt.want)):
				t.Errorf("logs lack the warning with %s:\n%s", tt.want, logs.String())
			}
		})
	}
}

// --- 2. Login throttling ---------------------------------------------------

// throttledEnv is a server whose login throttle has limit, a clock that
// moves only when told, and a count of the password comparisons made. The
// comparison knows the test's two hashes instead of running bcrypt, which
// takes a second at cost 10 under the race detector.
func throttledEnv(t *testing.T, limit LoginLimit) (*env, *stepClock, *atomic.Int64) {
	t.Helper()
	e := newEnv(t, func(c *Config) { c.Login = limit })
	clock := &stepClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	e.srv.auth.throttle.clock = clock
	var compares atomic.Int64
	passwords := map[string]string{adminHash: "s3cret-admin", viewerHash: "s3cret-viewer"}
	e.srv.auth.compare = func(hash, pw []byte) error {
		compares.Add(1)
		if want, ok := passwords[string(hash)]; ok && want == string(pw) {
			return nil
		}
		return bcrypt.ErrMismatchedHashAndPassword
	}
	return e, clock, &compares
}

func TestLoginThrottlePerClient(t *testing.T) {
	e, clock, compares := throttledEnv(t, LoginLimit{Burst: 3, Interval: time.Hour})
	const page, a, b = "/admin/queues/", "192.0.2.1:40000", "198.51.100.7:40000"
	for i := range 3 {
		if w := e.serve(basicReq("GET", page, a, "admin", "guess")); w.Code != 401 {
			t.Fatalf("wrong password %d: %d", i+1, w.Code)
		}
	}
	if n := compares.Load(); n != 3 {
		t.Fatalf("%d bcrypt comparisons, want 3", n)
	}
	// Throttled: 429 with Retry-After, before bcrypt, even with the right
	// password (else the throttle would not stop the guessing), even on
	// another port (a new connection), even from the API.
	for _, r := range []*http.Request{
		basicReq("GET", page, a, "admin", "guess"),
		basicReq("GET", page, a, "admin", "s3cret-admin"),
		basicReq("GET", "/metrics", "192.0.2.1:40001", "viewer", "s3cret-viewer"),
		basicReq("POST", "/api/v1/tasks", a, "admin", "guess"),
	} {
		w := e.serve(r)
		if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "3600" || !strings.Contains(w.Body.String(), "too many failed logins") {
			t.Errorf("%s %s: %d Retry-After %q %q, want 429 with Retry-After 3600", r.Method, r.URL.Path, w.Code, w.Header().Get("Retry-After"), w.Body)
		}
	}
	if n := compares.Load(); n != 3 {
		t.Fatalf("%d bcrypt comparisons, want still 3: a throttled login ran bcrypt", n)
	}
	w := e.serve(basicReq("POST", "/api/v1/tasks", a, "admin", "guess"))
	var eb errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &eb); err != nil || !strings.Contains(eb.Error, "too many failed logins") || w.Header().Get("Content-Type") != "application/json" {
		t.Errorf("API answer: %s %q", w.Header().Get("Content-Type"), w.Body)
	}
	// Another client is not affected: the real admin still gets in.
	if w := e.serve(basicReq("GET", page, b, "admin", "s3cret-admin")); w.Code != 200 {
		t.Fatalf("admin from another client: %d %s", w.Code, w.Body)
	}
	// Bearer tokens are not passwords: not throttled.
	r := httptest.NewRequest("GET", page, nil)
	r.RemoteAddr = a
	r.Header.Set("Authorization", "Bearer "+viewerToken)
	if w := e.serve(r); w.Code != 200 {
		t.Errorf("viewer token from the throttled client: %d", w.Code)
	}
	// A cached login is not checked again, so not throttled either.
	if w := e.serve(basicReq("GET", page, a, "admin", "s3cret-admin")); w.Code != 200 {
		t.Errorf("cached admin login from the throttled client: %d", w.Code)
	}
	// One more attempt an interval later, and only one.
	clock.Add(time.Hour)
	if w := e.serve(basicReq("GET", page, a, "viewer", "guess")); w.Code != 401 {
		t.Fatalf("after an interval: %d, want 401", w.Code)
	}
	if w := e.serve(basicReq("GET", page, a, "viewer", "guess")); w.Code != 429 {
		t.Fatalf("second attempt after an interval: %d, want 429", w.Code)
	}
	if got := e.srv.loginThrottled; got == nil {
		t.Fatal("no throttle metric")
	}
	code, _, body := e.do(t, req{path: "/metrics", token: viewerToken})
	if code != 200 || !regexp.MustCompile(`tpi_dashboard_login_throttled_total [1-9]`).MatchString(body) {
		t.Errorf("/metrics lacks the throttled count: %d", code)
	}
}

func TestLoginThrottlePerUserSparesCleanClients(t *testing.T) {
	// Per client 2 attempts; per user 6 (userFactor 3).
	e, _, compares := throttledEnv(t, LoginLimit{Burst: 2, Interval: time.Hour})
	const page = "/admin/queues/"
	client := func(i int) string { return "203.0.113." + string(rune('0'+i)) + ":5000" }
	// A guesser spread over six addresses empties admin's bucket.
	for i := range 6 {
		if w := e.serve(basicReq("GET", page, client(i), "admin", "guess")); w.Code != 401 {
			t.Fatalf("client %d: %d", i, w.Code)
		}
	}
	before := compares.Load()
	// A client that failed may not try admin again, though its own bucket
	// holds another attempt...
	if w := e.serve(basicReq("GET", page, client(0), "admin", "guess")); w.Code != 429 || w.Header().Get("Retry-After") == "" {
		t.Fatalf("guesser again: %d, want 429", w.Code)
	}
	if compares.Load() != before {
		t.Fatal("a login refused for the user's throttle ran bcrypt")
	}
	// ...it may try another user, whose bucket is full.
	if w := e.serve(basicReq("GET", page, client(0), "viewer", "s3cret-viewer")); w.Code != 200 {
		t.Fatalf("viewer from a guesser's address: %d", w.Code)
	}
	// A clean client is still checked: the admin gets in, a wrong password
	// is a 401 (and then that client is throttled like the others).
	if w := e.serve(basicReq("GET", page, "198.51.100.20:1", "admin", "s3cret-admin")); w.Code != 200 {
		t.Fatalf("admin from a clean client: %d %s", w.Code, w.Body)
	}
	if w := e.serve(basicReq("GET", page, "198.51.100.21:1", "admin", "guess")); w.Code != 401 {
		t.Fatalf("wrong password from a clean client: %d", w.Code)
	}
	if w := e.serve(basicReq("GET", page, "198.51.100.21:1", "admin", "guess")); w.Code != 429 {
		t.Fatalf("that client again: %d, want 429", w.Code)
	}
}

func TestLoginThrottleMemoryIsBounded(t *testing.T) {
	clock := &stepClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	th := newLoginThrottle(LoginLimit{Burst: 1, Interval: time.Minute}, []string{"admin"}, clock)
	if th.max != maxLoginClients {
		t.Fatalf("max %d", th.max)
	}
	th.max = 100
	for i := range 150 {
		th.failed("client-"+strconv.Itoa(i), "nobody")
		clock.Add(time.Millisecond)
	}
	if n := th.size(); n > 100 {
		t.Fatalf("%d clients remembered, want at most 100", n)
	}
	// The most recent failures are kept: the last client is still
	// throttled; the first was forgotten.
	if th.wait("client-149", "nobody") <= 0 {
		t.Error("the latest failing client was forgotten")
	}
	if th.wait("client-0", "nobody") > 0 {
		t.Error("the oldest failing client is still remembered")
	}
	// Once its bucket is full again a client is worth nothing: it goes first.
	clock.Add(time.Hour)
	th.failed("newcomer", "nobody")
	if n := th.size(); n != 1 {
		t.Errorf("%d clients remembered after they all recovered, want 1", n)
	}
}

func TestClientIP(t *testing.T) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8, 192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, remote, xff string
		trusted           bool
		want              string
	}{
		{"direct", "198.51.100.7:1234", "", false, "198.51.100.7"},
		{"X-Forwarded-For ignored without opt-in", "198.51.100.7:1234", "203.0.113.9", false, "198.51.100.7"},
		{"X-Forwarded-For from an untrusted address", "198.51.100.7:1234", "203.0.113.9", true, "198.51.100.7"},
		{"through a trusted proxy", "10.1.2.3:1234", "203.0.113.9", true, "203.0.113.9"},
		{"a client cannot forge the hops before the proxy", "10.1.2.3:1234", "1.1.1.1, 203.0.113.9", true, "203.0.113.9"},
		{"two trusted proxies", "192.0.2.1:1234", "1.1.1.1, 203.0.113.9, 10.9.9.9", true, "203.0.113.9"},
		{"malformed hop", "10.1.2.3:1234", "203.0.113.9, junk", true, "10.1.2.3"},
		{"IPv6 by /64", "[2001:db8:1:2:3:4:5:6]:1234", "", false, "2001:db8:1:2::/64"},
		{"IPv4-mapped", "[::ffff:198.51.100.7]:1234", "", false, "198.51.100.7"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			var tp = trusted
			if !tt.trusted {
				tp = nil
			}
			if got := clientIP(r, tp); got != tt.want {
				t.Errorf("clientIP = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoadConfigLoginSettings(t *testing.T) {
	load := func(vars map[string]string) (Config, error) {
		env := config.NewEnv(func(k string) string { return vars[k] })
		cfg := LoadConfig(env, worker.Config{})
		return cfg, env.Err()
	}
	cfg, err := load(map[string]string{"DASHBOARD_TRUSTED_PROXIES": "10.0.0.0/8,172.17.0.1", "DASHBOARD_LOGIN_BURST": "5", "DASHBOARD_LOGIN_INTERVAL": "30s"})
	if err != nil || len(cfg.TrustedProxies) != 2 || cfg.TrustedProxies[1].String() != "172.17.0.1/32" || cfg.Login != (LoginLimit{Burst: 5, Interval: 30 * time.Second}) {
		t.Fatalf("%+v %+v %v", cfg.TrustedProxies, cfg.Login, err)
	}
	if _, err := load(map[string]string{"DASHBOARD_TRUSTED_PROXIES": "10.0.0.0/8,proxy.internal"}); err == nil || !strings.HasPrefix(err.Error(), `config: DASHBOARD_TRUSTED_PROXIES: "proxy.internal" is not an IP address`) {
		t.Fatalf("err %v", err)
	}
	if cfg, _ := load(nil); cfg.Login != (LoginLimit{Burst: defaultLoginBurst, Interval: defaultLoginInterval}) || cfg.TrustedProxies != nil {
		t.Fatalf("defaults: %+v %v", cfg.Login, cfg.TrustedProxies)
	}
}

func TestValidateRefusesCheapBcryptHashes(t *testing.T) {
	opt := asynq.RedisClientOpt{Addr: "127.0.0.1:6379"}
	cheap, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		creds Credentials
		want  string
	}{
		{Credentials{AdminUser: "a", AdminPasswordHash: string(cheap)}, "config: DASHBOARD_PASSWORD_HASH: bcrypt cost 4 is below the minimum of 10"},
		{Credentials{AdminTokenHash: HashToken("x"), ViewerUser: "v", ViewerPasswordHash: string(cheap)}, "config: DASHBOARD_VIEWER_PASSWORD_HASH: bcrypt cost 4 is below the minimum of 10"},
		{Credentials{AdminUser: "a", AdminPasswordHash: adminHash}, ""},
	} {
		err := Config{Addr: ":8080", RootPath: "/q", Redis: opt, Credentials: tt.creds}.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("cost 10 refused: %v", err)
		case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want) || strings.Contains(err.Error(), "\n")):
			t.Errorf("err %v, want one line starting %q", err, tt.want)
		}
	}
	// tpictl hash-password uses HashPassword.
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if cost, _ := bcrypt.Cost([]byte(h)); cost < minBcryptCost {
		t.Errorf("HashPassword makes cost %d", cost)
	}
}

// --- 4 and 5. Headers; no external origin ------------------------------------

func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t, nil)
	for _, tt := range []struct {
		name  string
		r     req
		code  int
		cache string
	}{
		{"asynqmon page", req{path: "/admin/queues/", token: adminToken}, 200, "no-store"},
		{"asynqmon API", req{path: "/admin/queues/api/queues", token: adminToken}, 200, "no-store"},
		{"asynqmon static file", req{path: "/admin/queues/static/js/" + asynqmonMainJS(t, e), token: adminToken}, 200, "private, max-age=86400"},
		{"refused", req{path: "/admin/queues/"}, 401, "no-store"},
		{"enqueue API", req{method: "POST", path: "/api/v1/tasks", token: producerToken, ctype: "application/json", body: `{}`}, 400, "no-store"},
		{"metrics", req{path: "/metrics", token: viewerToken}, 200, "no-store"},
		{"public manifest", req{path: "/admin/queues/manifest.json"}, 200, "no-store"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, h, body := e.do(t, tt.r)
			if code != tt.code {
				t.Fatalf("status %d, want %d: %.200s", code, tt.code, body)
			}
			for k, want := range map[string]string{
				"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": tt.cache,
			} {
				if got := h.Get(k); got != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
			csp := h.Get("Content-Security-Policy")
			if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe-eval") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
		})
	}
	// The redirect at / too (the HTTP client above would follow it).
	w := e.serve(httptest.NewRequest("GET", "/", nil))
	if w.Code != http.StatusFound || w.Header().Get("X-Frame-Options") != "DENY" || w.Header().Get("Content-Security-Policy") != strictCSP {
		t.Errorf("redirect: %d %v", w.Code, w.Header())
	}
}

// asynqmonMainJS finds the name of asynqmon's main script in its page.
func asynqmonMainJS(t *testing.T, e *env) string {
	t.Helper()
	_, _, body := e.do(t, req{path: "/admin/queues/", token: adminToken})
	m := regexp.MustCompile(`static/js/(main\.[0-9a-f]+\.chunk\.js)`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no main script in %.500s", body)
	}
	return m[1]
}

func TestAsynqmonPagePolicyAllowsExactlyItsInlineScripts(t *testing.T) {
	for _, ro := range []bool{false, true} {
		e := newEnv(t, func(c *Config) { c.ReadOnly = ro })
		code, h, body := e.do(t, req{path: "/admin/queues/servers", token: adminToken})
		if code != 200 {
			t.Fatalf("%d", code)
		}
		csp := h.Get("Content-Security-Policy")
		script := regexp.MustCompile(`script-src ([^;]*)`).FindStringSubmatch(csp)
		if script == nil || strings.Contains(script[1], "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Fatalf("read-only %v: policy %q", ro, csp)
		}
		var want []string
		for _, m := range regexp.MustCompile(`(?s)<script>(.*?)</script>`).FindAllStringSubmatch(body, -1) {
			sum := sha256.Sum256([]byte(m[1]))
			want = append(want, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
		}
		if len(want) != 2 {
			t.Fatalf("%d inline scripts, want asynqmon's 2", len(want))
		}
		if got := "'self' " + strings.Join(want, " "); script[1] != got {
			t.Errorf("read-only %v: script-src %q, want %q", ro, script[1], got)
		}
		if h.Get("Content-Type") != "text/html; charset=utf-8" || h.Get("Cache-Control") != "no-store" {
			t.Errorf("headers %v", h)
		}
	}
}

// TestServedHTMLReferencesNoOtherOrigin fetches every HTML page the
// dashboard serves and finds no URL of another origin in it: the browser
// fetches nothing from outside (Google Fonts, before).
func TestServedHTMLReferencesNoOtherOrigin(t *testing.T) {
	for _, ro := range []bool{false, true} {
		e := newEnv(t, func(c *Config) { c.ReadOnly = ro })
		for _, r := range []req{
			{path: "/admin/queues", token: adminToken},
			{path: "/admin/queues/", user: "admin", pass: "s3cret-admin"},
			{path: "/admin/queues/servers", token: adminToken},
			{path: "/admin/queues/queues/notifications", token: viewerToken},
			{path: "/admin/queues/overview", token: viewerToken},
			{method: "HEAD", path: "/admin/queues/", token: adminToken},
		} {
			code, h, body := e.do(t, r)
			if code == http.StatusMovedPermanently || code == http.StatusFound {
				continue
			}
			if code != 200 {
				t.Errorf("%s: %d", r.path, code)
				continue
			}
			if !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
				t.Errorf("%s: %s, want HTML", r.path, h.Get("Content-Type"))
				continue
			}
			if r.method == "HEAD" {
				if h.Get("Content-Length") == "" {
					t.Errorf("HEAD without Content-Length")
				}
				continue
			}
			for _, ref := range externalRefs(t, body) {
				t.Errorf("read-only %v: %s references another origin: %s", ro, r.path, ref)
			}
			if strings.Contains(body, "googleapis") || strings.Contains(body, "gstatic") {
				t.Errorf("%s still names Google Fonts", r.path)
			}
		}
	}
}

// externalRefs returns the URLs in page's attributes and style text that
// name an origin (a host, or a scheme other than data:).
func externalRefs(t *testing.T, page string) []string {
	t.Helper()
	var out []string
	check := func(where, ref string) {
		ref = strings.TrimSpace(ref)
		u, err := url.Parse(ref)
		if err != nil {
			out = append(out, where+"="+ref+" (unparsable)")
			return
		}
		if u.Host != "" || u.Scheme != "" && u.Scheme != "data" {
			out = append(out, where+"="+ref)
		}
	}
	z := html.NewTokenizer(strings.NewReader(page))
	inStyle := false
	for {
		switch z.Next() {
		case html.ErrorToken:
			if z.Err() != io.EOF {
				t.Fatalf("parse: %v", z.Err())
			}
			return out
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			inStyle = tok.Data == "style"
			for _, a := range tok.Attr {
				switch a.Key {
				case "href", "src", "action", "formaction", "poster", "data", "manifest":
					check(tok.Data+"."+a.Key, a.Val)
				case "srcset":
					for _, c := range strings.Split(a.Val, ",") {
						check(tok.Data+".srcset", strings.Fields(c + " x")[0])
					}
				case "style":
					for _, m := range cssURL.FindAllStringSubmatch(a.Val, -1) {
						check(tok.Data+".style", m[1])
					}
				}
			}
		case html.TextToken:
			if inStyle {
				for _, m := range cssURL.FindAllStringSubmatch(string(z.Text()), -1) {
					check("style", m[1])
				}
			}
		case html.EndTagToken:
			inStyle = false
		}
	}
}

var cssURL = regexp.MustCompile(`(?:url\(\s*['"]?|@import\s+['"])([^'")\s]+)`)

func TestRewriteIndexStripsOtherOrigins(t *testing.T) {
	page := `<head><link rel="icon" href="/q/favicon.ico"/><link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto"/>` +
		`<LINK REL=stylesheet HREF=//cdn.example/x.css><link rel="stylesheet" href='http://a.example/b.css'><script>var a=1</script>` +
		`<script src="/q/static/js/main.js"></script></head>`
	got, hashes := rewriteIndex([]byte(page))
	if refs := externalRefs(t, string(got)); len(refs) > 0 {
		t.Errorf("left %v in %s", refs, got)
	}
	if !strings.Contains(string(got), `href="/q/favicon.ico"`) || !strings.Contains(string(got), `src="/q/static/js/main.js"`) {
		t.Errorf("removed same-origin links: %s", got)
	}
	sum := sha256.Sum256([]byte("var a=1"))
	if len(hashes) != 1 || hashes[0] != "sha256-"+base64.StdEncoding.EncodeToString(sum[:]) {
		t.Errorf("hashes %v", hashes)
	}
}

// --- 6. DASHBOARD_PATH -------------------------------------------------------

func TestValidateChecksDashboardPath(t *testing.T) {
	opt := asynq.RedisClientOpt{Addr: "127.0.0.1:6379"}
	for _, tt := range []struct {
		path string
		ok   bool
	}{
		// The values that crashed the binary (ServeMux pattern panics), and
		// their kin.
		{"//", false}, {"/a b", false}, {"/a//b", false}, {"///", false}, {"/a/{x}", false}, {"/{$}", false},
		{"/a/{b...}", false}, {"/a\tb", false}, {"/a\x00", false},
		{"", false}, {"admin", false}, {"/", false}, {"/.", false}, {"/..", false}, {"/a/../b", false}, {"/a/./b", false},
		{"/a%2Fb", false}, {"/ü", false}, {"/a?b", false}, {"/a#b", false}, {"/a:b", false}, {"GET /a", false},
		{"/api", false}, {"/api/v1", false}, {"/metrics", false}, {"/healthz", false}, {"/readyz/x", false},
		{"/admin/queues", true}, {"/admin/queues/", true}, {"/q", true}, {"/a.b~c-d_E9/x", true}, {"/apis", true},
	} {
		err := Config{Addr: ":8080", RootPath: tt.path, Redis: opt, Credentials: Credentials{AdminTokenHash: HashToken("a")}}.Validate()
		switch {
		case tt.ok && err != nil:
			t.Errorf("%q refused: %v", tt.path, err)
		case !tt.ok && (err == nil || !strings.HasPrefix(err.Error(), "config: DASHBOARD_PATH: ") || strings.Contains(err.Error(), "\n")):
			t.Errorf("%q: err %v, want one line naming DASHBOARD_PATH", tt.path, err)
		}
		// And New never panics.
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("New panicked for DASHBOARD_PATH %q: %v", tt.path, p)
				}
			}()
			s, err := New(Config{Addr: ":8080", RootPath: tt.path, Redis: opt, Credentials: Credentials{AdminTokenHash: HashToken("a")}}, slog.New(slog.DiscardHandler))
			if err == nil {
				s.Close()
			}
		}()
	}
}

// --- 7. Enqueue API refusals -------------------------------------------------

func TestEnqueueAPIRefusesInvalidInput(t *testing.T) {
	e := newEnv(t, nil)
	const digest = `"type":"notifications:send-daily-digest"`
	now := time.Now().UTC()
	for _, tt := range []struct {
		name, body, want string
	}{
		{"invalid UTF-8 in the payload", `{"type":"notifications:create-notification","payload":{"userId":"u1","type":"WORK_ASSIGNED","title":"caf` + "\xe9" + `","message":"M"}}`, "payload.title: not valid UTF-8"},
		{"invalid UTF-8 deep in the payload", `{"type":"notifications:create-notification","payload":{"userId":"u1","type":"WORK_ASSIGNED","title":"T","message":"M","data":{"a":[1,"` + "\xff\xfe" + `"]}}}`, "payload.data.a[1]: not valid UTF-8"},
		{"invalid UTF-8 in a payload key", `{"type":"notifications:create-notification","payload":{"` + "\xc3" + `":1}}`, "payload: not valid UTF-8"},
		{"invalid UTF-8 in the tenant", `{` + digest + `,"tenant":"ac` + "\x80" + `me"}`, "tenant: not valid UTF-8"},
		{"invalid UTF-8 in the task ID", `{` + digest + `,"options":{"taskId":"a` + "\xed\xa0\x80" + `"}}`, "options.taskId: not valid UTF-8"},
		{"invalid UTF-8 in a malformed body", `{` + digest + `,"payload":"` + "\xff", "body: not valid UTF-8"},
		{"processAt in year 9999", `{` + digest + `,"options":{"processAt":"9999-01-01T00:00:00Z"}}`, "options.processAt: 9999-01-01T00:00:00Z is out of range"},
		{"processAt over a year ahead", `{` + digest + `,"options":{"processAt":"` + now.AddDate(1, 1, 0).Format(time.RFC3339) + `"}}`, "options.processAt"},
		{"processAt in year 1", `{` + digest + `,"options":{"processAt":"0001-01-01T00:00:00Z"}}`, "options.processAt"},
		{"processAt months ago", `{` + digest + `,"options":{"processAt":"` + now.AddDate(0, -2, 0).Format(time.RFC3339) + `"}}`, "options.processAt"},
		{"taskId with a slash", `{` + digest + `,"options":{"taskId":"a/b"}}`, `options.taskId: '/' is not allowed`},
		{"taskId with ..", `{` + digest + `,"options":{"taskId":"a..b"}}`, `options.taskId: must not contain ".."`},
		{"jobId going up", `{` + digest + `,"options":{"jobId":"../queues"}}`, "options.taskId"},
		{"taskId with a percent", `{` + digest + `,"options":{"taskId":"a%2Fb"}}`, "options.taskId: '%' is not allowed"},
		{"taskId with a question mark", `{` + digest + `,"options":{"taskId":"a?b"}}`, "options.taskId: '?' is not allowed"},
		{"non-ASCII taskId", `{` + digest + `,"options":{"taskId":"café"}}`, "options.taskId: 'é' is not allowed"},
		{"long taskId", `{` + digest + `,"options":{"taskId":"` + strings.Repeat("a", maxTaskIDLen+1) + `"}}`, "options.taskId: longer than 200 bytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, r, msg := e.post(t, tt.body)
			if code != 400 || !strings.HasPrefix(msg, tt.want) {
				t.Fatalf("%d %+v %q, want 400 %q", code, r, msg, tt.want)
			}
		})
	}
	for _, q := range task.Queues() {
		if qi, err := e.insp.GetQueueInfo(q.Name); err == nil && qi.Size > 0 {
			t.Errorf("queue %s holds %d tasks", q.Name, qi.Size)
		}
	}
	// Within the bounds, accepted.
	for _, body := range []string{
		`{` + digest + `,"options":{"processAt":"` + now.AddDate(0, 11, 0).Format(time.RFC3339) + `","taskId":"acme:schedule:digest-sweep:2030-01-01T03:00:00Z"}}`,
		`{` + digest + `,"options":{"processAt":"` + now.Add(-time.Hour).Format(time.RFC3339) + `","jobId":"a.b_c-D:9"}}`,
		`{"type":"notifications:create-notification","payload":{"userId":"u1","type":"WORK_ASSIGNED","title":"Café ✓ 日本","message":"M"}}`,
	} {
		if code, r, msg := e.post(t, body); code != 201 {
			t.Errorf("%s: %d %+v %s", body, code, r, msg)
		}
	}
}

// TestOwnTaskIDsPassTheEnqueueAPICheck builds the task IDs the fleet's own
// producers make, with realistic values: a producer forwarding one to the
// API as taskId must not be refused.
func TestOwnTaskIDsPassTheEnqueueAPICheck(t *testing.T) {
	at := time.Date(2030, 3, 31, 3, 0, 0, 0, time.UTC)
	const cuid = "cm9x2k1ab0000lb08h3f2q7zv"
	project := 7
	for _, id := range []string{
		schedule.OccurrenceID(schedule.EntryNightlyForecast, at),
		schedule.TenantOccurrenceID("acme-corp", schedule.EntryDigestSweep, at),
		schedule.TenantOccurrenceID("tenant_2", schedule.EntryAutoComplete, at),
		schedule.TenantOccurrenceID("acme", schedule.EntryMilestoneReminders, at),
		forecast.ReminderTaskID("acme", 42, cuid, "2030-03-31"),
		forecast.ReminderTaskID("", 42, cuid, "2030-03-31"),
		task.SendNotificationEmail{NotificationID: cuid, UserID: cuid, TenantID: "acme"}.TaskID(),
		task.SendDigestEmail{UserID: cuid, Day: "2030-03-31", TenantID: "acme"}.TaskID(),
		task.Reindex{EntityType: task.EntityProjects, ProjectID: &project, ImportJobID: cuid, TenantID: "acme"}.TaskID(),
		task.ProcessTestmoImport{JobID: cuid, Mode: "import", TenantID: "acme"}.TaskID(),
		task.ProcessTestmoImport{JobID: cuid}.TaskID(),
	} {
		if id == "" {
			t.Fatal("an empty ID: the test's values are incomplete")
		}
		if err := checkTaskID(id); err != nil {
			t.Errorf("%q: %v", id, err)
		}
	}
}
