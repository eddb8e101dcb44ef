/**
 * The two events the reaper function accepts, validated with zod:
 * - an EventBridge scheduled event (detail-type "Scheduled Event") → trigger `schedule`;
 * - an async invocation from the API, `{ runId, hosts?, dryRun?, force?, now? }` → trigger `api`.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { HostId, RunId } from '../../lib/ids.js';
import type { RunRequest } from './run.js';

/** EventBridge adds fields over time; only what is used is required. */
export const ScheduledEvent = z.looseObject({
  'detail-type': z.literal('Scheduled Event'),
  source: z.string(),
  id: z.string(),
  time: z.string(),
});

export const OnDemandEvent = z.strictObject({
  runId: RunId,
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
    return { runId: id.success ? id.data : newRunId(), trigger: 'schedule' };
  }
  const onDemand = OnDemandEvent.safeParse(event);
  if (onDemand.success) {
    const e = onDemand.data;
    return {
      runId: e.runId,
      trigger: 'api',
      ...(e.hosts === undefined ? {} : { hosts: e.hosts }),
      ...(e.dryRun === undefined ? {} : { dryRun: e.dryRun }),
      ...(e.force === undefined ? {} : { force: e.force }),
      ...(e.now === undefined ? {} : { now: e.now }),
    };
  }
  const issues = onDemand.error.issues.slice(0, 5).map((i) => `${i.path.map(String).join('.') || '(event)'}: ${i.message}`);
  throw new InvalidEventError(`not a scheduled event nor an on-demand run { runId, hosts?, dryRun?, force?, now? }: ${issues.join('; ')}`);
}
