/**
 * The agent's port to the Docker engine. dockerode's types stop here: callers see only the
 * project's own types, and the engine's "already done" answers come back as outcomes, not errors.
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import Docker from 'dockerode';
import type { LabelledContainer } from './orphans.js';

/** `signalled`: the signal was delivered; `not-running`: nothing to signal (exited, or Podman's `stopping`). */
export type KillOutcome = 'signalled' | 'not-running' | 'gone';
export type RemoveOutcome = 'removed' | 'gone';
/** `done`: paused / unpaused now; `unchanged`: it already was (or, for pause, is not running); `gone`: no such container. */
export type PauseOutcome = 'done' | 'unchanged' | 'gone';

export interface DockerPort {
  /** The engine's version; throws when the engine cannot be reached. */
  version(): Promise<string>;
  /** Containers carrying `label` (S1: filtered on the daemon). */
  listLabelled(): Promise<LabelledContainer[]>;
  /** What a graceful stop needs to know: the container's own stop signal and its current state. */
  stopInfo(dockerId: string): Promise<StopInfo | 'gone'>;
  /** Sends one signal (`POST /containers/{id}/kill?signal=`); it does not wait for the exit. */
  kill(dockerId: string, signal: string): Promise<KillOutcome>;
  /**
   * Force-remove with anonymous volumes (S7). A container other containers depend on (Podman: one
   * whose namespaces they share) is refused with a {@link DependentsError} naming them.
   */
  remove(dockerId: string): Promise<RemoveOutcome>;
  /** The engine's identity (S10): Docker's /info ID; on Podman, whose ID is random per call, one derived from its own data. */
  engineId(): Promise<string>;
  /** Freezes a running container (S11 quarantine): no CPU, memory and disk kept. */
  pause(dockerId: string): Promise<PauseOutcome>;
  unpause(dockerId: string): Promise<PauseOutcome>;
}

export interface StopInfo {
  /** Config.StopSignal, as the engine spells it (`SIGTERM`, `SIGQUIT`, `15`); SIGTERM when unset. */
  signal: string;
  state: string;
}

