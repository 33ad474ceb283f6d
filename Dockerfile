# syntax=docker/dockerfile:1
# The image the components run in: Node LTS on Alpine plus the single-file
# bundle, `oam-grant` on PATH, no node_modules, an unprivileged user.
#
# Build the bundle first (CI does this in the `build` job and hands dist/ on):
#   npm ci && npm run build
#   docker build --build-arg VERSION=$(node -p "require('./package.json').version") -t oam-grant .
ARG NODE_VERSION=22
FROM node:${NODE_VERSION}-alpine

ARG VERSION=0.0.0-dev
LABEL org.opencontainers.image.title="oam-grant" \
      org.opencontainers.image.description="Just-in-time, least-privilege cloud credentials for GitLab CI jobs" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT"

# The bundle needs only node: drop npm, npx, corepack and yarn, which the job
# never runs, to shrink the image and what an attacker could use in it.
RUN rm -rf /usr/local/lib/node_modules /opt/yarn-* \
           /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
           /usr/local/bin/yarn /usr/local/bin/yarnpkg

# Only the bundle: the V8 code caches the build wrote next to it
# (dist/oam-grant.mjs.<chunk>.code-cache) are valid only for the Node that made
# them, which is the build job's, not this image's.
COPY --chmod=0644 dist/oam-grant.mjs /usr/local/lib/oam-grant/oam-grant.mjs
# So this image's own node writes them again, next to the bundle
# (/usr/local/lib/oam-grant/oam-grant.mjs.<chunk>.code-cache). Written as root
# before USER, read-only for the user the jobs run as. They are optional: if
# V8 refuses one, the chunk is just compiled (~10 ms slower).
# A wrapper rather than a symlink: it does not depend on the bundle's shebang or mode.
RUN OAM_GRANT_BUILD_CODE_CACHE=1 AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true node /usr/local/lib/oam-grant/oam-grant.mjs \
 && chmod 0644 /usr/local/lib/oam-grant/oam-grant.mjs.*.code-cache \
 && chmod 0755 /usr/local/lib/oam-grant \
 && printf '#!/bin/sh\nexec node /usr/local/lib/oam-grant/oam-grant.mjs "$@"\n' > /usr/local/bin/oam-grant \
 && chmod 0755 /usr/local/bin/oam-grant \
 && oam-grant --version

ENV NODE_ENV=production
USER node
WORKDIR /home/node
# No ENTRYPOINT: GitLab runs the job script with the image's shell.
CMD ["oam-grant", "--help"]
