-- Development subset of TestPlanIt's database: sessions, test runs, run cases, results and JUnit
-- results.
--
-- Source: testplanit/prisma/schema.prisma, models Sessions, TestRuns, TestRunCases,
-- TestRunResults, JUnitTestSuite and JUnitTestResult, rendered as `prisma migrate` renders them.
-- Units: "elapsed", "estimate" and "forecastManual" are INTEGER seconds; "forecastAutomated" and
-- "JUnitTestResult"."time" are DOUBLE PRECISION seconds (reference section 6).

-- +goose Up
-- model Sessions
CREATE TABLE "Sessions" (
    "id" SERIAL NOT NULL,
    "projectId" INTEGER NOT NULL,
    "templateId" INTEGER NOT NULL,
    "name" TEXT NOT NULL,
    "note" JSONB,
    "mission" JSONB,
    "configId" INTEGER,
    "milestoneId" INTEGER,
    "stateId" INTEGER NOT NULL,
    "assignedToId" TEXT,
    "estimate" INTEGER,
    "forecastManual" INTEGER,
    "forecastAutomated" DOUBLE PRECISION,
    "elapsed" INTEGER,
    "isCompleted" BOOLEAN NOT NULL DEFAULT false,
    "isDeleted" BOOLEAN NOT NULL DEFAULT false,
    "completedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdById" TEXT NOT NULL,
    "currentVersion" INTEGER NOT NULL DEFAULT 1,

    CONSTRAINT "Sessions_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "Sessions_projectId_isDeleted_idx" ON "Sessions"("projectId", "isDeleted");
CREATE INDEX "Sessions_createdById_idx" ON "Sessions"("createdById");
CREATE INDEX "Sessions_assignedToId_idx" ON "Sessions"("assignedToId");
CREATE INDEX "Sessions_stateId_idx" ON "Sessions"("stateId");
CREATE INDEX "Sessions_isCompleted_createdAt_idx" ON "Sessions"("isCompleted", "createdAt");

ALTER TABLE "Sessions" ADD CONSTRAINT "Sessions_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "Sessions" ADD CONSTRAINT "Sessions_templateId_fkey" FOREIGN KEY ("templateId") REFERENCES "Templates"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "Sessions" ADD CONSTRAINT "Sessions_configId_fkey" FOREIGN KEY ("configId") REFERENCES "Configurations"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "Sessions" ADD CONSTRAINT "Sessions_milestoneId_fkey" FOREIGN KEY ("milestoneId") REFERENCES "Milestones"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "Sessions" ADD CONSTRAINT "Sessions_stateId_fkey" FOREIGN KEY ("stateId") REFERENCES "Workflows"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "Sessions" ADD CONSTRAINT "Sessions_assignedToId_fkey" FOREIGN KEY ("assignedToId") REFERENCES "User"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "Sessions" ADD CONSTRAINT "Sessions_createdById_fkey" FOREIGN KEY ("createdById") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- model TestRuns
CREATE TABLE "TestRuns" (
    "id" SERIAL NOT NULL,
    "projectId" INTEGER NOT NULL,
    "name" TEXT NOT NULL,
    "note" JSONB,
    "docs" JSONB,
    "configId" INTEGER,
    "milestoneId" INTEGER,
    "stateId" INTEGER NOT NULL,
    "forecastManual" INTEGER,
    "forecastAutomated" DOUBLE PRECISION,
    "elapsed" INTEGER,
    "isCompleted" BOOLEAN NOT NULL DEFAULT false,
    "isDeleted" BOOLEAN NOT NULL DEFAULT false,
    "completedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdById" TEXT NOT NULL,
    "testRunType" "TestRunType" NOT NULL DEFAULT 'REGULAR',
    "configurationGroupId" TEXT,

    CONSTRAINT "TestRuns_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "TestRuns_projectId_isDeleted_idx" ON "TestRuns"("projectId", "isDeleted");
CREATE INDEX "TestRuns_createdById_idx" ON "TestRuns"("createdById");
CREATE INDEX "TestRuns_stateId_idx" ON "TestRuns"("stateId");
CREATE INDEX "TestRuns_isCompleted_createdAt_idx" ON "TestRuns"("isCompleted", "createdAt");
CREATE INDEX "TestRuns_testRunType_idx" ON "TestRuns"("testRunType");
CREATE INDEX "TestRuns_configurationGroupId_idx" ON "TestRuns"("configurationGroupId");

ALTER TABLE "TestRuns" ADD CONSTRAINT "TestRuns_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "TestRuns" ADD CONSTRAINT "TestRuns_configId_fkey" FOREIGN KEY ("configId") REFERENCES "Configurations"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "TestRuns" ADD CONSTRAINT "TestRuns_milestoneId_fkey" FOREIGN KEY ("milestoneId") REFERENCES "Milestones"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "TestRuns" ADD CONSTRAINT "TestRuns_stateId_fkey" FOREIGN KEY ("stateId") REFERENCES "Workflows"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "TestRuns" ADD CONSTRAINT "TestRuns_createdById_fkey" FOREIGN KEY ("createdById") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- model TestRunCases
CREATE TABLE "TestRunCases" (
    "id" SERIAL NOT NULL,
    "testRunId" INTEGER NOT NULL,
    "repositoryCaseId" INTEGER NOT NULL,
    "order" INTEGER NOT NULL DEFAULT 0,
    "statusId" INTEGER,
    "assignedToId" TEXT,
    "isCompleted" BOOLEAN NOT NULL DEFAULT false,
    "notes" JSONB,
    "startedAt" TIMESTAMP(3),
    "completedAt" TIMESTAMP(3),
    "elapsed" INTEGER,
    "createdAt" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "TestRunCases_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "TestRunCases_testRunId_repositoryCaseId_key" ON "TestRunCases"("testRunId", "repositoryCaseId");
CREATE INDEX "TestRunCases_testRunId_idx" ON "TestRunCases"("testRunId");
CREATE INDEX "TestRunCases_repositoryCaseId_idx" ON "TestRunCases"("repositoryCaseId");
CREATE INDEX "TestRunCases_assignedToId_idx" ON "TestRunCases"("assignedToId");
CREATE INDEX "TestRunCases_statusId_idx" ON "TestRunCases"("statusId");
CREATE INDEX "TestRunCases_isCompleted_idx" ON "TestRunCases"("isCompleted");

ALTER TABLE "TestRunCases" ADD CONSTRAINT "TestRunCases_testRunId_fkey" FOREIGN KEY ("testRunId") REFERENCES "TestRuns"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "TestRunCases" ADD CONSTRAINT "TestRunCases_repositoryCaseId_fkey" FOREIGN KEY ("repositoryCaseId") REFERENCES "RepositoryCases"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "TestRunCases" ADD CONSTRAINT "TestRunCases_statusId_fkey" FOREIGN KEY ("statusId") REFERENCES "Status"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "TestRunCases" ADD CONSTRAINT "TestRunCases_assignedToId_fkey" FOREIGN KEY ("assignedToId") REFERENCES "User"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- model TestRunResults
CREATE TABLE "TestRunResults" (
    "id" SERIAL NOT NULL,
    "testRunId" INTEGER NOT NULL,
    "testRunCaseId" INTEGER NOT NULL,
    "testRunCaseVersion" INTEGER NOT NULL DEFAULT 1,
    "statusId" INTEGER NOT NULL,
    "executedById" TEXT NOT NULL,
    "executedAt" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "editedById" TEXT,
    "editedAt" TIMESTAMP(3),
    "elapsed" INTEGER,
    "notes" JSONB,
    "evidence" JSONB,
    "attempt" INTEGER NOT NULL DEFAULT 1,
    "isDeleted" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "TestRunResults_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "TestRunResults_testRunCaseId_idx" ON "TestRunResults"("testRunCaseId");
CREATE INDEX "TestRunResults_executedById_idx" ON "TestRunResults"("executedById");
CREATE INDEX "TestRunResults_statusId_idx" ON "TestRunResults"("statusId");
CREATE INDEX "TestRunResults_executedAt_idx" ON "TestRunResults"("executedAt");
CREATE INDEX "TestRunResults_testRunCaseId_executedAt_idx" ON "TestRunResults"("testRunCaseId", "executedAt" DESC);

ALTER TABLE "TestRunResults" ADD CONSTRAINT "TestRunResults_testRunId_fkey" FOREIGN KEY ("testRunId") REFERENCES "TestRuns"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "TestRunResults" ADD CONSTRAINT "TestRunResults_testRunCaseId_fkey" FOREIGN KEY ("testRunCaseId") REFERENCES "TestRunCases"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "TestRunResults" ADD CONSTRAINT "TestRunResults_statusId_fkey" FOREIGN KEY ("statusId") REFERENCES "Status"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "TestRunResults" ADD CONSTRAINT "TestRunResults_executedById_fkey" FOREIGN KEY ("executedById") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "TestRunResults" ADD CONSTRAINT "TestRunResults_editedById_fkey" FOREIGN KEY ("editedById") REFERENCES "User"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- model JUnitTestSuite (target of "JUnitTestResult"."testSuiteId").
CREATE TABLE "JUnitTestSuite" (
    "id" SERIAL NOT NULL,
    "name" TEXT NOT NULL,
    "time" DOUBLE PRECISION,
    "tests" INTEGER,
    "failures" INTEGER,
    "errors" INTEGER,
    "skipped" INTEGER,
    "assertions" INTEGER,
    "timestamp" TIMESTAMP(3),
    "file" TEXT,
    "systemOut" TEXT,
    "systemErr" TEXT,
    "parentId" INTEGER,
    "testRunId" INTEGER NOT NULL,
    "createdAt" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdById" TEXT NOT NULL,

    CONSTRAINT "JUnitTestSuite_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "JUnitTestSuite_testRunId_idx" ON "JUnitTestSuite"("testRunId");
CREATE INDEX "JUnitTestSuite_parentId_idx" ON "JUnitTestSuite"("parentId");

ALTER TABLE "JUnitTestSuite" ADD CONSTRAINT "JUnitTestSuite_parentId_fkey" FOREIGN KEY ("parentId") REFERENCES "JUnitTestSuite"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "JUnitTestSuite" ADD CONSTRAINT "JUnitTestSuite_testRunId_fkey" FOREIGN KEY ("testRunId") REFERENCES "TestRuns"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "JUnitTestSuite" ADD CONSTRAINT "JUnitTestSuite_createdById_fkey" FOREIGN KEY ("createdById") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- model JUnitTestResult
CREATE TABLE "JUnitTestResult" (
    "id" SERIAL NOT NULL,
    "type" "JUnitResultType" NOT NULL,
    "message" TEXT,
    "content" TEXT,
    "repositoryCaseId" INTEGER NOT NULL,
    "executedAt" TIMESTAMPTZ(6),
    "time" DOUBLE PRECISION,
    "assertions" INTEGER,
    "file" TEXT,
    "line" INTEGER,
    "systemOut" TEXT,
    "systemErr" TEXT,
    "testSuiteId" INTEGER NOT NULL,
    "createdAt" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdById" TEXT NOT NULL,
    "statusId" INTEGER,

    CONSTRAINT "JUnitTestResult_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "JUnitTestResult_testSuiteId_idx" ON "JUnitTestResult"("testSuiteId");
CREATE INDEX "JUnitTestResult_repositoryCaseId_idx" ON "JUnitTestResult"("repositoryCaseId");
CREATE INDEX "JUnitTestResult_repositoryCaseId_executedAt_idx" ON "JUnitTestResult"("repositoryCaseId", "executedAt" DESC);

ALTER TABLE "JUnitTestResult" ADD CONSTRAINT "JUnitTestResult_repositoryCaseId_fkey" FOREIGN KEY ("repositoryCaseId") REFERENCES "RepositoryCases"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "JUnitTestResult" ADD CONSTRAINT "JUnitTestResult_testSuiteId_fkey" FOREIGN KEY ("testSuiteId") REFERENCES "JUnitTestSuite"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "JUnitTestResult" ADD CONSTRAINT "JUnitTestResult_createdById_fkey" FOREIGN KEY ("createdById") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "JUnitTestResult" ADD CONSTRAINT "JUnitTestResult_statusId_fkey" FOREIGN KEY ("statusId") REFERENCES "Status"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- +goose Down
DROP TABLE "JUnitTestResult";
DROP TABLE "JUnitTestSuite";
DROP TABLE "TestRunResults";
DROP TABLE "TestRunCases";
DROP TABLE "TestRuns";
DROP TABLE "Sessions";
