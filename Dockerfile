# syntax=docker/dockerfile:1
# One image for every Orchard service; the command picks the service:
#   node dist/services/gateway/main.js     (the default; port 8080)
#   node dist/services/fetcher/main.js     (ops port 9101)
#   node dist/services/extractor/main.js   (ops port 9102)
#   node dist/libs/db/migrate-cli.js       (create and migrate the database, then exit)
ARG NODE_IMAGE=node:20-bookworm-slim

# --- build: every dependency, Prisma client generation, TypeScript compilation --------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json prisma.config.ts ./
COPY prisma ./prisma
COPY libs ./libs
COPY services ./services
COPY scripts ./scripts
# `npm run build` = `prisma generate` (PRISMA_SCHEMA_ENGINE_BINARY points at prisma/engine-stub:
# generating the client needs no native engine) + `tsc` into dist/.
RUN npm run build

# --- production dependencies only -------------------------------------------------------------------
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /src
COPY package.json package-lock.json ./
# No install scripts are needed at runtime (the Prisma client is generated in the build stage).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# --- runtime ----------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    ORCHARD_DATA_DIR=/data
WORKDIR /app
# package.json carries "type": "module", which the compiled ESM in dist/ needs.
COPY package.json ./
COPY --from=prod-deps /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# The migration runner finds prisma/migrations by walking up from dist/libs/db.
COPY prisma/migrations ./prisma/migrations
# The local-directory store (ORCHARD_STORAGE=fs) writes here (mount a volume); the rest stays read-only.
RUN mkdir -p /data && chown node:node /data
# The official image's unprivileged user (uid 1000); the Kubernetes manifests run as the same uid.
USER node
EXPOSE 8080 9101 9102
# SIGTERM starts the graceful shutdown (stop taking work, finish or hand back jobs, close pools).
STOPSIGNAL SIGTERM
CMD ["node", "dist/services/gateway/main.js"]
