-- Storage lifecycle (issue 15): when each stored file was last served, how often it was served and
-- fetched, whether its bytes were evicted, and pins that keep files from eviction.

-- AlterTable
ALTER TABLE "artifact" ADD COLUMN "last_served_at" TIMESTAMP(3),
ADD COLUMN "served_count" BIGINT NOT NULL DEFAULT 0,
ADD COLUMN "fetch_count" INTEGER NOT NULL DEFAULT 1,
ADD COLUMN "evicted_at" TIMESTAMP(3);

-- Eviction reads the stored files least recently used first.
CREATE INDEX "artifact_eviction_order_idx" ON "artifact" ((GREATEST("last_served_at", "last_fetched_at"))) WHERE "evicted_at" IS NULL;

-- CreateTable
CREATE TABLE "storage_pin" (
    "id" SERIAL NOT NULL,
    "protocol" TEXT NOT NULL DEFAULT 'pypi',
    "project" TEXT NOT NULL,
    "version" TEXT NOT NULL DEFAULT '',
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "storage_pin_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "storage_pin_protocol_project_version_key" ON "storage_pin"("protocol", "project", "version");
