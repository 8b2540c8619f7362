// Package notify is internal to the tpi-workers fleet: the notification worker's domain. It
// handles notifications:create-notification (the original's preference semantics, one
// "Notification" row per task whatever the retries, the immediate email enqueued once) and
// notifications:send-daily-digest (a sweep, safe to run any number of times, that plans one
// digest per user and user-local day at the digest time in the user's own time zone, in
// set-based batches, and enqueues the emails).
package notify
