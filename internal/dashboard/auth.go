package dashboard

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Role is what an authenticated caller may do.
type Role int

// The roles.
const (
	RoleNone     Role = iota // not authenticated
	RoleViewer               // the dashboard, read-only; /metrics
	RoleAdmin                // the dashboard with its actions; /metrics
	RoleProducer             // POST /api/v1/tasks only
)

func (r Role) String() string {
	return [...]string{"none", "viewer", "admin", "producer"}[r]
}

// Credentials are the secrets, each stored hashed. Passwords are chosen by
// people, so they are bcrypt hashes (slow to guess if the environment
// leaks); tokens are long random strings, so a SHA-256 hex digest is enough
// and keeps each API call cheap (bcrypt costs tens of milliseconds per
// check).
type Credentials struct {
	// AdminUser and AdminPasswordHash (bcrypt) allow basic auth as admin.
	// DASHBOARD_USER, DASHBOARD_PASSWORD_HASH.
	AdminUser, AdminPasswordHash string
	// AdminTokenHash (SHA-256 hex) allows "Authorization: Bearer" as admin.
	// DASHBOARD_TOKEN_HASH.
	AdminTokenHash string
	// ViewerUser and ViewerPasswordHash allow basic auth as a viewer.
	// DASHBOARD_VIEWER_USER, DASHBOARD_VIEWER_PASSWORD_HASH.
	ViewerUser, ViewerPasswordHash string
	// ViewerTokenHash allows a bearer token as a viewer (for Prometheus,
	// say). DASHBOARD_VIEWER_TOKEN_HASH.
	ViewerTokenHash string
	// ProducerTokenHash allows the enqueue API. DASHBOARD_PRODUCER_TOKEN_HASH.
	ProducerTokenHash string
}

// HashToken returns the value to put in a *_TOKEN_HASH variable for token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// minBcryptCost is the lowest bcrypt cost a *_PASSWORD_HASH may have.
const minBcryptCost = bcrypt.DefaultCost

// HashPassword returns the bcrypt hash to put in a *_PASSWORD_HASH variable.
func HashPassword(password string) (string, error) {
	b, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	return string(b), err
}

// validate checks the hashes' shapes, so a pasted plain password is refused
// at start rather than never matching.
func (c Credentials) validate() error {
	pairs := []struct{ user, hash, userVar, hashVar string }{
		{c.AdminUser, c.AdminPasswordHash, "DASHBOARD_USER", "DASHBOARD_PASSWORD_HASH"},
		{c.ViewerUser, c.ViewerPasswordHash, "DASHBOARD_VIEWER_USER", "DASHBOARD_VIEWER_PASSWORD_HASH"},
	}
	for _, p := range pairs {
		switch {
		case p.user == "" && p.hash == "":
		case p.user == "":
			return fmt.Errorf("config: %s: required with %s", p.userVar, p.hashVar)
		case p.hash == "":
			return fmt.Errorf("config: %s: required with %s (a bcrypt hash: tpictl hash-password)", p.hashVar, p.userVar)
		default:
			cost, err := bcrypt.Cost([]byte(p.hash))
			if err != nil {
				return fmt.Errorf("config: %s: not a bcrypt hash (make one with tpictl hash-password; in docker-compose.yml write each $ as $$)", p.hashVar)
			}
			if cost < minBcryptCost {
				return fmt.Errorf("config: %s: bcrypt cost %d is below the minimum of %d: too cheap to guess against if it leaks (make a new hash with tpictl hash-password)", p.hashVar, cost, minBcryptCost)
			}
		}
	}
	if c.AdminUser != "" && c.AdminUser == c.ViewerUser {
		return errors.New("config: DASHBOARD_VIEWER_USER: must differ from DASHBOARD_USER")
	}
	tokens := []struct{ hash, name string }{
		{c.AdminTokenHash, "DASHBOARD_TOKEN_HASH"},
		{c.ViewerTokenHash, "DASHBOARD_VIEWER_TOKEN_HASH"},
		{c.ProducerTokenHash, "DASHBOARD_PRODUCER_TOKEN_HASH"},
	}
	seen := map[string]string{}
	for _, t := range tokens {
		if t.hash == "" {
			continue
		}
		if _, err := parseTokenHash(t.hash); err != nil {
			return fmt.Errorf("config: %s: %v (make one with tpictl new-token)", t.name, err)
		}
		if other, dup := seen[strings.ToLower(t.hash)]; dup {
			return fmt.Errorf("config: %s: the same token as %s; each role needs its own", t.name, other)
		}
		seen[strings.ToLower(t.hash)] = t.name
	}
	return nil
}

func (c Credentials) hasAdmin() bool { return c.AdminUser != "" || c.AdminTokenHash != "" }

func parseTokenHash(s string) ([]byte, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "sha256:")
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != sha256.Size {
		return nil, errors.New("not a SHA-256 hex digest (64 hex digits)")
	}
	return b, nil
}

