/**
 * A write that happens once (SPEC §10): a conditional PutItem that refuses an item already under
 * its key, retried on throttling and 5xx with backoff. Each call carries its own writeId in the
 * item and in the condition, so the call's own retry (its first attempt may have landed unseen)
 * is not taken for another writer's item.
 */
import { randomUUID } from 'node:crypto';
import type { PutCommandInput } from '@aws-sdk/lib-dynamodb';
import { withBackoff } from '../../lib/backoff.js';
import { isConditionalCheckFailed, isRetryableDynamoError } from './dynamo-errors.js';

export interface WriteOnceInput {
  table: string;
  item: Record<string, unknown>;
  /** The item's sort key (its partition key is in it too): an item under the same key refuses this one. */
  rangeKey: string;
}

/**
 * True when written; false when an item was already there (another delivery's). `put` sends the
 * PutItem: the table's own store module makes the call, so its grant is checked with its table's
 * (test/integration/serverless-package.test.ts).
 */
export async function writeOnce(
  put: (input: PutCommandInput) => Promise<unknown>,
  { table, item, rangeKey }: WriteOnceInput,
  options: { deadlineAt?: number | undefined; now: () => number },
): Promise<boolean> {
  const writeId = randomUUID();
  const input: PutCommandInput = {
    TableName: table,
    Item: { ...item, writeId },
    ConditionExpression: 'attribute_not_exists(#key) OR #writeId = :writeId',
    ExpressionAttributeNames: { '#key': rangeKey, '#writeId': 'writeId' },
    ExpressionAttributeValues: { ':writeId': writeId },
  };
  try {
    await withBackoff(() => put(input), {
      attempts: 6,
      baseMs: 50,
      capMs: 1000,
      isRetryable: isRetryableDynamoError,
      ...(options.deadlineAt === undefined ? {} : { deadlineAt: options.deadlineAt }),
      now: options.now,
    });
    return true;
  } catch (error) {
    if (isConditionalCheckFailed(error)) return false;
    throw error;
  }
}
