# xenops container image: one image for the bot and the workers (the command picks the role).
#
#   docker build -t xenops .                                  # npm ci + npm run build inside
#   docker build -t xenops --target runtime-prebuilt .        # copies dist/ from the context instead
#                                                             # (run `npm run build` first; no registry
#                                                             # access needed inside the build)
#   docker build --build-arg BASE=node:24-bookworm-slim ...   # another Node LTS (>= 20)
#
# The runtime stage holds only the bundle (dist/: the code and its npm dependencies in one file, plus
# the dashboard's UI files), runs as uid 10001 and needs no `npm install`. Run it with an init process
# (`docker run --init`, compose `init: true`) so signals reach node and zombies are reaped.
ARG BASE=node:22-bookworm-slim

# ---- runtime base: what every runtime variant shares ----
FROM ${BASE} AS runtime-base
ENV NODE_ENV=production \
    XENOPS_CONFIG=/etc/xenops/xenops.yml \
    XENOPS_AUDIT_FILE=/var/lib/xenops/xenops-audit.jsonl \
    XENOPS_OPS_PORT=9464 \
    XENOPS_OPS_HOST=0.0.0.0 \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=32768 \
    MALLOC_TRIM_THRESHOLD_=262144
# The state directory, owned by the runtime user (no shell needed: works on minimal bases too).
COPY --chown=10001:10001 contrib/docker/state/ /var/lib/xenops/
WORKDIR /var/lib/xenops
# 9464: /metrics, /livez, /readyz (+ dashboard); 3000: Slack HTTP mode only.
EXPOSE 9464 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.XENOPS_OPS_PORT||9464)+'/livez').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
USER 10001:10001
# The node flags and MALLOC_* settings of contrib/systemd/ (see there why; npm run bench measures them).
CMD ["node", "--max-semi-space-size=1", "--heap-growing-percent=50", "/opt/xenops/dist/xenops.js", "bot"]

# ---- runtime from a dist/ built outside (CI artefact, air-gapped builds) ----
FROM runtime-base AS runtime-prebuilt
COPY dist/ /opt/xenops/dist/

# ---- build: dependencies from the lock file, then the bundle ----
FROM ${BASE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# No install scripts: the bundle does not use ssh2's optional native helpers (it falls back to its
# pure-JS code) and esbuild's binary comes as an optional dependency package.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build

# ---- runtime (default target) ----
FROM runtime-base AS runtime
COPY --from=build /src/dist/ /opt/xenops/dist/
