/**
 * Fault injection and call counting on a real SDK client, through its middleware stack (the
 * request still goes to dynalite unless a failure is injected).
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

export interface CallRecord {
  /** The low-level command name, e.g. QueryCommand, PutItemCommand, UpdateItemCommand. */
  command: string;
  table: string | undefined;
  /** `:hostId` of a Query on a host partition, or the hostId of an item written or keyed, when there is one. */
  hostId: string | undefined;
  /** True when the call continues a paginated read (ExclusiveStartKey set). */
  continued: boolean;
  /** 1-based count of calls with the same command and table so far. */
  n: number;
}

interface InitializeInput {
  TableName?: unknown;
  ExclusiveStartKey?: unknown;
  ExpressionAttributeValues?: Record<string, unknown>;
  /** Plain from the document client, or marshalled (`{ hostId: { S: '…' } }`) from the low-level one. */
  Item?: { hostId?: unknown };
  Key?: { hostId?: unknown };
}

function describeCall(commandName: unknown, input: InitializeInput, counters: Map<string, number>): CallRecord {
  const command = String(commandName);
  const table = typeof input.TableName === 'string' ? input.TableName : undefined;
  const key = `${command} ${table}`;
  const n = (counters.get(key) ?? 0) + 1;
  counters.set(key, n);
  const queried = input.ExpressionAttributeValues?.[':hostId'];
  const keyed = input.Item?.hostId ?? input.Key?.hostId;
  const named = typeof keyed === 'object' && keyed !== null ? (keyed as { S?: unknown }).S : keyed;
  const hostId = typeof queried === 'string' ? queried : typeof named === 'string' ? named : undefined;
  return { command, table, hostId, continued: input.ExclusiveStartKey !== undefined, n };
}

/** Records every command sent through `client`. */
export function recordCalls(client: DynamoDBClient): CallRecord[] {
  const calls: CallRecord[] = [];
  const counters = new Map<string, number>();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      calls.push(describeCall(context.commandName, (args as { input: InitializeInput }).input, counters));
      return next(args);
    },
    { step: 'initialize', name: 'test-record-calls', override: true },
  );
  return calls;
}

/** Makes the calls for which `shouldFail(call)` is true throw `makeError()` instead of reaching the server. */
export function injectFailures(client: DynamoDBClient, shouldFail: (call: CallRecord) => boolean, makeError: () => Error): { failures: number } {
  const counters = new Map<string, number>();
  const state = { failures: 0 };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (shouldFail(describeCall(context.commandName, (args as { input: InitializeInput }).input, counters))) {
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

/**
 * Holds the calls for which `shouldDelay(call)` is true for `ms` before they go on to the server
 * (a slow DynamoDB). The wait ignores the caller's abort signal, as a wait outside the SDK's HTTP
 * handler would (a retry's backoff, say): the caller must give up on its own. `release()` ends
 * every wait still running, failing those calls, so none outlives the test.
 */
export function delayCalls(client: DynamoDBClient, shouldDelay: (call: CallRecord) => boolean, ms: number): { delayed: () => number; release(): void } {
  const counters = new Map<string, number>();
  const released = new AbortController();
  let delayed = 0;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (shouldDelay(describeCall(context.commandName, (args as { input: InitializeInput }).input, counters))) {
        delayed++;
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(resolve, ms);
          released.signal.addEventListener('abort', () => {
            clearTimeout(timer);
            reject(new Error('delayed call released by the test'));
          });
        });
      }
      return next(args);
    },
    { step: 'initialize', name: 'test-delay-calls', override: true },
  );
  return { delayed: () => delayed, release: () => released.abort() };
}

/** Records when each call's answer came back (epoch ms), with the call. */
export function recordCompletions(client: DynamoDBClient): (CallRecord & { completedAt: number })[] {
  const done: (CallRecord & { completedAt: number })[] = [];
  const counters = new Map<string, number>();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const call = describeCall(context.commandName, (args as { input: InitializeInput }).input, counters);
      const out = await next(args);
      done.push({ ...call, completedAt: Date.now() });
      return out;
    },
    { step: 'initialize', name: 'test-record-completions', override: true },
  );
  return done;
}