/** A container that blocks another's removal (it shares its namespaces), as the engine names it. */
export interface DependentContainer {
  dockerId: string;
  /** Undefined when it could not be inspected (gone meanwhile). */
  name?: string;
  /** Its value of the agent's label; undefined: it does not carry the label, and the agent never touches it (S1). */
  labelValue?: string;
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

/** Podman's refusal to remove a container that others depend on; the dependents are described, never touched. */
export class DependentsError extends DockerOperationError {
  override name = 'DependentsError';
  constructor(
    readonly dependents: DependentContainer[],
    message: string,
    options?: { cause?: unknown },
  ) {
    super('remove', 500, message, options);
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

/** Podman: "container X has dependent containers which must be removed before it: Y,Z: container already exists". */
export function dependentIdsFrom(message: string): string[] | undefined {
  const match = /has dependent containers which must be removed before it: ([0-9a-f,\s]+)/i.exec(message);
  if (!match?.[1]) return undefined;
  const ids = match[1].match(/[0-9a-f]{12,64}/g);
  return ids?.length ? ids : undefined;
}

/** The reason a blocked removal is reported with: who blocks it, and whether the agent may ever touch them. */
export function describeDependents(dependents: readonly DependentContainer[]): string {
  const each = dependents.map((d) => {
    const who = `${d.dockerId.slice(0, 12)}${d.name ? ` "${d.name}"` : ''}`;
    return d.labelValue === undefined ? `${who} (unlabelled: never touched by the agent)` : `${who} (labelled ${JSON.stringify(d.labelValue)})`;
  });
  return `remove: blocked by ${dependents.length === 1 ? 'a dependent container' : `${dependents.length} dependent containers`} sharing its namespaces, which the engine requires removed first: ${each.join(', ')}`;
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

/** How long Podman's engine id is reused while its socket is the same file. */
const PODMAN_ID_REUSE_MS = 10_000;

/** A unix socket's file identity (device, inode, change time); undefined for TCP or a missing socket. */
function socketIdentity(dockerHost: string): string | undefined {
  if (!dockerHost.startsWith('unix://')) return undefined;
  try {
    const st = statSync(dockerHost.slice('unix://'.length));
    return `${st.dev}:${st.ino}:${st.ctimeMs}`;
  } catch {
    return undefined;
  }
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
  // behind one socket path while the agent runs, so it is asked once; the ID is asked again (an
  // engine replaced behind the socket must be noticed).
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
  // Podman's /info costs 300-450 ms (it runs conmon and runc for their versions; measured on 2
  // cores), and a reap asks the identity twice (the identity step, then the reap's own check). So
  // on Podman the id is reused for a few seconds while the socket is the very same file: a
  // different service behind the path makes a new socket. Docker's /info is cheap: asked every time.
  let podmanId: { id: string; socket: string; at: number } | undefined;
  const fetchEngineId = async () => {
    const engine = await engineKind();
    const socket = engine === 'podman' ? socketIdentity(options.dockerHost) : undefined;
    if (socket && podmanId?.socket === socket && Date.now() - podmanId.at < PODMAN_ID_REUSE_MS) return podmanId.id;
    let info: { ID?: string; Name?: string; DockerRootDir?: string };
    try {
      const call = docker.info as unknown as (opts: { abortSignal: AbortSignal }) => Promise<typeof info>;
      info = await call.call(docker, { abortSignal: deadline() });
    } catch (error) {
      podmanId = undefined;
      throw wrap('info', error);
    }
    const id = engineIdFromInfo(engine, info);
    podmanId = socket ? { id, socket, at: Date.now() } : undefined;
    return id;
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

  // Only read, to name a container that blocks a removal; whatever it carries, it is never touched.
  const describeContainer = async (dockerId: string): Promise<DependentContainer> => {
    try {
      const info = await docker.getContainer(dockerId).inspect({ abortSignal: deadline() });
      const value = info.Config.Labels?.[label];
      return { dockerId: info.Id, name: info.Name.replace(/^\//, ''), ...(value === undefined ? {} : { labelValue: value }) };
    } catch {
      return { dockerId };
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

    async stopInfo(dockerId) {
      try {
        const info = await docker.getContainer(dockerId).inspect({ abortSignal: deadline() });
        // @types/dockerode omits StopSignal; the engine sends it when the image or `--stop-signal` set one.
        const { StopSignal } = info.Config as { StopSignal?: string };
        return { signal: StopSignal || 'SIGTERM', state: info.State.Status };
      } catch (error) {
        if (isEngineError(error) && error.statusCode === 404) return 'gone';
        throw wrap('inspect', error);
      }
    },

    async kill(dockerId, signal) {
      try {
        await docker.getContainer(dockerId).kill({ signal, abortSignal: deadline() });
        return 'signalled';
      } catch (error) {
        if (isEngineError(error)) {
          if (error.statusCode === 404) return 'gone';
          // Docker: 409 "is not running"; Podman: 500 "container state improper" (exited, or stopping).
          if (error.statusCode === 409 || (error.statusCode === 500 && /state improper/i.test(engineMessage(error)))) return 'not-running';
        }
        throw wrap('kill', error);
      }
    },

    async remove(dockerId) {
      try {
        await docker.getContainer(dockerId).remove({ force: true, v: true, abortSignal: deadline() });
        return 'removed';
      } catch (error) {
        // 404: already gone; 409 "removal already in progress": someone else is removing it.
        if (isEngineError(error) && (error.statusCode === 404 || isRemovalInProgress(error))) return 'gone';
        const dependentIds = isEngineError(error) ? dependentIdsFrom(engineMessage(error)) : undefined;
        if (dependentIds) {
          const dependents = await Promise.all(dependentIds.map(describeContainer));
          throw new DependentsError(dependents, describeDependents(dependents), { cause: error });
        }
        throw wrap('remove', error);
      }
    },
  };
}
