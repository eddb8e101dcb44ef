/**
 * The tracked registry: which clawbox containers the manager owns on each host.
 *
 * `track` is an idempotent upsert (UpdateItem): `createdAt` is set only on the first track
 * (if_not_exists) and kept on every re-track; `dockerId`, `owner` and the lease are replaced by
 * what the latest call says, and removed when it omits them. So the manager can track before
 * create (no dockerId yet) and track again after create with the dockerId, and renew a lease by
 * re-tracking. `untrack` deletes and succeeds whether or not the item existed. An item with a
 * lease also carries a TTL (`expiresAt`) well past the lease, so DynamoDB deletes the items a
 * crashed manager left behind; the table's TTL is declared in infra/dynamodb.yml.
 *
 * `readTracked` is the reaper's read, and S5 hangs on it: one Query with ConsistentRead over ALL
 * pages; any failed page, or any item that does not parse, throws, so a partial set can never
 * become a command. It takes an abort signal (the reaper's work deadline): every page's request is
 * abandoned when it fires, and the read throws the signal's reason.
 */
import { DeleteCommand, GetCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import type { TrackedRef } from '../../lib/agent-contract.js';
import { ClawboxId, HostId } from '../../lib/ids.js';
import { parseValue } from '../../lib/http.js';
import { abandonOnAbort, abortReason } from './abort.js';
import { parseItem } from './corrupt.js';
import { decodeCursor, encodeCursor, invalidCursor } from './cursor.js';
import { MAX_PAGE_SIZE, TrackInput, TrackedItem, TrackedProjection } from './schemas.js';
import { fromStored, LEAN, LEGACY_ATTRIBUTES, storedDockerId } from './tracked-item.js';

/**
 * The lease rule (S2, S12), pure: a tracked item protects its container until its lease, if any,
 * has passed, plus `skewSeconds` of allowance for the writer's clock (REAPER_LEASE_SKEW_SECONDS).
 * A lease expiring this very second (after the allowance) still protects: only a lease whose
 * `leaseExpiresAt + skewSeconds` is strictly before `nowSeconds` no longer does.
 */
export function protects(item: { leaseExpiresAt?: number | undefined }, nowSeconds: number, skewSeconds = 0): boolean {
  return item.leaseExpiresAt === undefined || item.leaseExpiresAt + skewSeconds >= nowSeconds;
}

export { TrackInput };

/** The largest lease allowance REAPER_LEASE_SKEW_SECONDS accepts (functions/reaper/config.ts). */
export const MAX_LEASE_SKEW_SECONDS = 24 * 3600;
/**
 * How long after its lease a tracked item's TTL falls: past any allowance the reaper may be
 * configured with (S12), plus a day for clocks (the writer's, DynamoDB's). DynamoDB deletes an
 * expired item only some time after its TTL, so the item may still be read meanwhile; by then it
 * protects nothing anyway (`protects`). The TTL only cleans up: it must never be what ends a
 * protection.
 */
export const TRACKED_TTL_MARGIN_SECONDS = MAX_LEASE_SKEW_SECONDS + 86_400;

/** The TTL attribute (`expiresAt`, epoch seconds) of an item with this lease; none without a lease. */
export function trackedExpiresAt(leaseExpiresAt: number | undefined): number | undefined {
  return leaseExpiresAt === undefined ? undefined : leaseExpiresAt + TRACKED_TTL_MARGIN_SECONDS;
}

/** What the reaper sends for one host, with what it took to read it. */
export interface TrackedSnapshot {
  refs: TrackedRef[];
  /** Query pages read (each up to 1 MB). */
  pages: number;
  /** Items read, expired ones included. */
  items: number;
  /** Items dropped because their lease had passed. */
  expired: number;
}

export interface ReadTrackedOptions {
  abortSignal?: AbortSignal;
  /** S12: a lease protects until `leaseExpiresAt + leaseSkewSeconds`; default 0. */
  leaseSkewSeconds?: number;
}

export interface TrackedPage {
  items: TrackedItem[];
  /** Present when there may be more; pass it back to get the next page. */
  cursor?: string;
}

export interface TrackedStore {
  track(hostId: string, containerId: string, input?: TrackInput): Promise<TrackedItem>;
  /** True when an item was deleted. */
  untrack(hostId: string, containerId: string): Promise<boolean>;
  get(hostId: string, containerId: string): Promise<TrackedItem | undefined>;
  /**
   * S5: all pages, consistent, or an exception. Items whose lease (plus `leaseSkewSeconds`, S12) is
   * before `nowSeconds` are dropped.
   * When `abortSignal` fires, the page in flight is abandoned and the read throws (the signal's reason).
   */
  readTracked(hostId: string, nowSeconds: number, options?: ReadTrackedOptions): Promise<TrackedSnapshot>;
  /** One page for the API, in containerId order. */
  list(hostId: string, options?: { limit?: number; cursor?: string }): Promise<TrackedPage>;
}

const TrackedCursor = z.strictObject({ hostId: HostId, containerId: ClawboxId });
export { MAX_PAGE_SIZE };

export function createTrackedStore(doc: DynamoDBDocumentClient, table: string, now: () => number = Date.now): TrackedStore {
  const keyName = (hostId: string, containerId: string) => `${hostId}/${containerId}`;

  return {
    async track(hostId, containerId, input = {}) {
      parseValue(HostId, hostId, 'hostId');
      parseValue(ClawboxId, containerId, 'containerId');
      const settings = parseValue(TrackInput, input, 'tracking');
      const nowMs = now();
      // Stored lean (./tracked-item.ts). Every attribute through a #placeholder: `owner` is a
      // DynamoDB reserved word, and others may become one.
      const set = ['#c = if_not_exists(#c, :at)', '#u = :at'];
      const names: Record<string, string> = { '#c': LEAN.createdAt, '#u': LEAN.updatedAt };
      const values: Record<string, unknown> = { ':at': nowMs };
      // An item an earlier build wrote loses its long names (its createdAt is kept: the original).
      const remove: string[] = LEGACY_ATTRIBUTES.map((name, i) => {
        names[`#legacy${i}`] = name;
        return `#legacy${i}`;
      });
      const field = (name: keyof typeof LEAN, value: unknown) => {
        const short = LEAN[name];
        names[`#${short}`] = short;
        if (value === undefined) remove.push(`#${short}`);
        else {
          set.push(`#${short} = :${short}`);
          values[`:${short}`] = value;
        }
      };
      field('dockerId', settings.dockerId === undefined ? undefined : storedDockerId(settings.dockerId));
      field('owner', settings.owner);
      const leaseExpiresAt = settings.leaseSeconds === undefined ? undefined : Math.floor(nowMs / 1000) + settings.leaseSeconds;
      field('leaseExpiresAt', leaseExpiresAt);
      // The TTL follows the lease: set, moved or removed with it (a re-track without a lease keeps the item for good).
      field('expiresAt', trackedExpiresAt(leaseExpiresAt));
      const out = await doc.send(
        new UpdateCommand({
          TableName: table,
          Key: { hostId, containerId },
          UpdateExpression: `SET ${set.join(', ')}${remove.length ? ` REMOVE ${remove.join(', ')}` : ''}`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return parseItem(TrackedItem, fromStored(out.Attributes ?? {}), table, keyName(hostId, containerId));
    },

    async untrack(hostId, containerId) {
      const out = await doc.send(new DeleteCommand({ TableName: table, Key: { hostId, containerId }, ReturnValues: 'ALL_OLD' }));
      return out.Attributes !== undefined;
    },

    async get(hostId, containerId) {
      const out = await doc.send(new GetCommand({ TableName: table, Key: { hostId, containerId }, ConsistentRead: true }));
      return out.Item === undefined ? undefined : parseItem(TrackedItem, fromStored(out.Item), table, keyName(hostId, containerId));
    },

    async readTracked(hostId, nowSeconds, options = {}) {
      const { abortSignal } = options;
      const skewSeconds = options.leaseSkewSeconds ?? 0;
      if (!Number.isFinite(skewSeconds) || skewSeconds < 0) throw new RangeError(`leaseSkewSeconds must be a finite number >= 0, not ${skewSeconds}`);
      const snapshot: TrackedSnapshot = { refs: [], pages: 0, items: 0, expired: 0 };
      let startKey: Record<string, unknown> | undefined;
      // Paged by hand (not paginateQuery) so that every page's request carries the signal.
      do {
        if (abortSignal?.aborted) throw abortReason(abortSignal);
        const command = new QueryCommand({
          TableName: table,
          KeyConditionExpression: '#hostId = :hostId',
          // Both stored forms (./tracked-item.ts): the lean names and an earlier build's long ones.
          ExpressionAttributeNames: { '#hostId': 'hostId', '#containerId': 'containerId', '#d': LEAN.dockerId, '#l': LEAN.leaseExpiresAt, '#dockerId': 'dockerId', '#lease': 'leaseExpiresAt' },
          ExpressionAttributeValues: { ':hostId': hostId },
          ProjectionExpression: '#containerId, #d, #l, #dockerId, #lease',
          // A just-written track must be seen: the manager tracks before it creates (SPEC §3).
          ConsistentRead: true,
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        });
        const page = await abandonOnAbort(doc.send(command, abortSignal ? { abortSignal } : {}), abortSignal);
        snapshot.pages++;
        for (const raw of page.Items ?? []) {
          snapshot.items++;
          // A corrupt item may be some container's only protection: throw rather than skip it (S5).
          const item = parseItem(TrackedProjection, fromStored(raw), table, `${hostId}/?`);
          if (!protects(item, nowSeconds, skewSeconds)) {
            snapshot.expired++;
            continue;
          }
          snapshot.refs.push(item.dockerId === undefined ? { id: item.containerId } : { id: item.containerId, dockerId: item.dockerId });
        }
        startKey = page.LastEvaluatedKey;
      } while (startKey !== undefined);
      return snapshot;
    },

    async list(hostId, options = {}) {
      const limit = Math.min(Math.max(options.limit ?? 100, 1), MAX_PAGE_SIZE);
      let startKey: z.infer<typeof TrackedCursor> | undefined;
      if (options.cursor !== undefined) {
        startKey = decodeCursor(TrackedCursor, options.cursor);
        if (startKey.hostId !== hostId) throw invalidCursor();
      }
      const items: TrackedItem[] = [];
      let lastKey: Record<string, unknown> | undefined = startKey;
      // A page may come back short of `limit` (1 MB); keep reading until it is full or the end.
      do {
        const out = await doc.send(
          new QueryCommand({
            TableName: table,
            KeyConditionExpression: 'hostId = :hostId',
            ExpressionAttributeValues: { ':hostId': hostId },
            Limit: limit - items.length,
            ConsistentRead: true,
            ...(lastKey ? { ExclusiveStartKey: lastKey } : {}),
          }),
        );
        for (const raw of out.Items ?? []) items.push(parseItem(TrackedItem, fromStored(raw), table, `${hostId}/?`));
        lastKey = out.LastEvaluatedKey;
      } while (lastKey !== undefined && items.length < limit);
      const next = lastKey === undefined ? undefined : TrackedCursor.safeParse(lastKey);
      return { items, ...(next?.success ? { cursor: encodeCursor(next.data) } : {}) };
    },
  };
}
