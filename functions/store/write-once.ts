/**
 * A write that happens once (SPEC §10): a conditional PutItem that refuses an item already under
 * its key, retried on throttling and 5xx with backoff. Each call carries its own writeId in the
 * item and in the condition, so the call's own retry (its first attempt may have landed unseen)
 * is not taken for another writer's item.
 */
import { randomUUID } from 'node:crypto';
import { withBackoff } from '../../lib/backoff.js';
import { isConditionalCheckFailed, isRetryableDynamoError } from './dynamo-errors.js';

/** Added to the condition by `put`: `attribute_not_exists(<key>) OR #writeId = :writeId`. */
export const WRITE_ID = { name: '#writeId', value: ':writeId', attribute: 'writeId' } as const;

/** True when written; false when an item was already there (another delivery's). */
export async function writeOnce(put: (writeId: string) => Promise<unknown>, options: { deadlineAt?: number | undefined; now: () => number }): Promise<boolean> {
  const writeId = randomUUID();
  try {
    await withBackoff(() => put(writeId), {
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
