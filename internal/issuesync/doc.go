// Package issuesync is the issue-sync worker's domain: it refreshes
// TestPlanIt's "Issue" rows from the issue trackers they came from (Jira,
// GitHub, Azure DevOps, Linear). It is internal to the fleet; producers
// enqueue its tasks through pkg/task (issue-sync:sync-issues,
// issue-sync:sync-project-issues, issue-sync:refresh-issue).
//
// What it does better than the original (reference section 7, DESIGN
// section 4):
//
//   - A bulk sync reads the local issues by keyset pages on id (the original
//     used skip/take without ORDER BY) and fetches them in the provider
//     client's batches (one JQL search, GraphQL query or work-items batch per
//     50 to 200 issues, where the original made one request per issue).
//   - Every issue is written as the original's updateExistingIssue writes it
//     ([Store.UpdateIssues]), one statement per batch; "Integration".
//     "lastSyncAt" is set after a bulk sync (the original never set it).
//   - An issue that fails alone (deleted at the provider, a 4xx, a row
//     conflict) is counted and listed in the task's result and progress; a
//     failure of the integration itself (credentials refused, provider
//     unreachable) fails the task, which is retried and shows as failed
//     (the original swallowed every error). A rate limit beyond what the
//     HTTP layer waits out becomes [worker.RateLimited]: the task comes
//     back after the provider's delay without spending an attempt.
//   - One rate budget per tenant and integration ([Budgets]), kept in Valkey
//     with a GCRA limiter, paces every request of every sync-worker process.
//   - Credentials are decrypted from TestPlanIt's own format
//     (internal/encryption), and refreshed Jira OAuth tokens are written back
//     encrypted the same way ([Providers]). The clients, with their tokens,
//     are kept per tenant and integration ([Clients]), never per integration
//     id alone, and rebuilt when the row they were made from changes.
//   - Fetched issues go into the web app's cache ([Cache]) under the
//     original's key and TTL, tenant-prefixed in multi-tenant mode; after a
//     sync, one deduplicated issues reindex per project written carries the
//     task's tenant (the original indexed without tenant).
//
// [Handler] serves the three task types on the task's tenant database
// ([worker.TenantFrom]); its SQL lives in [Store].
package issuesync
