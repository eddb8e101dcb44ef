/**
 * The agent's port to the Docker engine. dockerode's types stop here: callers see only the
 * project's own types, and the engine's "already done" answers come back as outcomes, not errors.
 */
import { createHash } from 'node:crypto';
import Docker from 'dockerode';
import type { LabelledContainer } from './orphans.js';

export type StopOutcome = 'stopped' | 'not-running' | 'gone';
export type RemoveOutcome = 'removed' | 'gone';
/** `done`: paused / unpaused now; `unchanged`: it already was (or, for pause, is not running); `gone`: no such container. */
export type PauseOutcome = 'done' | 'unchanged' | 'gone';

export interface DockerPort {
  /** The engine's version; throws when the engine cannot be reached. */
  version(): Promise<string>;
  /** Containers carrying `label` (S1: filtered on the daemon). */
  listLabelled(): Promise<LabelledContainer[]>;
  /**
   * Docker's own stop: the container's StopSignal, at most `timeoutSeconds` to exit, then SIGKILL.
   * Returns as soon as the container has exited.
   */
  stop(dockerId: string, timeoutSeconds: number): Promise<StopOutcome>;
  /** Force-remove with anonymous volumes (S7). */
  remove(dockerId: string): Promise<RemoveOutcome>;
  /** The engine's identity (S10): Docker's /info ID; on Podman, whose ID is random per call, one derived from its own data. */
  engineId(): Promise<string>;
  /** Freezes a running container (S11 quarantine): no CPU, memory and disk kept. */
  pause(dockerId: string): Promise<PauseOutcome>;
  unpause(dockerId: string): Promise<PauseOutcome>;
}

