/**
 * The agent's entry: builds the real Docker port, logger and metrics from a config, checks the
 * engine answers, and serves the app. Nothing else in agent/ reads the environment.
 */
import type { ServerType } from '@hono/node-server';
import { createLogger, type Logger } from '../lib/logger.js';
import { serveJsonErrors } from '../lib/serve.js';
import { createAgentApp } from './app.js';
import type { AgentConfig } from './config.js';
import { DockerUnreachableError } from './errors.js';
import { createDockerPort, type DockerPort } from './docker.js';
import { createAgentMetrics } from './metrics.js';
import { createReapService } from './reap-service.js';

export interface RunningAgent {
  url: string;
  server: ServerType;
  /** Stops accepting requests, lets a reap in flight finish, then closes. */
  close(): Promise<void>;
}

export { DockerUnreachableError };

export async function startAgent(config: AgentConfig, options: { logger?: Logger; docker?: DockerPort } = {}): Promise<RunningAgent> {
  const logger = options.logger ?? createLogger({ level: config.logLevel, name: 'agent' });
  const docker = options.docker ?? createDockerPort({ dockerHost: config.dockerHost, label: config.label });
  let version: string;
  try {
    version = await docker.version();
  } catch (error) {
    throw new DockerUnreachableError(
      `cannot reach the Docker engine at ${config.dockerHost} (${(error as Error).message}); start it, or point DOCKER_HOST at the engine to reap, e.g. DOCKER_HOST=unix:///run/user/1000/docker.sock (rootless) or DOCKER_HOST=tcp://127.0.0.1:2375`,
    );
  }
  const metrics = createAgentMetrics();
  const reap = createReapService({ docker, concurrency: config.concurrency, logger });
  const { app, runs } = createAgentApp({
    hostId: config.hostId,
    hostKey: config.hostKey,
    docker,
    reap,
    logger,
    metrics,
    bodyLimitBytes: config.bodyLimitBytes,
    publicMetrics: config.publicMetrics,
  });
  // Every refusal is JSON, even those node's HTTP parser makes before the app sees the request.
  const server: ServerType = await serveJsonErrors({ fetch: app.fetch, hostname: config.listen.host, port: config.listen.port, logger });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.listen.port;
  const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
  const url = `http://${host}:${port}`;
  logger.info({ hostId: config.hostId, url, docker: config.dockerHost, dockerVersion: version, label: config.label }, 'agent listening');
  return {
    url,
    server,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await runs.busy?.catch(() => undefined);
    },
  };
}
