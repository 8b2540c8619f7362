// Package forecast is the forecast-updates worker's domain: test-case and
// test-run forecasts, milestone auto-completion and milestone due reminders.
// It is internal to the fleet; producers enqueue its tasks through pkg/task.
//
// Forecasts are computed with one set-based algorithm ([Forecaster]) instead
// of the original's queries per case:
//
//  1. link groups are the connected components of the non-deleted
//     SAME_TEST_DIFFERENT_SOURCE links between non-deleted cases (transitive,
//     where the original took one hop), found by a union-find over one read
//     of the links for the nightly job and by a recursive CTE for a single
//     case;
//  2. each group's manual forecast is the rounded mean of its MANUAL members'
//     non-deleted result "elapsed" > 0, its automated forecast the mean of its
//     automated members' "JUnitTestResult".time > 0 rounded to 3 decimals,
//     both NULL without samples;
//  3. cases are written in keyset batches, one transaction each, and only
//     where a value changed (IS DISTINCT FROM);
//  4. a run's forecast is the sum over its pending cases (no status, or the
//     status whose "systemName" is untested, compared case-insensitively),
//     NULL when nothing is pending, written in the same kind of batches.
//
// Milestone reminders are idempotent per milestone, user and day: a row in
// worker.ledger and a deterministic task ID, both keyed by tenant, guard
// every enqueue. The milestone SQL lives in [Store], which [Milestones]
// uses through [MilestoneStore].
//
// [Handler] runs each task on its tenant (worker.TenantFrom): it builds a
// [Forecaster] or [Milestones] on that tenant's database for the task, and
// the reminders it enqueues carry that tenant.
package forecast
