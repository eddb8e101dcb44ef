/**
 * The runs table (functions/store/run-items.ts): one header and one item per shard of each run,
 * all under the run's id, so a run is read with one Query and no index (dynalite's GSIs also lose
 * items at scale, which no reader here depends on).
 */
import { randomUUID } from 'node:crypto';
import { GetCommand, PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { withBackoff } from '../../lib/backoff.js';
import { parseItem } from './corrupt.js';
import { isConditionalCheckFailed, isRetryableDynamoError } from './dynamo-errors.js';
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
  return {
    async putHeader(header) {
      try {
        await withBackoff(
          () => doc.send(new PutCommand({ TableName: table, Item: RunHeaderItem.parse(header), ConditionExpression: 'attribute_not_exists(#p)', ExpressionAttributeNames: { '#p': 'part' } })),
          { attempts: 4, baseMs: 50, capMs: 500, isRetryable: isRetryableDynamoError, now },
        );
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw error;
      }
    },

    async getHeader(runId) {
      const out = await doc.send(new GetCommand({ TableName: table, Key: { runId, part: HEADER_PART } }));
      return out.Item === undefined ? undefined : parseItem(RunHeaderItem, out.Item, table, `${runId}/${HEADER_PART}`);
    },

    async putShard(item, options = {}) {
      const parsed = ShardItem.parse(item);
      // A retry of this very write (its first attempt may have landed unseen) carries the same writeId.
      const writeId = randomUUID();
      try {
        await withBackoff(
          () =>
            doc.send(
              new PutCommand({
                TableName: table,
                Item: { ...parsed, writeId },
                ConditionExpression: 'attribute_not_exists(#p) OR #w = :w',
                ExpressionAttributeNames: { '#p': 'part', '#w': 'writeId' },
                ExpressionAttributeValues: { ':w': writeId },
              }),
            ),
          {
            attempts: 6,
            baseMs: 50,
            capMs: 1000,
            isRetryable: isRetryableDynamoError,
            ...(options.deadlineAt === undefined ? {} : { deadlineAt: options.deadlineAt }),
            now,
          },
        );
        return true;
      } catch (error) {
        if (isConditionalCheckFailed(error)) return false;
        throw error;
      }
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
