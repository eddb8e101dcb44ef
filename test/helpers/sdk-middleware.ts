/**
 * Fault injection and call counting on a real SDK client, through its middleware stack (the
 * request still goes to dynalite unless a failure is injected).
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

export interface CallRecord {
  command: string;
  table: string | undefined;
}

interface InitializeArgs {
  input: { TableName?: unknown };
}

/** Records every command sent through `client` (commandName and TableName). */
export function recordCalls(client: DynamoDBClient): CallRecord[] {
  const calls: CallRecord[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = (args as InitializeArgs).input;
      calls.push({ command: String(context.commandName), table: typeof input.TableName === 'string' ? input.TableName : undefined });
      return next(args);
    },
    { step: 'initialize', name: 'test-record-calls', override: true },
  );
  return calls;
}

/**
 * Makes the calls for which `shouldFail(command, table, n)` is true (n = 1-based count of calls of
 * that command to that table) throw `makeError()` instead of reaching the server.
 */
export function injectFailures(
  client: DynamoDBClient,
  shouldFail: (command: string, table: string | undefined, n: number) => boolean,
  makeError: () => Error,
): { failures: number } {
  const counters = new Map<string, number>();
  const state = { failures: 0 };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = (args as InitializeArgs).input;
      const table = typeof input.TableName === 'string' ? input.TableName : undefined;
      const command = String(context.commandName);
      const key = `${command} ${table}`;
      const n = (counters.get(key) ?? 0) + 1;
      counters.set(key, n);
      if (shouldFail(command, table, n)) {
        state.failures++;
        throw makeError();
      }
      return next(args);
    },
    { step: 'initialize', name: 'test-inject-failures', override: true },
  );
  return state;
}

/** An error shaped like the SDK's: a name and an HTTP status in $metadata. */
export function sdkError(name: string, httpStatusCode: number): Error {
  return Object.assign(new Error(`${name} (injected by the test)`), { name, $metadata: { httpStatusCode }, $fault: httpStatusCode >= 500 ? 'server' : 'client' });
}
