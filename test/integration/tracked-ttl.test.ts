/**
 * Tracked items' TTL through the real store on dynalite: `track()` with a lease writes `expiresAt`
 * (lease end + TRACKED_TTL_MARGIN_SECONDS), a renewal moves it, a re-track without a lease removes
 * it, and the API shows it. dynalite never expires items (no UpdateTimeToLive: the stack declares
 * TTL in infra/dynamodb.yml), so an item past its TTL is still read; the lease rule already
 * ignores it (S12).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore, TRACKED_TTL_MARGIN_SECONDS, type Store } from '../../functions/store/index.js';
import { startDynalite, type TestDynamo } from '../helpers/dynalite.js';

const T0 = Date.parse('2026-11-27T12:00:00.000Z');
let nowMs = T0;
let dynamo: TestDynamo;
let store: Store;

beforeAll(async () => {
  dynamo = await startDynalite({ prefix: 'ttl-' });
  store = createStore({ client: dynamo.client, prefix: dynamo.prefix, now: () => nowMs });
});
afterAll(async () => dynamo?.close());

describe('tracked items expire after their lease', () => {
  it('a lease sets expiresAt, a renewal moves it, a re-track without a lease removes it', async () => {
    const leased = await store.tracked.track('ttl-host', 'c-1', { leaseSeconds: 600, owner: 'manager' });
    expect(leased.leaseExpiresAt).toBe(T0 / 1000 + 600);
    expect(leased.expiresAt).toBe(T0 / 1000 + 600 + TRACKED_TTL_MARGIN_SECONDS);
    expect(await store.tracked.get('ttl-host', 'c-1')).toEqual(leased);

    nowMs += 300_000;
    const renewed = await store.tracked.track('ttl-host', 'c-1', { leaseSeconds: 600, owner: 'manager' });
    expect(renewed.expiresAt).toBe(T0 / 1000 + 300 + 600 + TRACKED_TTL_MARGIN_SECONDS);
    expect(renewed.createdAt).toBe(leased.createdAt);

    const forever = await store.tracked.track('ttl-host', 'c-1', { owner: 'manager' });
    expect(forever.leaseExpiresAt).toBeUndefined();
    expect(forever.expiresAt).toBeUndefined();
    expect(await store.tracked.get('ttl-host', 'c-1')).not.toHaveProperty('expiresAt');

    const plain = await store.tracked.track('ttl-host', 'c-2');
    expect(plain).not.toHaveProperty('expiresAt');
  });

  it('an item past its lease protects nothing, long before its TTL could delete it', async () => {
    nowMs = T0;
    const item = await store.tracked.track('ttl-host-2', 'c-1', { leaseSeconds: 60 });
    const lapsed = T0 / 1000 + 60 + 61;
    const snapshot = await store.tracked.readTracked('ttl-host-2', lapsed, { leaseSkewSeconds: 60 });
    expect(snapshot).toMatchObject({ items: 1, expired: 1, refs: [] });
    expect(item.expiresAt! - lapsed).toBeGreaterThan(86_400);
  });
});
