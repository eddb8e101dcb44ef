/**
 * The runs table (functions/store/run-items.ts): one header and one item per shard of each run,
 * all under the run's id, so a run is read with one Query and no index (dynalite's GSIs also lose
 * items at scale, which no reader here depends on).
 */
import { GetCommand, PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { parseItem } from './corrupt.js';
import { writeOnce } from './write-once.js';
import { HEADER_PART, RunHeaderItem, ShardItem } from './run-items.js';

export interface RunRecord {
  header?: RunHeaderItem;
  shards: ShardItem[];
}

export interface RunStore {
  /** Writes the run's header unless it exists (a duplicate delivery of the run keeps the first). */
  putHeader(header: RunHeaderItem): Promise<void>;
  getHeader(runId: string): Promise<RunHeaderItem | undefined>;
  /**
   * Writes a shard's outcomes once: false when another delivery of the run wrote this shard
   * first (its hosts' outcomes are that delivery's; SPEC §10). Retries throttling and 5xx until `deadlineAt`.
   */
  putShard(item: ShardItem, options?: { deadlineAt?: number }): Promise<boolean>;
  /** The header and every shard item written so far (all pages). */
  read(runId: string): Promise<RunRecord>;
}

export function createRunStore(doc: DynamoDBDocumentClient, table: string, now: () => number = Date.now): RunStore {
  /** Writes an item of the run once (./write-once.ts): false when one is already under its key. */
  const putFirst = (item: RunHeaderItem | ShardItem, deadlineAt: number | undefined) => writeOnce((input) => doc.send(new PutCommand(input)), { table, item, rangeKey: 'part' }, { deadlineAt, now });

  return {
    async putHeader(header) {
      // A header already there is a duplicate delivery's: the first one's is kept.
      await putFirst(RunHeaderItem.parse(header), undefined);
    },

    async getHeader(runId) {
      const out = await doc.send(new GetCommand({ TableName: table, Key: { runId, part: HEADER_PART } }));
      return out.Item === undefined ? undefined : parseItem(RunHeaderItem, out.Item, table, `${runId}/${HEADER_PART}`);
    },

    async putShard(item, options = {}) {
      return putFirst(ShardItem.parse(item), options.deadlineAt);
    },

    async read(runId) {
      const record: RunRecord = { shards: [] };
      let startKey: Record<string, unknown> | undefined;
      do {
        const out = await doc.send(
          new QueryCommand({ TableName: table, KeyConditionExpression: 'runId = :r', ExpressionAttributeValues: { ':r': runId }, ...(startKey ? { ExclusiveStartKey: startKey } : {}) }),
        );
        for (const raw of out.Items ?? []) {
          const part = typeof raw.part === 'string' ? raw.part : '?';
          if (part === HEADER_PART) record.header = parseItem(RunHeaderItem, raw, table, `${runId}/${part}`);
          else record.shards.push(parseItem(ShardItem, raw, table, `${runId}/${part}`));
        }
        startKey = out.LastEvaluatedKey;
      } while (startKey !== undefined);
      return record;
    },
  };
}
