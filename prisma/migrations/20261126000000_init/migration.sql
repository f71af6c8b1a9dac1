-- CreateTable
CREATE TABLE "upstream_source" (
    "id" SERIAL NOT NULL,
    "name" TEXT NOT NULL,
    "protocol" TEXT NOT NULL DEFAULT 'pypi',
    "url" TEXT NOT NULL,
    "priority" INTEGER NOT NULL DEFAULT 100,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "auth_type" TEXT NOT NULL DEFAULT 'none',
    "auth_secret" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "upstream_source_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "artifact" (
    "sha256" CHAR(64) NOT NULL,
    "size" BIGINT NOT NULL,
    "filename" TEXT NOT NULL,
    "project" TEXT NOT NULL,
    "protocol" TEXT NOT NULL DEFAULT 'pypi',
    "storage_key" TEXT NOT NULL,
    "ref_count" INTEGER NOT NULL DEFAULT 1,
    "metadata_sha256" CHAR(64),
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_fetched_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "artifact_pkey" PRIMARY KEY ("sha256")
);

-- CreateTable
CREATE TABLE "cached_url" (
    "url_hash" CHAR(64) NOT NULL,
    "url" TEXT NOT NULL,
    "upstream" TEXT NOT NULL,
    "artifact_sha256" CHAR(64) NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "cached_url_pkey" PRIMARY KEY ("url_hash")
);

-- CreateTable
CREATE TABLE "release" (
    "id" SERIAL NOT NULL,
    "artifact_sha256" CHAR(64) NOT NULL,
    "project" TEXT NOT NULL,
    "version" TEXT NOT NULL,
    "requires_python" TEXT,
    "summary" TEXT,
    "metadata_version" TEXT,
    "metadata_status" TEXT NOT NULL DEFAULT 'pending',
    "metadata_error" TEXT,
    "dependencies_known" BOOLEAN NOT NULL DEFAULT true,
    "provides_extra" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "dynamic" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "license_expression" TEXT,
    "extracted_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "release_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "artifact_dependency" (
    "id" BIGSERIAL NOT NULL,
    "artifact_sha256" CHAR(64) NOT NULL,
    "name" TEXT NOT NULL,
    "specifier" TEXT NOT NULL DEFAULT '',
    "extras" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "marker" TEXT,
    "url" TEXT,
    "extra" TEXT,
    "raw" TEXT NOT NULL,

    CONSTRAINT "artifact_dependency_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "upstream_source_name_key" ON "upstream_source"("name");

-- CreateIndex
CREATE INDEX "artifact_project_idx" ON "artifact"("project");

-- CreateIndex
CREATE INDEX "cached_url_artifact_sha256_idx" ON "cached_url"("artifact_sha256");

-- CreateIndex
CREATE UNIQUE INDEX "release_artifact_sha256_key" ON "release"("artifact_sha256");

-- CreateIndex
CREATE INDEX "release_project_version_idx" ON "release"("project", "version");

-- CreateIndex
CREATE INDEX "artifact_dependency_name_idx" ON "artifact_dependency"("name");

-- CreateIndex
CREATE UNIQUE INDEX "artifact_dependency_artifact_sha256_raw_key" ON "artifact_dependency"("artifact_sha256", "raw");

-- AddForeignKey
ALTER TABLE "cached_url" ADD CONSTRAINT "cached_url_artifact_sha256_fkey" FOREIGN KEY ("artifact_sha256") REFERENCES "artifact"("sha256") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "release" ADD CONSTRAINT "release_artifact_sha256_fkey" FOREIGN KEY ("artifact_sha256") REFERENCES "artifact"("sha256") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "artifact_dependency" ADD CONSTRAINT "artifact_dependency_artifact_sha256_fkey" FOREIGN KEY ("artifact_sha256") REFERENCES "artifact"("sha256") ON DELETE CASCADE ON UPDATE CASCADE;
