# syntax=docker/dockerfile:1
# ServiceLane image: one image for every role (ROLE=api|voice|worker|all). See docs/deploy.md.
# test/e2e/image.test.ts parses this file and performs its COPY/RUN/CMD steps in a temporary folder, so keep
# to plain `COPY <src> <dest>`, `COPY --from=build`, single-line RUN and exec-form CMD/ENTRYPOINT.

# ---- build: full install (TypeScript and the rest of the dev tools), compile to dist/
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The npm cache is a BuildKit cache mount: reused between builds, never part of a layer.
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY core ./core
COPY plugins ./plugins
COPY scripts ./scripts
COPY web ./web
RUN npm run build

# ---- runtime: production dependencies, the compiled code and the files it reads at run time
FROM node:24-bookworm-slim AS runtime
# tini is PID 1: it forwards SIGTERM to node and reaps zombies (what `docker run --init` would add).
RUN apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --no-audit --no-fund
COPY --from=build /app/dist ./dist
COPY migrations ./migrations
COPY tenants ./tenants
# The node image's unprivileged user (uid 1000); the chart also sets runAsNonRoot and a read-only root fs.
USER node
EXPOSE 3000
ENTRYPOINT ["tini", "--"]
# Exec form, node directly (not npm): SIGTERM from Kubernetes reaches the process that drains calls.
CMD ["node", "dist/core/main.js"]
