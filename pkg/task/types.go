package task

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// Task types: "<queue>:<job>", with the original BullMQ job names. Each
// comment names the payload.
const (
	// TypeCreateNotification takes a CreateNotification.
	TypeCreateNotification = "notifications:create-notification"
	// TypeSendDailyDigest takes a SendDailyDigest (scheduled).
	TypeSendDailyDigest = "notifications:send-daily-digest"
	// TypeSendNotificationEmail takes a SendNotificationEmail.
	TypeSendNotificationEmail = "emails:send-notification-email"
	// TypeSendDigestEmail takes a SendDigestEmail.
	TypeSendDigestEmail = "emails:send-digest-email"

	// TypeUpdateSingleCaseForecast takes an UpdateSingleCaseForecast.
	TypeUpdateSingleCaseForecast = "forecast-updates:update-single-case-forecast"
	// TypeUpdateAllCasesForecast takes an UpdateAllCasesForecast (scheduled).
	TypeUpdateAllCasesForecast = "forecast-updates:update-all-cases-forecast"
	// TypeAutoCompleteMilestones takes an AutoCompleteMilestones (scheduled).
	TypeAutoCompleteMilestones = "forecast-updates:auto-complete-milestones"
	// TypeMilestoneDueNotifications takes a MilestoneDueNotifications
	// (scheduled).
	TypeMilestoneDueNotifications = "forecast-updates:milestone-due-notifications"

	// TypeSyncIssues takes a SyncJob.
	TypeSyncIssues = "issue-sync:sync-issues"
	// TypeSyncProjectIssues takes a SyncJob with a ProjectID.
	TypeSyncProjectIssues = "issue-sync:sync-project-issues"
	// TypeRefreshIssue takes a SyncJob with an IssueID.
	TypeRefreshIssue = "issue-sync:refresh-issue"

	// TypeProcessTestmoImport takes a ProcessTestmoImport.
	TypeProcessTestmoImport = "testmo-imports:process-testmo-import"

	// TypeReindex takes a Reindex.
	TypeReindex = "elasticsearch-reindex:reindex"

	// TypeAuditEvent takes an AuditLog.
	TypeAuditEvent = "audit-logs:audit-event"
)

// ErrUnknownType is wrapped by the error [New] and [DefaultOptions] return for
// a task type this package does not define.
var ErrUnknownType = errors.New("unknown task type")

// typeSpec is the contract of one task type.
type typeSpec struct {
	name     string
	queue    string
	maxRetry int           // the original attempts minus one
	timeout  time.Duration // per attempt
	// decode unmarshals and validates a payload; the Payload is a pointer.
	decode func(taskType string, b []byte) (Payload, error)
	// accepts reports whether p (a value or a non-nil pointer) is of the
	// type's payload type.
	accepts func(p Payload) bool
	// payloadName is the Go type of the payload, for messages.
	payloadName string
}

func defineType[P any, PP interface {
	*P
	Payload
}](name, queue string, maxRetry int, timeout time.Duration) typeSpec {
	return typeSpec{
		name:     name,
		queue:    queue,
		maxRetry: maxRetry,
		timeout:  timeout,
		decode: func(taskType string, b []byte) (Payload, error) {
			p := PP(new(P))
			if err := decodeInto(taskType, b, p); err != nil {
				return nil, err
			}
			return p, nil
		},
		accepts: func(p Payload) bool {
			switch v := any(p).(type) {
			case P:
				return true
			case PP:
				return v != nil
			}
			return false
		},
		payloadName: fmt.Sprintf("%T", *new(P)),
	}
}

// typeSpecs returns every task type's contract, in DESIGN.md's order. Retries are
// the original attempts minus one; timeouts are explicit, because asynq's
// default of 30 minutes would kill imports, bulk syncs and reindexes.
// retriesHours is the failure retries of the queues that retry: with their
// queue's backoff (base 5 or 10 s, doubling, capped at an hour) the
// attempts of a task that keeps failing on its own spread over hours (about
// 2.5 to 3.5 h nominal, half to all of it with jitter; the README has the
// table). The original made 3 to 5 attempts within seconds. A dependency's
// outage spends none of them (the runtime's dependency gate).
const retriesHours = 11

