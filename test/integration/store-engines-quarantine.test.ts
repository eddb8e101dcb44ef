/**
 * Engine pinning (S10), quarantine (S11) and the lease skew (S12) in the data layer, against a
 * real DynamoDB-compatible server (dynalite): conditional writes, claim release, batch writes
 * with retries, full pagination, corrupt items.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { AppError } from '../../lib/errors.js';
import { CorruptItemError, createStore, HostInput, QuarantineWriteError, type QuarantinePut, type Store } from '../../functions/store/index.js';
import { startDynalite, type TestDynamo } from '../helpers/dynalite.js';
import { injectFailures, recordCalls, sdkError } from '../helpers/sdk-middleware.js';

let dynamo: TestDynamo;
let store: Store;
let doc: DynamoDBDocumentClient;
let nowMs = Date.parse('2026-11-27T10:00:00.000Z');
const now = () => nowMs;
const at = (offsetSeconds = 0) => new Date(nowMs + offsetSeconds * 1000).toISOString();
const agent = { agentUrl: 'http://127.0.0.1:8788/', enabled: true };

beforeAll(async () => {
  dynamo = await startDynalite({ prefix: 'pin-' });
  store = createStore({ client: dynamo.client, prefix: dynamo.prefix, now });
  doc = DynamoDBDocumentClient.from(dynamo.client);
});

afterAll(async () => {
  await dynamo?.close();
});

const claimOf = async (engineId: string) => (await doc.send(new GetCommand({ TableName: dynamo.tables.engines, Key: { engineId }, ConsistentRead: true }))).Item;

describe('tables', () => {
  it('creates the engines and quarantine tables with the others', () => {
    expect(dynamo.tables).toMatchObject({ engines: 'pin-engines', quarantine: 'pin-quarantine' });
  });
});

describe('engine pinning (S10)', () => {
  it('pins a host to its engine, idempotently, and records the claim', async () => {
    await store.hosts.put('p-a', agent);
    expect(await store.hosts.pin('p-a', 'engine-1', at())).toBe('pinned');
    const host = await store.hosts.get('p-a');
    expect(host).toMatchObject({ engineId: 'engine-1', enginePinnedAt: at() });
    expect(await store.hosts.engineOwner('engine-1')).toBe('p-a');
    expect(await claimOf('engine-1')).toEqual({ engineId: 'engine-1', hostId: 'p-a', pinnedAt: at() });
    // Again: still pinned, still one claim.
    expect(await store.hosts.pin('p-a', 'engine-1', at(60))).toBe('pinned');
    expect((await store.hosts.get('p-a'))?.engineId).toBe('engine-1');
    expect(await store.hosts.engineOwner('engine-1')).toBe('p-a');
  });

  it('refuses a second host the same engine, and leaves that host unpinned', async () => {
    await store.hosts.put('p-b', agent);
    expect(await store.hosts.pin('p-b', 'engine-1', at())).toBe('claimed');
    const host = await store.hosts.get('p-b');
    expect(host).toBeDefined();
    expect(host?.engineId).toBeUndefined();
    expect(host?.enginePinnedAt).toBeUndefined();
    expect(await store.hosts.engineOwner('engine-1')).toBe('p-a');
  });

  it('refuses a pinned host another engine, and leaves no claim on that engine', async () => {
    expect(await store.hosts.pin('p-a', 'engine-2', at())).toBe('claimed');
    expect((await store.hosts.get('p-a'))?.engineId).toBe('engine-1');
    expect(await store.hosts.engineOwner('engine-2')).toBeUndefined();
  });

  it('answers gone for a deleted (or never registered) host, and leaves no claim', async () => {
    await store.hosts.put('p-gone', agent);
    expect(await store.hosts.delete('p-gone')).toBe(true);
    expect(await store.hosts.pin('p-gone', 'engine-g', at())).toBe('gone');
    expect(await store.hosts.engineOwner('engine-g')).toBeUndefined();
    expect(await store.hosts.get('p-gone')).toBeUndefined();
    expect(await store.hosts.pin('p-never', 'engine-g', at())).toBe('gone');
    expect(await claimOf('engine-g')).toBeUndefined();
  });

  it('lets exactly one of many hosts racing for one engine pin it', async () => {
    const hosts = Array.from({ length: 12 }, (_, i) => `race-${i}`);
    await Promise.all(hosts.map((h) => store.hosts.put(h, agent)));
    const results = await Promise.all(hosts.map((h) => store.hosts.pin(h, 'engine-race', at())));
    expect(results.filter((r) => r === 'pinned')).toHaveLength(1);
    expect(results.filter((r) => r === 'claimed')).toHaveLength(hosts.length - 1);
    const winner = hosts[results.indexOf('pinned')]!;
    expect(await store.hosts.engineOwner('engine-race')).toBe(winner);
    const pinned = (await Promise.all(hosts.map((h) => store.hosts.get(h)))).filter((h) => h?.engineId !== undefined);
    expect(pinned.map((h) => h!.hostId)).toEqual([winner]);
  });

  it('unpin clears the host and releases the claim, so another host can pin the engine', async () => {
    await store.hosts.put('u-a', agent);
    await store.hosts.put('u-b', agent);
    expect(await store.hosts.pin('u-a', 'engine-u', at())).toBe('pinned');
    expect(await store.hosts.pin('u-b', 'engine-u', at())).toBe('claimed');
    expect(await store.hosts.unpin('u-a')).toBe('engine-u');
    const a = await store.hosts.get('u-a');
    expect(a).toBeDefined();
    expect(a?.engineId).toBeUndefined();
    expect(a?.enginePinnedAt).toBeUndefined();
    expect(await store.hosts.engineOwner('engine-u')).toBeUndefined();
    expect(await store.hosts.pin('u-b', 'engine-u', at())).toBe('pinned');
    expect(await store.hosts.engineOwner('engine-u')).toBe('u-b');
    // Nothing to unpin: undefined, and another host's claim is never touched.
    expect(await store.hosts.unpin('u-a')).toBeUndefined();
    expect(await store.hosts.unpin('u-nobody')).toBeUndefined();
    expect(await store.hosts.get('u-nobody')).toBeUndefined();
    expect(await store.hosts.engineOwner('engine-u')).toBe('u-b');
  });

  it('unpin never releases a claim that a newer pin of the host wrote meanwhile', async () => {
    await store.hosts.put('u-c', agent);
    expect(await store.hosts.pin('u-c', 'engine-c', at())).toBe('pinned');
    // A concurrent pin of the same host rewrote the claim (a new pinnedAt) after unpin read the host.
    await doc.send(new PutCommand({ TableName: dynamo.tables.engines, Item: { engineId: 'engine-c', hostId: 'u-c', pinnedAt: at(5) } }));
    expect(await store.hosts.unpin('u-c')).toBe('engine-c');
    // Kept: a claim without its host's pin only refuses other hosts (the safe side)...
    expect(await store.hosts.engineOwner('engine-c')).toBe('u-c');
    // ...and the same host takes it over again.
    expect(await store.hosts.pin('u-c', 'engine-c', at(10))).toBe('pinned');
    expect(await claimOf('engine-c')).toMatchObject({ hostId: 'u-c', pinnedAt: at(10) });
  });

  it('put keeps the pin on re-registration, and put with repin: true unpins', async () => {
    await store.hosts.put('r-a', agent);
    expect(await store.hosts.pin('r-a', 'engine-r', at())).toBe('pinned');
    nowMs += 1000;
    const again = await store.hosts.put('r-a', { ...agent, enabled: false, maxReap: 5 });
    expect(again).toMatchObject({ engineId: 'engine-r', enginePinnedAt: at(-1), enabled: false, maxReap: 5 });
    expect(await store.hosts.put('r-a', { ...agent, repin: false })).toMatchObject({ engineId: 'engine-r' });
    nowMs += 1000;
    const repinned = await store.hosts.put('r-a', { ...agent, repin: true });
    expect(repinned.engineId).toBeUndefined();
    expect(repinned.enginePinnedAt).toBeUndefined();
    expect(repinned).toMatchObject({ hostId: 'r-a', enabled: true, updatedAt: at() });
    expect(repinned).not.toHaveProperty('repin');
    expect(await store.hosts.get('r-a')).toEqual(repinned);
    expect(await store.hosts.engineOwner('engine-r')).toBeUndefined();
    // Re-pinnable to another engine now.
    expect(await store.hosts.pin('r-a', 'engine-r2', at())).toBe('pinned');
    // repin on a host that is not pinned is a plain registration.
    const fresh = await store.hosts.put('r-new', { ...agent, repin: true });
    expect(fresh).toMatchObject({ hostId: 'r-new', enabled: true });
    expect(fresh.engineId).toBeUndefined();
  });

  it('delete releases the claim, so a host re-registered on that engine is not refused', async () => {
    await store.hosts.put('d-a', agent);
    expect(await store.hosts.pin('d-a', 'engine-d', at())).toBe('pinned');
    expect(await store.hosts.delete('d-a')).toBe(true);
    expect(await store.hosts.engineOwner('engine-d')).toBeUndefined();
    await store.hosts.put('d-b', agent);
    expect(await store.hosts.pin('d-b', 'engine-d', at())).toBe('pinned');
    // Deleting a host never releases another host's claim.
    expect(await store.hosts.delete('d-a')).toBe(false);
    expect(await store.hosts.engineOwner('engine-d')).toBe('d-b');
  });

  it('old host items without the new fields still parse; invalid pin input is refused before writing', async () => {
    await doc.send(
      new PutCommand({
        TableName: dynamo.tables.hosts,
        Item: {
          hostId: 'old-1',
          agentUrl: 'http://127.0.0.1:1/',
          enabled: true,
          maxReap: 50_000,
          createdAt: at(),
          updatedAt: at(),
          lastReap: { runId: 'run-00000001', at: at(), status: 'ok', counts: null },
        },
      }),
    );
    expect(await store.hosts.get('old-1')).toMatchObject({ hostId: 'old-1', maxReap: 50_000 });
    await expect(store.hosts.pin('bad id!', 'engine-x', at())).rejects.toBeInstanceOf(AppError);
    await expect(store.hosts.pin('old-1', '', at())).rejects.toBeInstanceOf(AppError);
    await expect(store.hosts.pin('old-1', 'e'.repeat(257), at())).rejects.toBeInstanceOf(AppError);
    await expect(store.hosts.pin('old-1', 'engine-x', 'yesterday')).rejects.toBeInstanceOf(AppError);
    expect(await store.hosts.engineOwner('engine-x')).toBeUndefined();
  });
});

describe('HostInput', () => {
  it('caps maxReap at 10,000 and stays strict', async () => {
    expect(HostInput.safeParse({ ...agent, maxReap: 10_000 }).success).toBe(true);
    expect(HostInput.safeParse({ ...agent, maxReap: 10_001 }).success).toBe(false);
    expect(HostInput.safeParse({ ...agent, repin: 'yes' }).success).toBe(false);
    expect(HostInput.safeParse({ ...agent, engineId: 'engine-1' }).success).toBe(false);
    await expect(store.hosts.put('cap-1', { ...agent, maxReap: 10_001 })).rejects.toBeInstanceOf(AppError);
    expect(await store.hosts.get('cap-1')).toBeUndefined();
    expect((await store.hosts.put('cap-1', { ...agent, maxReap: 10_000 })).maxReap).toBe(10_000);
  });
});

const dockerId = (n: number) => n.toString(16).padStart(64, 'a');
const entry = (n: number, extra: Partial<QuarantinePut> = {}): QuarantinePut => ({
  dockerId: dockerId(n),
  clawboxId: `sbx-${n}`,
  since: '2026-11-27T09:00:00.000Z',
  paused: n % 2 === 0,
  ...extra,
});

/** A store whose BatchWriteItem calls leave the second half of their requests unprocessed, `times` times. */
function withUnprocessed(client: DynamoDBClient, table: string, times: number): { partial: number } {
  const state = { partial: 0 };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = (args as { input: { RequestItems?: Record<string, unknown[]> } }).input;
      const requests = input.RequestItems?.[table];
      if (context.commandName !== 'BatchWriteItemCommand' || !requests || requests.length < 2 || state.partial >= times) return next(args);
      state.partial++;
      const half = Math.ceil(requests.length / 2);
      const result = await next({ ...args, input: { ...input, RequestItems: { [table]: requests.slice(0, half) } } } as typeof args);
      const output = result.output as { UnprocessedItems?: Record<string, unknown[]> };
      output.UnprocessedItems = { [table]: requests.slice(half) };
      return result;
    },
    { step: 'initialize', name: 'test-unprocessed', override: true },
  );
  return state;
}

