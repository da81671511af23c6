# syntax=docker/dockerfile:1
#
# aim-mesh image: one image for every subcommand (agent, coordinator,
# inject-webhook, redirect-traffic, inject, ...). The `native` stage compiles
# the small N-API addon that transparent mode uses (SO_ORIGINAL_DST,
# src/transparent/native) with a toolchain that stays out of the runtime image.
# The `build` stage turns src/ into dist/ (bin/build.ts: Node's own type
# stripping, line numbers kept, no dependencies), so the image runs plain
# JavaScript and no sidecar loads the in-process type stripper (~18 MB RSS
# each). The runtime stage installs production dependencies only: no tap, no
# typescript, and not the `node` devDependency either (the base image's node
# runs everything), and no npm cache.
#
#   docker build -t aim-mesh:0.1.0 .
#   docker run --rm aim-mesh:0.1.0 --help
#
# The proxy's UID/GID is fixed (5678 = PROXY_UID in src/k8s/defaults.ts):
# redirect-traffic excludes that UID from interception, and the injected
# sidecar's securityContext uses it. A test checks that the numbers agree.

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS native
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY src/transparent/native ./native
# npm ships node-gyp; the image's own headers (/usr/local/include/node) mean no download.
RUN node /usr/local/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js rebuild \
      --directory=native --nodedir=/usr/local

FROM ${NODE_IMAGE} AS build
WORKDIR /build
COPY package.json ./
COPY bin ./bin
COPY src ./src
# The addon goes in before the build, which copies it to where dist/transparent/original-dst.js loads it.
COPY --from=native /build/native/build/Release/origdst.node ./src/transparent/native/build/Release/origdst.node
RUN node --disable-warning=ExperimentalWarning bin/build.ts

FROM ${NODE_IMAGE} AS runtime
# iptables: redirect-traffic runs from this image as a root init container.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 5678 aim-mesh \
 && useradd --system --uid 5678 --gid 5678 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin aim-mesh
ENV NODE_ENV=production
# Small young-generation semi-spaces: ~40 MB less RSS per sidecar (see bin/aim-mesh.js).
ENV NODE_OPTIONS=--max-semi-space-size=2
WORKDIR /opt/aim-mesh
COPY package.json package-lock.json ./
# Production dependencies only; none of them needs an install script.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force
COPY bin ./bin
# dist/ only, no src/: bin/aim-mesh.js then always runs the built JavaScript.
COPY --from=build /build/dist ./dist
COPY config ./config
RUN chmod 0755 bin/aim-mesh.js \
 && ln -s /opt/aim-mesh/bin/aim-mesh.js /usr/local/bin/aim-mesh
USER 5678:5678
# 20000 inbound (mTLS), 15001 transparent outbound capture, 8443 injection webhook.
# The admin API (19000) listens on loopback only.
EXPOSE 20000 15001 8443
# Agent readiness; for the coordinator or the webhook set AIM_MESH_HEALTH_URL.
ENV AIM_MESH_HEALTH_URL=http://127.0.0.1:19000/ready
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.AIM_MESH_HEALTH_URL,{signal:AbortSignal.timeout(2000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["aim-mesh"]
CMD ["--help"]
