-- Development subset of TestPlanIt's database: the catalogs that cases, runs and milestones point
-- at (colors, icons, statuses, workflow states, milestone types, templates, configurations).
--
-- Source: testplanit/prisma/schema.prisma, models ColorFamily, Color, FieldIcon, Status,
-- Workflows, MilestoneTypes, Templates and Configurations, rendered as `prisma migrate` renders
-- them. "Status"."order" and "Workflows"."order" are @default(autoincrement()) in Prisma, hence
-- SERIAL. TestPlanIt seeds "Status"."systemName" in lower case: untested, passed, failed, retest,
-- blocked, skipped, exception (testplanit/prisma/seed.ts).

-- +goose Up
-- model ColorFamily
CREATE TABLE "ColorFamily" (
    "id" SERIAL NOT NULL,
    "name" TEXT NOT NULL,
    "order" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "ColorFamily_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "ColorFamily_name_key" ON "ColorFamily"("name");
CREATE UNIQUE INDEX "ColorFamily_order_key" ON "ColorFamily"("order");

-- model Color
CREATE TABLE "Color" (
    "id" SERIAL NOT NULL,
    "colorFamilyId" INTEGER NOT NULL,
    "value" TEXT NOT NULL,
    "order" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "Color_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "Color_colorFamilyId_order_key" ON "Color"("colorFamilyId", "order");

ALTER TABLE "Color" ADD CONSTRAINT "Color_colorFamilyId_fkey" FOREIGN KEY ("colorFamilyId") REFERENCES "ColorFamily"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- model FieldIcon
CREATE TABLE "FieldIcon" (
    "id" SERIAL NOT NULL,
    "name" TEXT NOT NULL,

    CONSTRAINT "FieldIcon_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "FieldIcon_name_key" ON "FieldIcon"("name");

-- model Status
CREATE TABLE "Status" (
    "id" SERIAL NOT NULL,
    "order" SERIAL NOT NULL,
    "name" TEXT NOT NULL,
    "systemName" TEXT NOT NULL,
    "aliases" TEXT,
    "colorId" INTEGER NOT NULL,
    "isDeleted" BOOLEAN NOT NULL DEFAULT false,
    "isEnabled" BOOLEAN NOT NULL,
    "isSuccess" BOOLEAN NOT NULL,
    "isFailure" BOOLEAN NOT NULL,
    "isCompleted" BOOLEAN NOT NULL,

    CONSTRAINT "Status_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "Status_systemName_key" ON "Status"("systemName");
CREATE INDEX "Status_isDeleted_isEnabled_idx" ON "Status"("isDeleted", "isEnabled");
CREATE INDEX "Status_order_idx" ON "Status"("order");

ALTER TABLE "Status" ADD CONSTRAINT "Status_colorId_fkey" FOREIGN KEY ("colorId") REFERENCES "Color"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- model Workflows: the workflow states of cases, runs and sessions ("stateId" columns).
CREATE TABLE "Workflows" (
    "id" SERIAL NOT NULL,
    "order" SERIAL NOT NULL,
    "name" TEXT NOT NULL,
    "iconId" INTEGER NOT NULL,
    "colorId" INTEGER NOT NULL,
    "isEnabled" BOOLEAN NOT NULL DEFAULT true,
    "isDeleted" BOOLEAN NOT NULL DEFAULT false,
    "isDefault" BOOLEAN NOT NULL DEFAULT false,
    "workflowType" "WorkflowType" NOT NULL DEFAULT 'NOT_STARTED',
    "scope" "WorkflowScope" NOT NULL,

    CONSTRAINT "Workflows_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "Workflows_isDeleted_isEnabled_idx" ON "Workflows"("isDeleted", "isEnabled");
CREATE INDEX "Workflows_scope_isDefault_idx" ON "Workflows"("scope", "isDefault");
CREATE INDEX "Workflows_order_idx" ON "Workflows"("order");

ALTER TABLE "Workflows" ADD CONSTRAINT "Workflows_iconId_fkey" FOREIGN KEY ("iconId") REFERENCES "FieldIcon"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "Workflows" ADD CONSTRAINT "Workflows_colorId_fkey" FOREIGN KEY ("colorId") REFERENCES "Color"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- model MilestoneTypes
CREATE TABLE "MilestoneTypes" (
    "id" SERIAL NOT NULL,
    "name" TEXT NOT NULL,
    "iconId" INTEGER,
    "isDefault" BOOLEAN NOT NULL DEFAULT false,
    "isDeleted" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "MilestoneTypes_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "MilestoneTypes_name_key" ON "MilestoneTypes"("name");

ALTER TABLE "MilestoneTypes" ADD CONSTRAINT "MilestoneTypes_iconId_fkey" FOREIGN KEY ("iconId") REFERENCES "FieldIcon"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- model Templates
CREATE TABLE "Templates" (
    "id" SERIAL NOT NULL,
    "templateName" TEXT NOT NULL,
    "isEnabled" BOOLEAN NOT NULL,
    "isDeleted" BOOLEAN NOT NULL DEFAULT false,
    "isDefault" BOOLEAN NOT NULL,

    CONSTRAINT "Templates_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "Templates_templateName_key" ON "Templates"("templateName");

-- model Configurations (target of "TestRuns"."configId" and "Sessions"."configId").
CREATE TABLE "Configurations" (
    "id" SERIAL NOT NULL,
    "name" TEXT NOT NULL,
    "isEnabled" BOOLEAN NOT NULL DEFAULT true,
    "isDeleted" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "Configurations_pkey" PRIMARY KEY ("id")
);

-- +goose Down
DROP TABLE "Configurations";
DROP TABLE "Templates";
DROP TABLE "MilestoneTypes";
DROP TABLE "Workflows";
DROP TABLE "Status";
DROP TABLE "FieldIcon";
DROP TABLE "Color";
DROP TABLE "ColorFamily";
