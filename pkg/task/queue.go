package task

import (
	"slices"
	"time"
)

// Queue names: the original BullMQ queue names.
const (
	QueueNotifications = "notifications"
	QueueEmails        = "emails"
	QueueForecast      = "forecast-updates"
	QueueIssueSync     = "issue-sync"
	QueueTestmoImports = "testmo-imports"
	QueueReindex       = "elasticsearch-reindex"
	QueueAuditLogs     = "audit-logs"
)

// QueueSpec describes one queue and the defaults of its tasks.
type QueueSpec struct {
	// Name is the asynq queue name, the original BullMQ one.
	Name string
	// ConcurrencyEnv names the variable that sets the consuming worker's
	// concurrency, e.g. "NOTIFICATION_CONCURRENCY".
	ConcurrencyEnv string
	// DefaultConcurrency applies when ConcurrencyEnv is unset.
	DefaultConcurrency int
	// BaseBackoff is the delay before the first retry; each further retry
	// doubles it (see [RetryDelay]).
	BaseBackoff time.Duration
	// MaxBackoff caps the delay between two attempts.
	MaxBackoff time.Duration
	// Retention is how long a completed task is kept (and its task ID stays
	// taken): the original removeOnComplete age.
	Retention time.Duration
}

const day = 24 * time.Hour

// Queues returns the seven queues, in the order of DESIGN.md's table:
// notifications, emails, forecast-updates, issue-sync, testmo-imports,
// elasticsearch-reindex, audit-logs. The slice is new on each call.
func Queues() []QueueSpec {
	return []QueueSpec{
		{
			Name:               QueueNotifications,
			ConcurrencyEnv:     "NOTIFICATION_CONCURRENCY",
			DefaultConcurrency: 5,
			BaseBackoff:        5 * time.Second,
			MaxBackoff:         time.Hour,
			Retention:          7 * day,
		},
		{
			Name:               QueueEmails,
			ConcurrencyEnv:     "EMAIL_CONCURRENCY",
			DefaultConcurrency: 3,
			BaseBackoff:        10 * time.Second,
			MaxBackoff:         time.Hour,
			Retention:          30 * day,
		},
		{
			Name:               QueueForecast,
			ConcurrencyEnv:     "FORECAST_CONCURRENCY",
			DefaultConcurrency: 5,
			BaseBackoff:        5 * time.Second,
			MaxBackoff:         time.Hour,
			Retention:          7 * day,
		},
		{
			Name:               QueueIssueSync,
			ConcurrencyEnv:     "SYNC_CONCURRENCY",
			DefaultConcurrency: 2,
			BaseBackoff:        5 * time.Second,
			MaxBackoff:         time.Hour,
			Retention:          3 * day,
		},
		{
			// The original makes one attempt; ours retries, resuming each
			// time from the import's last checkpoint (types.go, testmoRetries).
			Name:               QueueTestmoImports,
			ConcurrencyEnv:     "TESTMO_IMPORT_CONCURRENCY",
			DefaultConcurrency: 1,
			BaseBackoff:        10 * time.Second,
			MaxBackoff:         10 * time.Minute,
			Retention:          30 * day,
		},
		{
			Name:               QueueReindex,
			ConcurrencyEnv:     "ELASTICSEARCH_REINDEX_CONCURRENCY",
			DefaultConcurrency: 2,
			BaseBackoff:        10 * time.Second,
			MaxBackoff:         10 * time.Minute,
			Retention:          7 * day,
		},
		{
			Name:               QueueAuditLogs,
			ConcurrencyEnv:     "AUDIT_LOG_CONCURRENCY",
			DefaultConcurrency: 3,
			BaseBackoff:        5 * time.Second,
			MaxBackoff:         time.Hour,
			Retention:          365 * day,
		},
	}
}

// LookupQueue returns the queue called name.
func LookupQueue(name string) (QueueSpec, bool) {
	for _, q := range Queues() {
		if q.Name == name {
			return q, true
		}
	}
	return QueueSpec{}, false
}

// QueueOf returns the queue of a known task type. It returns false for a type
// this package does not define, even one shaped "<queue>:<job>".
func QueueOf(taskType string) (string, bool) {
	s, ok := lookupType(taskType)
	if !ok {
		return "", false
	}
	return s.queue, true
}

// Types returns every task type this package defines, sorted. The slice is new
// on each call.
func Types() []string {
	specs := typeSpecs()
	types := make([]string, len(specs))
	for i, s := range specs {
		types[i] = s.name
	}
	slices.Sort(types)
	return types
}
