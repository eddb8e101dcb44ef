/**
 * The agent's entry: builds the real Docker port, logger and metrics from a config, checks the
 * engine answers, and serves the app. Nothing else in agent/ reads the environment.
 */
import type { ServerType } from '@hono/node-server';
import { createLogger, type Logger } from '../lib/logger.js';
import { serveJsonErrors, type ServeTls } from '../lib/serve.js';
import { readCertAndKey, readCertificates, type CertAndKey } from '../lib/tls-files.js';
import { createAgentApp } from './app.js';
import { TLS_SETTINGS, type AgentConfig } from './config.js';
import { DockerUnreachableError } from './errors.js';
import { createDockerPort, type DockerPort } from './docker.js';
import { createForensicsPort, type ForensicsPort } from './forensics.js';
import { createAgentMetrics } from './metrics.js';
import { createReapService } from './reap-service.js';
import { createResourcesPort, type ResourcesPort } from './resources.js';
import { openRunRegistry } from './run-registry.js';

export interface RunningAgent {
  url: string;
  server: ServerType;
  /** Reads the TLS certificate and key again (what SIGHUP does); false when not served over TLS or the files are bad (the old ones stay). */
  reloadTls(): boolean;
  /** Stops accepting requests, lets a reap in flight finish, then closes. */
  close(): Promise<void>;
}

export { DockerUnreachableError };

export async function startAgent(
  config: AgentConfig,
  options: { logger?: Logger; docker?: DockerPort; resources?: ResourcesPort; forensics?: ForensicsPort } = {},
): Promise<RunningAgent> {
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
  // Networks, volumes and forensic records (SPEC §9) go through their own ports on the same engine.
  const resources = options.resources ?? createResourcesPort({ dockerHost: config.dockerHost, label: config.label });
  const forensics = options.forensics ?? createForensicsPort({ dockerHost: config.dockerHost });
  const reap = createReapService({ docker, concurrency: config.concurrency, logger, resources, forensics });
  // The replay memory and reports (S6, GET /v1/reaps/:runId), kept under the state dir.
  const runs = await openRunRegistry({ stateDir: config.stateDir, hostId: config.hostId, budgetBytes: config.stateBudgetBytes, isDefault: config.stateDirIsDefault, logger });
  const { app } = createAgentApp({
    runs,
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
  const serve = { fetch: app.fetch, hostname: config.listen.host, port: config.listen.port, logger, ...(config.maxConnections === undefined ? {} : { maxConnections: config.maxConnections }) };
  const tlsFiles = config.tls;
  let reloadTls: () => boolean = () => false;
  let server: ServerType;
  if (tlsFiles === undefined) server = await serveJsonErrors(serve);
  else {
    const tls = readTls(tlsFiles);
    const https = await serveJsonErrors({ ...serve, tls: tls.options });
    server = https;
    logger.info({ certificate: tls.leaf, clientCertificates: tlsFiles.clientCaFile !== undefined }, 'serving HTTPS');
    // A certificate renewed on disk is taken up without a restart: new connections get it; a bad
    // file keeps the certificate in use (and says why).
    reloadTls = () => {
      try {
        const next = readTls(tlsFiles);
        https.setSecureContext(next.options);
        logger.info({ certificate: next.leaf }, 'TLS certificate reloaded');
        return true;
      } catch (error) {
        logger.error({ err: error }, `TLS certificate NOT reloaded, the one in use is kept: ${(error as Error).message}`);
        return false;
      }
    };
  }
  const onHangup = () => void reloadTls();
  if (tlsFiles !== undefined) process.on('SIGHUP', onHangup);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.listen.port;
  const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
  const url = `${tlsFiles === undefined ? 'http' : 'https'}://${host}:${port}`;
  logger.info({ hostId: config.hostId, url, docker: config.dockerHost, dockerVersion: version, label: config.label }, 'agent listening');
  return {
    url,
    server,
    reloadTls: () => reloadTls(),
    async close() {
      process.off('SIGHUP', onHangup);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await runs.busy?.catch(() => undefined);
    },
  };
}

/** The TLS context's files, read and checked (lib/tls-files.ts); throws TlsFileError. */
function readTls(files: NonNullable<AgentConfig['tls']>): { options: ServeTls; leaf: CertAndKey['leaf'] } {
  const { cert, key, leaf } = readCertAndKey({ cert: files.certFile, key: files.keyFile }, TLS_SETTINGS);
  if (files.clientCaFile === undefined) return { options: { cert, key }, leaf };
  const { pem: ca } = readCertificates(files.clientCaFile, TLS_SETTINGS.clientCa);
  return { options: { cert, key, ca, requestCert: true }, leaf };
}
