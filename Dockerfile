# The Portcullis image: one image, every entry point. The operator Deployment runs it with args
# `operator ...`; the proxy pods it builds run the same image twice, `proxy ...` and `config-sync ...`
# (operator/infra/deployment.ts sets args only and relies on this ENTRYPOINT).
#
#   docker build -t portcullis:0.1.0 .
#   docker run --rm -v "$PWD/deploy:/manifests:ro" portcullis:0.1.0 check /manifests
#
# Linted by test/image/dockerfile.test.ts (hadolint); the runtime layout below is rebuilt on disk and
# its entry points run by test/image/entrypoints.test.ts, since no Docker engine runs in CI.

# The Node.js release line package.json's engines accepts (>=26.10 <27: Node 26, the LTS line since
# October 2026), at the exact version the tests run on (the npm `node` devDependency), on Debian 12
# with glibc (the official image's bookworm-slim variant). Pinned by tag, not digest: bump both
# together.
ARG NODE_VERSION=26.10.0

# ---- build: compile the TypeScript sources into dist/ ----------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /src
# `npm ci`: exactly the lockfile, or a failure if package.json and it disagree. --ignore-scripts: the
# only install script is the `node` devDependency's, which downloads a second Node binary the image
# already has; without it node_modules/.bin/node does not exist, so `npm run build` runs tsc on the
# image's node.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY cli ./cli
COPY operator ./operator
COPY proxy ./proxy
RUN npm run build

# ---- dependencies: the production dependencies alone ----------------------------------------------
# A stage of its own so that no devDependency (TypeScript, Biome, the npm `node` binary) nor npm's
# cache reaches the runtime image. Every production dependency is pure JavaScript: no install script.
FROM node:${NODE_VERSION}-bookworm-slim AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# ---- runtime ----------------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="portcullis" \
      org.opencontainers.image.description="Kubernetes ingress controller that terminates TLS at the load balancer: cookie affinity, path routing, shared session tickets. Entry points: portcullis operator | proxy | config-sync | check | compile | serve." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/node:${NODE_VERSION}-bookworm-slim"
# npm, npx, corepack and yarn are build tools: nothing at run time calls them.
RUN rm -rf /usr/local/lib/node_modules /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
      /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-v*
WORKDIR /app
# What runs: dist/ (the CRD's OpenAPI schema and the cert-manager types are compiled into it, so
# neither crds/ nor schemas/ is read at run time), production node_modules, and package.json, which
# makes dist/*.js ES modules ("type": "module") and gives `portcullis --version` its version.
# Owned by root and not writable by the process.
COPY --from=dependencies /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
# Nothing writes to the root filesystem, which the pods mount read-only: config-sync writes only
# into the emptyDir its --out names, and the proxy reads its config, keys and certificates from
# mounted volumes. (Only a proxy given no usable --keys-dir generates keys into $TMPDIR, /tmp: the
# operator always mounts one.)
ENV NODE_ENV=production
# The UID and GID the operator's proxy pods (and the chart) set: non-root, no entry in /etc/passwd
# needed (HOME is /).
USER 10001:10001
# proxy: HTTPS, plain HTTP, admin (/healthz /readyz /metrics /config); operator: /healthz /readyz.
EXPOSE 8443 8080 9901 8081
# Exec form: node is PID 1 and receives Kubernetes' SIGTERM itself. Every long-running command
# handles it (cli/proxy-options.ts untilSignalled): the proxy turns not-ready, drains its workers and
# exits 0 within --drain-seconds; config-sync stops its watch; the operator ends its term and
# releases its Lease. No init (tini) is needed to reap: node's only children are the proxy's
# workers, which it forks and reaps itself, and nothing it runs leaves orphans. One gap of PID 1: a
# SIGTERM that arrives while node is still loading the CLI (about the first second), before the
# command installed its handler, is ignored, and the kubelet kills the container after its grace
# period instead.
ENTRYPOINT ["node", "/app/dist/bin/portcullis.js"]
# Without args, list the commands; the Deployments always set args.
CMD ["--help"]
# No HEALTHCHECK: Kubernetes probes the admin (9901) and health (8081) ports itself.
