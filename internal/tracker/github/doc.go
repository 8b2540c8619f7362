// Package github is internal to the tpi-workers fleet: the GitHub adapter of
// the issue-sync worker, a small client over net/http that implements
// [tracker.Client] for github.com and GitHub Enterprise with a token. Issues
// are fetched up to 50 at a time with one GraphQL query (one alias per
// issue); an issue GraphQL cannot resolve is asked once more over REST, which
// follows transferred issues, so a deleted issue is [tracker.ErrNotFound] for
// its ref alone. Refs are "owner/repo#123", an issue URL, or a bare "123"
// or "#123" in the configured default repository.
package github
