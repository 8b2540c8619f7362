// Package testmo reads Testmo exports as a stream, for the Testmo import worker (analyze
// stages every row with COPY; import replays the staged rows). It is internal to the
// tpi-workers fleet.
//
// # Format
//
// An export is one JSON object whose keys are dataset names ("users", "repository_cases",
// "run_results", …). Accepted, as TestPlanIt's analyzer accepts them:
//
//   - the datasets at the top level, or wrapped in a container key "datasets" or
//     "entities" (both may be used; a container holds datasets only);
//   - top-level keys "meta" and "summary" are skipped, whatever they hold;
//   - each dataset is an object with an optional schema under "schema", "columns" or
//     "fields" (any JSON value, passed raw as Dataset.Schema) and its rows in an array under
//     "data", "rows", "records" or "items" (several such arrays continue the numbering);
//     other keys are skipped;
//   - a dataset literally named "fields" is a dataset like any other at the top level or
//     in a container, and its own "fields" key is its schema (the original also assembles
//     the whole dataset in memory as its schema; we do not);
//   - each row is an object; its values are normally scalars (HTML rich text is a string).
//     Nested objects and arrays are accepted and passed as raw JSON (Kind Object or Array),
//     within MaxDepth and MaxValueBytes: the original stores rows as jsonb whatever they
//     hold, and refusing them would fail exports the original imports;
//   - datasets whose name contains "attachment" (any case) are counted, each row checked to
//     be an object, and not passed row by row: the visitor sees BeginDataset and EndDataset
//     with Dataset.Rows and Dataset.Attachment set;
//   - the snapshot rule: rows of "repositories" whose is_snapshot is 1, true, or a string
//     holding 1 or containing "true" are skipped; the other repositories' ids are
//     remembered as master repositories; rows of every "repository_*" dataset except
//     "repository_case_tags" whose repo_id is an integer that is not a master repository
//     are skipped, once at least one master is known (so "repositories" must come first,
//     as in Testmo's exports). Skipped rows are counted in Dataset.Skipped and go to
//     SnapshotVisitor.SnapshotRow if the visitor has it. Decoder.KeepSnapshotRows turns
//     the rule off;
//   - top-level keys (outside a container) holding a scalar are ignored and listed in
//     Summary.IgnoredKeys, as the original ignores them.
//
// Our extension, which the original's current analyzer declares but does not handle: the
// top level (or a container's value) may be an array of {"name": …, "schema": …, "rows": […]}
// entries ("dataset" for "name", the same schema and row keys); the name must come before
// the rows.
//
// # Decoding
//
// Decode reads with the streaming tokenizer of github.com/go-json-experiment/json/jsontext
// (the Go team's encoding/json/v2 work): memory does not grow with the export, only with
// the largest single row. Each row's values are kept as their raw JSON text (validated,
// never re-encoded), so Row.AppendJSON gives a jsonb-ready object and Value.AppendText a
// text column value. A Row and its Values are valid only during the Visitor.Row call.
// Column names are interned: a row costs no allocation once its columns have been seen.
//
// # Limits
//
// Limits bound what an export may make the decoder hold: MaxDepth (64 levels from the top
// object), MaxValueBytes (16 MiB for any single string, number, column value, schema or
// skipped scalar, checked within 64 KiB as bytes arrive, before the tokenizer buffers
// them), MaxRowBytes (64 MiB of values in one row), MaxDatasets (10,000) and
// MaxRepositories (1,000,000 master repository ids). Duplicate column names in a row,
// duplicate keys in any object, a dataset named twice and an empty dataset name are
// refused.
//
// # Errors
//
// Decode never ends silently on bad input. Anything wrong with the export — truncation,
// invalid UTF-8, invalid JSON, a top level that is not an object (or our array shape), a
// dataset that is an array, rows that are not an array, a row that is not an object, a
// limit exceeded, data after the export — is a *FormatError naming the dataset (if any),
// the row (its 0-based index in the dataset's row array, the staging rowIndex; -1 outside
// rows) and the byte offset, ready for TestmoImportJob.statusMessage:
//
//	testmo export: dataset "repository_cases" row 1234 (byte 987654): row is a number, not a JSON object
//
// It is permanent: retrying cannot help. A failing reader gives a *ReadError (transient),
// a canceled context ctx.Err() wrapped (checked every Decoder.CheckEvery rows and at each
// dataset), and a visitor's error comes back wrapped with the dataset and row.
package testmo
