package issuesync

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/testplanit/tpi-workers/internal/tracker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// DefaultCacheTTL is how long a fetched issue stays in the cache: the
// original's IssueCache default (3600 s).
const DefaultCacheTTL = time.Hour

// Cache writes fetched issues where TestPlanIt's web app looks for them
// (testplanit/lib/integrations/cache/IssueCache.ts): the key
// "issue:<integrationId>:<externalId>", the provider's id, for an hour,
// holding the original's JSON (the normalized IssueData plus integrationId
// and cachedAt). In multi-tenant mode the key starts with "<tenantId>:",
// since one Valkey serves every tenant (the original's keys collide there,
// reference section 9 defect 4); a single-tenant deployment keeps the
// original's key, which its web app reads.
type Cache struct {
	rdb redis.UniversalClient
	// TTL defaults to DefaultCacheTTL.
	TTL time.Duration
	// MultiTenant prefixes the keys with the tenant.
	MultiTenant bool
}

// NewCache returns the cache kept in rdb.
func NewCache(rdb redis.UniversalClient, multiTenant bool) *Cache {
	return &Cache{rdb: rdb, MultiTenant: multiTenant}
}

// Key is the cache key of an issue: "issue:<integrationId>:<externalId>",
// with "<tenantId>:" before it in multi-tenant mode.
func (c *Cache) Key(tenantID string, integrationID int, externalID string) string {
	key := fmt.Sprintf("issue:%d:%s", integrationID, externalID)
	if c.MultiTenant {
		return task.TenantKey(tenantID, key)
	}
	return key
}

// Put caches issues, fetched at now, in one round trip.
func (c *Cache) Put(ctx context.Context, tenantID string, integrationID int, issues []*tracker.Issue, now time.Time) error {
	if c == nil || c.rdb == nil || len(issues) == 0 {
		return nil
	}
	ttl := c.TTL
	if ttl <= 0 {
		ttl = DefaultCacheTTL
	}
	pipe := c.rdb.Pipeline()
	for _, is := range issues {
		b, err := json.Marshal(cachedIssue(is, integrationID, now))
		if err != nil {
			return fmt.Errorf("issuesync: caching issue %s: %w", is.ID, err)
		}
		pipe.Set(ctx, c.Key(tenantID, integrationID, is.ID), b, ttl)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("issuesync: caching %d issues: %w", len(issues), err)
	}
	return nil
}

// CachedIssue is the JSON the original's IssueCache stores: IssueData
// (testplanit/lib/integrations/adapters/IssueAdapter.ts) spread, then
// integrationId and cachedAt; optional fields are left out when absent, as
// JSON.stringify drops undefined, and dates are JavaScript's ISO strings.
type CachedIssue struct {
	ID            string         `json:"id"`
	Key           string         `json:"key,omitempty"`
	Title         string         `json:"title"`
	Description   string         `json:"description,omitempty"`
	Status        string         `json:"status"`
	Priority      string         `json:"priority,omitempty"`
	IssueType     *CachedType    `json:"issueType,omitempty"`
	Assignee      *CachedPerson  `json:"assignee,omitempty"`
	Reporter      *CachedPerson  `json:"reporter,omitempty"`
	Labels        []string       `json:"labels"`
	CustomFields  map[string]any `json:"customFields,omitempty"`
	CreatedAt     JSDate         `json:"createdAt"`
	UpdatedAt     JSDate         `json:"updatedAt"`
	URL           string         `json:"url,omitempty"`
	IntegrationID int            `json:"integrationId"`
	CachedAt      JSDate         `json:"cachedAt"`
}

// CachedType is IssueData.issueType.
type CachedType struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	IconURL string `json:"iconUrl,omitempty"`
}

// CachedPerson is IssueData.assignee and reporter.
type CachedPerson struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
}

// JSDate encodes as JavaScript's Date.toJSON: UTC with milliseconds
// ("2026-01-02T03:04:05.678Z"), null for the zero time (an invalid Date).
type JSDate time.Time

// MarshalJSON implements json.Marshaler.
func (d JSDate) MarshalJSON() ([]byte, error) {
	t := time.Time(d)
	if t.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + t.UTC().Format("2006-01-02T15:04:05.000Z") + `"`), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (d *JSDate) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*d = JSDate{}
		return nil
	}
	var t time.Time
	if err := json.Unmarshal(b, &t); err != nil {
		return err
	}
	*d = JSDate(t)
	return nil
}

func cachedIssue(is *tracker.Issue, integrationID int, now time.Time) CachedIssue {
	c := CachedIssue{
		ID: is.ID, Key: is.Key, Title: is.Title, Description: is.Description, Status: is.Status,
		Priority: is.Priority, Labels: is.Labels, CustomFields: is.CustomFields,
		CreatedAt: JSDate(is.CreatedAt), UpdatedAt: JSDate(is.UpdatedAt), URL: is.URL,
		IntegrationID: integrationID, CachedAt: JSDate(now),
	}
	if c.Labels == nil {
		c.Labels = []string{}
	}
	if is.Type != nil {
		c.IssueType = &CachedType{ID: is.Type.ID, Name: is.Type.Name, IconURL: is.Type.IconURL}
	}
	c.Assignee, c.Reporter = cachedPerson(is.Assignee), cachedPerson(is.Reporter)
	return c
}

func cachedPerson(p *tracker.Person) *CachedPerson {
	if p == nil {
		return nil
	}
	return &CachedPerson{ID: p.ID, Name: p.Name, Email: p.Email}
}
