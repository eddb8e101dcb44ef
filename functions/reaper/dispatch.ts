/**
 * Sending a shard to a worker on AWS (SPEC §10): an asynchronous invocation (InvocationType
 * 'Event') of the worker function, whose payload is the shard's event (./events.ts ShardEvent).
 *
 * Why asynchronous invoke rather than SQS: a shard starts within milliseconds of being sent (no
 * poller between), Lambda itself retries a failed shard (maximumRetryAttempts) and hands one that
 * keeps failing, or waited too long, to the on-failure destination (the dead-letter queue); and
 * there is no queue to size or pay for. What SQS would add (batching, a visibility timeout) a run
 * of independent shards does not need. Every delivery of a shard is idempotent: the agents replay
 * the run (S6), reports and shard items are written once (SPEC §10).
 *
 * The Lambda client is loaded on the first dispatch only (cold start; functions/lambda-invoke.ts).
 */
import { asyncInvoker, type InvokeOptions } from '../lambda-invoke.js';
import { shardEvent } from './events.js';
import type { ShardRequest } from './run.js';
import { MAX_SHARD_EVENT_BYTES } from './shards.js';

export function lambdaDispatch(options: InvokeOptions): (shard: ShardRequest) => Promise<void> {
  const invoke = asyncInvoker(options);
  return async (shard) => {
    const payload = new TextEncoder().encode(JSON.stringify(shardEvent(shard)));
    // 256 KB is Lambda's limit for an asynchronous payload; the planner keeps shards below it.
    if (payload.byteLength > MAX_SHARD_EVENT_BYTES + 16_000) throw new Error(`shard event of ${payload.byteLength} bytes exceeds Lambda's 256 KB asynchronous payload limit`);
    await invoke(payload);
  };
}
