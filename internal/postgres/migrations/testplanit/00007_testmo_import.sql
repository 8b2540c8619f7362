-- Development subset of TestPlanIt's database: the Testmo import job and its work tables.
--
-- Source: testplanit/prisma/schema.prisma, models TestmoImportJob, TestmoImportDataset,
-- TestmoImportStaging and TestmoImportMapping, rendered as `prisma migrate` renders them.
-- Faithful to the original, including its weak points (reference section 10, items 11-12):
-- "TestmoImportStaging" and "TestmoImportMapping" have NO foreign key to the job, and the
-- string ids (@default(cuid())) and "updatedAt" (@updatedAt) have no database default.
-- The fleet keeps its own checkpoints and id maps in the `worker` schema instead.

-- +goose Up
-- model TestmoImportJob
CREATE TABLE "TestmoImportJob" (
    "id" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    "createdById" TEXT NOT NULL,
    "status" "TestmoImportStatus" NOT NULL DEFAULT 'QUEUED',
    "statusMessage" TEXT,
    "phase" "TestmoImportPhase",
    "storageKey" TEXT NOT NULL,
    "storageBucket" TEXT,
    "originalFileName" TEXT NOT NULL,
    "originalFileSize" BIGINT,
    "totalDatasets" INTEGER,
    "processedDatasets" INTEGER NOT NULL DEFAULT 0,
    "totalRows" BIGINT,
    "processedRows" BIGINT NOT NULL DEFAULT 0,
    "durationMs" INTEGER,
    "startedAt" TIMESTAMP(3),
    "completedAt" TIMESTAMP(3),
    "canceledAt" TIMESTAMP(3),
    "cancelRequested" BOOLEAN NOT NULL DEFAULT false,
    "error" TEXT,
    "processedCount" INTEGER NOT NULL DEFAULT 0,
    "errorCount" INTEGER NOT NULL DEFAULT 0,
    "skippedCount" INTEGER NOT NULL DEFAULT 0,
    "totalCount" INTEGER NOT NULL DEFAULT 0,
    "currentEntity" TEXT,
    "estimatedTimeRemaining" TEXT,
    "processingRate" TEXT,
    "activityLog" JSONB,
    "entityProgress" JSONB,
    "options" JSONB,
    "configuration" JSONB,
    "analysis" JSONB,
    "analysisGeneratedAt" TIMESTAMP(3),
    "lastImportStartedAt" TIMESTAMP(3),

    CONSTRAINT "TestmoImportJob_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "TestmoImportJob_createdById_idx" ON "TestmoImportJob"("createdById");
CREATE INDEX "TestmoImportJob_status_idx" ON "TestmoImportJob"("status");
CREATE INDEX "TestmoImportJob_createdAt_idx" ON "TestmoImportJob"("createdAt");

ALTER TABLE "TestmoImportJob" ADD CONSTRAINT "TestmoImportJob_createdById_fkey" FOREIGN KEY ("createdById") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- model TestmoImportDataset
CREATE TABLE "TestmoImportDataset" (
    "id" SERIAL NOT NULL,
    "jobId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "rowCount" INTEGER NOT NULL,
    "sampleRowCount" INTEGER NOT NULL,
    "truncated" BOOLEAN NOT NULL,
    "schema" JSONB,
    "sampleRows" JSONB,
    "allRows" JSONB,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "TestmoImportDataset_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "TestmoImportDataset_jobId_idx" ON "TestmoImportDataset"("jobId");
CREATE INDEX "TestmoImportDataset_name_idx" ON "TestmoImportDataset"("name");

ALTER TABLE "TestmoImportDataset" ADD CONSTRAINT "TestmoImportDataset_jobId_fkey" FOREIGN KEY ("jobId") REFERENCES "TestmoImportJob"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- model TestmoImportStaging (no relation to the job in the original schema)
CREATE TABLE "TestmoImportStaging" (
    "id" TEXT NOT NULL,
    "jobId" TEXT NOT NULL,
    "datasetName" TEXT NOT NULL,
    "rowIndex" INTEGER NOT NULL,
    "rowData" JSONB NOT NULL,
    "fieldName" TEXT,
    "fieldValue" TEXT,
    "text1" TEXT,
    "text2" TEXT,
    "text3" TEXT,
    "text4" TEXT,
    "processed" BOOLEAN NOT NULL DEFAULT false,
    "error" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "TestmoImportStaging_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "TestmoImportStaging_jobId_datasetName_processed_idx" ON "TestmoImportStaging"("jobId", "datasetName", "processed");
CREATE INDEX "TestmoImportStaging_jobId_processed_idx" ON "TestmoImportStaging"("jobId", "processed");
CREATE INDEX "TestmoImportStaging_jobId_datasetName_rowIndex_idx" ON "TestmoImportStaging"("jobId", "datasetName", "rowIndex");

-- model TestmoImportMapping (defined but never written by the original worker)
CREATE TABLE "TestmoImportMapping" (
    "id" TEXT NOT NULL,
    "jobId" TEXT NOT NULL,
    "entityType" TEXT NOT NULL,
    "sourceId" INTEGER NOT NULL,
    "targetId" TEXT,
    "targetType" TEXT NOT NULL,
    "metadata" JSONB,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "TestmoImportMapping_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "TestmoImportMapping_jobId_entityType_sourceId_key" ON "TestmoImportMapping"("jobId", "entityType", "sourceId");
CREATE INDEX "TestmoImportMapping_jobId_entityType_idx" ON "TestmoImportMapping"("jobId", "entityType");
CREATE INDEX "TestmoImportMapping_jobId_entityType_sourceId_idx" ON "TestmoImportMapping"("jobId", "entityType", "sourceId");

-- +goose Down
DROP TABLE "TestmoImportMapping";
DROP TABLE "TestmoImportStaging";
DROP TABLE "TestmoImportDataset";
DROP TABLE "TestmoImportJob";
