-- Development subset of TestPlanIt's database: issue-tracker integrations, per-user credentials
-- and issues.
--
-- Source: testplanit/prisma/schema.prisma, models Integration, UserIntegrationAuth and Issue,
-- rendered as `prisma migrate` renders them. "UserIntegrationAuth".id is @default(cuid()) and the
-- "updatedAt" columns are @updatedAt: no database default, the writer supplies them.
-- "Integration".credentials holds {"encrypted": "<base64>"} or plain JSON; access/refresh tokens
-- are stored encrypted by TestPlanIt (testplanit/utils/encryption.ts).
-- The implicit many-to-many join tables between "Issue" and cases/runs/sessions/results are not
-- part of this subset.

-- +goose Up
-- model Integration
CREATE TABLE "Integration" (
    "id" SERIAL NOT NULL,
    "name" TEXT NOT NULL,
    "provider" "IntegrationProvider" NOT NULL,
    "authType" "IntegrationAuthType" NOT NULL,
    "status" "IntegrationStatus" NOT NULL DEFAULT 'INACTIVE',
    "credentials" JSONB NOT NULL,
    "settings" JSONB,
    "lastSyncAt" TIMESTAMP(3),
    "isDeleted" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Integration_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "Integration_name_key" ON "Integration"("name");
CREATE INDEX "Integration_provider_status_idx" ON "Integration"("provider", "status");

-- model UserIntegrationAuth
CREATE TABLE "UserIntegrationAuth" (
    "id" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "integrationId" INTEGER NOT NULL,
    "accessToken" TEXT NOT NULL,
    "refreshToken" TEXT,
    "tokenExpiresAt" TIMESTAMP(3),
    "additionalData" JSONB,
    "isActive" BOOLEAN NOT NULL DEFAULT true,
    "lastUsedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "UserIntegrationAuth_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "UserIntegrationAuth_userId_integrationId_key" ON "UserIntegrationAuth"("userId", "integrationId");
CREATE INDEX "UserIntegrationAuth_integrationId_isActive_idx" ON "UserIntegrationAuth"("integrationId", "isActive");

ALTER TABLE "UserIntegrationAuth" ADD CONSTRAINT "UserIntegrationAuth_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "UserIntegrationAuth" ADD CONSTRAINT "UserIntegrationAuth_integrationId_fkey" FOREIGN KEY ("integrationId") REFERENCES "Integration"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- model Issue
CREATE TABLE "Issue" (
    "id" SERIAL NOT NULL,
    "name" TEXT NOT NULL,
    "title" TEXT NOT NULL,
    "description" TEXT,
    "status" TEXT,
    "priority" TEXT DEFAULT 'medium',
    "externalId" TEXT,
    "externalKey" TEXT,
    "externalUrl" TEXT,
    "externalStatus" TEXT,
    "externalData" JSONB,
    "issueTypeId" TEXT,
    "issueTypeName" TEXT,
    "issueTypeIconUrl" TEXT,
    "lastSyncedAt" TIMESTAMPTZ(6),
    "data" JSONB,
    "note" JSONB,
    "isDeleted" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdById" TEXT NOT NULL,
    "projectId" INTEGER,
    "integrationId" INTEGER,

    CONSTRAINT "Issue_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "Issue_externalId_integrationId_key" ON "Issue"("externalId", "integrationId");
CREATE INDEX "Issue_externalId_idx" ON "Issue"("externalId");
CREATE INDEX "Issue_createdById_idx" ON "Issue"("createdById");
CREATE INDEX "Issue_projectId_idx" ON "Issue"("projectId");
CREATE INDEX "Issue_integrationId_idx" ON "Issue"("integrationId");

ALTER TABLE "Issue" ADD CONSTRAINT "Issue_createdById_fkey" FOREIGN KEY ("createdById") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "Issue" ADD CONSTRAINT "Issue_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "Issue" ADD CONSTRAINT "Issue_integrationId_fkey" FOREIGN KEY ("integrationId") REFERENCES "Integration"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- +goose Down
DROP TABLE "Issue";
DROP TABLE "UserIntegrationAuth";
DROP TABLE "Integration";
