/**
 * How a tracked item is stored (pure). Every run reads every host's tracked items with a
 * consistent Query (S5), billed on the items' whole size in 4 KB steps: at one run a minute that
 * read is most of what a host costs (bench/cost.ts). So the stored form is lean: one-letter names,
 * instants as epoch numbers, a full Docker id as its 32 bytes. About half the bytes of the
 * long form: 50 realistic items in 2 read units instead of 4.
 *
 *   c  createdAt, epoch ms      u  updatedAt, epoch ms      d  dockerId (Binary when full, else String)
 *   o  owner                    l  leaseExpiresAt, epoch s  x  TTL (the table's TimeToLive attribute)
 *
 * Items written by earlier builds (long names: createdAt, dockerId, …) are read as well; a
 * re-track rewrites one in the lean form, keeping its original `createdAt`.
 */
import type { TrackedItem } from './schemas.js';

/** The stored names, and the long names of items written before them. */
export const LEAN = { createdAt: 'c', updatedAt: 'u', dockerId: 'd', owner: 'o', leaseExpiresAt: 'l', expiresAt: 'x' } as const;
export const LEGACY_ATTRIBUTES = ['updatedAt', 'dockerId', 'owner', 'leaseExpiresAt', 'expiresAt'] as const;

/** The TTL attribute of the tracked table (infra/dynamodb.yml declares the same). */
export const TRACKED_TTL_ATTRIBUTE = LEAN.expiresAt;

const FULL_DOCKER_ID = /^[a-f0-9]{64}$/;

/** A Docker id as stored: a full one as its bytes, a prefix (odd length or short) as text. */
export function storedDockerId(dockerId: string): Uint8Array | string {
  return FULL_DOCKER_ID.test(dockerId) ? Uint8Array.from(Buffer.from(dockerId, 'hex')) : dockerId;
}

function dockerIdOf(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  return value;
}

function isoOf(value: unknown): unknown {
  return typeof value === 'number' && Number.isFinite(value) ? new Date(value).toISOString() : value;
}

/** A stored item (either form) in the shape TrackedItem parses; unknown attributes are dropped. */
export function fromStored(raw: Record<string, unknown>): Record<string, unknown> {
  // On the reaper's hot path (every tracked item of every host, every run): no closures here.
  const out: Record<string, unknown> = {
    hostId: raw.hostId,
    containerId: raw.containerId,
    // A legacy createdAt is the original one: kept over the lean `c` a re-track set.
    createdAt: raw.createdAt !== undefined ? raw.createdAt : isoOf(raw.c),
    updatedAt: raw.u !== undefined ? isoOf(raw.u) : raw.updatedAt,
  };
  const dockerId = raw.d !== undefined ? dockerIdOf(raw.d) : raw.dockerId;
  if (dockerId !== undefined) out.dockerId = dockerId;
  const owner = raw.o !== undefined ? raw.o : raw.owner;
  if (owner !== undefined) out.owner = owner;
  const lease = raw.l !== undefined ? raw.l : raw.leaseExpiresAt;
  if (lease !== undefined) out.leaseExpiresAt = lease;
  const ttl = raw.x !== undefined ? raw.x : raw.expiresAt;
  if (ttl !== undefined) out.expiresAt = ttl;
  return out;
}

/** The lean stored form of an item (tests and benchmarks seed with it; `track` writes the same). */
export function toStored(item: TrackedItem): Record<string, unknown> {
  return {
    hostId: item.hostId,
    containerId: item.containerId,
    [LEAN.createdAt]: Date.parse(item.createdAt),
    [LEAN.updatedAt]: Date.parse(item.updatedAt),
    ...(item.dockerId === undefined ? {} : { [LEAN.dockerId]: storedDockerId(item.dockerId) }),
    ...(item.owner === undefined ? {} : { [LEAN.owner]: item.owner }),
    ...(item.leaseExpiresAt === undefined ? {} : { [LEAN.leaseExpiresAt]: item.leaseExpiresAt }),
    ...(item.expiresAt === undefined ? {} : { [LEAN.expiresAt]: item.expiresAt }),
  };
}
