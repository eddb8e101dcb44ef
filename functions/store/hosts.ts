/**
 * The hosts table: one item per Docker host the reaper commands. `put` is an upsert that keeps
 * `createdAt` and `lastReap`, so re-registering a host never erases its history.
 */
import { DeleteCommand, GetCommand, paginateScan, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { HostId } from '../../lib/ids.js';
import { parseValue } from '../../lib/http.js';
import { CorruptItemError, parseItem, summarizeIssues } from './corrupt.js';
import { isConditionalCheckFailed } from './dynamo-errors.js';
import { HostInput, HostItem, LastReap, type Host } from './schemas.js';

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

export interface HostStore {
  /** Creates or replaces the host's settings; returns the stored item. */
  put(hostId: string, input: HostInput): Promise<Host>;
  get(hostId: string): Promise<Host | undefined>;
  /** True when the host existed. */
  delete(hostId: string): Promise<boolean>;
  /** Every host (a full paginated Scan; a fleet is thousands of items at most), sorted by id. */
  list(): Promise<HostListing>;
  /**
   * Sets `lastReap` unless the host is gone (a deleted host is never recreated by a run) or holds
   * a newer one (two overlapping runs). False when nothing was written.
   */
  recordLastReap(hostId: string, lastReap: LastReap): Promise<boolean>;
}

export function createHostStore(doc: DynamoDBDocumentClient, table: string, now: () => number = Date.now): HostStore {
  return {
    async put(hostId, input) {
      parseValue(HostId, hostId, 'hostId');
      const settings = parseValue(HostInput, input, 'host');
      const at = new Date(now()).toISOString();
      const out = await doc.send(
        new UpdateCommand({
          TableName: table,
          Key: { hostId },
          // #placeholders throughout: DynamoDB's reserved words are many, and grow.
          UpdateExpression:
            'SET #agentUrl = :agentUrl, #enabled = :enabled, #createdAt = if_not_exists(#createdAt, :at), #updatedAt = :at' +
            (settings.maxReap === undefined ? ' REMOVE #maxReap' : ', #maxReap = :maxReap'),
          ExpressionAttributeNames: { '#agentUrl': 'agentUrl', '#enabled': 'enabled', '#createdAt': 'createdAt', '#updatedAt': 'updatedAt', '#maxReap': 'maxReap' },
          ExpressionAttributeValues: {
            ':agentUrl': settings.agentUrl,
            ':enabled': settings.enabled,
            ':at': at,
            ...(settings.maxReap === undefined ? {} : { ':maxReap': settings.maxReap }),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return parseItem(HostItem, out.Attributes, table, hostId);
    },

    async get(hostId) {
      const out = await doc.send(new GetCommand({ TableName: table, Key: { hostId }, ConsistentRead: true }));
      return out.Item === undefined ? undefined : parseItem(HostItem, out.Item, table, hostId);
    },

    async delete(hostId) {
      const out = await doc.send(new DeleteCommand({ TableName: table, Key: { hostId }, ReturnValues: 'ALL_OLD' }));
      return out.Attributes !== undefined;
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
}

export { CorruptItemError };
