/**
 * Bulk seeding of tracked items with BatchWriteItem (25 a request): a test fixture for hosts with
 * thousands of items, stored exactly as the store writes them (the lean form, functions/store/tracked-item.ts).
 */
import type { ReportStatus, Store } from '../../functions/store/index.js';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import pLimit from 'p-limit';
import type { TrackedItem } from '../../functions/store/schemas.js';
import { toStored } from '../../functions/store/tracked-item.js';

export async function seedTracked(client: DynamoDBClient, table: string, items: TrackedItem[], concurrency = 8): Promise<void> {
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  const limit = pLimit(concurrency);
  const batches: TrackedItem[][] = [];
  for (let i = 0; i < items.length; i += 25) batches.push(items.slice(i, i + 25));
  await Promise.all(
    batches.map((batch) =>
      limit(async () => {
        // Stored as the store writes them (lean, functions/store/tracked-item.ts).
        let requests: { PutRequest: { Item: Record<string, unknown> } }[] = batch.map((item) => ({ PutRequest: { Item: toStored(item) } }));
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

/**
 * Records a run as the reaper does around reports written directly with putReport: its header
 * and a shard item naming each host's status (functions/store/run-items.ts), so the run views
 * (reportsForRun, runPage, runProgress, getReport) find them. Call again with another `shard` to
 * add a shard; `header: false` leaves the header out (a run whose header write failed).
 */
export async function recordRun(
  store: Pick<Store, 'runs'>,
  runId: string,
  startedAt: string,
  statuses: Record<string, ReportStatus>,
  options: { trigger?: 'schedule' | 'api'; shard?: number; shards?: number; runHosts?: number; header?: boolean; quiet?: Record<string, string> } = {},
): Promise<void> {
  const trigger = options.trigger ?? 'schedule';
  const runHosts = options.runHosts ?? Object.keys(statuses).length + Object.keys(options.quiet ?? {}).length;
  const shards = options.shards ?? 1;
  const expiresAt = Math.floor(Date.parse(startedAt) / 1000) + 86_400;
  if (options.header !== false && (options.shard ?? 0) === 0) await store.runs.putHeader({ runId, part: 'run', trigger, startedAt, dryRun: false, force: false, runHosts, shards, expiresAt });
  const shard = options.shard ?? 0;
  await store.runs.putShard({ runId, part: `shard#${String(shard).padStart(5, '0')}`, trigger, startedAt, finishedAt: startedAt, dryRun: false, force: false, runHosts, shard, shards, quiet: options.quiet ?? {}, eventful: statuses, expiresAt });
}