// testmoRetries are an import's retries after a failure that is not the input's (an S3 or
// database hiccup): each one resumes from the import's last checkpoint, never repeating a
// committed row, so retrying is safe where the original's single attempt was not. Bad input
// is archived at once.
const testmoRetries = 5

func typeSpecs() []typeSpec {
	return []typeSpec{
		defineType[CreateNotification](TypeCreateNotification, QueueNotifications, retriesHours, time.Minute),
		defineType[SendDailyDigest](TypeSendDailyDigest, QueueNotifications, retriesHours, 30*time.Minute),
		defineType[SendNotificationEmail](TypeSendNotificationEmail, QueueEmails, retriesHours, 2*time.Minute),
		defineType[SendDigestEmail](TypeSendDigestEmail, QueueEmails, retriesHours, 2*time.Minute),
		defineType[UpdateSingleCaseForecast](TypeUpdateSingleCaseForecast, QueueForecast, retriesHours, 5*time.Minute),
		defineType[UpdateAllCasesForecast](TypeUpdateAllCasesForecast, QueueForecast, retriesHours, 2*time.Hour),
		defineType[AutoCompleteMilestones](TypeAutoCompleteMilestones, QueueForecast, retriesHours, 15*time.Minute),
		defineType[MilestoneDueNotifications](TypeMilestoneDueNotifications, QueueForecast, retriesHours, 15*time.Minute),
		defineType[SyncJob](TypeSyncIssues, QueueIssueSync, retriesHours, 6*time.Hour),
		defineType[SyncJob](TypeSyncProjectIssues, QueueIssueSync, retriesHours, 6*time.Hour),
		defineType[SyncJob](TypeRefreshIssue, QueueIssueSync, retriesHours, 5*time.Minute),
		defineType[ProcessTestmoImport](TypeProcessTestmoImport, QueueTestmoImports, testmoRetries, 12*time.Hour),
		defineType[Reindex](TypeReindex, QueueReindex, 0, 6*time.Hour),
		defineType[AuditLog](TypeAuditEvent, QueueAuditLogs, 2, time.Minute),
	}
}

func lookupType(taskType string) (typeSpec, bool) {
	for _, s := range typeSpecs() {
		if s.name == taskType {
			return s, true
		}
	}
	return typeSpec{}, false
}

// Options are the options a task gets by default; [Options.AsynqOptions]
// turns them into asynq's.
type Options struct {
	// Queue is the task type's queue.
	Queue string
	// MaxRetry is the number of retries after the first attempt: the
	// original BullMQ attempts minus one.
	MaxRetry int
	// Timeout bounds one attempt.
	Timeout time.Duration
	// Retention is how long the completed task is kept: the queue's.
	Retention time.Duration
	// TaskID is the deterministic task ID of a payload whose duplicates would
	// be harmful, or "" to let asynq pick a random one. Enqueuing a second
	// task with the same ID fails with asynq.ErrTaskIDConflict, which a
	// producer treats as success; the ID stays taken while the task is
	// pending, retrying, archived or retained after completion.
	TaskID string
}

// RateLimitReserve is the retry that asynq's MaxRetry holds beyond a task's
// failure budget. asynq archives a task whose retry count has reached
// MaxRetry whatever the error, even one that its IsFailure function says is
// not a failure; a rate-limited attempt does not raise the retry count, so
// one reserved retry is enough for "wait and try again" to be possible at
// every attempt, including the last one and on queues without retries. The
// fleet's runtime archives a failure once the failure budget (MaxRetry minus
// the reserve) is spent, so the reserve is never used by failures.
const RateLimitReserve = 1

// MaxRetry returns the asynq option for a task allowed n retries after
// failures: asynq.MaxRetry(n + [RateLimitReserve]). Use it instead of
// asynq.MaxRetry for tasks the fleet runs.
func MaxRetry(n int) asynq.Option { return asynq.MaxRetry(n + RateLimitReserve) }

