# syntax=docker/dockerfile:1
# The clawbox-reaper agent as a container image, for hosts that prefer it to the systemd unit.
#
#   docker build -f infra/agent.Dockerfile -t clawbox-reaper-agent .
#   docker run -d --name clawbox-reaper-agent --restart=unless-stopped \
#     --read-only --cap-drop=ALL --security-opt no-new-privileges \
#     --group-add "$(stat -c %g /var/run/docker.sock)" \
#     -v /var/run/docker.sock:/var/run/docker.sock \
#     -v /etc/clawbox-reaper/agent.key:/run/secrets/agent.key:ro \
#     -p 127.0.0.1:8788:8788 \
#     clawbox-reaper-agent --host-id "$(hostname)"
#
# --group-add: the socket's group id differs between hosts, so it is given at run time, not
# baked in. The key file must be readable by uid 10001 (e.g. chgrp 10001, mode 0640).
# Publish on 127.0.0.1 behind a TLS proxy, or on the host's address if TLS ends elsewhere.

FROM node:22-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` builds, and the sources are not copied yet.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:22-slim
ENV NODE_ENV=production
# A fixed uid, so hosts can grant it the key file.
RUN groupadd --system --gid 10001 clawbox-reaper \
  && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin clawbox-reaper
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/bin ./bin
COPY --from=build /app/dist ./dist
# Fails the build, not the first start, if the pruned tree lacks a runtime dependency.
RUN node bin/clawbox-reaper.js --help > /dev/null
USER 10001:10001
EXPOSE 8788
# In a container the agent listens on all interfaces; the port is only reachable as published.
ENTRYPOINT ["node", "bin/clawbox-reaper.js", "agent", "--listen", "0.0.0.0:8788", "--key-file", "/run/secrets/agent.key"]
