// Package email is internal to the tpi-workers fleet: the email worker's domain. It renders
// TestPlanIt's notification and daily-digest emails (HTML and plain text, en-US, es-ES and
// fr-FR, from embedded templates and translations, with the original's subjects, texts and deep
// links under the tenant's web app URL) and handles the emails:send-notification-email and
// emails:send-digest-email tasks: load from the tenant's PostgreSQL database (store.go), render,
// send through a [Sender], and record each delivery in the worker.email_deliveries ledger, under
// a tenant-prefixed key, so that a retried task never sends twice.
package email
