// Package worker is the runtime shared by every binary of the fleet; it is
// internal to the fleet and not meant for producers (they import pkg/task).
//
// It turns a handful of lines in a main package into a well-behaved asynq
// worker process:
//
//   - configuration read from the environment and validated up front
//     ([LoadConfig], over internal/config): a missing or malformed variable
//     stops the process with one line naming it;
//   - our own VALKEY_URL parsing ([ParseValkeyURL]) for valkey://, redis://,
//     rediss://, Sentinel and Cluster URLs, with usernames and DB indexes kept;
//   - typed handlers ([Handle]) that get their payload decoded and their
//     tenant resolved ([TenantFrom]: the tenant's database, base URL and
//     Elasticsearch settings, from internal/tenant);
//   - the dependency gate: a failure whose dependency is down spends no
//     attempt, and fetching stops until it is back ([Dependency]);
//   - parallel fetch loops sharing the concurrency (FETCH_LOOPS);
//   - structured logs with log/slog, every task line tagged with service,
//     queue, type, task ID and retry count ([LoggerFrom]);
//   - middleware recording Prometheus metrics on an injected registry;
//   - one lifecycle for every process ([Runner]): /healthz, /readyz and
//     /metrics, SIGTERM drains, SIGTSTP stops fetching, readiness turns
//     503 first;
//   - a memory guard (MAX_MEMORY_RESTART) that drains and exits non-zero so
//     that the supervisor restarts the process;
//   - error classification ([Permanent], [RateLimited]) and a throttled
//     progress writer over asynq's ResultWriter ([Progress]).
package worker
