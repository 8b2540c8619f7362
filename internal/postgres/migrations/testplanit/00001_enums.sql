-- Development subset of TestPlanIt's database: the enums used by the tables the workers touch.
--
-- Source: testplanit/prisma/schema.prisma (TestPlanIt 0.11.x), rendered the way `prisma migrate`
-- renders it for PostgreSQL. Names and values are the original ones; a value spelled with
-- @map in Prisma (ItemsPerPage) is stored under its mapped name.
--
-- This set exists for development, tests and demos only. On a database that TestPlanIt already
-- owns, run the fleet with MigrateWorkerOnly and never apply these files.

-- +goose Up
CREATE TYPE "Theme" AS ENUM ('Light', 'Dark', 'System', 'Green', 'Orange', 'Purple');

CREATE TYPE "ItemsPerPage" AS ENUM ('10', '25', '50', '100', '250');

CREATE TYPE "Locale" AS ENUM ('en_US', 'es_ES', 'fr_FR');

CREATE TYPE "DateFormat" AS ENUM ('MM_DD_YYYY_SLASH', 'MM_DD_YYYY_DASH', 'DD_MM_YYYY_SLASH', 'DD_MM_YYYY_DASH', 'YYYY_MM_DD', 'MMM_D_YYYY', 'D_MMM_YYYY');

CREATE TYPE "TimeFormat" AS ENUM ('HH_MM', 'HH_MM_A', 'HH_MM_Z', 'HH_MM_Z_A');

CREATE TYPE "Access" AS ENUM ('NONE', 'USER', 'PROJECTADMIN', 'ADMIN');

CREATE TYPE "AuthMethod" AS ENUM ('INTERNAL', 'SSO', 'BOTH');

CREATE TYPE "NotificationMode" AS ENUM ('NONE', 'IN_APP', 'IN_APP_EMAIL_IMMEDIATE', 'IN_APP_EMAIL_DAILY', 'USE_GLOBAL');

CREATE TYPE "NotificationType" AS ENUM ('WORK_ASSIGNED', 'SESSION_ASSIGNED', 'SYSTEM_ANNOUNCEMENT', 'USER_REGISTERED', 'COMMENT_MENTION', 'MILESTONE_DUE_REMINDER', 'SHARE_LINK_ACCESSED');

CREATE TYPE "WorkflowType" AS ENUM ('NOT_STARTED', 'IN_PROGRESS', 'DONE');

CREATE TYPE "WorkflowScope" AS ENUM ('CASES', 'RUNS', 'SESSIONS');

CREATE TYPE "ProjectAccessType" AS ENUM ('DEFAULT', 'NO_ACCESS', 'GLOBAL_ROLE', 'SPECIFIC_ROLE');

CREATE TYPE "RepositoryCaseSource" AS ENUM ('MANUAL', 'JUNIT', 'TESTNG', 'XUNIT', 'NUNIT', 'MSTEST', 'MOCHA', 'CUCUMBER', 'API');

CREATE TYPE "LinkType" AS ENUM ('SAME_TEST_DIFFERENT_SOURCE', 'DEPENDS_ON');

CREATE TYPE "TestRunType" AS ENUM ('REGULAR', 'JUNIT', 'TESTNG', 'XUNIT', 'NUNIT', 'MSTEST', 'MOCHA', 'CUCUMBER');

CREATE TYPE "JUnitResultType" AS ENUM ('PASSED', 'FAILURE', 'ERROR', 'SKIPPED');

CREATE TYPE "IntegrationProvider" AS ENUM ('JIRA', 'GITHUB', 'AZURE_DEVOPS', 'SIMPLE_URL');

CREATE TYPE "IntegrationAuthType" AS ENUM ('NONE', 'OAUTH2', 'PERSONAL_ACCESS_TOKEN', 'API_KEY');

CREATE TYPE "IntegrationStatus" AS ENUM ('ACTIVE', 'INACTIVE', 'ERROR');

CREATE TYPE "TestmoImportStatus" AS ENUM ('QUEUED', 'RUNNING', 'READY', 'COMPLETED', 'FAILED', 'CANCELED');

CREATE TYPE "TestmoImportPhase" AS ENUM ('UPLOADING', 'ANALYZING', 'CONFIGURING', 'IMPORTING', 'FINALIZING');

CREATE TYPE "AuditAction" AS ENUM ('CREATE', 'UPDATE', 'DELETE', 'BULK_CREATE', 'BULK_UPDATE', 'BULK_DELETE', 'LOGIN', 'LOGOUT', 'LOGIN_FAILED', 'SESSION_INVALIDATED', 'PASSWORD_CHANGED', 'PASSWORD_RESET', 'PERMISSION_GRANT', 'PERMISSION_REVOKE', 'ROLE_CHANGED', 'API_KEY_CREATED', 'API_KEY_DELETED', 'API_KEY_REGENERATED', 'API_KEY_REVOKED', 'DATA_EXPORTED', 'SSO_CONFIG_CHANGED', 'SYSTEM_CONFIG_CHANGED', 'SHARE_LINK_CREATED', 'SHARE_LINK_ACCESSED', 'SHARE_LINK_REVOKED');

-- +goose Down
DROP TYPE "AuditAction";
DROP TYPE "TestmoImportPhase";
DROP TYPE "TestmoImportStatus";
DROP TYPE "IntegrationStatus";
DROP TYPE "IntegrationAuthType";
DROP TYPE "IntegrationProvider";
DROP TYPE "JUnitResultType";
DROP TYPE "TestRunType";
DROP TYPE "LinkType";
DROP TYPE "RepositoryCaseSource";
DROP TYPE "ProjectAccessType";
DROP TYPE "WorkflowScope";
DROP TYPE "WorkflowType";
DROP TYPE "NotificationType";
DROP TYPE "NotificationMode";
DROP TYPE "AuthMethod";
DROP TYPE "Access";
DROP TYPE "TimeFormat";
DROP TYPE "DateFormat";
DROP TYPE "Locale";
DROP TYPE "ItemsPerPage";
DROP TYPE "Theme";
