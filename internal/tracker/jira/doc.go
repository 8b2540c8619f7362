// Package jira is internal to the tpi-workers fleet: the Jira adapter of the
// issue-sync worker, a small client over net/http that implements
// [tracker.Client] for Jira Cloud (email and API token, or OAuth 2.0 3LO
// through api.atlassian.com with token refresh) and Jira Server / Data Center
// (personal access token). Issues are fetched in batches with one JQL search
// (`id in (...) OR key in (...)`); refs the search cannot answer (deleted or
// moved issues) are fetched one by one, so a deleted issue is
// [tracker.ErrNotFound] for that ref alone. Descriptions in Atlassian
// Document Format are flattened to plain text.
package jira
