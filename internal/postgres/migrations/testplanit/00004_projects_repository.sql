-- Development subset of TestPlanIt's database: projects, the case repository and milestones.
--
-- Source: testplanit/prisma/schema.prisma, models Projects, Repositories, RepositoryFolders,
-- RepositoryCases, RepositoryCaseLink and Milestones, rendered as `prisma migrate` renders them
-- (names longer than 63 bytes truncated the way Prisma truncates them).
-- Note: "Milestones"."completedAt" doubles as the due date in TestPlanIt (reference section 2.3).

-- +goose Up
-- model Projects
CREATE TABLE "Projects" (
    "id" SERIAL NOT NULL,
    "name" TEXT NOT NULL,
    "iconUrl" TEXT,
    "note" TEXT,
    "docs" TEXT,
    "isCompleted" BOOLEAN NOT NULL DEFAULT false,
    "isDeleted" BOOLEAN NOT NULL DEFAULT false,
    "completedAt" DATE,
    "createdAt" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdBy" TEXT NOT NULL,
    "defaultAccessType" "ProjectAccessType" NOT NULL DEFAULT 'GLOBAL_ROLE',
    "defaultRoleId" INTEGER,

    CONSTRAINT "Projects_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "Projects_name_key" ON "Projects"("name");
CREATE INDEX "Projects_isDeleted_isCompleted_idx" ON "Projects"("isDeleted", "isCompleted");
CREATE INDEX "Projects_createdBy_idx" ON "Projects"("createdBy");

ALTER TABLE "Projects" ADD CONSTRAINT "Projects_createdBy_fkey" FOREIGN KEY ("createdBy") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "Projects" ADD CONSTRAINT "Projects_defaultRoleId_fkey" FOREIGN KEY ("defaultRoleId") REFERENCES "Roles"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- model Repositories
CREATE TABLE "Repositories" (
    "id" SERIAL NOT NULL,
    "projectId" INTEGER NOT NULL,
    "isActive" BOOLEAN NOT NULL DEFAULT true,
    "isArchived" BOOLEAN NOT NULL DEFAULT false,
    "isDeleted" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "Repositories_pkey" PRIMARY KEY ("id")
);

ALTER TABLE "Repositories" ADD CONSTRAINT "Repositories_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- model RepositoryFolders
CREATE TABLE "RepositoryFolders" (
    "id" SERIAL NOT NULL,
    "projectId" INTEGER NOT NULL,
    "repositoryId" INTEGER NOT NULL,
    "parentId" INTEGER,
    "name" TEXT NOT NULL,
    "docs" JSONB,
    "createdAt" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "creatorId" TEXT NOT NULL,
    "order" INTEGER NOT NULL DEFAULT 0,
    "isDeleted" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "RepositoryFolders_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "RepositoryFolders_projectId_repositoryId_parentId_name_isDe_key" ON "RepositoryFolders"("projectId", "repositoryId", "parentId", "name", "isDeleted");
CREATE INDEX "RepositoryFolders_projectId_repositoryId_isDeleted_idx" ON "RepositoryFolders"("projectId", "repositoryId", "isDeleted");
CREATE INDEX "RepositoryFolders_parentId_idx" ON "RepositoryFolders"("parentId");
CREATE INDEX "RepositoryFolders_order_idx" ON "RepositoryFolders"("order");

ALTER TABLE "RepositoryFolders" ADD CONSTRAINT "RepositoryFolders_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "RepositoryFolders" ADD CONSTRAINT "RepositoryFolders_repositoryId_fkey" FOREIGN KEY ("repositoryId") REFERENCES "Repositories"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "RepositoryFolders" ADD CONSTRAINT "RepositoryFolders_parentId_fkey" FOREIGN KEY ("parentId") REFERENCES "RepositoryFolders"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "RepositoryFolders" ADD CONSTRAINT "RepositoryFolders_creatorId_fkey" FOREIGN KEY ("creatorId") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- model RepositoryCases: estimate / forecastManual are seconds (INTEGER), forecastAutomated is
-- seconds (DOUBLE PRECISION).
CREATE TABLE "RepositoryCases" (
    "id" SERIAL NOT NULL,
    "projectId" INTEGER NOT NULL,
    "repositoryId" INTEGER NOT NULL,
    "folderId" INTEGER NOT NULL,
    "templateId" INTEGER NOT NULL,
    "name" TEXT NOT NULL,
    "className" TEXT,
    "source" "RepositoryCaseSource" NOT NULL DEFAULT 'MANUAL',
    "stateId" INTEGER NOT NULL,
    "estimate" INTEGER,
    "forecastManual" INTEGER,
    "forecastAutomated" DOUBLE PRECISION,
    "order" INTEGER NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "creatorId" TEXT NOT NULL,
    "automated" BOOLEAN NOT NULL DEFAULT false,
    "isArchived" BOOLEAN NOT NULL DEFAULT false,
    "isDeleted" BOOLEAN NOT NULL DEFAULT false,
    "currentVersion" INTEGER NOT NULL DEFAULT 1,

    CONSTRAINT "RepositoryCases_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "RepositoryCases_projectId_name_className_source_key" ON "RepositoryCases"("projectId", "name", "className", "source");
CREATE INDEX "RepositoryCases_projectId_isDeleted_isArchived_idx" ON "RepositoryCases"("projectId", "isDeleted", "isArchived");
CREATE INDEX "RepositoryCases_folderId_order_idx" ON "RepositoryCases"("folderId", "order");
CREATE INDEX "RepositoryCases_repositoryId_isDeleted_idx" ON "RepositoryCases"("repositoryId", "isDeleted");
CREATE INDEX "RepositoryCases_stateId_idx" ON "RepositoryCases"("stateId");
CREATE INDEX "RepositoryCases_automated_idx" ON "RepositoryCases"("automated");
CREATE INDEX "RepositoryCases_createdAt_idx" ON "RepositoryCases"("createdAt");

ALTER TABLE "RepositoryCases" ADD CONSTRAINT "RepositoryCases_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "RepositoryCases" ADD CONSTRAINT "RepositoryCases_repositoryId_fkey" FOREIGN KEY ("repositoryId") REFERENCES "Repositories"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "RepositoryCases" ADD CONSTRAINT "RepositoryCases_folderId_fkey" FOREIGN KEY ("folderId") REFERENCES "RepositoryFolders"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "RepositoryCases" ADD CONSTRAINT "RepositoryCases_templateId_fkey" FOREIGN KEY ("templateId") REFERENCES "Templates"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "RepositoryCases" ADD CONSTRAINT "RepositoryCases_stateId_fkey" FOREIGN KEY ("stateId") REFERENCES "Workflows"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "RepositoryCases" ADD CONSTRAINT "RepositoryCases_creatorId_fkey" FOREIGN KEY ("creatorId") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- model RepositoryCaseLink
CREATE TABLE "RepositoryCaseLink" (
    "id" SERIAL NOT NULL,
    "caseAId" INTEGER NOT NULL,
    "caseBId" INTEGER NOT NULL,
    "type" "LinkType" NOT NULL,
    "isDeleted" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdById" TEXT NOT NULL,

    CONSTRAINT "RepositoryCaseLink_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "RepositoryCaseLink_caseAId_caseBId_type_key" ON "RepositoryCaseLink"("caseAId", "caseBId", "type");

ALTER TABLE "RepositoryCaseLink" ADD CONSTRAINT "RepositoryCaseLink_caseAId_fkey" FOREIGN KEY ("caseAId") REFERENCES "RepositoryCases"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "RepositoryCaseLink" ADD CONSTRAINT "RepositoryCaseLink_caseBId_fkey" FOREIGN KEY ("caseBId") REFERENCES "RepositoryCases"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "RepositoryCaseLink" ADD CONSTRAINT "RepositoryCaseLink_createdById_fkey" FOREIGN KEY ("createdById") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- model Milestones
CREATE TABLE "Milestones" (
    "id" SERIAL NOT NULL,
    "projectId" INTEGER NOT NULL,
    "rootId" INTEGER,
    "parentId" INTEGER,
    "milestoneTypesId" INTEGER NOT NULL,
    "name" TEXT NOT NULL,
    "note" JSONB,
    "docs" JSONB,
    "isStarted" BOOLEAN NOT NULL DEFAULT false,
    "isCompleted" BOOLEAN NOT NULL DEFAULT false,
    "isDeleted" BOOLEAN NOT NULL DEFAULT false,
    "automaticCompletion" BOOLEAN NOT NULL DEFAULT false,
    "notifyDaysBefore" INTEGER NOT NULL DEFAULT 0,
    "startedAt" TIMESTAMPTZ(6),
    "completedAt" TIMESTAMPTZ(6),
    "createdAt" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdBy" TEXT NOT NULL,

    CONSTRAINT "Milestones_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "Milestones_projectId_isDeleted_idx" ON "Milestones"("projectId", "isDeleted");
CREATE INDEX "Milestones_parentId_idx" ON "Milestones"("parentId");
CREATE INDEX "Milestones_isCompleted_isDeleted_idx" ON "Milestones"("isCompleted", "isDeleted");
CREATE INDEX "Milestones_isCompleted_automaticCompletion_completedAt_idx" ON "Milestones"("isCompleted", "automaticCompletion", "completedAt");
CREATE INDEX "Milestones_isCompleted_notifyDaysBefore_completedAt_idx" ON "Milestones"("isCompleted", "notifyDaysBefore", "completedAt");

ALTER TABLE "Milestones" ADD CONSTRAINT "Milestones_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "Milestones" ADD CONSTRAINT "Milestones_rootId_fkey" FOREIGN KEY ("rootId") REFERENCES "Milestones"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "Milestones" ADD CONSTRAINT "Milestones_parentId_fkey" FOREIGN KEY ("parentId") REFERENCES "Milestones"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "Milestones" ADD CONSTRAINT "Milestones_milestoneTypesId_fkey" FOREIGN KEY ("milestoneTypesId") REFERENCES "MilestoneTypes"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "Milestones" ADD CONSTRAINT "Milestones_createdBy_fkey" FOREIGN KEY ("createdBy") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- +goose Down
DROP TABLE "Milestones";
DROP TABLE "RepositoryCaseLink";
DROP TABLE "RepositoryCases";
DROP TABLE "RepositoryFolders";
DROP TABLE "Repositories";
DROP TABLE "Projects";
