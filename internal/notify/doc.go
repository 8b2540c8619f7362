// Package notify is internal to the tpi-workers fleet: the notification worker's domain. It
// handles notifications:create-notification (the original's preference semantics, one
// "Notification" row per task whatever the retries, the immediate email enqueued once) and
// notifications:send-daily-digest (a sweep, safe to run any number of times, that plans one
// digest per user and user-local day at the digest time in the user's own time zone, in
// set-based batches, and enqueues the emails).
//
// Every task works on its tenant's database ([worker.TenantFrom]) through the small store
// interfaces its handler declares (store.go holds the SQL), and every email task it enqueues
// carries that tenant.
package notify
