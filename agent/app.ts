/**
 * The agent's Hono app (SPEC §4). A factory: every dependency is passed in, so tests point the
 * same code at a private engine.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { AppError, badRequest, conflict, forbidden, unavailable } from '../lib/errors.js';
import { installErrorHandling, parseJson, requireJsonContentType } from '../lib/http.js';
import type { Logger } from '../lib/logger.js';
import { requireSignature, type SignedRequestVariables } from './auth.js';
import { AGENT_PATHS, ReapRequest, type ContainerList, type Health } from './contract.js';
import type { DockerPort } from './docker.js';
import type { AgentMetrics } from './metrics.js';
import type { ReapService } from './reap-service.js';
import { RunRegistry } from './run-registry.js';

export interface AgentAppDeps {
  hostId: string;
  hostKey: Buffer;
  docker: DockerPort;
  reap: ReapService;
  logger: Logger;
  metrics: AgentMetrics;
  runs?: RunRegistry;
  bodyLimitBytes?: number;
  /** Serve /metrics without a signature (for a Prometheus scraper on a trusted network). */
  publicMetrics?: boolean;
  now?: () => number;
}

const DEFAULT_BODY_LIMIT = 16 * 1024 * 1024;

export function createAgentApp(deps: AgentAppDeps) {
  const now = deps.now ?? Date.now;
  const runs = deps.runs ?? new RunRegistry();
  // The replay memory (S6) lives in this process: a command signed wholly before it started may
  // be a replay of one an earlier process already carried out, so it is refused. The control
  // plane re-signs each attempt, so its own retries are not affected.
  const startedAtMs = now();
  const app = new Hono<{ Variables: SignedRequestVariables }>();
  const signed = requireSignature(deps.hostKey, now);
  installErrorHandling(app, { logger: deps.logger, onRefusal: (code) => deps.metrics.recordRefusal(code) });

  app.use(
    '*',
    bodyLimit({
      maxSize: deps.bodyLimitBytes ?? DEFAULT_BODY_LIMIT,
      onError: () => {
        throw new AppError(413, 'payload_too_large', `body exceeds ${deps.bodyLimitBytes ?? DEFAULT_BODY_LIMIT} bytes`);
      },
    }),
  );

  app.get(AGENT_PATHS.health, async (c) => {
    try {
      const version = await deps.docker.version();
      return c.json({ ok: true, docker: { reachable: true, version } } satisfies Health);
    } catch {
      return c.json({ ok: false, docker: { reachable: false, version: null } } satisfies Health, 503);
    }
  });

  if (!deps.publicMetrics) app.use(AGENT_PATHS.metrics, signed);
  app.get(AGENT_PATHS.metrics, async (c) => {
    return c.text(await deps.metrics.registry.metrics(), 200, { 'content-type': deps.metrics.registry.contentType });
  });

  app.get(AGENT_PATHS.containers, signed, async (c) => {
    const containers = await listOrUnavailable(deps.docker);
    const body: ContainerList = {
      containers: containers.map((container) => ({
        clawboxId: container.clawboxId,
        dockerId: container.dockerId,
        state: container.state,
        createdAt: new Date(container.createdSeconds * 1000).toISOString(),
        name: container.name,
        image: container.image,
      })),
    };
    return c.json(body);
  });

  app.post(AGENT_PATHS.reap, signed, async (c) => {
    requireJsonContentType(c);
    const request = parseJson(ReapRequest, c.get('rawBody'));
    // S3: a command for another host is refused before Docker is asked anything.
    if (request.hostId !== deps.hostId) {
      throw forbidden('host_mismatch', `this agent serves host "${deps.hostId}", not "${request.hostId}"`);
    }
    const clockOffsetMs = c.get('clockOffsetMs');
    // The control plane takes snapshotAt before it signs, so a later one is a forged or broken
    // command that would shrink the grace (S2). Timestamps are whole seconds: allow the rest of it.
    const signedAtMs = now() - clockOffsetMs;
    if (Date.parse(request.snapshotAt) > signedAtMs + 1000) {
      throw badRequest('snapshot_in_future', 'snapshotAt is later than the request timestamp');
    }
    if (signedAtMs + 1000 <= startedAtMs) {
      throw conflict('signed_before_start', 'the command was signed before this agent started (a possible replay); send a freshly signed one');
    }
    const { report, replayed } = await runs.run(request.runId, async () => {
      try {
        const result = await deps.reap(request, clockOffsetMs);
        deps.metrics.recordReap(result);
        return result;
      } catch (error) {
        throw unavailable('docker_unavailable', 'the Docker engine did not answer; nothing was removed', error);
      }
    });
    return c.json(report, 200, replayed ? { 'x-reaper-replayed': 'true' } : {});
  });

  return { app, runs };
}

async function listOrUnavailable(docker: DockerPort) {
  try {
    return await docker.listLabelled();
  } catch (error) {
    throw unavailable('docker_unavailable', 'the Docker engine did not answer', error);
  }
}
