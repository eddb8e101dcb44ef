/**
 * The agent's Hono app (SPEC §4). A factory: every dependency is passed in, so tests point the
 * same code at a private engine.
 */
import { Hono } from 'hono';
import { AppError, badRequest, conflict, forbidden, unavailable } from '../lib/errors.js';
import { installErrorHandling, parseJson, requireJsonContentType } from '../lib/http.js';
import type { Logger } from '../lib/logger.js';
import { requireSignature, signAnswers, type SignedRequestVariables } from './auth.js';
import { DEFAULT_BODY_LIMIT_BYTES } from './body-limit.js';
import { AnchorError, issueAnchor, verifyAnchor } from './anchor.js';
import { AGENT_PATHS, ReapRequest, RestoreRequest, type ReapRunning, type ContainerList, type Health, type Identity, type RestoreResult } from '../lib/agent-contract.js';
import type { DockerPort } from './docker.js';
import type { AgentMetrics } from './metrics.js';
import type { ReapService } from './reap-service.js';
import { DEFAULT_RETENTION_MS } from './report-store.js';
import { RunRegistry } from './run-registry.js';
import { RunId } from '../lib/ids.js';

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

export function createAgentApp(deps: AgentAppDeps) {
  const now = deps.now ?? Date.now;
  const mono = deps.monotonic ?? (() => performance.now());
  const runs = deps.runs ?? new RunRegistry();
  // The replay memory (S6) is the state dir (agent/report-store.ts): a command for a run an
  // earlier process finished or began is answered from it. Any other command signed wholly before
  // this process started may be a replay of one an earlier process carried out and forgot, so it
  // is refused. The control plane re-signs each attempt, so its own retries are not affected.
  const startedAtMs = now();
  const app = new Hono<{ Variables: SignedRequestVariables }>();
  // The body is read only by `signed`, after the signature verified, within the body limit
  // (agent/auth.ts); no route reads one otherwise, so an unauthenticated caller gets nothing buffered.
  const signed = requireSignature(deps.hostKey, now, { bodyLimitBytes: deps.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES });
  installErrorHandling(app, { logger: deps.logger, onRefusal: (code) => deps.metrics.recordRefusal(code) });

  // First, so it sees every answer last: signs the answer of every request whose signature verified.
  app.use('*', signAnswers(deps.hostKey));

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
    // A retry of a run this agent knows (in flight, finished, or kept in the state dir from before
    // a restart) gets that run's report (S6) whatever its anchor or signing time: a retry's fresh
    // refusal would hide what the first attempt did. A run it does not know is checked in full.
    let anchorMs = 0;
    if (!runs.knows(request.runId)) {
      if (signedAtMs + 1000 <= startedAtMs) {
        throw conflict('signed_before_start', 'the command was signed before this agent started (a possible replay); send a freshly signed one');
      }
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

  /**
   * A run's outcome, for a caller that lost the answer to its POST /v1/reap: the report exactly
   * as that answered it, 202 while the run is in flight, 410 run_interrupted for a run an earlier
   * agent process began and never finished, 404 unknown_run for a run never started here.
   */
  app.get(AGENT_PATHS.reapResult, signed, async (c) => {
    const runId = RunId.safeParse(c.req.param('runId'));
    if (!runId.success) throw badRequest('validation_failed', 'runId must be 8-64 characters of A-Z a-z 0-9 _ -');
    const found = await runs.lookup(runId.data);
    switch (found.state) {
      case 'finished':
        return c.json(found.report, 200, { 'x-reaper-replayed': 'true' });
      case 'running':
        return c.json({ runId: runId.data, status: 'running' } satisfies ReapRunning, 202);
      case 'interrupted':
        throw new AppError(410, 'run_interrupted', `run ${runId.data} was started on this agent and did not finish (the agent stopped mid-reap) or its report was lost; its outcome is not known here`);
      case 'unknown':
        throw new AppError(404, 'unknown_run', `this agent has no record of run ${runId.data}: it never started it, or no longer keeps its report (reports are kept ${Math.round(DEFAULT_RETENTION_MS / 3600_000)} h, within the state dir's byte budget)`);
    }
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
