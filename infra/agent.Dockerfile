# The clawbox-reaper agent as a container image, for hosts that prefer it to the systemd unit: a
# slim Node base and the one-file agent (dist/agent.mjs), nothing else: no npm, no node_modules.
#
#   npm run build                                          # makes dist/agent.mjs
#   docker build -f infra/agent.Dockerfile -t clawbox-reaper-agent .
#   docker volume create clawbox-reaper-agent
#   docker run -d --name clawbox-reaper-agent --restart=unless-stopped \
#     --read-only --cap-drop=ALL --security-opt no-new-privileges \
#     --group-add "$(stat -c %g /var/run/docker.sock)" \
#     -v /var/run/docker.sock:/var/run/docker.sock \
#     -v /etc/clawbox-reaper/agent.key:/run/secrets/agent.key:ro \
#     -v clawbox-reaper-agent:/var/lib/clawbox-reaper-agent \
#     -p 127.0.0.1:8788:8788 \
#     clawbox-reaper-agent --host-id "$(hostname)"
#
# --group-add: the socket's group id differs between hosts, so it is given at run time, not
# baked in. The key file must be readable by uid 10001 (e.g. chgrp 10001, mode 0640). The volume
# keeps the agent's reports across restarts; it is the only place the agent writes.
# Publish on 127.0.0.1 behind a TLS proxy, or on the host's address if TLS ends elsewhere (or give
# the agent its certificate: -e REAPER_AGENT_TLS_CERT=… -e REAPER_AGENT_TLS_KEY=…, files mounted).
# Works with the legacy builder and with BuildKit; BuildKit reads agent.Dockerfile.dockerignore,
# which sends only dist/agent.mjs as the build context.

FROM node:22-slim
ENV NODE_ENV=production \
    REAPER_AGENT_LISTEN=0.0.0.0:8788 \
    REAPER_AGENT_STATE_DIR=/var/lib/clawbox-reaper-agent
# The state dir belongs to the agent's fixed uid (a fixed uid, so that hosts can grant it the key
# file); a new named volume mounted there takes this owner and mode.
RUN mkdir -p /var/lib/clawbox-reaper-agent \
  && chown 10001:10001 /var/lib/clawbox-reaper-agent \
  && chmod 0700 /var/lib/clawbox-reaper-agent
# Owned by root, read-only for the agent.
COPY dist/agent.mjs /opt/clawbox-reaper/agent.mjs
# Fails the build, not the first start, if the bundle does not run on this base.
RUN node /opt/clawbox-reaper/agent.mjs --help > /dev/null
USER 10001:10001
VOLUME /var/lib/clawbox-reaper-agent
EXPOSE 8788
# In a container the agent listens on all interfaces (REAPER_AGENT_LISTEN above); the port is
# only reachable as published.
ENTRYPOINT ["node", "/opt/clawbox-reaper/agent.mjs", "--key-file", "/run/secrets/agent.key"]
