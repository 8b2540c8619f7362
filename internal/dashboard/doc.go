// Package dashboard serves the fleet's Admin > Job Queues view (asynqmon,
// mounted under a path), the enqueue API for producers such as the Next.js
// app, and asynq's queue metrics, behind authentication that cannot be
// forgotten. It is internal to the fleet.
//
// Roles: an admin (basic auth with a bcrypt hash, or a bearer token) may do
// everything in the dashboard; a viewer sees the same pages read-only; a
// producer (its own bearer token) may only call POST /api/v1/tasks.
package dashboard
