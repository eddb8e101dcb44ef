/**
 * Invoking another Lambda function (the API starting a run, the planner sending a shard): the SDK's
 * Lambda client, configured by its own conventions (AWS_REGION, AWS_ENDPOINT_URL_LAMBDA, …), made
 * on the first call only (most invocations of the caller never need it: cold start).
 */
import type { LambdaClient } from '@aws-sdk/client-lambda';

export interface InvokeOptions {
  functionName: string;
  /** Default: a client from the SDK's conventions, bounded (5 s a request, 3 attempts). */
  client?: () => Promise<LambdaClient>;
}

/** The client, made once; a failure to make it is not remembered. */
export function lazyLambdaClient(make: () => Promise<LambdaClient> = defaultLambdaClient): () => Promise<LambdaClient> {
  let client: Promise<LambdaClient> | undefined;
  return () => {
    client ??= make().catch((error: unknown) => {
      client = undefined;
      throw error;
    });
    return client;
  };
}

/**
 * An asynchronous invocation (InvocationType 'Event'): Lambda queues the payload and answers 202;
 * anything else means it will not run, and `refused` makes the error for that.
 */
export function asyncInvoker(options: InvokeOptions, refused: (message: string) => Error = (message) => new Error(message)): (payload: Uint8Array) => Promise<void> {
  const getClient = lazyLambdaClient(options.client);
  return async (payload) => {
    const [{ InvokeCommand }, lambda] = await Promise.all([import('@aws-sdk/client-lambda'), getClient()]);
    const out = await lambda.send(new InvokeCommand({ FunctionName: options.functionName, InvocationType: 'Event', Payload: payload }));
    if (out.StatusCode !== 202) throw refused(`invoking ${options.functionName} answered ${String(out.StatusCode)}, not 202`);
  };
}

export async function defaultLambdaClient(): Promise<LambdaClient> {
  const { LambdaClient } = await import('@aws-sdk/client-lambda');
  return new LambdaClient({ maxAttempts: 3, requestHandler: { requestTimeout: 5_000, connectionTimeout: 2_000 } });
}
