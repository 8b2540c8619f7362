// Package testmoimport is the Testmo import worker's domain: the testmo-imports queue's
// analyze and import modes on TestPlanIt's "TestmoImportJob" lifecycle, so the web app's
// import panel works unchanged. It is internal to the tpi-workers fleet.
//
// Analyze (analyze.go) streams the export from S3 ([Exports]) through the internal/testmo
// decoder into one PostgreSQL COPY of "TestmoImportStaging", in one transaction with the
// dataset summaries ("TestmoImportDataset"): bad input, a crash or a cancel leaves nothing
// staged, and a re-analysis replaces the staging instead of adding to it.
//
// Import (import.go, importer.go, phases*.go) replays the staged rows phase by phase in the
// original's order. A data phase reads its dataset in chunks of rowIndex order (keyset
// pagination, never a whole dataset in memory); each chunk is one transaction holding the
// target rows (COPY, ids reserved from their sequences), their "TestmoImportMapping" id-map
// rows and the phase's checkpoint (worker.testmo_import_checkpoint). So a chunk is written
// exactly once whatever crashes, SIGKILLs or redeliveries happen, and an interrupted import
// resumes after its last committed chunk. cancelRequested is read before every chunk.
//
// A row that cannot be imported (a value of the wrong kind, a reference to a parent that is
// not in the export) fails the job naming its dataset and row; the decoder's errors name the
// byte offset. Both are permanent: the job ends FAILED, the task is archived. Other errors
// leave the job RUNNING and the task is retried, resuming at the checkpoint.
package testmoimport
