package issuesync

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"time"

	"github.com/testplanit/tpi-workers/internal/tracker"
)

// DefaultMaxClients bounds the clients a [Clients] keeps.
const DefaultMaxClients = 256

// BuildFunc makes the tracker client of a tenant's integration, decrypting
// its credentials: [Providers.Build] in production.
type BuildFunc func(ctx context.Context, tenantID string, in *Integration) (tracker.Client, error)

// Clients keeps one tracker client (with its tokens and its HTTP
// connections) per tenant, integration and, for OAuth integrations, user
// auth row: never per integration id alone, which in the original lent one
// tenant's credentials to another tenant's equal id (reference section 9,
// defect 2). An entry is rebuilt when what it was built from changes
// (provider, auth type, credentials, settings, the auth row's tokens), so
// edited credentials take effect on the next task, and the least recently
// used entry goes when there are more than Max. Safe for concurrent use.
type Clients struct {
	build BuildFunc
	// Max defaults to DefaultMaxClients.
	Max int

	mu   sync.Mutex
	m    map[clientKey]*clientEntry
	tick uint64
}

type clientKey struct {
	tenant      string
	integration int
	auth        string // the auth row's id for OAuth integrations, else ""
}

type clientEntry struct {
	version [sha256.Size]byte
	client  tracker.Client
	used    uint64
}

// NewClients returns a client cache that makes its clients with build.
func NewClients(build BuildFunc) *Clients {
	return &Clients{build: build, m: map[clientKey]*clientEntry{}}
}

// Get returns the client of the tenant's integration, building it when
// there is none yet or in's credentials or settings changed since.
func (c *Clients) Get(ctx context.Context, tenantID string, in *Integration) (tracker.Client, error) {
	key := clientKey{tenant: tenantID, integration: in.ID}
	if in.AuthType == AuthOAuth2 && in.Auth != nil {
		key.auth = in.Auth.ID
	}
	version := clientVersion(in)
	c.mu.Lock()
	c.tick++
	if e, ok := c.m[key]; ok && e.version == version {
		e.used = c.tick
		c.mu.Unlock()
		return e.client, nil
	}
	c.mu.Unlock()

	cl, err := c.build(ctx, tenantID, in)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tick++
	c.m[key] = &clientEntry{version: version, client: cl, used: c.tick}
	c.evict()
	return cl, nil
}

// Len is the number of clients kept.
func (c *Clients) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// evict drops the least recently used entries above Max. c.mu is held.
func (c *Clients) evict() {
	limit := c.Max
	if limit <= 0 {
		limit = DefaultMaxClients
	}
	for len(c.m) > limit {
		var oldest clientKey
		first := true
		var at uint64
		for k, e := range c.m {
			if first || e.used < at {
				oldest, at, first = k, e.used, false
			}
		}
		delete(c.m, oldest)
	}
}

// clientVersion hashes what a client is built from, so that any change of
// it makes a new client.
func clientVersion(in *Integration) [sha256.Size]byte {
	h := sha256.New()
	field := func(b []byte) {
		_ = binary.Write(h, binary.LittleEndian, uint64(len(b)))
		h.Write(b)
	}
	field([]byte(in.Provider))
	field([]byte(in.AuthType))
	field(in.Credentials)
	field(in.Settings)
	if in.AuthType == AuthOAuth2 && in.Auth != nil {
		field([]byte(in.Auth.ID))
		field([]byte(in.Auth.AccessToken))
		field([]byte(in.Auth.RefreshToken))
		var exp []byte
		if in.Auth.TokenExpiresAt != nil {
			exp = []byte(in.Auth.TokenExpiresAt.UTC().Format(time.RFC3339Nano))
		}
		field(exp)
		field(in.Auth.AdditionalData)
	}
	var v [sha256.Size]byte
	h.Sum(v[:0])
	return v
}
