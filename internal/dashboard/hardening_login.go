package dashboard

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/testplanit/tpi-workers/internal/worker"
)

// LoginLimit bounds password guessing on basic auth. Each failed login
// costs the client (its IP address; an IPv6 /64) a token of a bucket of
// Burst tokens refilled one per Interval; a client with no token left is
// answered 429 with Retry-After before its password is checked, so a
// throttled guess costs no bcrypt. Successful logins cost nothing, and are
// cached, so the dashboard's own requests never count.
//
// Each configured user name also has a bucket, three times as large and
// refilled three times as fast, against guessing spread over many
// addresses. When it is empty, only clients that have failed recently are
// refused: a client with a clean record (the real admin at their desk)
// still has its password checked, so an attacker cannot lock the admin out.
type LoginLimit struct {
	// Burst is how many failed logins in a row a client may make before
	// it must wait. DASHBOARD_LOGIN_BURST, default 10.
	Burst int
	// Interval is how often a client earns one more attempt.
	// DASHBOARD_LOGIN_INTERVAL, default 6s (ten a minute).
	Interval time.Duration
}

// The defaults of [LoginLimit], and the most clients remembered at once.
const (
	defaultLoginBurst    = 10
	defaultLoginInterval = 6 * time.Second
	// userFactor makes each user's bucket this many times larger and
	// faster than a client's.
	userFactor = 3
	// maxLoginClients bounds the memory of the throttle: past it, clients
	// with a clean record are forgotten first, then the least recently
	// failed.
	maxLoginClients = 10_000
)

// withDefaults fills unset fields.
func (l LoginLimit) withDefaults() LoginLimit {
	if l.Burst <= 0 {
		l.Burst = defaultLoginBurst
	}
	if l.Interval <= 0 {
		l.Interval = defaultLoginInterval
	}
	return l
}

// loginThrottle keeps the buckets of [LoginLimit]. It is safe for
// concurrent use.
type loginThrottle struct {
	limit rate.Limit
	burst int
	clock worker.Clock
	max   int // maxLoginClients (a test lowers it)

	mu      sync.Mutex
	clients map[string]*clientRecord
	users   map[string]*rate.Limiter // the configured user names only
}

type clientRecord struct {
	lim        *rate.Limiter
	lastFailed time.Time
}

func newLoginThrottle(l LoginLimit, users []string, clock worker.Clock) *loginThrottle {
	l = l.withDefaults()
	t := &loginThrottle{limit: rate.Every(l.Interval), burst: l.Burst, clock: clock, max: maxLoginClients,
		clients: map[string]*clientRecord{}, users: map[string]*rate.Limiter{}}
	if t.clock == nil {
		t.clock = worker.SystemClock{}
	}
	for _, u := range users {
		if u != "" {
			t.users[u] = rate.NewLimiter(t.limit*userFactor, t.burst*userFactor)
		}
	}
	return t
}

// wait returns how long client must wait before its password for user may
// be checked; 0 means now.
func (t *loginThrottle) wait(client, user string) time.Duration {
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	rec := t.clients[client]
	if rec != nil {
		if d := untilToken(rec.lim, now); d > 0 {
			return d
		}
	}
	if ul := t.users[user]; ul != nil {
		if d := untilToken(ul, now); d > 0 && rec != nil && rec.lim.TokensAt(now) < float64(t.burst) {
			return d
		}
	}
	return 0
}

// failed records a failed login of client for user.
func (t *loginThrottle) failed(client, user string) {
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	rec := t.clients[client]
	if rec == nil {
		t.makeRoom(now)
		rec = &clientRecord{lim: rate.NewLimiter(t.limit, t.burst)}
		t.clients[client] = rec
	}
	rec.lastFailed = now
	// A reservation, unlike Allow, may drive the bucket below zero: failures
	// that raced past the check lengthen the wait.
	rec.lim.ReserveN(now, 1)
	if ul := t.users[user]; ul != nil {
		ul.ReserveN(now, 1)
	}
}

// makeRoom forgets clients once t.max are remembered: first the ones whose
// bucket is full again (nothing to remember), else the one that failed
// least recently. t.mu is held.
func (t *loginThrottle) makeRoom(now time.Time) {
	if len(t.clients) < t.max {
		return
	}
	for k, rec := range t.clients {
		if rec.lim.TokensAt(now) >= float64(t.burst) {
			delete(t.clients, k)
		}
	}
	for len(t.clients) >= t.max {
		oldest, at := "", time.Time{}
		for k, rec := range t.clients {
			if oldest == "" || rec.lastFailed.Before(at) {
				oldest, at = k, rec.lastFailed
			}
		}
		delete(t.clients, oldest)
	}
}

// size is the number of clients remembered.
func (t *loginThrottle) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.clients)
}

// untilToken is how long until lim holds a whole token at now.
func untilToken(lim *rate.Limiter, now time.Time) time.Duration {
	tokens := lim.TokensAt(now)
	if tokens >= 1 {
		return 0
	}
	return time.Duration(math.Ceil((1 - tokens) / float64(lim.Limit()) * float64(time.Second)))
}

// retryAfter formats d for a Retry-After header: whole seconds, at least 1.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

// clientIP names the client of r for throttling: the address it connects
// from, or, when that is one of the trusted proxies, the nearest address in
// X-Forwarded-For that is not. IPv6 addresses are cut to their /64, the
// block one machine usually holds.
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	addr := remoteAddr(r.RemoteAddr)
	if addr.IsValid() && isTrusted(addr, trusted) {
		hops := r.Header.Values("X-Forwarded-For")
		var list []string
		for _, h := range hops {
			list = append(list, strings.Split(h, ",")...)
		}
		for i := len(list) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(strings.TrimSpace(list[i]))
			if err != nil {
				break // a malformed hop: trust nothing before it
			}
			addr = a.Unmap()
			if !isTrusted(addr, trusted) {
				break
			}
		}
	}
	if !addr.IsValid() {
		return r.RemoteAddr
	}
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

func remoteAddr(s string) netip.Addr {
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		host = s
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.WithZone("").Unmap()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParseTrustedProxies reads DASHBOARD_TRUSTED_PROXIES: IP addresses or CIDR
// blocks, separated by commas or spaces.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("%q is not an IP address or CIDR block", f)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address or CIDR block", f)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// loginGate answers 429 with Retry-After, before any handler (and so before
// bcrypt), to a basic-auth login from a throttled client. Cached successful
// logins and bearer tokens pass.
func (s *Server) loginGate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := s.auth.throttled(r)
		if d <= 0 {
			next.ServeHTTP(w, r)
			return
		}
		s.loginThrottled.Inc()
		s.log.Warn("login throttled", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr,
			"client", s.auth.client(r), "retry_after", d.String())
		w.Header().Set("Retry-After", retryAfter(d))
		msg := "too many failed logins: retry in " + retryAfter(d) + "s"
		if strings.HasPrefix(r.URL.Path, "/api/") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			_ = json.NewEncoder(w).Encode(errorBody{msg})
			return
		}
		http.Error(w, msg, http.StatusTooManyRequests)
	})
}
