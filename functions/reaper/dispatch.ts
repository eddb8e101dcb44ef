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
 * The Lambda client is loaded on the first dispatch only (cold start).
 */
import type { LambdaClient } from '@aws-sdk/client-lambda';
import { shardEvent } from './events.js';
import type { ShardRequest } from './run.js';
import { MAX_SHARD_EVENT_BYTES } from './shards.js';

export interface LambdaDispatchOptions {
  functionName: string;
  /** Default: a client configured by the SDK's own conventions (AWS_REGION, AWS_ENDPOINT_URL_LAMBDA, …). */
  client?: () => Promise<LambdaClient>;
}

export function lambdaDispatch(options: LambdaDispatchOptions): (shard: ShardRequest) => Promise<void> {
  let client: Promise<LambdaClient> | undefined;
  const getClient = () => {
    client ??= (options.client ?? defaultClient)().catch((error: unknown) => {
      client = undefined;
      throw error;
    });
    return client;
  };
  return async (shard) => {
    const payload = new TextEncoder().encode(JSON.stringify(shardEvent(shard)));
    // 256 KB is Lambda's limit for an asynchronous payload; the planner keeps shards below it.
    if (payload.byteLength > MAX_SHARD_EVENT_BYTES + 16_000) throw new Error(`shard event of ${payload.byteLength} bytes exceeds Lambda's 256 KB asynchronous payload limit`);
    const [{ InvokeCommand }, lambda] = await Promise.all([import('@aws-sdk/client-lambda'), getClient()]);
    const out = await lambda.send(new InvokeCommand({ FunctionName: options.functionName, InvocationType: 'Event', Payload: payload }));
    // A queued asynchronous invocation answers 202; anything else means the shard will not run.
    if (out.StatusCode !== 202) throw new Error(`invoking ${options.functionName} answered ${String(out.StatusCode)}, not 202`);
  };
}

async function defaultClient(): Promise<LambdaClient> {
  const { LambdaClient } = await import('@aws-sdk/client-lambda');
  return new LambdaClient({ maxAttempts: 3, requestHandler: { requestTimeout: 5_000, connectionTimeout: 2_000 } });
}
