# syntax=docker/dockerfile:1
# The image the components run in: Alpine, the node binary, the single-file
# bundle with code caches written by that very node, `oam-grant` on PATH, an
# unprivileged user. Nothing else: no npm, npx, corepack or yarn, no Node
# headers, no package manager. The node image is only a build stage: deleting
# its npm in a later layer would hide it but not shrink what every job pulls.
#
# Build the bundle first (CI does this in the `build` job and hands dist/ on):
#   npm ci && npm run build
#   docker build --build-arg VERSION=$(node -p "require('./package.json').version") -t oam-grant .
ARG NODE_VERSION=22
ARG ALPINE_VERSION=3.22

FROM node:${NODE_VERSION}-alpine${ALPINE_VERSION} AS node
# Only the bundle: the V8 code caches the build wrote next to it
# (dist/oam-grant.mjs.node<major>.<chunk>.code-cache) fit only the exact node
# that wrote them, so this image's node writes its own, after the bundle's
# warm-up (real commands against stand-ins on loopback), next to the bundle.
# They are optional: if V8 refuses one, the chunk is just compiled.
COPY --chmod=0644 dist/oam-grant.mjs /usr/local/lib/oam-grant/oam-grant.mjs
# A wrapper rather than a symlink: it does not depend on the bundle's shebang or mode.
RUN OAM_GRANT_BUILD_CODE_CACHE=1 AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true node /usr/local/lib/oam-grant/oam-grant.mjs \
 && chmod 0644 /usr/local/lib/oam-grant/oam-grant.mjs.*.code-cache \
 && chmod 0755 /usr/local/lib/oam-grant \
 && printf '#!/bin/sh\nexec node /usr/local/lib/oam-grant/oam-grant.mjs "$@"\n' > /usr/local/bin/oam-grant \
 && chmod 0755 /usr/local/bin/oam-grant \
 && oam-grant --version

# The same Alpine release as the node stage: its musl is the one node was built against.
FROM alpine:${ALPINE_VERSION}
ARG VERSION=0.0.0-dev
LABEL org.opencontainers.image.title="oam-grant" \
      org.opencontainers.image.description="Just-in-time, least-privilege cloud credentials for GitLab CI jobs" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT"
# node needs the C++ runtime (libstdc++, libgcc), as in the node image.
COPY --from=node /usr/lib/libstdc++.so.6* /usr/lib/libgcc_s.so.1 /usr/lib/
COPY --from=node /usr/local/bin/node /usr/local/bin/oam-grant /usr/local/bin/
# The bundle and the caches, root-owned and read-only for the user the jobs run as.
COPY --from=node /usr/local/lib/oam-grant /usr/local/lib/oam-grant
# The node image's user (uid 1000), and apk gone: a job needs sh, not a package manager.
RUN addgroup -g 1000 node \
 && adduser -u 1000 -G node -s /bin/sh -D node \
 && rm -rf /sbin/apk /etc/apk /lib/apk /usr/share/apk /var/cache/apk \
 && oam-grant --version

ENV NODE_ENV=production
USER node
WORKDIR /home/node
# No ENTRYPOINT: GitLab runs the job script with the image's shell.
CMD ["oam-grant", "--help"]
