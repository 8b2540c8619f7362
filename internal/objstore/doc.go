// Package objstore reads and writes the objects of an S3-compatible store
// (AWS S3, MinIO, versitygw) for the fleet, above all the Testmo export that
// the import worker streams: [Store.Open] returns a reader that resumes where
// it stopped, with a ranged and conditional request, when the network cuts
// a read that lasts minutes. Errors are classified: [ErrNotFound],
// [ErrAccessDenied] and [ErrChanged] are permanent, the rest transient.
//
// It is internal to the fleet and reads the variables of TestPlanIt's own
// S3 client ([LoadConfig]).
package objstore
