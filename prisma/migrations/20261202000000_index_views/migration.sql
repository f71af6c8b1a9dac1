-- Policy views (issue 16): indexes narrowed by rules, managed through the admin API.

-- CreateTable
CREATE TABLE "index_view" (
    "name" TEXT NOT NULL,
    "protocol" TEXT NOT NULL DEFAULT 'pypi',
    "rules" JSONB NOT NULL,
    "revision" INTEGER NOT NULL DEFAULT 1,
    "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "index_view_pkey" PRIMARY KEY ("name")
);
