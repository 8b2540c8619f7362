-- Development subset of TestPlanIt's database: configuration, users, preferences, notifications.
--
-- Source: testplanit/prisma/schema.prisma, models AppConfig, Roles, User, UserPreferences and
-- Notification, with every column of the original, rendered as `prisma migrate` renders them:
-- String -> TEXT, DateTime -> TIMESTAMP(3) (or TIMESTAMPTZ(6) where the model says
-- @db.Timestamptz(6)), Json -> JSONB, constraint names "<Table>_<cols>_pkey|key|idx|fkey".
--
-- Prisma-side defaults are deliberately NOT database defaults, exactly as in TestPlanIt:
--   @default(cuid()) / @default(uuid()) ids ("User".id, "UserPreferences".id, "Notification".id)
--   and @updatedAt columns ("User"."updatedAt", "Notification"."updatedAt") have no DEFAULT.
-- Every writer supplies them; an INSERT that forgets one fails here as it would in production.

-- +goose Up
-- model AppConfig: keys used by the workers: 'notificationSettings' ({"defaultMode": ...}),
-- 'elasticsearch_replicas'.
CREATE TABLE "AppConfig" (
    "key" TEXT NOT NULL,
    "value" JSONB NOT NULL,

    CONSTRAINT "AppConfig_pkey" PRIMARY KEY ("key")
);

-- model Roles (target of "User"."roleId", whose Prisma default is 1).
CREATE TABLE "Roles" (
    "id" SERIAL NOT NULL,
    "name" TEXT NOT NULL,
    "isDefault" BOOLEAN NOT NULL DEFAULT false,
    "isDeleted" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "Roles_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "Roles_name_key" ON "Roles"("name");

-- model User
CREATE TABLE "User" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "email" TEXT NOT NULL,
    "emailVerified" TIMESTAMP(3),
    "emailVerifToken" TEXT,
    "emailTokenExpires" TIMESTAMP(3),
    "password" TEXT NOT NULL,
    "image" TEXT,
    "authMethod" "AuthMethod" NOT NULL DEFAULT 'INTERNAL',
    "externalId" TEXT,
    "access" "Access" NOT NULL DEFAULT 'NONE',
    "roleId" INTEGER NOT NULL DEFAULT 1,
    "isActive" BOOLEAN NOT NULL DEFAULT true,
    "isDeleted" BOOLEAN NOT NULL DEFAULT false,
    "isApi" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdById" TEXT,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    "lastActiveAt" TIMESTAMP(3),
    "lastSeenVersion" TEXT,
    "twoFactorEnabled" BOOLEAN NOT NULL DEFAULT false,
    "twoFactorSecret" TEXT,
    "twoFactorBackupCodes" TEXT,

    CONSTRAINT "User_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "User_email_key" ON "User"("email");
CREATE INDEX "User_isActive_isDeleted_idx" ON "User"("isActive", "isDeleted");
CREATE INDEX "User_access_idx" ON "User"("access");

ALTER TABLE "User" ADD CONSTRAINT "User_roleId_fkey" FOREIGN KEY ("roleId") REFERENCES "Roles"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "User" ADD CONSTRAINT "User_createdById_fkey" FOREIGN KEY ("createdById") REFERENCES "User"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- model UserPreferences: id is @default(uuid()), filled by the client.
CREATE TABLE "UserPreferences" (
    "id" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "theme" "Theme" NOT NULL DEFAULT 'Purple',
    "itemsPerPage" "ItemsPerPage" NOT NULL DEFAULT '10',
    "locale" "Locale" NOT NULL DEFAULT 'en_US',
    "dateFormat" "DateFormat" NOT NULL DEFAULT 'MM_DD_YYYY_DASH',
    "timeFormat" "TimeFormat" NOT NULL DEFAULT 'HH_MM_A',
    "timezone" TEXT NOT NULL DEFAULT 'Etc/UTC',
    "notificationMode" "NotificationMode" NOT NULL DEFAULT 'USE_GLOBAL',
    "emailNotifications" BOOLEAN NOT NULL DEFAULT true,
    "inAppNotifications" BOOLEAN NOT NULL DEFAULT true,
    "hasCompletedWelcomeTour" BOOLEAN NOT NULL DEFAULT false,
    "hasCompletedInitialPreferencesSetup" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "UserPreferences_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "UserPreferences_userId_key" ON "UserPreferences"("userId");

ALTER TABLE "UserPreferences" ADD CONSTRAINT "UserPreferences_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- model Notification: id is @default(cuid()) and "updatedAt" is @updatedAt, both client-side.
CREATE TABLE "Notification" (
    "id" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "type" "NotificationType" NOT NULL,
    "title" TEXT NOT NULL,
    "message" TEXT NOT NULL,
    "data" JSONB,
    "isRead" BOOLEAN NOT NULL DEFAULT false,
    "isDeleted" BOOLEAN NOT NULL DEFAULT false,
    "relatedEntityId" TEXT,
    "relatedEntityType" TEXT,
    "createdAt" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Notification_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "Notification_userId_isRead_isDeleted_idx" ON "Notification"("userId", "isRead", "isDeleted");
CREATE INDEX "Notification_createdAt_idx" ON "Notification"("createdAt");
CREATE INDEX "Notification_type_idx" ON "Notification"("type");

ALTER TABLE "Notification" ADD CONSTRAINT "Notification_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- +goose Down
DROP TABLE "Notification";
DROP TABLE "UserPreferences";
DROP TABLE "User";
DROP TABLE "Roles";
DROP TABLE "AppConfig";
