/**
 * The quarantine table (S11): one item per quarantined container, keyed by host and Docker id.
 * `since` is when the quarantine began on the control plane's clock (the snapshotAt of the run
 * that quarantined it); a container is removed only at a run at least Q after it, and only if it
 * is still an orphan then.
 *
 * `list` is the reaper's read and is held to the same rule as the tracked read (S5): one Query
 * with ConsistentRead over ALL pages, every item parsed (a corrupt one throws), the abort signal
 * honoured on every page. `apply` writes a run's changes with BatchWriteItem (25 a request),
 * retrying unprocessed items and retryable errors with short backoff until the deadline, and
 * throws if anything is still unwritten then: a quarantine the table does not know of would be
 * paused forever, never removed nor restored.
 */
import { BatchWriteCommand, GetCommand, QueryCommand, type BatchWriteCommandInput, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { setTimeout as sleep } from 'node:timers/promises';
import { jitteredDelay } from '../../lib/backoff.js';
import { ClawboxId, DockerId, HostId } from '../../lib/ids.js';
import { parseValue } from '../../lib/http.js';
import { abandonOnAbort, abortReason } from './abort.js';
import { parseItem } from './corrupt.js';
import { isRetryableDynamoError } from './dynamo-errors.js';
import { QuarantineEntry } from './schemas.js';

/** What a run records for a newly quarantined (or re-recorded) container; `hostId` and `updatedAt` are the store's. */
export type QuarantinePut = Omit<QuarantineEntry, 'hostId' | 'updatedAt'>;

export interface QuarantineChanges {
  put: QuarantinePut[];
  /** Docker ids whose entries are deleted (removed, vanished or restored containers). */
  remove: string[];
}

export interface ApplyQuarantineOptions {
  /** Epoch ms (on the store's clock): no retry is started after it; whatever is unwritten then throws. */
  deadlineAt?: number;
}

export interface ListQuarantineOptions {
  abortSignal?: AbortSignal;
}

export interface QuarantineStore {
  /** A host's every entry: all pages, consistent, every item parsed, or an exception. */
  list(hostId: string, options?: ListQuarantineOptions): Promise<QuarantineEntry[]>;
  /** Writes `put` and deletes `remove` (BatchWriteItem, 25 a request); throws if any is unwritten by the deadline. */
  apply(hostId: string, changes: QuarantineChanges, options?: ApplyQuarantineOptions): Promise<void>;
  get(hostId: string, dockerId: string): Promise<QuarantineEntry | undefined>;
  /** The entries of one label value on a host (its Docker containers), all pages. */
  forContainer(hostId: string, clawboxId: string): Promise<QuarantineEntry[]>;
}

/** BatchWriteItem's limit. */
export const QUARANTINE_BATCH_SIZE = 25;
/** Batches written at once. */
const BATCHES_IN_PARALLEL = 4;
/** Backoff between attempts: full jitter, base 25 ms, cap 500 ms. */
const BACKOFF_BASE_MS = 25;
const BACKOFF_CAP_MS = 500;
/** Attempts per batch without a deadline; with one, a backstop against a clock that stands still. */
const ATTEMPTS_WITHOUT_DEADLINE = 8;
const ATTEMPTS_WITH_DEADLINE = 100;

type WriteRequests = NonNullable<BatchWriteCommandInput['RequestItems']>[string];

export class QuarantineWriteError extends Error {
  override name = 'QuarantineWriteError';
  constructor(
    message: string,
    /** Requests still unwritten (puts and deletes) when it gave up. */
    readonly unwritten: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function createQuarantineStore(doc: DynamoDBDocumentClient, table: string, now: () => number = Date.now): QuarantineStore {
  async function queryAll(hostId: string, filter: { clawboxId: string } | undefined, abortSignal: AbortSignal | undefined): Promise<QuarantineEntry[]> {
    const entries: QuarantineEntry[] = [];
    let startKey: Record<string, unknown> | undefined;
    // Paged by hand (not paginateQuery) so that every page's request carries the signal.
    do {
      if (abortSignal?.aborted) throw abortReason(abortSignal);
      const command = new QueryCommand({
        TableName: table,
        KeyConditionExpression: '#hostId = :hostId',
        ...(filter ? { FilterExpression: '#clawboxId = :clawboxId' } : {}),
        ExpressionAttributeNames: { '#hostId': 'hostId', ...(filter ? { '#clawboxId': 'clawboxId' } : {}) },
        ExpressionAttributeValues: { ':hostId': hostId, ...(filter ? { ':clawboxId': filter.clawboxId } : {}) },
        // A quarantine written by the previous run must be seen by the next.
        ConsistentRead: true,
        ...(startKey ? { ExclusiveStartKey: startKey } : {}),
      });
      const page = await abandonOnAbort(doc.send(command, abortSignal ? { abortSignal } : {}), abortSignal);
      // A corrupt item is a container whose fate is unknown: throw rather than skip it.
      for (const raw of page.Items ?? []) entries.push(parseItem(QuarantineEntry, raw, table, `${hostId}/?`));
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    return entries;
  }

  async function writeBatch(hostId: string, batch: WriteRequests, deadlineAt: number | undefined): Promise<void> {
    let pending = batch;
    const maxAttempts = deadlineAt === undefined ? ATTEMPTS_WITHOUT_DEADLINE : ATTEMPTS_WITH_DEADLINE;
    for (let attempt = 1; ; attempt++) {
      let failure: unknown;
      try {
        const out = await doc.send(new BatchWriteCommand({ RequestItems: { [table]: pending } }));
        pending = out.UnprocessedItems?.[table] ?? [];
        if (pending.length === 0) return;
      } catch (error) {
        // Puts and deletes of whole items by key are idempotent: a retry after an ambiguous failure is safe.
        if (!isRetryableDynamoError(error)) throw error;
        failure = error;
      }
      const delay = jitteredDelay(attempt - 1, BACKOFF_BASE_MS, BACKOFF_CAP_MS);
      const outOfTime = deadlineAt !== undefined && now() + delay >= deadlineAt;
      if (outOfTime || attempt >= maxAttempts) {
        const why = failure === undefined ? 'left unprocessed' : `failing (${failure instanceof Error ? failure.message : String(failure)})`;
        throw new QuarantineWriteError(
          `quarantine of host ${hostId}: ${pending.length} write(s) still ${why} after ${attempt} attempt(s)${outOfTime ? ', at the deadline' : ''}`,
          pending.length,
          failure === undefined ? undefined : { cause: failure },
        );
      }
      await sleep(delay);
    }
  }

  return {
    async list(hostId, options = {}) {
      parseValue(HostId, hostId, 'hostId');
      return queryAll(hostId, undefined, options.abortSignal);
    },

    async apply(hostId, changes, options = {}) {
      parseValue(HostId, hostId, 'hostId');
      const updatedAt = new Date(now()).toISOString();
      // One request per key: BatchWriteItem refuses a batch that names a key twice. The last put wins.
      const puts = new Map<string, QuarantineEntry>();
      for (const put of changes.put) {
        const entry = parseValue(QuarantineEntry, { ...put, hostId, updatedAt }, 'quarantine entry');
        puts.set(entry.dockerId, entry);
      }
      const removes = new Set<string>();
      for (const dockerId of changes.remove) {
        const id = parseValue(DockerId, dockerId, 'dockerId');
        if (puts.has(id)) throw new Error(`quarantine of host ${hostId}: ${id} is both put and removed in one change`);
        removes.add(id);
      }
      const requests: WriteRequests = [
        ...[...puts.values()].map((Item) => ({ PutRequest: { Item } })),
        ...[...removes].map((dockerId) => ({ DeleteRequest: { Key: { hostId, dockerId } } })),
      ];
      const batches: WriteRequests[] = [];
      for (let i = 0; i < requests.length; i += QUARANTINE_BATCH_SIZE) batches.push(requests.slice(i, i + QUARANTINE_BATCH_SIZE));
      let next = 0;
      let failed = false;
      const worker = async () => {
        while (!failed && next < batches.length) {
          const batch = batches[next++];
          if (batch === undefined) return;
          try {
            await writeBatch(hostId, batch, options.deadlineAt);
          } catch (error) {
            failed = true;
            throw error;
          }
        }
      };
      // allSettled first: no batch is still being written when apply() returns or throws.
      const results = await Promise.allSettled(Array.from({ length: Math.min(BATCHES_IN_PARALLEL, batches.length) }, worker));
      for (const result of results) {
        if (result.status === 'rejected') throw result.reason instanceof Error ? result.reason : new Error(String(result.reason));
      }
    },

    async get(hostId, dockerId) {
      const out = await doc.send(new GetCommand({ TableName: table, Key: { hostId, dockerId }, ConsistentRead: true }));
      return out.Item === undefined ? undefined : parseItem(QuarantineEntry, out.Item, table, `${hostId}/${dockerId}`);
    },

    async forContainer(hostId, clawboxId) {
      parseValue(HostId, hostId, 'hostId');
      parseValue(ClawboxId, clawboxId, 'clawboxId');
      return queryAll(hostId, { clawboxId }, undefined);
    },
  };
}
