/**
 * Bulk seeding of tracked items with BatchWriteItem (25 a request): a test fixture for hosts with
 * thousands of items. Items have the exact shape the store writes (TrackedItem).
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import pLimit from 'p-limit';
import type { TrackedItem } from '../../functions/store/schemas.js';

export async function seedTracked(client: DynamoDBClient, table: string, items: TrackedItem[], concurrency = 8): Promise<void> {
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  const limit = pLimit(concurrency);
  const batches: TrackedItem[][] = [];
  for (let i = 0; i < items.length; i += 25) batches.push(items.slice(i, i + 25));
  await Promise.all(
    batches.map((batch) =>
      limit(async () => {
        let requests: { PutRequest: { Item: Record<string, unknown> } }[] = batch.map((Item) => ({ PutRequest: { Item } }));
        for (let attempt = 0; requests.length > 0; attempt++) {
          if (attempt > 20) throw new Error('seeding: unprocessed items after 20 attempts');
          const out = await doc.send(new BatchWriteCommand({ RequestItems: { [table]: requests } }));
          const left = out.UnprocessedItems?.[table] ?? [];
          requests = left.flatMap((r) => (r.PutRequest?.Item ? [{ PutRequest: { Item: r.PutRequest.Item } }] : []));
        }
      }),
    ),
  );
}

export function trackedItems(hostId: string, ids: string[], extra: Partial<TrackedItem> = {}): TrackedItem[] {
  const at = new Date().toISOString();
  return ids.map((containerId) => ({ hostId, containerId, createdAt: at, updatedAt: at, ...extra }));
}
