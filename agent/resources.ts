/**
 * Labelled networks and volumes (SPEC §9): sandbox resources reaped under the containers' rules.
 * One is removable only if it carries the label (filtered on the engine *and* checked again here,
 * so an engine that ignores the filter can never turn a reap into a mass deletion), its label
 * value is not tracked, it is older than the grace on the engine's own creation time (unknown
 * time: young), and no container on the engine — labelled or not, in any state — uses it.
 *
 * The decisions are pure functions; the port over the engine is the only part that talks to it.
 */
import Docker from 'dockerode';
import pLimit from 'p-limit';
import type { ResourceKind, TrackedRef } from '../lib/agent-contract.js';
import { dockerOptionsFromHost } from './docker.js';
import { isOldEnough } from './orphans.js';

export interface LabelledResource {
  kind: ResourceKind;
  /** A volume's name; a network's name. */
  name: string;
  /** A network's id (volumes have none besides their name). */
  id?: string | undefined;
  clawboxId: string;
  /** The engine's creation time, ms; undefined when the engine did not say (then judged young). */
  createdMs?: number | undefined;
}

/** What one container on the engine uses; null where its listing did not say. */
export interface ContainerUse {
  dockerId: string;
  /** Network names, ids and the network mode it names. */
  networks: string[] | null;
  /** Volume names it mounts. */
  volumes: string[] | null;
}

export type RemoveResourceOutcome = 'removed' | 'gone' | 'in-use';

export interface ResourcesPort {
  /** Networks carrying the label (filtered on the engine, and the label checked again on every one). */
  listNetworks(): Promise<LabelledResource[]>;
  listVolumes(): Promise<LabelledResource[]>;
  /**
   * What every container on the engine uses, whatever its labels and state. With `networks:
   * false` a container's networks may be left unknown (null) rather than asked for one by one.
   */
  containerUses(options?: { networks?: boolean }): Promise<ContainerUse[]>;
  removeNetwork(resource: LabelledResource): Promise<RemoveResourceOutcome>;
  removeVolume(resource: LabelledResource): Promise<RemoveResourceOutcome>;
}

/** Names in use per kind; null: some container's listing did not say, so usage is not known. */
export interface Usage {
  networks: Set<string> | null;
  volumes: Set<string> | null;
}

/** What the given containers use, leaving out `except` (this reap's own removals, before they happen). */
export function usageOf(uses: readonly ContainerUse[], except: ReadonlySet<string> = new Set()): Usage {
  const usage: Usage = { networks: new Set(), volumes: new Set() };
  for (const use of uses) {
    if (except.has(use.dockerId)) continue;
    if (use.networks === null) usage.networks = null;
    else for (const n of use.networks) usage.networks?.add(n);
    if (use.volumes === null) usage.volumes = null;
    else for (const v of use.volumes) usage.volumes?.add(v);
  }
  return usage;
}

export function isInUse(resource: LabelledResource, usage: Usage): boolean {
  const names = resource.kind === 'network' ? usage.networks : usage.volumes;
  // Usage not known: treated as used, never removed on a guess.
  if (names === null) return true;
  return names.has(resource.name) || (resource.id !== undefined && names.has(resource.id));
}

export interface ResourcePlan {
  tracked: LabelledResource[];
  young: LabelledResource[];
  inUse: LabelledResource[];
  /** Untracked, old enough and unused: removable. */
  candidates: LabelledResource[];
}

export function planResources(resources: readonly LabelledResource[], tracked: readonly TrackedRef[], cutoffMs: number, usage: Usage): ResourcePlan {
  const trackedIds = new Set(tracked.map((t) => t.id));
  const plan: ResourcePlan = { tracked: [], young: [], inUse: [], candidates: [] };
  for (const resource of resources) {
    if (trackedIds.has(resource.clawboxId)) plan.tracked.push(resource);
    else if (resource.createdMs === undefined || !isOldEnough(Math.floor(resource.createdMs / 1000), cutoffMs)) plan.young.push(resource);
    else if (isInUse(resource, usage)) plan.inUse.push(resource);
    else plan.candidates.push(resource);
  }
  return plan;
}

const parseTime = (value: unknown): number | undefined => {
  if (typeof value !== 'string' || value === '') return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) && ms > 0 ? ms : undefined;
};

interface EngineError {
  statusCode: number;
  message: string;
  json?: { message?: string } | null;
}

const isEngineError = (error: unknown): error is EngineError => typeof error === 'object' && error !== null && typeof (error as { statusCode?: unknown }).statusCode === 'number';

