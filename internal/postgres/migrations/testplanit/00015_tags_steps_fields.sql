-- Development subset of TestPlanIt's database: what the search documents read beyond the tables
-- already here: tags, test steps, shared step groups and their items, custom case fields with
-- their types, options and values, session results and step results, and the implicit
-- many-to-many join tables that tie tags and issues to cases, runs, sessions and results.
--
-- Source: testplanit/prisma/schema.prisma (TestPlanIt 0.11.13, Prisma 6.19), models Tags, Steps,
-- SharedStepGroup, SharedStepItem, CaseFieldTypes, CaseFields, FieldOptions, CaseFieldAssignment,
-- CaseFieldValues, SessionResults and TestRunStepResults, rendered as `prisma migrate` renders
-- them. "SharedStepGroup"."updatedAt" and "SharedStepItem"."updatedAt" are @updatedAt: no
-- database default, the writer supplies them. "CaseFieldAssignment"."fieldOptionId" is
-- @default(autoincrement()) on a key column in the schema, hence SERIAL. Relations without an
-- onDelete get Prisma's defaults: RESTRICT for a required relation, SET NULL for an optional one,
-- ON UPDATE CASCADE for both. TestRunStepResults spells two constraint names with `map:`
-- ("uq_tsr_res_step_shareditem", "test_run_step_results_shared_step_item_id_fkey").
--
-- The schema is silent on the join tables (implicit many-to-many relations); they follow
-- Prisma's conventions: the table is "_" + the two model names sorted and joined by "To"
-- ("_RepositoryCasesToTags", "_IssueToTestRuns", ...), column "A" references the model that
-- sorts first and "B" the other, both INTEGER, with ON DELETE CASCADE ON UPDATE CASCADE. Since
-- Prisma 6 (TestPlanIt uses 6.19, `prisma db push`) the pair is the primary key "_X_AB_pkey",
-- where Prisma 5 and earlier made it a unique index "_X_AB_unique"; "B" has the index
-- "_X_B_index" in both.

