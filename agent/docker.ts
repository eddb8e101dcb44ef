/**
 * The agent's port to the Docker engine. dockerode's types stop here: callers see only the
 * project's own types, and the engine's "already done" answers come back as outcomes, not errors.
 */
import http from 'node:http';
import Docker from 'dockerode';
import type { LabelledContainer } from './orphans.js';

export type KillOutcome = 'signalled' | 'not-running' | 'gone';
export type RemoveOutcome = 'removed' | 'gone';

export interface DockerPort {
  /** The engine's version; throws when the engine cannot be reached. */
  version(): Promise<string>;
  /** Containers carrying `label` (S1: filtered on the daemon). `activeOnly` keeps running/paused/restarting ones. */
  listLabelled(options?: { activeOnly?: boolean }): Promise<LabelledContainer[]>;
  /** The signal `docker stop` would send (the image's or container's StopSignal, else SIGTERM). */
  stopSignal(dockerId: string): Promise<string | 'gone'>;
  kill(dockerId: string, signal: string): Promise<KillOutcome>;
  /** Force-remove with anonymous volumes (S7). */
  remove(dockerId: string): Promise<RemoveOutcome>;
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

const ACTIVE_STATES = ['running', 'paused', 'restarting'];

export interface DockerodePortOptions {
  dockerHost: string;
  label: string;
  /** Per-request timeout for engine calls, ms. */
  timeoutMs?: number;
}

export function createDockerPort(options: DockerodePortOptions): DockerPort {
  // Keep-alive on the engine socket: a reap issues hundreds of short calls.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const docker = new Docker({ ...dockerOptionsFromHost(options.dockerHost), timeout: options.timeoutMs ?? 60_000, agent } as Docker.DockerOptions);
  const { label } = options;

  return {
    async version() {
      try {
        const info = await docker.version();
        return info.Version;
      } catch (error) {
        throw wrap('version', error);
      }
    },

    async listLabelled({ activeOnly = false } = {}) {
      let rows: Docker.ContainerInfo[];
      try {
        rows = await docker.listContainers({
          all: true,
          filters: { label: [label], ...(activeOnly ? { status: ACTIVE_STATES } : {}) },
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
          createdSeconds: row.Created,
          name: (row.Names?.[0] ?? '').replace(/^\//, ''),
          image: row.Image,
        });
      }
      return result;
    },

    async stopSignal(dockerId) {
      try {
        const info = await docker.getContainer(dockerId).inspect();
        // @types/dockerode omits Config.StopSignal, which the engine does return.
        const config = info.Config as { StopSignal?: string } | undefined;
        return config?.StopSignal || 'SIGTERM';
      } catch (error) {
        if (isEngineError(error) && error.statusCode === 404) return 'gone';
        throw wrap('inspect', error);
      }
    },

    async kill(dockerId, signal) {
      try {
        await docker.getContainer(dockerId).kill({ signal });
        return 'signalled';
      } catch (error) {
        if (isEngineError(error)) {
          if (error.statusCode === 404) return 'gone';
          // 409 "is not running", 304 "not modified": already stopped, nothing to signal.
          if (error.statusCode === 409 || error.statusCode === 304) return 'not-running';
        }
        throw wrap('kill', error);
      }
    },

    async remove(dockerId) {
      try {
        await docker.getContainer(dockerId).remove({ force: true, v: true });
        return 'removed';
      } catch (error) {
        // 404: already gone; 409 "removal already in progress": someone else is removing it.
        if (isEngineError(error) && (error.statusCode === 404 || isRemovalInProgress(error))) return 'gone';
        throw wrap('remove', error);
      }
    },
  };
}
