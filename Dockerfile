# syntax=docker/dockerfile:1
# labwire in a container: `docker build -t labwire .` — see docs/deploy.md (Docker) and
# deploy/compose.yaml. Default command: `labwire up /etc/labwire/lab.yaml` (a monitor, or a whole
# lab); any other `labwire` command works too, e.g. a daemon with the serial port passed in:
#   docker run --device /dev/ttyUSB0 --group-add dialout labwire daemon julabo --link /dev/ttyUSB0 --listen 0.0.0.0:7001

# --- build: compile native modules and TypeScript, then drop the development packages --------
FROM node:20-bookworm-slim AS build
# better-sqlite3 and node-pty compile from source (node-gyp): a compiler, make and Python.
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ make python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/labwire
# node-gyp uses the image's own Node headers instead of downloading them.
ENV npm_config_nodedir=/usr/local
# The lock file first: the dependency layer stays cached while only the sources change.
# --ignore-scripts because `prepare` would build sources not copied yet; the packages that
# need their install scripts are rebuilt by name (package.json's allowScripts).
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts \
 && npm rebuild better-sqlite3 node-pty @serialport/bindings-cpp esbuild
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
COPY bin ./bin
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

# --- runtime: the built program, its production packages, a user of its own -----------------
FROM node:20-bookworm-slim
# A dedicated system user (docs/decisions/0026), in dialout for serial ports passed with --device.
RUN groupadd --system labwire \
 && useradd --system --gid labwire --groups dialout --home-dir /var/lib/labwire --shell /usr/sbin/nologin labwire \
 && mkdir -p /var/lib/labwire /etc/labwire \
 && chown labwire:labwire /var/lib/labwire
WORKDIR /opt/labwire
COPY --from=build /opt/labwire/package.json ./package.json
COPY --from=build /opt/labwire/node_modules ./node_modules
COPY --from=build /opt/labwire/dist ./dist
COPY --from=build /opt/labwire/bin ./bin
COPY docs ./docs
ENV NODE_ENV=production \
    LABWIRE_LOG_FORMAT=json
USER labwire
# The lab file's data: folder (archive, spool, programmes, images) — a volume in compose.yaml.
VOLUME ["/var/lib/labwire"]
# 7100: the monitor's labwire port; 8888: the web page, the HTTP API and GET /metrics.
EXPOSE 7100 8888
# The web server answers: /api/openapi.json is public even when the lab has tokens. Another URL
# (another port, HTTPS) through LABWIRE_HEALTH_URL. Node's fetch: the slim image has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.LABWIRE_HEALTH_URL || 'http://127.0.0.1:8888/api/openapi.json', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/opt/labwire/bin/labwire.js"]
CMD ["up", "/etc/labwire/lab.yaml"]
