# syntax=docker/dockerfile:1
# ---- build: full dependencies (tsc, native build of better-sqlite3), compile TypeScript ----
# Node 24.18.1 on purpose: better-sqlite3 12 built against the headers of 24.19.0 or newer aborts
# ("Assertion failed: (env) != nullptr", node::ObjectWrap's cleanup hooks; docs/operations.md,
# "Node 24"). A 24.18.1 build runs on every Node 24 (one ABI), so the runtime stage takes the newest.
FROM node:24.18.1-bookworm-slim AS build
WORKDIR /app
# node-gyp builds better-sqlite3 from source, against this image's own headers, instead of
# downloading a prebuilt binary or other headers
ENV npm_config_nodedir=/usr/local \
    npm_config_build_from_source=better-sqlite3
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci \
 && ! grep -q RemoveEnvironmentCleanupHook node_modules/better-sqlite3/build/Release/better_sqlite3.node
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY routes ./routes
RUN npm run build \
 && npm prune --omit=dev

# ---- runtime: production dependencies only, non-root, git for the target repository ----
FROM node:24-bookworm-slim AS runtime
# ca-certificates and openssh-client: "push": true to an https or ssh remote needs them
RUN apt-get update \
 && apt-get install -y --no-install-recommends git tini ca-certificates openssh-client \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/data
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./package.json
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --chown=node:node templates ./templates
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# tini forwards SIGTERM so the service can drain in-flight requests and close the database
ENTRYPOINT ["/usr/bin/tini", "--"]
# a young generation of at most 4 MB per semi-space: about 30 MB less peak memory under load for a few % of throughput (docs/performance.md)
CMD ["node", "--max-semi-space-size=4", "dist/src/server.js"]
