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

COPY --chmod=0644 dist/oam-grant.mjs /usr/local/lib/oam-grant/oam-grant.mjs
# A wrapper rather than a symlink: it does not depend on the bundle's shebang or mode.
RUN printf '#!/bin/sh\nexec node /usr/local/lib/oam-grant/oam-grant.mjs "$@"\n' > /usr/local/bin/oam-grant \
 && chmod 0755 /usr/local/bin/oam-grant \
 && oam-grant --version

ENV NODE_ENV=production
USER node
WORKDIR /home/node
# No ENTRYPOINT: GitLab runs the job script with the image's shell.
CMD ["oam-grant", "--help"]
