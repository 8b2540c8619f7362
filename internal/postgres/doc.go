// Package postgres is internal to the tpi-workers fleet: it is the PostgreSQL adapter.
//
// It opens connection pools ([Open]), applies the fleet's SQL migrations ([Migrate]), seeds a
// demo data set ([Seed]) and generates the client-side ids that Prisma would have generated
// ([NewCUID], [NewUUID]).
//
// Two migration sets are embedded, each with its own goose version table:
//
//   - testplanit: the subset of TestPlanIt's Prisma schema that the workers read and write,
//     with the original quoted names ("Notification", "RepositoryCases", ...), enums and types,
//     for development, tests and demos. As in TestPlanIt's real database, @default(cuid()),
//     @default(uuid()) and @updatedAt columns have no database default: every insert supplies
//     its own id and "updatedAt". Versions are recorded in worker.testplanit_subset_version,
//     never in public nor in Prisma's _prisma_migrations.
//   - worker: the fleet's own schema `worker` (idempotency ledgers, checkpoints, ...), with its
//     version table worker.goose_db_version. It is the only set applied to a database that
//     TestPlanIt already owns: [MigrateAuto], the default, detects such a database (Prisma's
//     tables in public, no subset migration recorded) and applies only this set there;
//     [MigrateWorkerOnly] says so explicitly.
package postgres
