// Package task is the contract between TestPlanIt's job producers and its
// worker fleet: the one package of this module meant to be imported by others.
//
// It names every queue and task type, defines each type's JSON payload
// (the field names of the original BullMQ jobs, so a producer that used to
// call queue.add(name, data) sends the same JSON), validates payloads, and
// builds [*asynq.Task] values carrying each type's default options: queue,
// retries, timeout, retention and, where a duplicate would be harmful, a
// deterministic task ID.
//
// A producer builds a task with a typed constructor such as
// [NewSendNotificationEmail], or with [New] from raw JSON (the operator CLI and
// the dashboard's enqueue API), and enqueues it with an [asynq.Client]. For a
// task with a deterministic ID, [asynq.ErrTaskIDConflict] on enqueue means the
// task already exists: treat it as success.
//
// A worker decodes a payload with [Decode], which fails with an error that
// wraps both [ErrInvalidPayload] and [asynq.SkipRetry], so a bad payload is
// archived at once with a message naming the task type and the field, instead
// of being retried. Servers use [RetryDelay] as their RetryDelayFunc.
//
// The package imports only the standard library and asynq.
package task
