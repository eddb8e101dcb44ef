/**
 * The engines table (S10): one item per pinned Docker engine, naming the one host bound to it.
 * A conditional PutItem makes "one engine, one host" exact under concurrent runs without
 * transactions. The host store (hosts.ts) is its only user: a claim is always written before the
 * host's `engineId` and released after it is cleared, so a host item never names an engine whose
 * claim is another host's. A claim without its host's `engineId` (a crash between the two
 * writes) only refuses other hosts that engine, the safe direction; the same host re-pinning
 * takes it over.
 *
 * `pinnedAt` is also the claim's token: the host item's `enginePinnedAt` holds the same value, and
 * a release names it, so a release never deletes a claim that a newer pin wrote meanwhile.
 */
import { DeleteCommand, GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { parseItem } from './corrupt.js';
import { isConditionalCheckFailed } from './dynamo-errors.js';
import { EngineClaim } from './schemas.js';

export interface EngineClaims {
  /** Writes `{engineId, hostId, pinnedAt}` unless another host holds the engine. False when one does. */
  claim(engineId: string, hostId: string, pinnedAt: string): Promise<boolean>;
  /** The claim, read consistently. */
  get(engineId: string): Promise<EngineClaim | undefined>;
  /**
   * Deletes the claim only if it is `hostId`'s (and, when given, still carries `pinnedAt`).
   * True when deleted; false when it was absent or not ours.
   */
  release(engineId: string, hostId: string, pinnedAt?: string): Promise<boolean>;
}

export function createEngineClaims(doc: DynamoDBDocumentClient, table: string): EngineClaims {
  return {
    async claim(engineId, hostId, pinnedAt) {
      const item: EngineClaim = { engineId, hostId, pinnedAt };
      try {
        await doc.send(
          new PutCommand({
            TableName: table,
            Item: item,
            ConditionExpression: 'attribute_not_exists(#engineId) OR #hostId = :hostId',
            ExpressionAttributeNames: { '#engineId': 'engineId', '#hostId': 'hostId' },
            ExpressionAttributeValues: { ':hostId': hostId },
          }),
        );
        return true;
      } catch (error) {
        if (isConditionalCheckFailed(error)) return false;
        throw error;
      }
    },

    async get(engineId) {
      const out = await doc.send(new GetCommand({ TableName: table, Key: { engineId }, ConsistentRead: true }));
      return out.Item === undefined ? undefined : parseItem(EngineClaim, out.Item, table, engineId);
    },

    async release(engineId, hostId, pinnedAt) {
      try {
        await doc.send(
          new DeleteCommand({
            TableName: table,
            Key: { engineId },
            ConditionExpression: pinnedAt === undefined ? '#hostId = :hostId' : '#hostId = :hostId AND #pinnedAt = :pinnedAt',
            ExpressionAttributeNames: { '#hostId': 'hostId', ...(pinnedAt === undefined ? {} : { '#pinnedAt': 'pinnedAt' }) },
            ExpressionAttributeValues: { ':hostId': hostId, ...(pinnedAt === undefined ? {} : { ':pinnedAt': pinnedAt }) },
          }),
        );
        return true;
      } catch (error) {
        if (isConditionalCheckFailed(error)) return false;
        throw error;
      }
    },
  };
}
