/**
 * The hosts table: one item per Docker host the reaper commands. `put` is an upsert that keeps
 * `createdAt`, `lastReap` and the engine pin, so re-registering a host never erases its history
 * nor unbinds it from its engine (only `repin: true` does).
 *
 * Engine pinning (S10): `pin` claims the engine in the engines table (engines.ts) first, then
 * binds the host to it; `unpin` and `delete` clear the host first, then release the claim. So a
 * host item never names an engine whose claim is another host's.
 */
import { DeleteCommand, GetCommand, paginateScan, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { HostId, Instant } from '../../lib/ids.js';
import { parseValue } from '../../lib/http.js';
import { CorruptItemError, parseItem, summarizeIssues } from './corrupt.js';
import { isConditionalCheckFailed } from './dynamo-errors.js';
import { createEngineClaims } from './engines.js';
import { EngineId, HostInput, HostItem, LastReap, type Host } from './schemas.js';

export { HostInput };

/** A host item that could not be parsed; the reaper still reports it (S8) when it has an id. */
export interface InvalidHost {
  hostId: string | undefined;
  problem: string;
}

export interface HostListing {
  hosts: Host[];
  invalid: InvalidHost[];
}

/**
 * `pinned`: the host is bound to the engine (now, or already was). `claimed`: another host holds
 * the engine, or this host is bound to another engine; nothing of this host changed. `gone`: the
 * host does not exist (and no claim was left behind).
 */
export type PinResult = 'pinned' | 'claimed' | 'gone';

/** Pin attempts when a concurrent change (host deleted and re-registered) leaves the outcome open. */
const PIN_ATTEMPTS = 3;

export interface HostStore {
  /**
   * Creates or replaces the host's settings; returns the stored item. Keeps `engineId` and
   * `enginePinnedAt`, unless `input.repin` is true: then the host is unpinned as well (see `unpin`).
   */
  put(hostId: string, input: HostInput): Promise<Host>;
  get(hostId: string): Promise<Host | undefined>;
  /** True when the host existed. Releases the host's engine claim too. */
  delete(hostId: string): Promise<boolean>;
  /**
   * S10: binds the host to `engineId` (`at`: the ISO instant recorded as `enginePinnedAt`).
   * Claims the engine first (refused if another host holds it), then sets the host's `engineId`
   * unless the host is gone or bound to another engine; in both of those cases the claim just
   * written is released again.
   */
  pin(hostId: string, engineId: string, at: string): Promise<PinResult>;
  /** The host the engine is pinned to, read consistently. */
  engineOwner(engineId: string): Promise<string | undefined>;
  /**
   * Removes the host's `engineId`/`enginePinnedAt` and releases its engine's claim if the claim is
   * still this host's. Returns the engine it was pinned to, or undefined (unpinned or no such host).
   */
  unpin(hostId: string): Promise<string | undefined>;
  /** Every host (a full paginated Scan; a fleet is thousands of items at most), sorted by id. */
  list(): Promise<HostListing>;
  /**
   * Sets `lastReap` unless the host is gone (a deleted host is never recreated by a run) or holds
   * a newer one (two overlapping runs). False when nothing was written.
   */
  recordLastReap(hostId: string, lastReap: LastReap): Promise<boolean>;
  /** Sets `quarantineRecords` (S11: whether a run must read the host's quarantine); false when the host is gone. */
  markQuarantine(hostId: string, hasRecords: boolean): Promise<boolean>;
}

export interface HostTables {
  hosts: string;
  engines: string;
}

/** Host settings a PUT may leave out; each is then removed from the item. */
const OPTIONAL_SETTINGS = ['maxReap', 'allowPlainHttp', 'allowLinkLocal'] as const;

function updateExpression(settings: HostInput): string {
  const set = OPTIONAL_SETTINGS.filter((name) => settings[name] !== undefined).map((name) => `, #${name} = :${name}`);
  const remove = OPTIONAL_SETTINGS.filter((name) => settings[name] === undefined).map((name) => `#${name}`);
  return `SET #agentUrl = :agentUrl, #enabled = :enabled, #createdAt = if_not_exists(#createdAt, :at), #updatedAt = :at${set.join('')}${remove.length ? ` REMOVE ${remove.join(', ')}` : ''}`;
}

export function createHostStore(doc: DynamoDBDocumentClient, tables: HostTables, now: () => number = Date.now): HostStore {
  const table = tables.hosts;
  const claims = createEngineClaims(doc, tables.engines);

  /** Releases the claim a host item named, if it is still that pin's (see engines.ts). */
  async function releaseClaimOf(item: Record<string, unknown> | undefined, hostId: string): Promise<string | undefined> {
    const engineId = item?.engineId;
    if (typeof engineId !== 'string' || engineId === '') return undefined;
    const pinnedAt = typeof item?.enginePinnedAt === 'string' ? item.enginePinnedAt : undefined;
    await claims.release(engineId, hostId, pinnedAt);
    return engineId;
  }

  /** Clears the host's pin; the host item as it was before, or undefined when there is no host. */
  async function clearPin(hostId: string): Promise<Record<string, unknown> | undefined> {
    try {
      const out = await doc.send(
        new UpdateCommand({
          TableName: table,
          Key: { hostId },
          UpdateExpression: 'REMOVE #engineId, #enginePinnedAt',
          ConditionExpression: 'attribute_exists(#hostId)',
          ExpressionAttributeNames: { '#hostId': 'hostId', '#engineId': 'engineId', '#enginePinnedAt': 'enginePinnedAt' },
          ReturnValues: 'ALL_OLD',
        }),
      );
      return out.Attributes;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return undefined;
      throw error;
    }
  }

  const store: HostStore = {
    async put(hostId, input) {
      parseValue(HostId, hostId, 'hostId');
      const settings = parseValue(HostInput, input, 'host');
      const at = new Date(now()).toISOString();
      const out = await doc.send(
        new UpdateCommand({
          TableName: table,
          Key: { hostId },
          // #placeholders throughout: DynamoDB's reserved words are many, and grow.
          // A setting left out of the input is removed: a PUT replaces the host's settings.
          UpdateExpression: updateExpression(settings),
          ExpressionAttributeNames: {
            '#agentUrl': 'agentUrl',
            '#enabled': 'enabled',
            '#createdAt': 'createdAt',
            '#updatedAt': 'updatedAt',
            ...Object.fromEntries(OPTIONAL_SETTINGS.map((name) => [`#${name}`, name])),
          },
          ExpressionAttributeValues: {
            ':agentUrl': settings.agentUrl,
            ':enabled': settings.enabled,
            ':at': at,
            ...Object.fromEntries(OPTIONAL_SETTINGS.flatMap((name) => (settings[name] === undefined ? [] : [[`:${name}`, settings[name]]]))),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      const stored = parseItem(HostItem, out.Attributes, table, hostId);
      if (settings.repin !== true) return stored;
      const before = await clearPin(hostId);
      await releaseClaimOf(before, hostId);
      // The item as it is now: what it was just before the REMOVE, without the pin. (Deleted in
      // between: the put's own result, without the pin.)
      const { engineId: _engineId, enginePinnedAt: _enginePinnedAt, ...unpinned } = before ?? stored;
      return parseItem(HostItem, unpinned, table, hostId);
    },

    async get(hostId) {
      const out = await doc.send(new GetCommand({ TableName: table, Key: { hostId }, ConsistentRead: true }));
      return out.Item === undefined ? undefined : parseItem(HostItem, out.Item, table, hostId);
    },

    async delete(hostId) {
      const out = await doc.send(new DeleteCommand({ TableName: table, Key: { hostId }, ReturnValues: 'ALL_OLD' }));
      // After the host is gone: a re-registered host on that engine must not be refused.
      await releaseClaimOf(out.Attributes, hostId);
      return out.Attributes !== undefined;
    },

    async pin(hostId, engineId, at) {
      parseValue(HostId, hostId, 'hostId');
      parseValue(EngineId, engineId, 'engineId');
      parseValue(Instant, at, 'at');
      for (let attempt = 1; ; attempt++) {
        // 1. The claim: exact under concurrency, the engines table's key decides (S10).
        if (!(await claims.claim(engineId, hostId, at))) return 'claimed';
        // 2. The host, unless it is gone or bound to another engine meanwhile.
        try {
          await doc.send(
            new UpdateCommand({
              TableName: table,
              Key: { hostId },
              UpdateExpression: 'SET #engineId = :engineId, #enginePinnedAt = :at',
              ConditionExpression: 'attribute_exists(#hostId) AND (attribute_not_exists(#engineId) OR #engineId = :engineId)',
              ExpressionAttributeNames: { '#hostId': 'hostId', '#engineId': 'engineId', '#enginePinnedAt': 'enginePinnedAt' },
              ExpressionAttributeValues: { ':engineId': engineId, ':at': at },
            }),
          );
          return 'pinned';
        } catch (error) {
          // Any other failure may have been applied (a lost answer): the claim must stay then.
          if (!isConditionalCheckFailed(error)) throw error;
        }
        // 3. Refused: which way? (dynalite has no ReturnValuesOnConditionCheckFailure.)
        const host = await store.get(hostId);
        if (host?.engineId === engineId) return 'pinned';
        if (host?.engineId === undefined && host !== undefined && attempt < PIN_ATTEMPTS) continue;
        // Only the claim this call wrote: a newer pin of the same host keeps its own.
        await claims.release(engineId, hostId, at);
        return host === undefined ? 'gone' : 'claimed';
      }
    },

    async engineOwner(engineId) {
      parseValue(EngineId, engineId, 'engineId');
      return (await claims.get(engineId))?.hostId;
    },

    async unpin(hostId) {
      parseValue(HostId, hostId, 'hostId');
      return releaseClaimOf(await clearPin(hostId), hostId);
    },

    async list() {
      const listing: HostListing = { hosts: [], invalid: [] };
      for await (const page of paginateScan({ client: doc }, { TableName: table, ConsistentRead: true })) {
        for (const item of page.Items ?? []) {
          const parsed = HostItem.safeParse(item);
          if (parsed.success) listing.hosts.push(parsed.data);
          else {
            const id = HostId.safeParse(item.hostId);
            listing.invalid.push({ hostId: id.success ? id.data : undefined, problem: summarizeIssues(parsed.error) });
          }
        }
      }
      listing.hosts.sort((a, b) => (a.hostId < b.hostId ? -1 : a.hostId > b.hostId ? 1 : 0));
      return listing;
    },

    async markQuarantine(hostId, hasRecords) {
      try {
        await doc.send(
          new UpdateCommand({
            TableName: table,
            Key: { hostId },
            UpdateExpression: 'SET #q = :q',
            ConditionExpression: 'attribute_exists(#hostId)',
            ExpressionAttributeNames: { '#hostId': 'hostId', '#q': 'quarantineRecords' },
            ExpressionAttributeValues: { ':q': hasRecords },
          }),
        );
        return true;
      } catch (error) {
        if (isConditionalCheckFailed(error)) return false;
        throw error;
      }
    },

    async recordLastReap(hostId, lastReap) {
      try {
        await doc.send(
          new UpdateCommand({
            TableName: table,
            Key: { hostId },
            UpdateExpression: 'SET #lastReap = :lastReap',
            // ISO instants of one format sort as strings.
            ConditionExpression: 'attribute_exists(#hostId) AND (attribute_not_exists(#lastReap) OR #lastReap.#at <= :at)',
            ExpressionAttributeNames: { '#hostId': 'hostId', '#lastReap': 'lastReap', '#at': 'at' },
            ExpressionAttributeValues: { ':lastReap': lastReap, ':at': lastReap.at },
          }),
        );
        return true;
      } catch (error) {
        if (isConditionalCheckFailed(error)) return false;
        throw error;
      }
    },
  };
  return store;
}

export { CorruptItemError };
