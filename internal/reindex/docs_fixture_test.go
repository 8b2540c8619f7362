package reindex

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/testenv"
)

// fixtureSQL is a small, realistic TestPlanIt data set that exercises every
// document field and every row-selection rule. Ids are explicit, so the
// golden documents are stable.
//
// Projects: 1 "Checkout" (the main one), 2 "Mobile App", 3 "Legacy"
// (deleted: none of its rows make documents, except its project document).
//
// Project 1's folders: /Web/Payments/Cards (three deep). Cases: 1 (tags,
// regular, shared and string-serialised steps, every custom field type),
// 2 (deleted, JUNIT, a deleted tag), 3 (archived: no document), 4 (plain
// text step, a deleted step, custom values that the original drops).
// Project 2: case 5 (a shared step whose group has no items). Project 3:
// case 6.
//
// Issues: 1 has its own project; 2 reaches project 2 through case 5; 3
// reaches only a deleted run (no document); 4 reaches project 1 through a
// step result, and its data.url is not a string; 5 belongs to the deleted
// project only (no document); 6 (deleted) reaches project 1 through a
// session result; 7 reaches the deleted project through a case and project 2
// through a session.
const fixtureSQL = `
INSERT INTO "Roles" (id, name, "isDefault") VALUES (1, 'user', true);
INSERT INTO "User" (id, name, email, password, image, "updatedAt") VALUES
	('usr_ada', 'Ada Admin', 'ada@example.com', '!', 'https://img.example/ada.png', '2024-01-01'),
	('usr_bob', 'Bob Tester', 'bob@example.com', '!', NULL, '2024-01-01');
INSERT INTO "ColorFamily" (id, name, "order") VALUES (1, 'Green', 1), (2, 'Red', 2);
INSERT INTO "Color" (id, "colorFamilyId", value, "order") VALUES (1, 1, '#16a34a', 1), (2, 2, '#dc2626', 1);
INSERT INTO "FieldIcon" (id, name) VALUES (1, 'circle-check'), (2, 'flag'), (3, 'bug'), (4, 'rocket');
INSERT INTO "Status" (id, name, "systemName", "colorId", "isEnabled", "isSuccess", "isFailure", "isCompleted")
	VALUES (1, 'Passed', 'passed', 1, true, true, false, true);
INSERT INTO "Workflows" (id, name, "iconId", "colorId", scope, "workflowType") VALUES
	(1, 'Active', 1, 1, 'CASES', 'IN_PROGRESS'),
	(2, 'In Progress', 2, 1, 'RUNS', 'IN_PROGRESS'),
	(3, 'Done', 1, 1, 'RUNS', 'DONE'),
	(4, 'New', 2, 2, 'SESSIONS', 'NOT_STARTED');
INSERT INTO "MilestoneTypes" (id, name, "iconId") VALUES (1, 'Release', 4), (2, 'Sprint', NULL);
INSERT INTO "Templates" (id, "templateName", "isEnabled", "isDefault") VALUES (1, 'Default Template', true, true);
INSERT INTO "Configurations" (id, name) VALUES (1, 'Chrome / Linux');
INSERT INTO "Integration" (id, name, provider, "authType", credentials, "updatedAt")
	VALUES (1, 'Jira Cloud', 'JIRA', 'API_KEY', '{}', '2024-01-01');

INSERT INTO "Projects" (id, name, "iconUrl", note, docs, "isDeleted", "createdAt", "createdBy") VALUES
	(1, 'Checkout', '/icons/cart.svg', NULL,
	 '{"type":"doc","content":[{"type":"heading","attrs":{"level":2},"content":[{"type":"text","text":"Project Documentation"}]},{"type":"paragraph","content":[{"type":"text","text":"Links to the wiki."}]}]}',
	 false, '2024-01-02 09:00:00.123456+00', 'usr_ada'),
	(2, 'Mobile App', NULL, 'Native apps', NULL, false, '2024-02-01 10:00:00+00', 'usr_bob'),
	(3, 'Legacy', NULL, NULL, NULL, true, '2023-05-01 08:00:00+00', 'usr_ada');
INSERT INTO "Repositories" (id, "projectId") VALUES (1, 1), (2, 2), (3, 3);
INSERT INTO "RepositoryFolders" (id, "projectId", "repositoryId", "parentId", name, "creatorId") VALUES
	(1, 1, 1, NULL, 'Web', 'usr_ada'),
	(2, 1, 1, 1, 'Payments', 'usr_ada'),
	(3, 1, 1, 2, 'Cards', 'usr_ada'),
	(4, 2, 2, NULL, 'iOS', 'usr_bob'),
	(5, 3, 3, NULL, 'Old', 'usr_ada');

INSERT INTO "RepositoryCases" (id, "projectId", "repositoryId", "folderId", "templateId", name, "className", source,
	"stateId", estimate, "forecastManual", "forecastAutomated", automated, "isArchived", "isDeleted", "createdAt", "creatorId") VALUES
	(1, 1, 1, 3, 1, 'Pay with credit card', NULL, 'MANUAL', 1, 300, 280, NULL, false, false, false, '2024-01-10 08:30:00.5+00', 'usr_ada'),
	(2, 1, 1, 2, 1, 'Refund a payment', 'PaymentsSpec', 'JUNIT', 1, NULL, NULL, 12.5, true, false, true, '2024-01-11 08:30:00+00', 'usr_bob'),
	(3, 1, 1, 1, 1, 'Archived case', NULL, 'MANUAL', 1, NULL, NULL, NULL, false, true, false, '2024-01-12 08:30:00+00', 'usr_ada'),
	(4, 1, 1, 1, 1, 'Apply coupon "SAVE10"', NULL, 'MANUAL', 1, 60, NULL, NULL, false, false, false, '2024-01-13 08:30:00+00', 'usr_bob'),
	(5, 2, 2, 4, 1, 'Login with Face ID', NULL, 'MANUAL', 1, NULL, NULL, NULL, false, false, false, '2024-02-02 08:30:00+00', 'usr_bob'),
	(6, 3, 3, 5, 1, 'Old case', NULL, 'MANUAL', 1, NULL, NULL, NULL, false, false, false, '2023-05-02 08:30:00+00', 'usr_ada');

INSERT INTO "Tags" (id, name, "isDeleted") VALUES (1, 'smoke', false), (2, 'payments', false), (3, 'regression', true), (4, 'mobile', false);
INSERT INTO "_RepositoryCasesToTags" ("A", "B") VALUES (1, 2), (1, 1), (2, 2), (2, 3), (5, 4), (6, 1);

INSERT INTO "SharedStepGroup" (id, name, "projectId", "isDeleted", "createdAt", "updatedAt", "createdById") VALUES
	(1, 'Log in', 1, false, '2024-01-05 07:00:00+00', '2024-01-05 07:00:00+00', 'usr_ada'),
	(2, 'Old login', 1, true, '2024-01-04 07:00:00+00', '2024-01-04 07:00:00+00', 'usr_bob'),
	(3, 'Biometric unlock', 2, false, '2024-02-03 07:00:00+00', '2024-02-03 07:00:00+00', 'usr_bob'),
	(4, 'Legacy login', 3, false, '2023-05-03 07:00:00+00', '2023-05-03 07:00:00+00', 'usr_ada');
INSERT INTO "SharedStepItem" (id, "sharedStepGroupId", "order", step, "expectedResult", "updatedAt") VALUES
	(2, 1, 2,
	 '"{\"type\":\"doc\",\"content\":[{\"type\":\"paragraph\",\"content\":[{\"type\":\"text\",\"text\":\"Enter the password\"}]}]}"',
	 '"{\"type\":\"doc\",\"content\":[{\"type\":\"paragraph\",\"content\":[{\"type\":\"text\",\"text\":\"You are logged in\"}]}]}"',
	 '2024-01-05'),
	(1, 1, 1,
	 '{"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":"Enter the user name"}]}]}',
	 '{"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":"The password field appears"}]}]}',
	 '2024-01-05'),
	(3, 2, 1, '"Type the PIN"', '{"type":"doc","content":[]}', '2024-01-04');

INSERT INTO "Steps" (id, "testCaseId", "order", step, "expectedResult", "sharedStepGroupId", "isDeleted") VALUES
	(10, 1, 0,
	 '{"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":"Open the "},{"type":"text","marks":[{"type":"bold"}],"text":"cart"}]}]}',
	 '{"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":"The cart lists 2 items"}]}]}',
	 NULL, false),
	(12, 1, 2,
	 '"{\"type\":\"doc\",\"content\":[{\"type\":\"paragraph\",\"content\":[{\"type\":\"text\",\"text\":\"Pay\"},{\"type\":\"hardBreak\"},{\"type\":\"text\",\"text\":\"with Visa\"}]}]}"',
	 '{"type":"doc","content":[{"type":"bulletList","content":[{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"Order confirmed"}]}]},{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"Receipt e-mailed"}]}]}]}]}',
	 NULL, false),
	(11, 1, 1, NULL, NULL, 1, false),
	(13, 4, 0, '"Type SAVE10"', NULL, NULL, false),
	(14, 4, 1, '"Deleted step"', '"Gone"', NULL, true),
	(15, 5, 0, NULL, NULL, 3, false),
	(16, 6, 0, '"Old step"', NULL, NULL, false);

INSERT INTO "CaseFieldTypes" (id, type) VALUES
	(1, 'Checkbox'), (2, 'Date'), (3, 'Dropdown'), (4, 'Integer'), (5, 'Link'),
	(6, 'Multi-Select'), (7, 'Number'), (8, 'Steps'), (9, 'Text String'), (10, 'Text Long');
INSERT INTO "CaseFields" (id, "displayName", "systemName", "typeId") VALUES
	(1, 'Preconditions', 'preconditions', 10),
	(2, 'Priority', 'priority', 3),
	(3, 'Platforms', 'platforms', 6),
	(4, 'Story points', 'story_points', 4),
	(5, 'Automatable', 'automatable', 1),
	(6, 'Due', 'due', 2),
	(7, 'Reference', 'reference', 9),
	(8, 'Spec link', 'spec_link', 5),
	(9, 'Risk score', 'risk_score', 7);
INSERT INTO "FieldOptions" (id, name, "iconId", "iconColorId", "order") VALUES
	(1, 'High', 2, 2, 1), (2, 'Low', NULL, NULL, 2),
	(3, 'Web', NULL, NULL, 1), (4, 'iOS', 1, NULL, 2), (5, 'Android', NULL, 1, 3);
INSERT INTO "CaseFieldAssignment" ("fieldOptionId", "caseFieldId") VALUES (2, 2), (1, 2), (5, 3), (3, 3), (4, 3);
INSERT INTO "CaseFieldValues" (id, "testCaseId", "fieldId", value) VALUES
	(1, 1, 1, '{"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":"Logged in as a "},{"type":"text","marks":[{"type":"italic"}],"text":"shopper"}]},{"type":"paragraph","content":[{"type":"text","text":"Cart not empty"}]}]}'),
	(2, 1, 2, '1'),
	(3, 1, 3, '[3, 5]'),
	(4, 1, 4, '5'),
	(5, 1, 5, 'true'),
	(6, 1, 6, '"2024-03-15"'),
	(7, 1, 7, '"REQ-42"'),
	(8, 1, 8, 'null'),
	(9, 1, 9, '"2.50"'),
	(10, 4, 1, '"{\"type\":\"doc\",\"content\":[{\"type\":\"paragraph\",\"content\":[{\"type\":\"text\",\"text\":\"Coupon SAVE10 is active\"}]}]}"'),
	(11, 4, 5, 'false'),
	(12, 4, 7, '""'),
	(13, 4, 6, '"not a date"'),
	(14, 4, 8, '"https://wiki.example/coupons"'),
	(15, 2, 4, NULL),
	(16, 2, 2, '"2"');

INSERT INTO "Milestones" (id, "projectId", "parentId", "milestoneTypesId", name, note, docs, "isCompleted", "isDeleted",
	"completedAt", "createdAt", "createdBy") VALUES
	(1, 1, NULL, 1, 'Release 1.0',
	 '{"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":"First public release"}]}]}',
	 NULL, false, false, '2024-04-01 00:00:00+00', '2024-01-03 09:00:00+00', 'usr_ada'),
	(2, 1, 1, 2, 'Sprint 3', NULL, '"Sprint goals"', true, true, NULL, '2024-01-04 09:00:00+00', 'usr_bob'),
	(3, 2, NULL, 1, 'Beta', NULL, NULL, false, false, NULL, '2024-02-04 09:00:00+00', 'usr_bob'),
	(4, 3, NULL, 1, 'Legacy 0.9', NULL, NULL, true, false, NULL, '2023-05-04 09:00:00+00', 'usr_ada');

INSERT INTO "TestRuns" (id, "projectId", name, note, docs, "configId", "milestoneId", "stateId", "forecastManual",
	"forecastAutomated", elapsed, "isCompleted", "isDeleted", "completedAt", "createdAt", "createdById", "testRunType") VALUES
	(1, 1, 'Release 1.0 regression',
	 '{"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":"Run on staging"}]}]}',
	 NULL, 1, 1, 2, 600, 1.25, 120, false, false, NULL, '2024-03-01 10:00:00+00', 'usr_ada', 'REGULAR'),
	(2, 1, 'CI build 42', NULL, NULL, NULL, NULL, 3, NULL, NULL, 95, true, true, '2024-03-02 12:00:00.789', '2024-03-02 11:58:00+00', 'usr_bob', 'JUNIT'),
	(3, 3, 'Legacy run', NULL, NULL, NULL, NULL, 3, NULL, NULL, NULL, true, false, NULL, '2023-05-05 10:00:00+00', 'usr_ada', 'REGULAR');
INSERT INTO "_TagsToTestRuns" ("A", "B") VALUES (1, 1), (2, 1), (1, 3);

INSERT INTO "Sessions" (id, "projectId", "templateId", name, note, mission, "configId", "milestoneId", "stateId",
	"assignedToId", estimate, "forecastManual", "forecastAutomated", elapsed, "isCompleted", "isDeleted", "completedAt",
	"createdAt", "createdById") VALUES
	(1, 1, 1, 'Exploratory: checkout',
	 '"{\"type\":\"doc\",\"content\":[{\"type\":\"paragraph\",\"content\":[{\"type\":\"text\",\"text\":\"Found a rounding issue\"}]}]}"',
	 '{"type":"doc","content":[{"type":"heading","content":[{"type":"text","text":"Mission"}]},{"type":"paragraph","content":[{"type":"text","text":"Try odd amounts"}]}]}',
	 NULL, 1, 4, 'usr_bob', 1800, NULL, NULL, 900, true, false, '2024-03-03 16:00:00', '2024-03-03 15:00:00+00', 'usr_ada'),
	(2, 2, 1, 'Explore onboarding', NULL, NULL, 1, NULL, 4, NULL, NULL, NULL, NULL, NULL, false, false, NULL,
	 '2024-02-05 15:00:00+00', 'usr_bob'),
	(3, 3, 1, 'Legacy session', NULL, NULL, NULL, NULL, 4, NULL, NULL, NULL, NULL, NULL, false, false, NULL,
	 '2023-05-06 15:00:00+00', 'usr_ada');
INSERT INTO "_SessionsToTags" ("A", "B") VALUES (1, 2), (1, 1);

INSERT INTO "TestRunCases" (id, "testRunId", "repositoryCaseId") VALUES (1, 1, 1);
INSERT INTO "TestRunResults" (id, "testRunId", "testRunCaseId", "statusId", "executedById") VALUES (1, 1, 1, 1, 'usr_ada');
INSERT INTO "TestRunStepResults" (id, "testRunResultId", "stepId", "statusId") VALUES (1, 1, 10, 1);
INSERT INTO "SessionResults" (id, "sessionId", "createdById", "statusId") VALUES (1, 1, 'usr_bob', 1);

INSERT INTO "Issue" (id, name, title, description, "externalId", data, note, "isDeleted", "createdAt", "createdById",
	"projectId", "integrationId") VALUES
	(1, 'PAY-1', 'Card declined', 'Visa cards are declined', 'PAY-1', '{"url": "https://jira.example/browse/PAY-1"}',
	 '{"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":"Seen on staging"}]}]}',
	 false, '2024-03-04 10:00:00+00', 'usr_bob', 1, 1),
	(2, 'APP-7', 'Face ID crash', NULL, NULL, NULL, NULL, false, '2024-03-05 10:00:00+00', 'usr_ada', NULL, NULL),
	(3, 'CI-3', 'Flaky build', NULL, NULL, NULL, NULL, false, '2024-03-06 10:00:00+00', 'usr_ada', NULL, NULL),
	(4, 'PAY-9', 'Step fails', NULL, 'PAY-9', '{"url": 5}', NULL, false, '2024-03-07 10:00:00+00', 'usr_ada', NULL, 1),
	(5, 'OLD-1', 'Legacy bug', NULL, NULL, NULL, NULL, false, '2023-05-07 10:00:00+00', 'usr_ada', 3, NULL),
	(6, 'PAY-12', 'Rounding', 'Cents are rounded', NULL, '[1]', NULL, true, '2024-03-08 10:00:00+00', 'usr_bob', NULL, NULL),
	(7, 'APP-9', 'Onboarding stuck', NULL, NULL, NULL, NULL, false, '2024-03-09 10:00:00+00', 'usr_bob', NULL, NULL);
INSERT INTO "_IssueToRepositoryCases" ("A", "B") VALUES (2, 5), (7, 6);
INSERT INTO "_IssueToTestRuns" ("A", "B") VALUES (3, 2);
INSERT INTO "_IssueToTestRunStepResults" ("A", "B") VALUES (4, 1);
INSERT INTO "_IssueToSessionResults" ("A", "B") VALUES (6, 1);
INSERT INTO "_IssueToSessions" ("A", "B") VALUES (7, 2);
`

// fixturePool returns a new database holding fixtureSQL.
func fixturePool(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	pool, url := testenv.Postgres(t)
	if _, err := pool.Exec(t.Context(), fixtureSQL); err != nil {
		t.Fatalf("loading the fixture: %v", err)
	}
	return pool, url
}
