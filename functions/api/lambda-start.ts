/**
 * Starting a run on AWS: an asynchronous invocation (InvocationType 'Event') of the reaper
 * function, whose payload is exactly the reaper's on-demand event `{ runId, hosts?, dryRun?,
 * force? }` (functions/reaper/events.ts). Lambda queues the event and answers 202; the run then
 * has the reaper's own time (its planner, then its workers), not API Gateway's 30 s.
 *
 * The Lambda client is loaded on the first POST /v1/reaps only: most requests never need it, and
 * every module imported at cold start is paid for by every request that starts a container.
 */
import type { LambdaClient } from '@aws-sdk/client-lambda';
import { asyncInvoker, lazyLambdaClient } from '../lambda-invoke.js';
import { RestoreOutcome } from '../reaper/restore.js';
import type { StartRun } from './app.js';

export class RunNotStartedError extends Error {
  override name = 'RunNotStartedError';
}

export interface LambdaStartRunOptions {
  functionName: string;
  /** Default: a client configured by the SDK's own conventions (AWS_REGION, AWS_ENDPOINT_URL_LAMBDA, …). */
  client?: () => Promise<LambdaClient>;
}

export function lambdaStartRun(options: LambdaStartRunOptions): StartRun {
  const invoke = asyncInvoker(options, (message) => new RunNotStartedError(message));
  return (request) => invoke(new TextEncoder().encode(JSON.stringify(request)));
}

/**
 * Restore (S11) on AWS: a synchronous invoke of the reaper function with a restore event; the
 * reaper holds the master key and reaches the agents. Its answer is the outcome.
 */
export function lambdaRestore(options: LambdaStartRunOptions): (hostId: string, containerId: string) => Promise<RestoreOutcome> {
  const getClient = lazyLambdaClient(options.client);
  return async (hostId, containerId) => {
    const [{ InvokeCommand }, lambda] = await Promise.all([import('@aws-sdk/client-lambda'), getClient()]);
    const out = await lambda.send(
      new InvokeCommand({
        FunctionName: options.functionName,
        InvocationType: 'RequestResponse',
        Payload: new TextEncoder().encode(JSON.stringify({ restore: { hostId, containerId } })),
      }),
    );
    if (out.FunctionError) throw new Error(`restore failed in ${options.functionName}: ${out.FunctionError}`);
    return RestoreOutcome.parse(JSON.parse(new TextDecoder().decode(out.Payload)));
  };
}