-- +goose Up
-- model Tags
CREATE TABLE "Tags" (
    "id" SERIAL NOT NULL,
    "name" TEXT NOT NULL,
    "isDeleted" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "Tags_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "Tags_name_key" ON "Tags"("name");

-- model SharedStepGroup
CREATE TABLE "SharedStepGroup" (
    "id" SERIAL NOT NULL,
    "name" TEXT NOT NULL,
    "projectId" INTEGER NOT NULL,
    "isDeleted" BOOLEAN NOT NULL DEFAULT false,
    "deletedAt" TIMESTAMPTZ(6),
    "createdAt" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(6) NOT NULL,
    "createdById" TEXT NOT NULL,

    CONSTRAINT "SharedStepGroup_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "SharedStepGroup_projectId_idx" ON "SharedStepGroup"("projectId");
CREATE INDEX "SharedStepGroup_createdById_idx" ON "SharedStepGroup"("createdById");

ALTER TABLE "SharedStepGroup" ADD CONSTRAINT "SharedStepGroup_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "SharedStepGroup" ADD CONSTRAINT "SharedStepGroup_createdById_fkey" FOREIGN KEY ("createdById") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- model SharedStepItem: "step" and "expectedResult" hold TipTap (ProseMirror) JSON, as an
-- object or as a JSON string of it, depending on which screen wrote them.
CREATE TABLE "SharedStepItem" (
    "id" SERIAL NOT NULL,
    "sharedStepGroupId" INTEGER NOT NULL,
    "order" INTEGER NOT NULL,
    "step" JSONB NOT NULL,
    "expectedResult" JSONB NOT NULL,
    "createdAt" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(6) NOT NULL,

    CONSTRAINT "SharedStepItem_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "SharedStepItem_sharedStepGroupId_idx" ON "SharedStepItem"("sharedStepGroupId");

ALTER TABLE "SharedStepItem" ADD CONSTRAINT "SharedStepItem_sharedStepGroupId_fkey" FOREIGN KEY ("sharedStepGroupId") REFERENCES "SharedStepGroup"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- model Steps: a case's steps; a step with "sharedStepGroupId" stands for the whole group.
CREATE TABLE "Steps" (
    "id" SERIAL NOT NULL,
    "isDeleted" BOOLEAN NOT NULL DEFAULT false,
    "step" JSONB,
    "expectedResult" JSONB,
    "testCaseId" INTEGER NOT NULL,
    "order" INTEGER NOT NULL DEFAULT 0,
    "sharedStepGroupId" INTEGER,

    CONSTRAINT "Steps_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "Steps_testCaseId_idx" ON "Steps"("testCaseId");
CREATE INDEX "Steps_sharedStepGroupId_idx" ON "Steps"("sharedStepGroupId");

ALTER TABLE "Steps" ADD CONSTRAINT "Steps_testCaseId_fkey" FOREIGN KEY ("testCaseId") REFERENCES "RepositoryCases"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "Steps" ADD CONSTRAINT "Steps_sharedStepGroupId_fkey" FOREIGN KEY ("sharedStepGroupId") REFERENCES "SharedStepGroup"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- model CaseFieldTypes: TestPlanIt seeds Checkbox, Date, Dropdown, Integer, Link, Multi-Select,
-- Number, Steps, Text String, Text Long (testplanit/prisma/seed.ts).
CREATE TABLE "CaseFieldTypes" (
    "id" SERIAL NOT NULL,
    "type" TEXT NOT NULL,
    "options" JSONB,

    CONSTRAINT "CaseFieldTypes_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "CaseFieldTypes_type_key" ON "CaseFieldTypes"("type");

-- model CaseFields
CREATE TABLE "CaseFields" (
    "id" SERIAL NOT NULL,
    "displayName" TEXT NOT NULL,
    "systemName" TEXT NOT NULL,
    "hint" TEXT,
    "typeId" INTEGER NOT NULL,
    "isEnabled" BOOLEAN NOT NULL DEFAULT true,
    "isDeleted" BOOLEAN NOT NULL DEFAULT false,
    "isRequired" BOOLEAN NOT NULL DEFAULT false,
    "isRestricted" BOOLEAN NOT NULL DEFAULT false,
    "defaultValue" TEXT,
    "isChecked" BOOLEAN,
    "minValue" DOUBLE PRECISION,
    "maxValue" DOUBLE PRECISION,
    "initialHeight" INTEGER,

    CONSTRAINT "CaseFields_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "CaseFields_systemName_key" ON "CaseFields"("systemName");

ALTER TABLE "CaseFields" ADD CONSTRAINT "CaseFields_typeId_fkey" FOREIGN KEY ("typeId") REFERENCES "CaseFieldTypes"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- model FieldOptions: the options of dropdown and multi-select fields.
CREATE TABLE "FieldOptions" (
    "id" SERIAL NOT NULL,
    "name" TEXT NOT NULL,
    "iconId" INTEGER,
    "isEnabled" BOOLEAN NOT NULL DEFAULT true,
    "isDeleted" BOOLEAN NOT NULL DEFAULT false,
    "iconColorId" INTEGER,
    "isDefault" BOOLEAN NOT NULL DEFAULT false,
    "order" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "FieldOptions_pkey" PRIMARY KEY ("id")
);

ALTER TABLE "FieldOptions" ADD CONSTRAINT "FieldOptions_iconId_fkey" FOREIGN KEY ("iconId") REFERENCES "FieldIcon"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "FieldOptions" ADD CONSTRAINT "FieldOptions_iconColorId_fkey" FOREIGN KEY ("iconColorId") REFERENCES "Color"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- model CaseFieldAssignment: which options a case field offers.
CREATE TABLE "CaseFieldAssignment" (
    "fieldOptionId" SERIAL NOT NULL,
    "caseFieldId" INTEGER NOT NULL,

    CONSTRAINT "CaseFieldAssignment_pkey" PRIMARY KEY ("fieldOptionId","caseFieldId")
);

ALTER TABLE "CaseFieldAssignment" ADD CONSTRAINT "CaseFieldAssignment_fieldOptionId_fkey" FOREIGN KEY ("fieldOptionId") REFERENCES "FieldOptions"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "CaseFieldAssignment" ADD CONSTRAINT "CaseFieldAssignment_caseFieldId_fkey" FOREIGN KEY ("caseFieldId") REFERENCES "CaseFields"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- model CaseFieldValues: "value" is JSON whose shape depends on the field's type (a string, a
-- number, a boolean, an option id, an array of option ids, TipTap JSON).
CREATE TABLE "CaseFieldValues" (
    "id" SERIAL NOT NULL,
    "testCaseId" INTEGER NOT NULL,
    "fieldId" INTEGER NOT NULL,
    "value" JSONB,

    CONSTRAINT "CaseFieldValues_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "CaseFieldValues_testCaseId_idx" ON "CaseFieldValues"("testCaseId");
CREATE INDEX "CaseFieldValues_fieldId_idx" ON "CaseFieldValues"("fieldId");

ALTER TABLE "CaseFieldValues" ADD CONSTRAINT "CaseFieldValues_testCaseId_fkey" FOREIGN KEY ("testCaseId") REFERENCES "RepositoryCases"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "CaseFieldValues" ADD CONSTRAINT "CaseFieldValues_fieldId_fkey" FOREIGN KEY ("fieldId") REFERENCES "CaseFields"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- model SessionResults
CREATE TABLE "SessionResults" (
    "id" SERIAL NOT NULL,
    "isDeleted" BOOLEAN NOT NULL DEFAULT false,
    "sessionId" INTEGER NOT NULL,
    "resultData" JSONB,
    "createdAt" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdById" TEXT NOT NULL,
    "statusId" INTEGER NOT NULL,
    "elapsed" INTEGER,

    CONSTRAINT "SessionResults_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "SessionResults_sessionId_idx" ON "SessionResults"("sessionId");
CREATE INDEX "SessionResults_statusId_idx" ON "SessionResults"("statusId");
CREATE INDEX "SessionResults_createdAt_idx" ON "SessionResults"("createdAt");

ALTER TABLE "SessionResults" ADD CONSTRAINT "SessionResults_sessionId_fkey" FOREIGN KEY ("sessionId") REFERENCES "Sessions"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "SessionResults" ADD CONSTRAINT "SessionResults_createdById_fkey" FOREIGN KEY ("createdById") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "SessionResults" ADD CONSTRAINT "SessionResults_statusId_fkey" FOREIGN KEY ("statusId") REFERENCES "Status"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- model TestRunStepResults
CREATE TABLE "TestRunStepResults" (
    "id" SERIAL NOT NULL,
    "testRunResultId" INTEGER NOT NULL,
    "stepId" INTEGER NOT NULL,
    "sharedStepItemId" INTEGER,
    "statusId" INTEGER NOT NULL,
    "notes" JSONB,
    "evidence" JSONB,
    "executedAt" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "elapsed" INTEGER,
    "isDeleted" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "TestRunStepResults_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "uq_tsr_res_step_shareditem" ON "TestRunStepResults"("testRunResultId", "stepId", "sharedStepItemId");
CREATE INDEX "TestRunStepResults_sharedStepItemId_idx" ON "TestRunStepResults"("sharedStepItemId");

ALTER TABLE "TestRunStepResults" ADD CONSTRAINT "TestRunStepResults_testRunResultId_fkey" FOREIGN KEY ("testRunResultId") REFERENCES "TestRunResults"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "TestRunStepResults" ADD CONSTRAINT "TestRunStepResults_stepId_fkey" FOREIGN KEY ("stepId") REFERENCES "Steps"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "TestRunStepResults" ADD CONSTRAINT "test_run_step_results_shared_step_item_id_fkey" FOREIGN KEY ("sharedStepItemId") REFERENCES "SharedStepItem"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "TestRunStepResults" ADD CONSTRAINT "TestRunStepResults_statusId_fkey" FOREIGN KEY ("statusId") REFERENCES "Status"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- implicit many-to-many RepositoryCases.tags <-> Tags.repositoryCases
CREATE TABLE "_RepositoryCasesToTags" (
    "A" INTEGER NOT NULL,
    "B" INTEGER NOT NULL,

    CONSTRAINT "_RepositoryCasesToTags_AB_pkey" PRIMARY KEY ("A","B")
);

CREATE INDEX "_RepositoryCasesToTags_B_index" ON "_RepositoryCasesToTags"("B");

ALTER TABLE "_RepositoryCasesToTags" ADD CONSTRAINT "_RepositoryCasesToTags_A_fkey" FOREIGN KEY ("A") REFERENCES "RepositoryCases"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "_RepositoryCasesToTags" ADD CONSTRAINT "_RepositoryCasesToTags_B_fkey" FOREIGN KEY ("B") REFERENCES "Tags"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- implicit many-to-many Sessions.tags <-> Tags.sessions
CREATE TABLE "_SessionsToTags" (
    "A" INTEGER NOT NULL,
    "B" INTEGER NOT NULL,

    CONSTRAINT "_SessionsToTags_AB_pkey" PRIMARY KEY ("A","B")
);

CREATE INDEX "_SessionsToTags_B_index" ON "_SessionsToTags"("B");

ALTER TABLE "_SessionsToTags" ADD CONSTRAINT "_SessionsToTags_A_fkey" FOREIGN KEY ("A") REFERENCES "Sessions"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "_SessionsToTags" ADD CONSTRAINT "_SessionsToTags_B_fkey" FOREIGN KEY ("B") REFERENCES "Tags"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- implicit many-to-many Tags.testRuns <-> TestRuns.tags
CREATE TABLE "_TagsToTestRuns" (
    "A" INTEGER NOT NULL,
    "B" INTEGER NOT NULL,

    CONSTRAINT "_TagsToTestRuns_AB_pkey" PRIMARY KEY ("A","B")
);

CREATE INDEX "_TagsToTestRuns_B_index" ON "_TagsToTestRuns"("B");

ALTER TABLE "_TagsToTestRuns" ADD CONSTRAINT "_TagsToTestRuns_A_fkey" FOREIGN KEY ("A") REFERENCES "Tags"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "_TagsToTestRuns" ADD CONSTRAINT "_TagsToTestRuns_B_fkey" FOREIGN KEY ("B") REFERENCES "TestRuns"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- implicit many-to-many Issue.repositoryCases <-> RepositoryCases.issues
CREATE TABLE "_IssueToRepositoryCases" (
    "A" INTEGER NOT NULL,
    "B" INTEGER NOT NULL,

    CONSTRAINT "_IssueToRepositoryCases_AB_pkey" PRIMARY KEY ("A","B")
);

CREATE INDEX "_IssueToRepositoryCases_B_index" ON "_IssueToRepositoryCases"("B");

ALTER TABLE "_IssueToRepositoryCases" ADD CONSTRAINT "_IssueToRepositoryCases_A_fkey" FOREIGN KEY ("A") REFERENCES "Issue"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "_IssueToRepositoryCases" ADD CONSTRAINT "_IssueToRepositoryCases_B_fkey" FOREIGN KEY ("B") REFERENCES "RepositoryCases"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- implicit many-to-many Issue.sessions <-> Sessions.issues
CREATE TABLE "_IssueToSessions" (
    "A" INTEGER NOT NULL,
    "B" INTEGER NOT NULL,

    CONSTRAINT "_IssueToSessions_AB_pkey" PRIMARY KEY ("A","B")
);

CREATE INDEX "_IssueToSessions_B_index" ON "_IssueToSessions"("B");

ALTER TABLE "_IssueToSessions" ADD CONSTRAINT "_IssueToSessions_A_fkey" FOREIGN KEY ("A") REFERENCES "Issue"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "_IssueToSessions" ADD CONSTRAINT "_IssueToSessions_B_fkey" FOREIGN KEY ("B") REFERENCES "Sessions"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- implicit many-to-many Issue.testRuns <-> TestRuns.issues
CREATE TABLE "_IssueToTestRuns" (
    "A" INTEGER NOT NULL,
    "B" INTEGER NOT NULL,

    CONSTRAINT "_IssueToTestRuns_AB_pkey" PRIMARY KEY ("A","B")
);

CREATE INDEX "_IssueToTestRuns_B_index" ON "_IssueToTestRuns"("B");

ALTER TABLE "_IssueToTestRuns" ADD CONSTRAINT "_IssueToTestRuns_A_fkey" FOREIGN KEY ("A") REFERENCES "Issue"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "_IssueToTestRuns" ADD CONSTRAINT "_IssueToTestRuns_B_fkey" FOREIGN KEY ("B") REFERENCES "TestRuns"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- implicit many-to-many Issue.sessionResults <-> SessionResults.issues
CREATE TABLE "_IssueToSessionResults" (
    "A" INTEGER NOT NULL,
    "B" INTEGER NOT NULL,

    CONSTRAINT "_IssueToSessionResults_AB_pkey" PRIMARY KEY ("A","B")
);

CREATE INDEX "_IssueToSessionResults_B_index" ON "_IssueToSessionResults"("B");

ALTER TABLE "_IssueToSessionResults" ADD CONSTRAINT "_IssueToSessionResults_A_fkey" FOREIGN KEY ("A") REFERENCES "Issue"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "_IssueToSessionResults" ADD CONSTRAINT "_IssueToSessionResults_B_fkey" FOREIGN KEY ("B") REFERENCES "SessionResults"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- implicit many-to-many Issue.testRunResults <-> TestRunResults.issues
CREATE TABLE "_IssueToTestRunResults" (
    "A" INTEGER NOT NULL,
    "B" INTEGER NOT NULL,

    CONSTRAINT "_IssueToTestRunResults_AB_pkey" PRIMARY KEY ("A","B")
);

CREATE INDEX "_IssueToTestRunResults_B_index" ON "_IssueToTestRunResults"("B");

ALTER TABLE "_IssueToTestRunResults" ADD CONSTRAINT "_IssueToTestRunResults_A_fkey" FOREIGN KEY ("A") REFERENCES "Issue"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "_IssueToTestRunResults" ADD CONSTRAINT "_IssueToTestRunResults_B_fkey" FOREIGN KEY ("B") REFERENCES "TestRunResults"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- implicit many-to-many Issue.testRunStepResults <-> TestRunStepResults.issues
CREATE TABLE "_IssueToTestRunStepResults" (
    "A" INTEGER NOT NULL,
    "B" INTEGER NOT NULL,

    CONSTRAINT "_IssueToTestRunStepResults_AB_pkey" PRIMARY KEY ("A","B")
);

CREATE INDEX "_IssueToTestRunStepResults_B_index" ON "_IssueToTestRunStepResults"("B");

ALTER TABLE "_IssueToTestRunStepResults" ADD CONSTRAINT "_IssueToTestRunStepResults_A_fkey" FOREIGN KEY ("A") REFERENCES "Issue"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "_IssueToTestRunStepResults" ADD CONSTRAINT "_IssueToTestRunStepResults_B_fkey" FOREIGN KEY ("B") REFERENCES "TestRunStepResults"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- +goose Down
DROP TABLE "_IssueToTestRunStepResults";
DROP TABLE "_IssueToTestRunResults";
DROP TABLE "_IssueToSessionResults";
DROP TABLE "_IssueToTestRuns";
DROP TABLE "_IssueToSessions";
DROP TABLE "_IssueToRepositoryCases";
DROP TABLE "_TagsToTestRuns";
DROP TABLE "_SessionsToTags";
DROP TABLE "_RepositoryCasesToTags";
DROP TABLE "TestRunStepResults";
DROP TABLE "SessionResults";
DROP TABLE "CaseFieldValues";
DROP TABLE "CaseFieldAssignment";
DROP TABLE "FieldOptions";
DROP TABLE "CaseFields";
DROP TABLE "CaseFieldTypes";
DROP TABLE "Steps";
DROP TABLE "SharedStepItem";
DROP TABLE "SharedStepGroup";
DROP TABLE "Tags";
