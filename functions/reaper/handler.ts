/**
 * The Lambda handler over a reaper: event → run request, deadline from the Lambda context.
 * Built by a factory so tests and the local stack invoke exactly what Lambda invokes.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../lib/logger.js';
import { InvalidEventError, runRequestFromEvent, ShardEvent, shardRequestFromEvent } from './events.js';
import { RestoreEvent, type Restorer, type RestoreOutcome } from './restore.js';
import type { Reaper, RunResult } from './run.js';

/** The part of the Lambda context the reaper uses. */
export interface LambdaContextLike {
  getRemainingTimeInMillis(): number;
  awsRequestId?: string;
}

export type ReaperHandler = (event: unknown, context: LambdaContextLike) => Promise<RunResult | RestoreOutcome>;

export function createReaperHandler(deps: { reaper: Reaper; logger: Logger; restore?: Restorer; now?: () => number; newRunId?: () => string }): ReaperHandler {
  const now = deps.now ?? Date.now;
  return async (event, context) => {
    // A restore (S11) from the API, invoked synchronously: the master key lives here.
    const restore = RestoreEvent.safeParse(event);
    if (restore.success && deps.restore) return deps.restore(restore.data.restore.hostId, restore.data.restore.containerId);
    // Taken first: everything after, the registry reads included, runs on the Lambda's clock.
    const deadlineAt = now() + context.getRemainingTimeInMillis();
    // A shard of a run, from the planner (SPEC §10): this invocation is a worker.
    const shard = ShardEvent.safeParse(event);
    if (shard.success) return deps.reaper.runShard(shardRequestFromEvent(shard.data, deadlineAt));
    let request;
    try {
      request = runRequestFromEvent(event, deps.newRunId ?? randomUUID);
    } catch (error) {
      if (error instanceof InvalidEventError) deps.logger.error({ err: error, awsRequestId: context.awsRequestId }, 'reaper invoked with an invalid event; nothing was run');
      throw error;
    }
    try {
      return await deps.reaper.run({ ...request, deadlineAt });
    } catch (error) {
      // Only the run's own setup can throw (the host listing): no host was contacted.
      deps.logger.error({ err: error, runId: request.runId, trigger: request.trigger, awsRequestId: context.awsRequestId }, 'reap run failed before any host was contacted');
      throw error;
    }
  };
}
