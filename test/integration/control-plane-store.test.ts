/**
 * The data layer against a real DynamoDB-compatible server (dynalite): keys, idempotency, leases,
 * full pagination (S5), report capping and TTL, cursors, write retries on throttling.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerReport, ReapReport } from '../../lib/agent-contract.js';
import { AppError } from '../../lib/errors.js';
import { createStore, DEFAULT_REPORT_TTL_DAYS, type ReportInput, type Store } from '../../functions/store/index.js';
import { createRegistryClient } from '../../functions/store/registry-client.js';
import { startDynalite, type TestDynamo } from '../helpers/dynalite.js';
import { recordRun, seedTracked, trackedItems } from '../helpers/seed.js';
import { injectFailures, recordCalls, sdkError } from '../helpers/sdk-middleware.js';

let dynamo: TestDynamo;
let store: Store;
let nowMs = Date.parse('2026-11-27T10:00:00.000Z');
const now = () => nowMs;

beforeAll(async () => {
  dynamo = await startDynalite({ prefix: 'store-' });
  store = createStore({ client: dynamo.client, prefix: dynamo.prefix, now, reportTtlDays: 90 });
});

afterAll(async () => {
  await dynamo?.close();
});

function agentReport(hostId: string, runId: string, containers: ContainerReport[] = []): ReapReport {
  return {
    runId,
    hostId,
    engineId: 'engine-test',
    clockOffsetMs: 0,
    status: 'ok',
    startedAt: '2026-11-27T10:00:01.000Z',
    finishedAt: '2026-11-27T10:00:02.000Z',
    durationMs: 1000,
    dryRun: false,
    counts: { labelled: containers.length + 3, tracked: 3, orphans: containers.length, young: 0, stopped: 0, removed: containers.length, vanished: 0, failed: 0 },
    containers,
  };
}

function reportInput(hostId: string, runId: string, startedAt: string, extra: Partial<ReportInput> = {}): ReportInput {
  return {
    hostId,
    runId,
    trigger: 'schedule',
    status: 'ok',
    startedAt,
    snapshotAt: startedAt,
    finishedAt: startedAt,
    durationMs: 5,
    dryRun: false,
    force: false,
    maxReap: 100,
    trackedSent: 3,
    attempts: 1,
    agentReport: agentReport(hostId, runId),
    ...extra,
  };
}

describe('hosts', () => {
  it('upserts, keeps createdAt and lastReap on re-put, lists and deletes', async () => {
    const first = await store.hosts.put('h-1', { agentUrl: 'http://127.0.0.1:1/', enabled: true, maxReap: 7 });
    expect(first).toMatchObject({ hostId: 'h-1', enabled: true, maxReap: 7 });
    const lastReap = { runId: 'run-00000001', at: '2026-11-27T10:00:00.000Z', status: 'ok' as const, counts: null };
    expect(await store.hosts.recordLastReap('h-1', lastReap)).toBe(true);
    nowMs += 1000;
    const second = await store.hosts.put('h-1', { agentUrl: 'http://127.0.0.1:2/', enabled: false });
    expect(second.createdAt).toBe(first.createdAt);
    expect(second.updatedAt).not.toBe(first.updatedAt);
    expect(second.maxReap).toBeUndefined();
    expect(second.lastReap).toEqual(lastReap);
    // An older run never overwrites a newer lastReap.
    expect(await store.hosts.recordLastReap('h-1', { ...lastReap, runId: 'run-00000000', at: '2026-11-27T09:00:00.000Z' })).toBe(false);
    expect((await store.hosts.get('h-1'))?.lastReap?.runId).toBe('run-00000001');
    // A deleted host is never recreated by recordLastReap.
    expect(await store.hosts.recordLastReap('gone-host', lastReap)).toBe(false);
    expect(await store.hosts.get('gone-host')).toBeUndefined();

    await store.hosts.put('h-0', { agentUrl: 'https://agent.example:8788', enabled: true });
    const listing = await store.hosts.list();
    expect(listing.hosts.map((h) => h.hostId)).toEqual(['h-0', 'h-1']);
    expect(listing.invalid).toEqual([]);
    expect(await store.hosts.delete('h-0')).toBe(true);
    expect(await store.hosts.delete('h-0')).toBe(false);
  });

  it('refuses invalid input before writing', async () => {
    await expect(store.hosts.put('bad id!', { agentUrl: 'http://x', enabled: true })).rejects.toBeInstanceOf(AppError);
    await expect(store.hosts.put('h-2', { agentUrl: 'ftp://x', enabled: true })).rejects.toBeInstanceOf(AppError);
    expect(await store.hosts.get('h-2')).toBeUndefined();
  });
});

describe('tracked', () => {
  it('track is idempotent and keeps createdAt; untrack is idempotent', async () => {
    const a = await store.tracked.track('h-t', 'c-1', { owner: 'mgr' });
    nowMs += 5000;
    const b = await store.tracked.track('h-t', 'c-1', { dockerId: 'a'.repeat(64), leaseSeconds: 60 });
    expect(b.createdAt).toBe(a.createdAt);
    expect(b.owner).toBeUndefined();
    expect(b.dockerId).toBe('a'.repeat(64));
    expect(b.leaseExpiresAt).toBe(Math.floor(nowMs / 1000) + 60);
    expect(await store.tracked.untrack('h-t', 'c-1')).toBe(true);
    expect(await store.tracked.untrack('h-t', 'c-1')).toBe(false);
    expect(await store.tracked.get('h-t', 'c-1')).toBeUndefined();
  });

  it('readTracked drops expired leases and keeps live ones and lease-less ones', async () => {
    const nowSeconds = Math.floor(nowMs / 1000);
    await store.tracked.track('h-l', 'live', { leaseSeconds: 600 });
    await store.tracked.track('h-l', 'forever');
    await store.tracked.track('h-l', 'expired', { leaseSeconds: 1 });
    const snapshot = await store.tracked.readTracked('h-l', nowSeconds + 10);
    expect(snapshot.refs.map((r) => r.id).sort()).toEqual(['forever', 'live']);
    expect(snapshot).toMatchObject({ items: 3, expired: 1, pages: 1 });
  });

  it('reads every page of a large host (over 1 MB), and throws if any page fails (S5)', async () => {
    const owner = 'o'.repeat(200);
    const ids = Array.from({ length: 5000 }, (_, i) => `big-${String(i).padStart(5, '0')}`);
    await seedTracked(dynamo.client, dynamo.tables.tracked, trackedItems('h-big', ids, { owner, dockerId: 'b'.repeat(64) }));
    const client = dynamo.newClient();
    const calls = recordCalls(client);
    const observed = createStore({ client, prefix: dynamo.prefix, now });
    const snapshot = await observed.tracked.readTracked('h-big', Math.floor(nowMs / 1000));
    expect(snapshot.refs).toHaveLength(5000);
    expect(new Set(snapshot.refs.map((r) => r.id)).size).toBe(5000);
    const queries = calls.filter((c) => c.command === 'QueryCommand' && c.table === dynamo.tables.tracked);
    expect(queries.length).toBeGreaterThan(1);
    expect(snapshot.pages).toBe(queries.length);

    const failing = dynamo.newClient();
    injectFailures(failing, (call) => call.command === 'QueryCommand' && call.n === 2, () => sdkError('InternalServerError', 500));
    const broken = createStore({ client: failing, prefix: dynamo.prefix, now });
    await expect(broken.tracked.readTracked('h-big', Math.floor(nowMs / 1000))).rejects.toThrow(/InternalServerError/);
  });

  it('lists a page at a time with a validated cursor', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await store.tracked.list('h-big', { limit: 1000, ...(cursor ? { cursor } : {}) });
      seen.push(...page.items.map((i) => i.containerId));
      cursor = page.cursor;
      pages++;
    } while (cursor);
    expect(seen).toHaveLength(5000);
    expect(pages).toBeGreaterThanOrEqual(5);
    const first = await store.tracked.list('h-big', { limit: 2 });
    expect(first.cursor).toBeDefined();
    await expect(store.tracked.list('h-other', { cursor: first.cursor! })).rejects.toMatchObject({ code: 'invalid_cursor' });
    await expect(store.tracked.list('h-big', { cursor: 'not-a-cursor' })).rejects.toMatchObject({ code: 'invalid_cursor' });
  });

  it('the registry client implements track-before-create, untrack-after-remove', async () => {
    const registry = createRegistryClient({ tracked: store.tracked, hostId: 'h-reg' });
    const order: string[] = [];
    const created = await registry.createTracked('sbx-1', async () => {
      order.push(`create (tracked: ${(await store.tracked.get('h-reg', 'sbx-1')) !== undefined})`);
      return { dockerId: 'c'.repeat(64) };
    });
    expect(order).toEqual(['create (tracked: true)']);
    expect((await store.tracked.get('h-reg', 'sbx-1'))?.dockerId).toBe(created.dockerId);
    await expect(registry.createTracked('sbx-2', () => Promise.reject(new Error('engine lost the answer')))).rejects.toThrow('lost');
    // Kept: the container may exist even though create failed.
    expect(await store.tracked.get('h-reg', 'sbx-2')).toBeDefined();
    expect(await registry.untrackAfterRemove('sbx-1')).toBe(true);
    expect(await store.tracked.get('h-reg', 'sbx-1')).toBeUndefined();
  });
});

describe('reports', () => {
  it('stores everything with a TTL, and caps the container list keeping counts complete', async () => {
    const containers: ContainerReport[] = Array.from({ length: 1500 }, (_, i) => ({
      clawboxId: `orphan-${i}-${'x'.repeat(150)}`,
      dockerId: i.toString(16).padStart(64, 'd'),
      state: 'running',
      createdAt: '2026-11-27T09:00:00.000Z',
      action: i === 1499 ? 'failed' : 'removed',
      ...(i === 1499 ? { error: 'e'.repeat(5000) } : {}),
    }));
    const report = agentReport('h-cap', 'run-cap-0001', containers);
    report.counts = { ...report.counts, removed: 1499, failed: 1 };
    const item = await store.reports.putReport(reportInput('h-cap', 'run-cap-0001', '2026-11-27T10:00:00.000Z', { agentReport: report, status: 'partial' }));
    await recordRun(store, 'run-cap-0001', '2026-11-27T10:00:00.000Z', { 'h-cap': 'partial' });
    const [stored] = await store.reports.reportsForRun('run-cap-0001');
    expect(stored).toEqual(item);
    expect(stored!.truncated).toBe(true);
    expect(stored!.containersTotal).toBe(1500);
    expect(stored!.containers.length).toBeLessThanOrEqual(1000);
    expect(stored!.containers.length).toBeGreaterThan(500);
    // The failure is kept first, its text clipped; counts are the agent's, whole.
    expect(stored!.containers[0]!.action).toBe('failed');
    expect(stored!.containers[0]!.error!.length).toBeLessThanOrEqual(1000);
    expect(stored!.counts).toEqual(report.counts);
    expect(Buffer.byteLength(JSON.stringify(stored))).toBeLessThan(250_000);
    expect(stored!.expiresAt).toBe(Math.floor(nowMs / 1000) + 90 * 86400);
    expect(stored!.sk).toBe('2026-11-27T10:00:00.000Z#run-cap-0001');
  });

  it('an uncapped report keeps every entry', async () => {
    const containers: ContainerReport[] = [{ clawboxId: 'o-1', dockerId: 'f'.repeat(64), state: 'exited', createdAt: '2026-11-27T09:00:00.000Z', action: 'removed' }];
    const item = await store.reports.putReport(reportInput('h-small', 'run-small-01', '2026-11-27T10:00:00.000Z', { agentReport: agentReport('h-small', 'run-small-01', containers) }));
    expect(item).toMatchObject({ truncated: false, containersTotal: 1, containers });
  });

  it('retries a throttled write with backoff', async () => {
    const client = dynamo.newClient();
    const state = injectFailures(client, (call) => call.command === 'PutItemCommand' && call.n <= 3, () => sdkError('ProvisionedThroughputExceededException', 400));
    const throttled = createStore({ client, prefix: dynamo.prefix, now });
    await throttled.reports.putReport(reportInput('h-throttle', 'run-throttle', '2026-11-27T10:00:00.000Z'));
    expect(state.failures).toBe(3);
    await recordRun(store, 'run-throttle', '2026-11-27T10:00:00.000Z', { 'h-throttle': 'ok' });
    expect((await store.reports.reportsForRun('run-throttle')).map((r) => r.compact)).toEqual([undefined]);
    // A client error is not retried.
    const bad = dynamo.newClient();
    const badState = injectFailures(bad, (call) => call.command === 'PutItemCommand', () => sdkError('ValidationException', 400));
    await expect(createStore({ client: bad, prefix: dynamo.prefix, now }).reports.putReport(reportInput('h-throttle', 'run-throttle2', '2026-11-27T10:00:00.000Z'))).rejects.toThrow(/ValidationException/);
    expect(badState.failures).toBe(1);
  });

  it('lists newest first, per host and across hosts over several days, with cursors and a time window', async () => {
    const starts = ['2026-11-20T08:00:00.000Z', '2026-11-25T23:59:59.000Z', '2026-11-26T00:00:00.000Z', '2026-11-26T12:00:00.000Z', '2026-11-27T09:00:00.000Z'];
    for (const [i, startedAt] of starts.entries()) {
      for (const hostId of ['ls-a', 'ls-b']) await store.reports.putReport(reportInput(hostId, `run-list-${i}0000`, startedAt, { trigger: 'api' }));
    }
    const byHost = await store.reports.listReports({ hostId: 'ls-a', limit: 2 });
    expect(byHost.items.map((r) => r.startedAt)).toEqual([starts[4], starts[3]]);
    const next = await store.reports.listReports({ hostId: 'ls-a', limit: 10, cursor: byHost.cursor! });
    expect(next.items.map((r) => r.startedAt)).toEqual([starts[2], starts[1], starts[0]]);

    // Across hosts: everything (other tests' reports included), strictly newest first, no repeats.
    const all: string[] = [];
    let cursor: string | undefined;
    let previous = '\uffff';
    let pages = 0;
    do {
      const page = await store.reports.listReports({ limit: 3, ...(cursor ? { cursor } : {}) });
      for (const r of page.items) {
        expect(r.sk <= previous).toBe(true);
        previous = r.sk;
        all.push(`${r.hostId}/${r.sk}`);
      }
      cursor = page.cursor;
      pages++;
    } while (cursor && pages < 50);
    expect(cursor).toBeUndefined();
    expect(new Set(all).size).toBe(all.length);
    expect(all.filter((k) => k.startsWith('ls-'))).toHaveLength(10);

    const window = await store.reports.listReports({ since: '2026-11-25T23:59:59Z', until: '2026-11-26T12:00:00Z', limit: 100 });
    expect(window.items.map((r) => `${r.hostId}@${r.startedAt}`).sort()).toEqual(
      ['ls-a', 'ls-b'].flatMap((h) => [starts[1], starts[2], starts[3]].map((s) => `${h}@${s}`)).sort(),
    );
    await expect(store.reports.listReports({ cursor: byHost.cursor! })).rejects.toMatchObject({ code: 'invalid_cursor' });
    await expect(store.reports.listReports({ since: 'yesterday' })).rejects.toMatchObject({ code: 'validation_failed' });

    // Regressions (review): a cursor from another query's window, or with an impossible day, is a
    // 400 (was a DynamoDB ValidationException / RangeError, so a 500); a far-off window costs
    // nothing (was a walk over every day in it: seconds to hours).
    const cursorOf = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    await expect(store.reports.listReports({ hostId: 'ls-a', since: '2026-11-26T00:00:00Z', cursor: cursorOf({ h: { hostId: 'ls-a', sk: '1999-01-01T00:00:00.000Z#x' } }) })).rejects.toMatchObject({ code: 'invalid_cursor' });
    await expect(store.reports.listReports({ cursor: cursorOf({ d: '2026-13-45', k: null }) })).rejects.toMatchObject({ code: 'invalid_cursor' });
    await expect(store.reports.listReports({ cursor: cursorOf({ d: '1999-01-01', k: null }) })).rejects.toMatchObject({ code: 'invalid_cursor' });
    const counted = dynamo.newClient();
    const calls = recordCalls(counted);
    const wide = await createStore({ client: counted, prefix: dynamo.prefix, now }).reports.listReports({ since: '2015-01-01T00:00:00Z', until: '9999-12-31T00:00:00Z', limit: 100 });
    expect(wide.items.map((r) => r.hostId)).toContain('ls-a');
    expect(calls.filter((c) => c.command === 'QueryCommand').length).toBeLessThanOrEqual(DEFAULT_REPORT_TTL_DAYS + 3) // retention + today + a day ahead;
  });
});