function wrap(operation: string, error: unknown): Error {
  if (isEngineError(error)) return new Error(`${operation}: HTTP ${error.statusCode}: ${(error.json?.message ?? error.message).trim()}`, { cause: error });
  return new Error(`${operation}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}

/** Network names and ids a container names, or null when its record does not say. */
function networkNames(settings: Record<string, { NetworkID?: string } | null | undefined> | null | undefined, mode: string | undefined): string[] | null {
  if (settings === undefined || settings === null) return null;
  return [...Object.keys(settings), ...Object.values(settings).map((n) => n?.NetworkID ?? ''), ...(mode ? [mode] : [])].filter((n) => n !== '');
}

/** Outcomes of a removal the engine refused as already done or not allowed now. */
function removalOutcome(error: unknown): RemoveResourceOutcome | undefined {
  if (!isEngineError(error)) return undefined;
  if (error.statusCode === 404) return 'gone';
  // Docker: 409 "volume is in use", 403/409 "has active endpoints"; Podman: 409 for volumes, 500
  // "network is being used" for networks.
  if (error.statusCode === 409 || /active endpoints|in use|being used/i.test(error.json?.message ?? error.message)) return 'in-use';
  return undefined;
}

/** The port over the engine behind `dockerHost` (its own dockerode client). */
export function createResourcesPort(options: { dockerHost: string; label: string; timeoutMs?: number }): ResourcesPort {
  const docker = new Docker(dockerOptionsFromHost(options.dockerHost));
  const { label } = options;
  const deadline = () => AbortSignal.timeout(options.timeoutMs ?? 60_000);

  return {
    async listNetworks() {
      let rows: Docker.NetworkInspectInfo[];
      try {
        rows = await docker.listNetworks({ filters: { label: [label] }, abortSignal: deadline() } as Docker.NetworkListOptions);
      } catch (error) {
        throw wrap('list networks', error);
      }
      const result: LabelledResource[] = [];
      for (const row of rows) {
        const value = row.Labels?.[label];
        // S1 for resources: the engine filtered already; one that ignores filters must not widen the reap.
        if (typeof value !== 'string') continue;
        result.push({ kind: 'network', name: row.Name, id: row.Id, clawboxId: value, createdMs: parseTime(row.Created) });
      }
      return result;
    },

    async listVolumes() {
      let answer: { Volumes?: Docker.VolumeInspectInfo[] | null };
      try {
        answer = await docker.listVolumes({ filters: { label: [label] }, abortSignal: deadline() } as object);
      } catch (error) {
        throw wrap('list volumes', error);
      }
      const result: LabelledResource[] = [];
      for (const row of answer.Volumes ?? []) {
        const value = row.Labels?.[label];
        if (typeof value !== 'string') continue;
        result.push({ kind: 'volume', name: row.Name, clawboxId: value, createdMs: parseTime((row as { CreatedAt?: unknown }).CreatedAt) });
      }
      return result;
    },

    async containerUses(options = {}) {
      let rows: Docker.ContainerInfo[];
      try {
        rows = await docker.listContainers({ all: true, abortSignal: deadline() });
      } catch (error) {
        throw wrap('list containers', error);
      }
      const uses = rows.map((row) => {
        const mounts = row.Mounts;
        const volumes = Array.isArray(mounts) ? mounts.filter((m) => m.Name).map((m) => m.Name!) : null;
        return { dockerId: row.Id, networks: networkNames(row.NetworkSettings?.Networks, row.HostConfig?.NetworkMode), volumes };
      });
      if (options.networks === false) return uses;
      // Podman lists a container without networks as `Networks: null` (Docker lists "none"): such a
      // listing does not say, so the container itself is asked.
      const limit = pLimit(8);
      return Promise.all(
        uses.map((use) =>
          use.networks !== null
            ? Promise.resolve(use)
            : limit(async () => {
                try {
                  const info = await docker.getContainer(use.dockerId).inspect({ abortSignal: deadline() } as Docker.ContainerInspectOptions);
                  return { ...use, networks: networkNames(info.NetworkSettings?.Networks ?? {}, info.HostConfig?.NetworkMode) };
                } catch (error) {
                  // Gone since the listing: it uses nothing. Anything else: still not known.
                  return isEngineError(error) && error.statusCode === 404 ? { ...use, networks: [] } : use;
                }
              }),
        ),
      );
    },

    async removeNetwork(resource) {
      try {
        // By id when known: a network of the same name created since the listing is not this one.
        await docker.getNetwork(resource.id ?? resource.name).remove({ abortSignal: deadline() } as object);
        return 'removed';
      } catch (error) {
        const outcome = removalOutcome(error);
        if (outcome) return outcome;
        throw wrap('remove network', error);
      }
    },

    async removeVolume(resource) {
      try {
        await docker.getVolume(resource.name).remove({ abortSignal: deadline() } as object);
        return 'removed';
      } catch (error) {
        const outcome = removalOutcome(error);
        if (outcome) return outcome;
        throw wrap('remove volume', error);
      }
    },
  };
}
