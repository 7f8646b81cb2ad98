# drbot container image. Node 24 runs the TypeScript sources directly (native type stripping), so
# there is nothing to compile: the build stage only proves the shipped sources type-check, and the
# image carries the sources plus production dependencies.
#
#   docker build -t drbot:0.1.0 .
#   docker run --rm -e DRBOT_CONFIG=/etc/drbot/drbot.yaml -v "$PWD/drbot.yaml:/etc/drbot/drbot.yaml:ro" \
#     -e SLACK_BOT_TOKEN -e SLACK_SIGNING_SECRET -e GITHUB_TOKEN -e REDIS_URL -p 3000:3000 drbot:0.1.0 serve

# ---- build: full install (dev dependencies included) and a type check of what ships --------------
# Install scripts are skipped: the only dev one belongs to the `node` package, which downloads a
# Node 24 for npm scripts on machines without it; this base image is Node 24, and tsc runs on it.
FROM node:24-slim AS build
WORKDIR /src
ENV NPM_CONFIG_AUDIT=false NPM_CONFIG_FUND=false NPM_CONFIG_UPDATE_NOTIFIER=false
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY bin/ bin/
COPY src/ src/
# tsconfig also lists test/ and bench/, which are not in the build context: only src/ is checked.
RUN node node_modules/typescript/bin/tsc -p .

# ---- production dependencies only ----------------------------------------------------------------
# Without dev dependencies (the `node` package among them). Install scripts are skipped: the one
# production package that has one (msgpackr-extract) loads its prebuilt binary at run time
# without it, and msgpackr falls back to plain JS when there is none.
FROM node:24-slim AS deps
WORKDIR /app
ENV NPM_CONFIG_AUDIT=false NPM_CONFIG_FUND=false NPM_CONFIG_UPDATE_NOTIFIER=false
COPY package.json package-lock.json ./
# Source maps and type declarations are dead weight at run time (about 105 MB), and TypeScript
# only arrives as an optional peer of a dependency's types: 220 MB of modules become about 90 MB.
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force \
 && find node_modules \( -name "*.map" -o -name "*.d.ts" -o -name "*.d.mts" -o -name "*.d.cts" \) -delete \
 && rm -rf node_modules/typescript node_modules/@typescript

# ---- runtime -------------------------------------------------------------------------------------
FROM node:24-slim
# tini as PID 1: it forwards SIGTERM to node (drbot's service stops intake and lets running steps
# checkpoint on SIGTERM) and reaps zombies. Without it, node as PID 1 would ignore SIGTERM for the
# one-shot commands (`drbot config check`, `drbot volume create`), which install no handler.
# Debian's tini is whatever the base image's release ships; the base tag pins the release.
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/* \
  && groupadd --gid 10001 drbot \
  && useradd --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin drbot

# Nothing is written under /app (it stays root-owned and read-only to drbot); with a read-only root
# file system, /tmp is the one writable place (an emptyDir in the Helm chart), hence HOME=/tmp.
ENV NODE_ENV=production \
  HOME=/tmp \
  PORT=3000 \
  DRBOT_CONFIG=/etc/drbot/drbot.yaml
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY bin/ ./bin/
COPY src/ ./src/
COPY templates/ ./templates/
COPY package.json package-lock.json drbot.example.yaml ./

# A small V8 young generation: drbot's idle memory drops from about 210 MB to about 160 MB, at a
# negligible cost in garbage-collection time for a mostly idle service (see README, figures).
ENV NODE_OPTIONS="--max-semi-space-size=2"
# Numeric, so Kubernetes can enforce runAsNonRoot without a passwd lookup.
USER 10001:10001
EXPOSE 3000
# For plain Docker; Kubernetes uses the chart's probes (GET /healthz, GET /readyz).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT || 3000}/healthz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["tini", "--", "node", "/app/bin/drbot.js"]
CMD ["serve"]