describe('quarantine (S11)', () => {
  it('apply puts and removes; get, list and forContainer read them back', async () => {
    nowMs = Date.parse('2026-11-27T10:00:00.000Z');
    await store.quarantine.apply('q-1', { put: [entry(1), entry(2), entry(3, { clawboxId: 'sbx-1' })], remove: [] });
    expect(await store.quarantine.get('q-1', dockerId(1))).toEqual({ hostId: 'q-1', ...entry(1), updatedAt: at() });
    expect((await store.quarantine.list('q-1')).map((e) => e.dockerId).sort()).toEqual([dockerId(1), dockerId(2), dockerId(3)].sort());
    expect((await store.quarantine.forContainer('q-1', 'sbx-1')).map((e) => e.dockerId).sort()).toEqual([dockerId(1), dockerId(3)].sort());
    expect(await store.quarantine.forContainer('q-1', 'sbx-none')).toEqual([]);
    expect(await store.quarantine.list('q-other')).toEqual([]);

    nowMs += 60_000;
    await store.quarantine.apply('q-1', { put: [entry(2, { paused: false })], remove: [dockerId(1), dockerId(9)] });
    const after = await store.quarantine.list('q-1');
    expect(after.map((e) => e.dockerId).sort()).toEqual([dockerId(2), dockerId(3)].sort());
    expect(await store.quarantine.get('q-1', dockerId(1))).toBeUndefined();
    expect(await store.quarantine.get('q-1', dockerId(2))).toMatchObject({ paused: false, updatedAt: at(), since: '2026-11-27T09:00:00.000Z' });
    // Nothing to do is fine.
    await store.quarantine.apply('q-1', { put: [], remove: [] });
  });

  it('refuses invalid entries, and a key both put and removed, before writing anything', async () => {
    await expect(store.quarantine.apply('q-bad', { put: [entry(1, { dockerId: 'NOT-HEX' })], remove: [] })).rejects.toBeInstanceOf(AppError);
    await expect(store.quarantine.apply('q-bad', { put: [entry(1, { since: 'soon' })], remove: [] })).rejects.toBeInstanceOf(AppError);
    await expect(store.quarantine.apply('q-bad', { put: [], remove: ['zz'] })).rejects.toBeInstanceOf(AppError);
    await expect(store.quarantine.apply('bad id!', { put: [entry(1)], remove: [] })).rejects.toBeInstanceOf(AppError);
    await expect(store.quarantine.apply('q-bad', { put: [entry(1)], remove: [dockerId(1)] })).rejects.toThrow(/both put and removed/);
    expect(await store.quarantine.list('q-bad')).toEqual([]);
  });

  it('writes more than 25 changes in batches of 25, and removes them again', async () => {
    const client = dynamo.newClient();
    const calls = recordCalls(client);
    const observed = createStore({ client, prefix: dynamo.prefix, now });
    const entries = Array.from({ length: 260 }, (_, i) => entry(1000 + i));
    // A duplicate key in one change is written once (the last wins), not refused by DynamoDB.
    await observed.quarantine.apply('q-many', { put: [...entries, entry(1000, { paused: true, clawboxId: 'sbx-last' })], remove: [] });
    const batches = calls.filter((c) => c.command === 'BatchWriteItemCommand');
    expect(batches).toHaveLength(Math.ceil(260 / 25));
    const listed = await store.quarantine.list('q-many');
    expect(listed).toHaveLength(260);
    expect(listed.find((e) => e.dockerId === dockerId(1000))).toMatchObject({ clawboxId: 'sbx-last', paused: true });
    await store.quarantine.apply('q-many', { put: [], remove: entries.map((e) => e.dockerId) });
    expect(await store.quarantine.list('q-many')).toEqual([]);
  });

  it('retries unprocessed items and throttling until everything is written', async () => {
    const client = dynamo.newClient();
    const unprocessed = withUnprocessed(client, dynamo.tables.quarantine, 6);
    const throttled = injectFailures(client, (c) => c.command === 'BatchWriteItemCommand' && c.n <= 2, () => sdkError('ThrottlingException', 400));
    const flaky = createStore({ client, prefix: dynamo.prefix });
    const entries = Array.from({ length: 60 }, (_, i) => entry(2000 + i));
    await flaky.quarantine.apply('q-retry', { put: entries, remove: [] }, { deadlineAt: Date.now() + 10_000 });
    expect(throttled.failures).toBe(2);
    expect(unprocessed.partial).toBe(6);
    expect(await store.quarantine.list('q-retry')).toHaveLength(60);
  });

  it('throws when something is still unwritten at the deadline, and on a non-retryable error at once', async () => {
    const client = dynamo.newClient();
    injectFailures(client, (c) => c.command === 'BatchWriteItemCommand', () => sdkError('ThrottlingException', 400));
    const stuck = createStore({ client, prefix: dynamo.prefix });
    const started = Date.now();
    const error: unknown = await stuck.quarantine.apply('q-stuck', { put: [entry(1), entry(2)], remove: [] }, { deadlineAt: started + 300 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QuarantineWriteError);
    expect((error as QuarantineWriteError).unwritten).toBe(2);
    expect(Date.now() - started).toBeLessThan(2_000);
    // Without a deadline: a bounded number of attempts, then the same error.
    await expect(stuck.quarantine.apply('q-stuck', { put: [entry(1)], remove: [] })).rejects.toBeInstanceOf(QuarantineWriteError);

    const denied = dynamo.newClient();
    const refusals = injectFailures(denied, (c) => c.command === 'BatchWriteItemCommand', () => sdkError('AccessDeniedException', 400));
    await expect(createStore({ client: denied, prefix: dynamo.prefix }).quarantine.apply('q-stuck', { put: [entry(1)], remove: [] })).rejects.toThrow(/AccessDenied/);
    expect(refusals.failures).toBe(1);
    expect(await store.quarantine.list('q-stuck')).toEqual([]);
  });

  it('list reads every page (over 1 MB), and throws if any page fails', async () => {
    // Padded items (an attribute the schema ignores) make a partition of a few MB quickly.
    const pad = 'p'.repeat(100_000);
    const items = Array.from({ length: 40 }, (_, i) => ({ hostId: 'q-big', ...entry(3000 + i), updatedAt: at(), pad }));
    for (let i = 0; i < items.length; i += 10) {
      await doc.send(new BatchWriteCommand({ RequestItems: { [dynamo.tables.quarantine]: items.slice(i, i + 10).map((Item) => ({ PutRequest: { Item } })) } }));
    }
    const client = dynamo.newClient();
    const calls = recordCalls(client);
    const observed = createStore({ client, prefix: dynamo.prefix, now });
    const listed = await observed.quarantine.list('q-big');
    expect(listed).toHaveLength(40);
    expect(new Set(listed.map((e) => e.dockerId)).size).toBe(40);
    expect(listed[0]).not.toHaveProperty('pad');
    const queries = calls.filter((c) => c.command === 'QueryCommand' && c.table === dynamo.tables.quarantine);
    expect(queries.length).toBeGreaterThan(2);
    expect(queries.filter((q) => q.continued)).toHaveLength(queries.length - 1);
    expect(await observed.quarantine.forContainer('q-big', 'sbx-3039')).toHaveLength(1);

    const failing = dynamo.newClient();
    injectFailures(failing, (c) => c.command === 'QueryCommand' && c.n === 2, () => sdkError('InternalServerError', 500));
    await expect(createStore({ client: failing, prefix: dynamo.prefix }).quarantine.list('q-big')).rejects.toThrow(/InternalServerError/);
  });

  it('list throws on a corrupt item rather than skip it', async () => {
    await store.quarantine.apply('q-corrupt', { put: [entry(1), entry(2)], remove: [] });
    await doc.send(new PutCommand({ TableName: dynamo.tables.quarantine, Item: { hostId: 'q-corrupt', dockerId: dockerId(3), clawboxId: 'sbx-3', since: at(), paused: 'yes', updatedAt: at() } }));
    await expect(store.quarantine.list('q-corrupt')).rejects.toBeInstanceOf(CorruptItemError);
    await expect(store.quarantine.forContainer('q-corrupt', 'sbx-3')).rejects.toBeInstanceOf(CorruptItemError);
    await expect(store.quarantine.get('q-corrupt', dockerId(3))).rejects.toBeInstanceOf(CorruptItemError);
  });

  it('list honours the abort signal', async () => {
    const controller = new AbortController();
    controller.abort(new Error('work deadline'));
    await expect(store.quarantine.list('q-1', { abortSignal: controller.signal })).rejects.toThrow('work deadline');
  });
});

describe('lease skew (S12)', () => {
  it('readTracked keeps a lease within leaseExpiresAt + leaseSkewSeconds', async () => {
    nowMs = Date.parse('2026-11-27T10:00:00.000Z');
    const nowSeconds = Math.floor(nowMs / 1000);
    await store.tracked.track('s-1', 'lease-a', { leaseSeconds: 1 });
    await store.tracked.track('s-1', 'lease-b', { leaseSeconds: 1 });
    const leaseEnd = nowSeconds + 1;
    const at30 = await store.tracked.readTracked('s-1', leaseEnd + 30, { leaseSkewSeconds: 60 });
    expect(at30.refs).toHaveLength(2);
    expect(at30.expired).toBe(0);
    expect((await store.tracked.readTracked('s-1', leaseEnd + 60, { leaseSkewSeconds: 60 })).refs).toHaveLength(2);
    const at61 = await store.tracked.readTracked('s-1', leaseEnd + 61, { leaseSkewSeconds: 60 });
    expect(at61.refs).toHaveLength(0);
    expect(at61.expired).toBe(2);
    // Without a skew: the v1 rule.
    expect((await store.tracked.readTracked('s-1', leaseEnd + 1)).refs).toHaveLength(0);
    await expect(store.tracked.readTracked('s-1', leaseEnd, { leaseSkewSeconds: -1 })).rejects.toThrow(RangeError);
  });
});
