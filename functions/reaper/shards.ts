/**
 * Splitting a run's hosts into shards (pure; SPEC §10). Each shard is one worker's work: on AWS
 * one asynchronous invocation of the worker function, locally one in-process call of the same
 * code. Every host is in exactly one shard of a plan.
 *
 * - Unpinned hosts go first, up to UNPINNED_SHARD_HOSTS a shard: S10 judges the new hosts of a
 *   shard together, so two new records on one engine are both refused rather than the faster one
 *   winning. A fleet registered all at once (more new hosts than that) is judged a shard at a
 *   time: two records on one engine in different shards are then the first pinned and the other
 *   refused, as when they are registered in different runs (docs/SAFETY.md S10).
 * - A shard holds at most `maxHosts` hosts and at most `maxBytes` of host records as JSON (the
 *   worker's event carries them: Lambda's asynchronous payload limit is 256 KB).
 */
import type { Host } from '../store/schemas.js';

export interface BrokenHost {
  hostId: string;
  problem: string;
}

export interface ShardPlan {
  hosts: Host[];
  broken: BrokenHost[];
}

export interface ShardLimits {
  maxHosts: number;
  maxBytes: number;
}

/** New hosts judged together (S10) in one shard at most. */
export const UNPINNED_SHARD_HOSTS = 1000;

/** Lambda accepts 256 KB for an asynchronous invocation; the rest of the event needs a few. */
export const MAX_SHARD_EVENT_BYTES = 240_000;

export function planShards(hosts: readonly Host[], broken: readonly BrokenHost[], limits: ShardLimits): ShardPlan[] {
  const maxHosts = Math.max(1, Math.floor(limits.maxHosts));
  const shards: ShardPlan[] = [];
  let current: ShardPlan = { hosts: [], broken: [] };
  let bytes = 0;
  let count = 0;
  const close = () => {
    if (count > 0) shards.push(current);
    current = { hosts: [], broken: [] };
    bytes = 0;
    count = 0;
  };
  const unpinned = hosts.filter((h) => h.engineId === undefined);
  const pinned = hosts.filter((h) => h.engineId !== undefined);
  // New hosts stay together up to their own limit (usually there are few), whatever maxHosts is.
  for (const host of unpinned) {
    if (count >= UNPINNED_SHARD_HOSTS || (count > 0 && bytes + size(host) > limits.maxBytes)) close();
    current.hosts.push(host);
    bytes += size(host);
    count++;
  }
  if (count > 0) close();
  const add = (weight: number, put: () => void) => {
    if (count > 0 && (count >= maxHosts || bytes + weight > limits.maxBytes)) close();
    put();
    bytes += weight;
    count++;
  };
  for (const host of pinned) add(size(host), () => current.hosts.push(host));
  for (const item of broken) add(size(item), () => current.broken.push(item));
  close();
  return shards;
}

const size = (value: unknown) => Buffer.byteLength(JSON.stringify(value)) + 1;

/**
 * A shard's part of the run's fleet budget (S4), proportional to its hosts and rounded down, so
 * the shards together never grant more than the budget, whichever of them run at once.
 */
export function budgetShare(total: number, shardHosts: number, runHosts: number): number {
  if (runHosts <= 0 || shardHosts >= runHosts) return total;
  return Math.floor((total * shardHosts) / runHosts);
}

/**
 * What a host's last run asked of the fleet budget and did not get (capped `fleet-max-reap`,
 * touching nothing); 0 when it was not capped by the budget.
 */
function budgetNeed(host: Host): number {
  const last = host.lastReap;
  return last?.status === 'capped' ? (last.budgetNeed ?? 0) : 0;
}

/**
 * Every shard's part of the run's fleet budget (S4). A shard's share of the budget can be smaller
 * than what one of its hosts needs (20 a shard for 10,000 hosts and a budget of 1,000), and a host
 * granted less than it would remove removes nothing. So what hosts needed last run and were
 * refused is set aside first, for their shards, the smallest needs first while they fit; the rest
 * is shared by hosts as budgetShare does. A need larger than the whole budget is never set aside
 * (it cannot be met; docs/SAFETY.md). The shares never add up to more than `total`.
 */
export function budgetShares(total: number, shards: readonly ShardPlan[], runHosts: number): number[] {
  const needs = shards
    .flatMap((shard, index) => shard.hosts.map((host) => ({ index, need: budgetNeed(host) })))
    .filter((n) => n.need > 0 && n.need <= total)
    .sort((a, b) => a.need - b.need);
  const setAside = shards.map(() => 0);
  let left = total;
  for (const { index, need } of needs) {
    if (need > left) break;
    setAside[index]! += need;
    left -= need;
  }
  return shards.map((shard, index) => setAside[index]! + budgetShare(left, shard.hosts.length + shard.broken.length, runHosts));
}
