-- Development subset of TestPlanIt's database: Linear as an issue-tracker provider.
--
-- TestPlanIt's "IntegrationProvider" enum (testplanit/prisma/schema.prisma) has no LINEAR; the
-- sync worker supports Linear (DESIGN section 4), so the development subset adds the value.
-- TestPlanIt's own database is never changed by this set: there the value is added only on
-- the operator's explicit request (`postgres.EnableLinear`, `tpictl migrate --enable-linear`).
--
-- ALTER TYPE ... ADD VALUE cannot be undone (PostgreSQL cannot drop an enum value) and the new
-- value cannot be used in the transaction that adds it, hence no transaction and no Down.

-- +goose NO TRANSACTION

-- +goose Up
ALTER TYPE "IntegrationProvider" ADD VALUE IF NOT EXISTS 'LINEAR';

-- +goose Down
-- An enum value cannot be dropped; LINEAR stays (unused values are harmless).
SELECT 1;
