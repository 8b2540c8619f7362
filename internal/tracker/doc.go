// Package tracker is what the sync worker knows about issue trackers: the
// issue as TestPlanIt stores it ([Issue], reference section 7.2), the one
// interface each provider implements ([Client]), the errors that decide what
// happens to an issue and to the task ([ErrUnauthorized], [ErrNotFound],
// [StatusError], [RateLimitError]), and the HTTP round trip every provider
// shares ([HTTP]): one rate budget per integration, 429 and 5xx retried with
// backoff that honours Retry-After and the providers' rate-limit headers.
//
// The providers live in the sub-packages jira, github, azure and linear;
// each is a small client that turns the provider's documented API into
// [Issue] values, fetching in batches where the API allows it.
package tracker
