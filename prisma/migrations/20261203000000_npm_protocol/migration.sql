-- npm as a second protocol (issue 14): releases record their protocol (names of one protocol are
-- not another's), and each requirement its kind (npm: dependency, optional, peer, peer-optional;
-- NULL for PyPI's Requires-Dist).

ALTER TABLE "release" ADD COLUMN "protocol" TEXT NOT NULL DEFAULT 'pypi';
ALTER TABLE "artifact_dependency" ADD COLUMN "kind" TEXT;

DROP INDEX "release_project_version_idx";
CREATE INDEX "release_protocol_project_version_idx" ON "release"("protocol", "project", "version");
