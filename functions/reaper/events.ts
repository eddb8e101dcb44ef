/**
 * The two events the reaper function accepts, validated with zod:
 * - an EventBridge scheduled event (detail-type "Scheduled Event") → trigger `schedule`;
 * - an async invocation from the API, `{ runId, startedAt?, hosts?, dryRun?, force?, now? }` → trigger `api`;
 * - a shard of a run, `{ shard: { … } }`, sent by the planner to the worker function (SPEC §10).
 *
 * Every delivery of one event is the same run: the same runId and the same start (the reports'
 * key), so a duplicate delivery writes no second report (SPEC §10).
 */
import { createHash, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { HostId, Instant, RunId } from '../../lib/ids.js';
import { HostItem, Trigger } from '../store/schemas.js';
import type { RunRequest, ShardRequest } from './run.js';

/** EventBridge adds fields over time; only what is used is required. */
export const ScheduledEvent = z.looseObject({
  'detail-type': z.literal('Scheduled Event'),
  source: z.string(),
  id: z.string(),
  time: z.string(),
});

export const OnDemandEvent = z.strictObject({
  runId: RunId,
  /** When the API started the run: the reports' sort key, the same for every delivery of the event. */
  startedAt: Instant.optional(),
  hosts: z.array(HostId).min(1).max(10_000).optional(),
  dryRun: z.boolean().optional(),
  force: z.boolean().optional(),
  now: z.boolean().optional(),
});
export type OnDemandEvent = z.infer<typeof OnDemandEvent>;

export class InvalidEventError extends Error {
  override name = 'InvalidEventError';
}

/**
 * The run an event asks for. A scheduled run's id is the EventBridge event's id when it is a
 * valid run id: EventBridge delivers at least once, and a duplicate delivery then carries the same
 * runId, which every agent answers with its first report instead of reaping again (S6).
 */
export function runRequestFromEvent(event: unknown, newRunId: () => string = randomUUID): Omit<RunRequest, 'deadlineAt'> {
  const scheduled = ScheduledEvent.safeParse(event);
  if (scheduled.success) {
    const id = RunId.safeParse(scheduled.data.id);
    // An id that is not a run id still names the event: a run id derived from it is the same
    // for every delivery. The event's time is the run's start, so the reports' keys are too.
    const runId = id.success ? id.data : scheduled.data.id.length > 0 ? `ev-${createHash('sha256').update(scheduled.data.id).digest('hex').slice(0, 40)}` : newRunId();
    const time = Date.parse(scheduled.data.time);
    return { runId, trigger: 'schedule', ...(Number.isFinite(time) ? { startedAt: new Date(time).toISOString() } : {}) };
  }
  const onDemand = OnDemandEvent.safeParse(event);
  if (onDemand.success) {
    const e = onDemand.data;
    return {
      runId: e.runId,
      trigger: 'api',
      ...(e.startedAt === undefined ? {} : { startedAt: new Date(e.startedAt).toISOString() }),
      ...(e.hosts === undefined ? {} : { hosts: e.hosts }),
      ...(e.dryRun === undefined ? {} : { dryRun: e.dryRun }),
      ...(e.force === undefined ? {} : { force: e.force }),
      ...(e.now === undefined ? {} : { now: e.now }),
    };
  }
  const issues = onDemand.error.issues.slice(0, 5).map((i) => `${i.path.map(String).join('.') || '(event)'}: ${i.message}`);
  throw new InvalidEventError(`not a scheduled event nor an on-demand run { runId, startedAt?, hosts?, dryRun?, force?, now? }: ${issues.join('; ')}`);
}

/**
 * One shard of a run, as the planner sends it to a worker (an asynchronous invocation): the host
 * records themselves, so the worker reads nothing to know what to reap.
 */
export const ShardEvent = z.strictObject({
  shard: z.strictObject({
    runId: RunId,
    startedAt: Instant,
    trigger: Trigger,
    dryRun: z.boolean(),
    force: z.boolean(),
    now: z.boolean(),
    index: z.number().int().min(0),
    count: z.number().int().min(1),
    runHosts: z.number().int().min(0),
    /** This shard's part of the fleet budget (S4); null: none (dry or forced runs). */
    fleetBudget: z.number().int().min(0).nullable(),
    hosts: z.array(HostItem).max(10_000),
    broken: z.array(z.strictObject({ hostId: HostId, problem: z.string().max(2000) })).max(10_000),
  }),
});
export type ShardEvent = z.infer<typeof ShardEvent>;

export function shardEvent(shard: ShardRequest): ShardEvent {
  return {
    shard: {
      runId: shard.runId,
      startedAt: shard.startedAt,
      trigger: shard.trigger,
      dryRun: shard.dryRun,
      force: shard.force,
      now: shard.now,
      index: shard.shard,
      count: shard.shards,
      runHosts: shard.runHosts,
      fleetBudget: shard.fleetBudget ?? null,
      hosts: shard.hosts,
      broken: shard.broken,
    },
  };
}

export function shardRequestFromEvent(event: ShardEvent, deadlineAt: number): ShardRequest {
  const e = event.shard;
  return {
    runId: e.runId,
    startedAt: new Date(e.startedAt).toISOString(),
    trigger: e.trigger,
    dryRun: e.dryRun,
    force: e.force,
    now: e.now,
    shard: e.index,
    shards: e.count,
    runHosts: e.runHosts,
    fleetBudget: e.fleetBudget ?? undefined,
    hosts: e.hosts,
    broken: e.broken,
    deadlineAt,
  };
}
