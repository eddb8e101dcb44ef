/**
 * Tracked items stored lean (functions/store/tracked-item.ts) on dynalite: what `track` writes is
 * the short form, half the bytes of the long one (every run reads every item, billed by size);
 * items an earlier build wrote in the long form still protect their containers, and a re-track
 * rewrites them lean keeping their original createdAt.
 */
import { GetCommand, PutCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore, type Store } from '../../functions/store/index.js';
import { fromStored, toStored } from '../../functions/store/tracked-item.js';
import { TrackedItem } from '../../functions/store/schemas.js';
import { startDynalite, type TestDynamo } from '../helpers/dynalite.js';

let dynamo: TestDynamo;
let store: Store;
let doc: DynamoDBDocumentClient;
const HOST = 'lean-host';
const DOCKER = 'ab'.repeat(32);

beforeAll(async () => {
  dynamo = await startDynalite({ prefix: 'lean-' });
  store = createStore({ client: dynamo.client, prefix: dynamo.prefix });
  doc = DynamoDBDocumentClient.from(dynamo.client);
});
afterAll(async () => {
  await dynamo?.close();
});

const raw = async (containerId: string) => (await doc.send(new GetCommand({ TableName: dynamo.tables.tracked, Key: { hostId: HOST, containerId } }))).Item ?? {};

describe('lean tracked items', () => {
  it('track writes only the short names; the item reads back as it was given', async () => {
    const item = await store.tracked.track(HOST, 'c-lean', { dockerId: DOCKER, owner: 'manager-eu-1', leaseSeconds: 600 });
    const stored = await raw('c-lean');
    expect(Object.keys(stored).sort()).toEqual(['c', 'containerId', 'd', 'hostId', 'l', 'o', 'u', 'x']);
    expect(stored.d).toBeInstanceOf(Uint8Array);
    expect((stored.d as Uint8Array).byteLength).toBe(32);
    expect(await store.tracked.get(HOST, 'c-lean')).toEqual(item);
    expect(item).toMatchObject({ dockerId: DOCKER, owner: 'manager-eu-1' });
    // What the reaper reads (S5): the id, the Docker id, the lease.
    const snapshot = await store.tracked.readTracked(HOST, Math.floor(Date.now() / 1000));
    expect(snapshot.refs).toContainEqual({ id: 'c-lean', dockerId: DOCKER });
  });

  it('an item in the long form (an earlier build) still protects, and a re-track makes it lean keeping its createdAt', async () => {
    const createdAt = '2026-01-02T03:04:05.678Z';
    await doc.send(
      new PutCommand({
        TableName: dynamo.tables.tracked,
        Item: { hostId: HOST, containerId: 'c-old', dockerId: DOCKER, owner: 'old-manager', createdAt, updatedAt: createdAt, leaseExpiresAt: 4_000_000_000, expiresAt: 4_000_200_000 },
      }),
    );
    const snapshot = await store.tracked.readTracked(HOST, Math.floor(Date.now() / 1000));
    expect(snapshot.refs).toContainEqual({ id: 'c-old', dockerId: DOCKER });
    expect(await store.tracked.get(HOST, 'c-old')).toMatchObject({ createdAt, dockerId: DOCKER, owner: 'old-manager', leaseExpiresAt: 4_000_000_000 });
    const retracked = await store.tracked.track(HOST, 'c-old', { dockerId: DOCKER });
    expect(retracked.createdAt).toBe(createdAt);
    expect(retracked.owner).toBeUndefined();
    expect(retracked.leaseExpiresAt).toBeUndefined();
    const stored = await raw('c-old');
    // Only the original createdAt stays in the long form.
    expect(Object.keys(stored).sort()).toEqual(['c', 'containerId', 'createdAt', 'd', 'hostId', 'u']);
  });

  it('a Docker id prefix is kept as text', async () => {
    await store.tracked.track(HOST, 'c-short', { dockerId: 'abc123abc123' });
    expect((await raw('c-short')).d).toBe('abc123abc123');
    expect((await store.tracked.get(HOST, 'c-short'))?.dockerId).toBe('abc123abc123');
  });

  it('the stored form round-trips every valid item', () => {
    const hex = fc.stringMatching(/^[a-f0-9]{12,64}$/);
    fc.assert(
      fc.property(
        fc.record({
          hostId: fc.constant(HOST),
          containerId: fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,40}$/),
          dockerId: fc.option(hex, { nil: undefined }),
          owner: fc.option(fc.string({ minLength: 1, maxLength: 20 }), { nil: undefined }),
          leaseExpiresAt: fc.option(fc.integer({ min: 0, max: 2 ** 32 }), { nil: undefined }),
          expiresAt: fc.option(fc.integer({ min: 0, max: 2 ** 33 }), { nil: undefined }),
          createdAt: fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }).map((d) => d.toISOString()),
          updatedAt: fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }).map((d) => d.toISOString()),
        }),
        (value) => {
          const item = TrackedItem.parse(Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)));
          expect(TrackedItem.parse(fromStored(toStored(item)))).toEqual(item);
        },
      ),
      { numRuns: 500 },
    );
  });
});