// FailureRetries is the failure budget of a task whose asynq MaxRetry is
// maxRetry: the inverse of [MaxRetry], never negative.
func FailureRetries(maxRetry int) int { return max(maxRetry-RateLimitReserve, 0) }

// AsynqOptions returns o as asynq options: Queue, MaxRetry (through
// [MaxRetry], with the rate-limit reserve), Timeout,
// Retention, then TaskID when set.
func (o Options) AsynqOptions() []asynq.Option {
	opts := []asynq.Option{
		asynq.Queue(o.Queue),
		MaxRetry(o.MaxRetry),
		asynq.Timeout(o.Timeout),
		asynq.Retention(o.Retention),
	}
	if o.TaskID != "" {
		opts = append(opts, asynq.TaskID(o.TaskID))
	}
	return opts
}

// DefaultOptions returns the default options of a task of type taskType whose
// payload is p, a value or pointer of the type's payload struct. With p nil it
// returns the type's defaults without a TaskID. Deterministic task IDs are
// documented on each payload's TaskID method; they are prefixed with
// "<tenantId>:" when the payload carries a tenant.
//
// It fails with an error wrapping [ErrUnknownType] for an unknown type, and
// with an error for a payload of another type. It does not validate p.
func DefaultOptions(taskType string, p Payload) (Options, error) {
	s, ok := lookupType(taskType)
	if !ok {
		return Options{}, fmt.Errorf("%w %q", ErrUnknownType, taskType)
	}
	q, ok := LookupQueue(s.queue)
	if !ok {
		return Options{}, fmt.Errorf("task: type %s names unknown queue %q", taskType, s.queue)
	}
	o := Options{Queue: s.queue, MaxRetry: s.maxRetry, Timeout: s.timeout, Retention: q.Retention}
	if p == nil {
		return o, nil
	}
	if !s.accepts(p) {
		return Options{}, fmt.Errorf("task: %s takes a %s payload, not %T", taskType, s.payloadName, p)
	}
	if ider, ok := p.(interface{ TaskID() string }); ok {
		o.TaskID = ider.TaskID()
	}
	return o, nil
}

// New builds a task of type taskType from raw JSON, for producers that hold
// JSON rather than a payload struct (the operator CLI, the HTTP enqueue API).
// The payload is decoded and validated as [Decode] does, and kept as given (an
// empty payload becomes {}). The task carries the type's [DefaultOptions],
// then extra, which override them.
//
// An unknown type gives an error wrapping [ErrUnknownType]; an invalid payload
// a [*PayloadError] (wrapping [ErrInvalidPayload]).
func New(taskType string, payload []byte, extra ...asynq.Option) (*asynq.Task, error) {
	s, ok := lookupType(taskType)
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownType, taskType)
	}
	p, err := s.decode(taskType, payload)
	if err != nil {
		return nil, err
	}
	o, err := DefaultOptions(taskType, p)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(payload)) == 0 {
		payload = []byte("{}")
	} else {
		payload = bytes.Clone(payload)
	}
	return asynq.NewTask(taskType, payload, append(o.AsynqOptions(), extra...)...), nil
}

// build validates p, encodes it and returns the task with its default options
// followed by opts. Typed constructors call it.
func build(taskType string, p Payload, opts []asynq.Option) (*asynq.Task, error) {
	if err := validate(taskType, p); err != nil {
		return nil, err
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, &PayloadError{Type: taskType, Problem: "cannot encode: " + err.Error(), Err: err}
	}
	o, err := DefaultOptions(taskType, p)
	if err != nil {
		return nil, err
	}
	return asynq.NewTask(taskType, b, append(o.AsynqOptions(), opts...)...), nil
}

// TenantKey prefixes key with "<tenantID>:" when a tenant is set, so that two
// tenants sharing the queues and ledgers never collide on a key (task IDs,
// idempotency ledger keys).
func TenantKey(tenantID, key string) string {
	if tenantID == "" {
		return key
	}
	return tenantID + ":" + key
}

// withTenant is [TenantKey] for this package's deterministic task IDs.
func withTenant(tenantID, id string) string { return TenantKey(tenantID, id) }
