/**
 * Starting a run on AWS: an asynchronous invocation (InvocationType 'Event') of the reaper
 * function, whose payload is exactly the reaper's on-demand event `{ runId, hosts?, dryRun?,
 * force? }` (functions/reaper/events.ts). Lambda queues the event and answers 202; the run then
 * has the reaper's own 5 minutes, not API Gateway's 30 s.
 *
 * The Lambda client is loaded on the first POST /v1/reaps only: most requests never need it, and
 * every module imported at cold start is paid for by every request that starts a container.
 */
import type { LambdaClient } from '@aws-sdk/client-lambda';
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
  let client: Promise<LambdaClient> | undefined;
  const getClient = () => {
    client ??= (options.client ?? defaultClient)().catch((error: unknown) => {
      client = undefined;
      throw error;
    });
    return client;
  };

  return async (request) => {
    const [{ InvokeCommand }, lambda] = await Promise.all([import('@aws-sdk/client-lambda'), getClient()]);
    const out = await lambda.send(
      new InvokeCommand({
        FunctionName: options.functionName,
        InvocationType: 'Event',
        Payload: new TextEncoder().encode(JSON.stringify(request)),
      }),
    );
    // An async invocation that was queued answers 202; anything else means the run will not happen.
    if (out.StatusCode !== 202) throw new RunNotStartedError(`invoking ${options.functionName} answered ${String(out.StatusCode)}, not 202`);
  };
}

async function defaultClient(): Promise<LambdaClient> {
  const { LambdaClient } = await import('@aws-sdk/client-lambda');
  // Bounded: API Gateway gives the whole request 30 s.
  return new LambdaClient({ maxAttempts: 3, requestHandler: { requestTimeout: 5_000, connectionTimeout: 2_000 } });
}
