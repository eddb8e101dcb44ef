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
import { AnchorError, issueAnchor, verifyAnchor } from './anchor.js';
import { AGENT_PATHS, ReapRequest, RestoreRequest, type ContainerList, type Health, type Identity, type RestoreResult } from './contract.js';
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
  /** A monotonic clock (ms); default performance.now(). */
  monotonic?: () => number;
}

const DEFAULT_BODY_LIMIT = 16 * 1024 * 1024;

export function createAgentApp(deps: AgentAppDeps) {
  const now = deps.now ?? Date.now;
  const mono = deps.monotonic ?? (() => performance.now());
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

  /** The engine's identity, this agent's clock, and a fresh anchor (S2, S10, S12). Reads nothing else. */
  app.get(AGENT_PATHS.identity, signed, async (c) => {
    const engineId = await engineIdOrUnavailable(deps.docker);
    const agentTimeMs = now();
    const body: Identity = { hostId: deps.hostId, engineId, clockOffsetMs: c.get('clockOffsetMs'), agentTimeMs, anchor: issueAnchor(deps.hostKey, agentTimeMs, mono()) };
    return c.json(body);
  });

  /**
   * S11 restore: unpause the paused containers that carry this label value and whose Docker id the
   * control plane holds in quarantine. Nothing else is touched: a container without the label, or
   * under another label value, or not paused, is left as it is (S1).
   */
  app.post(AGENT_PATHS.restore, signed, async (c) => {
    requireJsonContentType(c);
    const request = parseJson(RestoreRequest, c.get('rawBody'));
    if (request.hostId !== deps.hostId) throw forbidden('host_mismatch', `this agent serves host "${deps.hostId}", not "${request.hostId}"`);
    const engineId = await engineIdOrUnavailable(deps.docker);
    if (request.engineId !== undefined && request.engineId !== engineId) throw engineMismatch(request.engineId, engineId);
    const labelled = await listOrUnavailable(deps.docker);
    const containers: RestoreResult['containers'] = await Promise.all(
      request.dockerIds.map(async (dockerId) => {
        const container = labelled.find((l) => l.dockerId === dockerId && l.clawboxId === request.clawboxId);
        if (!container) return { dockerId, outcome: 'gone' as const };
        if (container.state !== 'paused') return { dockerId, outcome: 'not-paused' as const };
        try {
          const outcome = await deps.docker.unpause(dockerId);
          return { dockerId, outcome: outcome === 'done' ? ('unpaused' as const) : outcome === 'gone' ? ('gone' as const) : ('not-paused' as const) };
        } catch (error) {
          return { dockerId, outcome: 'not-paused' as const, error: error instanceof Error ? error.message : String(error) };
        }
      }),
    );
    deps.logger.info({ clawboxId: request.clawboxId, containers }, 'restore');
    const body: RestoreResult = { hostId: deps.hostId, engineId, clockOffsetMs: c.get('clockOffsetMs'), containers };
    return c.json(body);
  });

  app.get(AGENT_PATHS.containers, signed, async (c) => {
    const engineId = await engineIdOrUnavailable(deps.docker);
    const containers = await listOrUnavailable(deps.docker);
    const body: ContainerList = {
      engineId,
      clockOffsetMs: c.get('clockOffsetMs'),
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
    // A retry of a run this agent knows gets that run's report (S6) whatever its anchor: a
    // retry's fresh refusal would hide what the first attempt did.
    let anchorMs = 0;
    if (!runs.knows(request.runId)) {
      try {
        anchorMs = verifyAnchor(deps.hostKey, request.anchor, now(), mono());
      } catch (error) {
        if (error instanceof AnchorError) throw error.code === 'bad_anchor' ? badRequest(error.code, error.message) : conflict(error.code, error.message);
        throw error;
      }
    }
    const { report, replayed } = await runs.run(request.runId, async () => {
      // S10: the engine is asked before anything is listed; another engine than the pinned one touches nothing.
      const engineId = await engineIdOrUnavailable(deps.docker);
      if (request.engineId !== undefined && request.engineId !== engineId) throw engineMismatch(request.engineId, engineId);
      try {
        const result = await deps.reap(request, { clockOffsetMs, anchorMs, engineId });
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

function engineMismatch(pinned: string, actual: string): AppError {
  return new AppError(409, 'engine_mismatch', `this agent's engine is ${actual}, not the pinned ${pinned}; nothing was touched (re-pin the host if the engine was replaced on purpose)`, {
    details: { engineId: actual },
  });
}

async function engineIdOrUnavailable(docker: DockerPort): Promise<string> {
  try {
    return await docker.engineId();
  } catch (error) {
    throw unavailable('docker_unavailable', 'the Docker engine did not answer', error);
  }
}

async function listOrUnavailable(docker: DockerPort) {
  try {
    return await docker.listLabelled();
  } catch (error) {
    throw unavailable('docker_unavailable', 'the Docker engine did not answer', error);
  }
}
