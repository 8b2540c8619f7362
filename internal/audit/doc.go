// Package audit is internal to the tpi-workers fleet: the audit-log worker's domain. It handles
// audit-logs:audit-event with the original's rules (reference-testplanit.md section 2.7): the
// actor merged from the event and the request context, the request's details added to the
// metadata, a deleted project nulled and remembered as metadata.originalProjectId.
//
// Each task writes one "AuditLog" row whatever the retries: the row id is derived from the
// tenant and the task ID, and the insert skips an id that exists. Rows are written by a group
// commit per tenant database (commit.go): while one statement runs, the rows of the tasks that
// arrive meanwhile wait, and the next statement writes them all, so a burst costs a few
// set-based statements and an idle worker adds no delay. store.go holds the SQL.
package audit
