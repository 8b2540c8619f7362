// Package schedule runs TestPlanIt's periodic jobs (nightly forecast,
// milestone auto-completion and reminders, the digest sweep) on asynq's
// PeriodicTaskManager. It is internal to the fleet.
//
// Each occurrence of an entry is enqueued once per tenant (the [Provider]'s
// Tenants, re-read at every sync), with {"tenantId": "<tenant>"} as payload
// and a deterministic task ID, "<tenant>:schedule:<entry>:<occurrence time,
// UTC, RFC 3339>" ("schedule:<entry>:<time>" without a tenant), so that two
// schedulers running at once for availability enqueue it once: the second
// enqueue fails with asynq.ErrTaskIDConflict, which counts as success.
//
// asynq's Scheduler enqueues a registered entry with the options it was
// registered with, so a per-occurrence ID cannot be attached at enqueue time.
// The [Provider] therefore returns, for each entry and tenant, the task ID
// of the upcoming occurrence; after each occurrence the manager's next sync
// sees a changed config and re-registers the entry with the following
// occurrence's ID. Grace and SyncInterval are chosen so that this always
// happens between two occurrences (see [Timing]); a tick that comes late
// keeps its occurrence's ID until it fires, up to half the interval to the
// next occurrence.
package schedule