/** An engine error that is not one of the expected outcomes. */
export class DockerOperationError extends Error {
  override name = 'DockerOperationError';
  constructor(
    readonly operation: string,
    readonly statusCode: number | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

interface EngineError {
  statusCode: number;
  message: string;
  json?: { message?: string } | null;
}

function isEngineError(error: unknown): error is EngineError {
  return typeof error === 'object' && error !== null && typeof (error as { statusCode?: unknown }).statusCode === 'number';
}

function engineMessage(error: EngineError): string {
  return error.json?.message ?? error.message;
}

/** Docker's 409 on remove when another remove of the same container is under way. */
function isRemovalInProgress(error: EngineError): boolean {
  return error.statusCode === 409 && /already in progress/i.test(engineMessage(error));
}

function wrap(operation: string, error: unknown): DockerOperationError {
  if (isEngineError(error)) {
    return new DockerOperationError(operation, error.statusCode, `${operation}: HTTP ${error.statusCode}: ${engineMessage(error).trim()}`, { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new DockerOperationError(operation, undefined, `${operation}: ${message}`, { cause: error });
}

/** The engine's identity from its /info (S10). Exported for tests of the derivation. */
export function engineIdFromInfo(kind: 'docker' | 'podman', info: { ID?: string; Name?: string; DockerRootDir?: string }): string {
  if (kind === 'docker') {
    if (!info.ID || !info.DockerRootDir) throw new DockerOperationError('info', undefined, 'info: the engine reported no ID or data root');
    // Docker 20.10 derives its ID from /etc/docker/key.json, shared by every engine on one machine
    // (and by machines cloned from one image); the data root tells engines on one machine apart.
    return `docker:${info.ID}/${sha256(info.DockerRootDir).slice(0, 16)}`;
  }
  if (!info.Name || !info.DockerRootDir) throw new DockerOperationError('info', undefined, 'info: Podman reported no host name or storage root');
  return `podman:${sha256(`${info.Name}\n${info.DockerRootDir}`).slice(0, 32)}`;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** dockerode options for a DOCKER_HOST value (Docker's own convention). */
export function dockerOptionsFromHost(dockerHost: string): Docker.DockerOptions {
  if (dockerHost.startsWith('unix://')) {
    const socketPath = dockerHost.slice('unix://'.length);
    if (!socketPath) throw new Error(`DOCKER_HOST "${dockerHost}" has no socket path`);
    return { socketPath };
  }
  if (dockerHost.startsWith('tcp://') || dockerHost.startsWith('http://')) {
    const url = new URL(dockerHost.replace(/^tcp:/, 'http:'));
    return { protocol: 'http', host: url.hostname, port: Number(url.port || 2375) };
  }
  throw new Error(`DOCKER_HOST "${dockerHost}" is not supported: use unix:///path/to/docker.sock or tcp://host:port`);
}

export interface DockerodePortOptions {
  dockerHost: string;
  label: string;
  /** Per-request timeout for engine calls, ms. */
  timeoutMs?: number;
}

export function createDockerPort(options: DockerodePortOptions): DockerPort {
  // No keep-alive agent: measured 40x slower inspects on the engine's unix socket with one. No
  // socket timeout either (a stop is silent for its whole timeout): each call has its own deadline.
  const docker = new Docker(dockerOptionsFromHost(options.dockerHost));
  const callTimeoutMs = options.timeoutMs ?? 60_000;
  const deadline = () => AbortSignal.timeout(callTimeoutMs);
  const { label } = options;

  // Docker's /version execs runc and docker-init for their versions: 200 health checks at once cost
  // the engine 200 forks (measured: /healthz p50 4.1 s under bench/load-agent.ts). Checks that
  // arrive while one is in flight share its answer; nothing is cached past it, so an engine that
  // went away is reported by the very next check.
  let versionInFlight: Promise<string> | undefined;
  const fetchVersion = async () => {
    try {
      // dockerode accepts options here; its type definitions omit them.
      const version = docker.version as unknown as (opts: { abortSignal: AbortSignal }) => Promise<Docker.DockerVersion>;
      const info = await version.call(docker, { abortSignal: deadline() });
      return info.Version;
    } catch (error) {
      throw wrap('version', error);
    }
  };

  // Podman's compatible /info answers a fresh random ID on every call, so its identity is derived
  // from what stays put: the host name and the storage root. The engine's kind never changes
  // behind one socket path while the agent runs, so it is asked once; the ID is asked every time
  // (an engine replaced behind the socket must be noticed).
  let kind: Promise<'docker' | 'podman'> | undefined;
  const engineKind = () =>
    (kind ??= (async () => {
      try {
        // dockerode accepts options here; its type definitions omit them.
        const call = docker.version as unknown as (opts: { abortSignal: AbortSignal }) => Promise<{ Components?: Array<{ Name: string }> }>;
        const version = await call.call(docker, { abortSignal: deadline() });
        return (version.Components ?? []).some((c) => /podman/i.test(c.Name)) ? 'podman' : 'docker';
      } catch (error) {
        kind = undefined;
        throw wrap('version', error);
      }
    })());
  let idInFlight: Promise<string> | undefined;
  const fetchEngineId = async () => {
    const engine = await engineKind();
    let info: { ID?: string; Name?: string; DockerRootDir?: string };
    try {
      const call = docker.info as unknown as (opts: { abortSignal: AbortSignal }) => Promise<typeof info>;
      info = await call.call(docker, { abortSignal: deadline() });
    } catch (error) {
      throw wrap('info', error);
    }
    return engineIdFromInfo(engine, info);
  };

  const pauseCall = async (operation: 'pause' | 'unpause', dockerId: string): Promise<PauseOutcome> => {
    try {
      const container = docker.getContainer(dockerId);
      await (operation === 'pause' ? container.pause({ abortSignal: deadline() }) : container.unpause({ abortSignal: deadline() }));
      return 'done';
    } catch (error) {
      if (isEngineError(error)) {
        if (error.statusCode === 404) return 'gone';
        // 409 "is already paused" / "is not paused" / "is not running": nothing to do.
        if (error.statusCode === 409 || error.statusCode === 304) return 'unchanged';
      }
      throw wrap(operation, error);
    }
  };

  return {
    engineId() {
      idInFlight ??= fetchEngineId().finally(() => {
        idInFlight = undefined;
      });
      return idInFlight;
    },

    pause: (dockerId) => pauseCall('pause', dockerId),
    unpause: (dockerId) => pauseCall('unpause', dockerId),

    version() {
      versionInFlight ??= fetchVersion().finally(() => {
        versionInFlight = undefined;
      });
      return versionInFlight;
    },

    async listLabelled() {
      let rows: Docker.ContainerInfo[];
      try {
        rows = await docker.listContainers({
          all: true,
          abortSignal: deadline(),
          filters: { label: [label] },
        });
      } catch (error) {
        throw wrap('list', error);
      }
      const result: LabelledContainer[] = [];
      for (const row of rows) {
        const value = row.Labels?.[label];
        // S1: the daemon filtered on the label already; this guards against an engine that ignores filters.
        if (value === undefined) continue;
        result.push({
          clawboxId: value,
          dockerId: row.Id,
          state: row.State,
          // An engine that answers without a usable Created gets its containers judged as young
          // (created now): never reaped on a guess.
          createdSeconds: Number.isFinite(row.Created) ? row.Created : Math.floor(Date.now() / 1000),
          name: (row.Names?.[0] ?? '').replace(/^\//, ''),
          image: row.Image,
        });
      }
      return result;
    },

    async stop(dockerId, timeoutSeconds) {
      try {
        // The call lasts as long as the stop: its own deadline is the stop timeout plus a margin.
        await docker.getContainer(dockerId).stop({ t: timeoutSeconds, abortSignal: AbortSignal.timeout(timeoutSeconds * 1000 + callTimeoutMs) });
        return 'stopped';
      } catch (error) {
        if (isEngineError(error)) {
          if (error.statusCode === 404) return 'gone';
          // 304 "not modified": already stopped.
          if (error.statusCode === 304) return 'not-running';
        }
        throw wrap('stop', error);
      }
    },

    async remove(dockerId) {
      try {
        await docker.getContainer(dockerId).remove({ force: true, v: true, abortSignal: deadline() });
        return 'removed';
      } catch (error) {
        // 404: already gone; 409 "removal already in progress": someone else is removing it.
        if (isEngineError(error) && (error.statusCode === 404 || isRemovalInProgress(error))) return 'gone';
        throw wrap('remove', error);
      }
    },
  };
}