// authenticator checks requests against the credentials.
type authenticator struct {
	creds Credentials
	open  bool // DASHBOARD_INSECURE_OPEN on loopback: everyone is admin and producer

	tokens []tokenRole
	// verified caches successful bcrypt checks, keyed by a SHA-256 of the
	// user and password: the dashboard's UI makes several requests a second
	// and bcrypt would cost tens of milliseconds each. Only successes are
	// stored, so its size is bounded by the number of real credentials.
	mu       sync.Mutex
	verified map[[sha256.Size]byte]Role
	// bcryptSlots bounds the concurrent bcrypt checks, so a flood of wrong
	// passwords (each costs tens of milliseconds of CPU) queues instead of
	// taking every core.
	bcryptSlots chan struct{}
	// compare is bcrypt.CompareHashAndPassword (a test counts its calls).
	compare func(hash, password []byte) error
	// throttle, if set, refuses logins from clients that failed too often
	// (see LoginLimit); trusted are the proxies whose X-Forwarded-For names
	// the client.
	throttle *loginThrottle
	trusted  []netip.Prefix
}

type tokenRole struct {
	hash []byte
	role Role
}

// dummyHash equalizes the time of a basic-auth attempt for an unknown user.
const dummyHash = "$2a$10$u70aivWPrRsJCGjLaGaex.N07LmciaHNxekhfT14WYh9qz4glcFwq"

func newAuthenticator(c Credentials, open bool) *authenticator {
	a := &authenticator{creds: c, open: open, verified: map[[sha256.Size]byte]Role{}, bcryptSlots: make(chan struct{}, 2),
		compare: bcrypt.CompareHashAndPassword}
	for _, t := range []struct {
		hash string
		role Role
	}{{c.AdminTokenHash, RoleAdmin}, {c.ViewerTokenHash, RoleViewer}, {c.ProducerTokenHash, RoleProducer}} {
		if t.hash != "" {
			b, _ := parseTokenHash(t.hash)
			a.tokens = append(a.tokens, tokenRole{b, t.role})
		}
	}
	return a
}

// role returns the role the request's credentials grant, RoleNone if they
// are missing or wrong.
func (a *authenticator) role(r *http.Request) Role {
	h := r.Header.Get("Authorization")
	scheme, rest, _ := strings.Cut(h, " ")
	switch strings.ToLower(scheme) {
	case "bearer":
		sum := sha256.Sum256([]byte(strings.TrimSpace(rest)))
		role := RoleNone
		for _, t := range a.tokens {
			if subtle.ConstantTimeCompare(sum[:], t.hash) == 1 {
				role = t.role
			}
		}
		return role
	case "basic":
		user, pass, ok := r.BasicAuth()
		if !ok {
			return RoleNone
		}
		return a.basic(a.client(r), user, pass)
	}
	return RoleNone
}

// client names the client of r for the throttle.
func (a *authenticator) client(r *http.Request) string { return clientIP(r, a.trusted) }

// throttled returns how long the client of r must wait before its
// basic-auth password is checked; 0 when it need not (no basic auth, a
// cached login, open mode, no throttle).
func (a *authenticator) throttled(r *http.Request) time.Duration {
	if a.open || a.throttle == nil {
		return 0
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return 0
	}
	if _, ok := a.cached(user, pass); ok {
		return 0
	}
	return a.throttle.wait(a.client(r), user)
}

func (a *authenticator) cached(user, pass string) (Role, bool) {
	key := sha256.Sum256([]byte(user + "\x00" + pass))
	a.mu.Lock()
	defer a.mu.Unlock()
	role, ok := a.verified[key]
	return role, ok
}

// basic checks a basic-auth login of client. A throttled client is refused
// without running bcrypt; a failure counts against client and user.
func (a *authenticator) basic(client, user, pass string) Role {
	if role, ok := a.cached(user, pass); ok {
		return role
	}
	if a.throttle != nil && a.throttle.wait(client, user) > 0 {
		return RoleNone
	}
	hash, role := []byte(dummyHash), RoleNone
	if a.creds.AdminUser != "" && subtle.ConstantTimeCompare([]byte(user), []byte(a.creds.AdminUser)) == 1 {
		hash, role = []byte(a.creds.AdminPasswordHash), RoleAdmin
	} else if a.creds.ViewerUser != "" && subtle.ConstantTimeCompare([]byte(user), []byte(a.creds.ViewerUser)) == 1 {
		hash, role = []byte(a.creds.ViewerPasswordHash), RoleViewer
	}
	a.bcryptSlots <- struct{}{}
	err := a.compare(hash, []byte(pass))
	<-a.bcryptSlots
	if err != nil || role == RoleNone {
		if a.throttle != nil {
			a.throttle.failed(client, user)
		}
		return RoleNone
	}
	key := sha256.Sum256([]byte(user + "\x00" + pass))
	a.mu.Lock()
	a.verified[key] = role
	a.mu.Unlock()
	return role
}

// IsLoopback reports whether addr (host:port) binds to loopback only. An
// empty host (":8080") binds every interface.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
