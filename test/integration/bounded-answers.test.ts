/**
 * Bounded answers (SPEC §6): every answer of the API and every dashboard page fits API Gateway's
 * and Lambda's 6 MB whatever the fleet did. The fleet here is the one that broke it: 100 hosts
 * capped with 5,000 orphans each, one run (GET /v1/reports?limit=100 and GET /v1/reaps/:runId were
 * ~18.6 MB each). Reports are seeded through the store's own builder from a synthetic agent report
 * of 5,000 would-remove entries (the item keeps 1,000 of them, ~200 KB), not by running containers.
 *
 * Answers are measured twice: the body over real HTTP, and the whole Lambda result (what the 6 MB
 * limit applies to) from `handle(app)` given an API Gateway HTTP API event.
 */
import { randomUUID } from 'node:crypto';
import { serve, type ServerType } from '@hono/node-server';
import { handle, type LambdaContext, type LambdaEvent } from 'hono/aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerReport, ReapReport } from '../../lib/agent-contract.js';
import { createApiClient, getWholeRun } from '../../cli/api-client.js';
import { createApiApp } from '../../functions/api/app.js';
import { ReportItem, ReportPageBody, RunView } from '../../functions/api/contract.js';
import { buildReportItem, createStore, ReportSummary, type Store } from '../../functions/store/index.js';
import { recordRun } from '../helpers/seed.js';
import { capturingLogger } from '../helpers/agent.js';
import { startDynalite, type TestDynamo } from '../helpers/dynalite.js';

/** API Gateway's and Lambda's limit on a response. */
const LIMIT = 6 * 1024 * 1024;
const HOSTS = 100;
const ORPHANS = 5000;
const RUN = `bounded-${randomUUID()}`;
const hostIds = Array.from({ length: HOSTS }, (_, i) => `bnd-${String(i).padStart(3, '0')}`);
const HOST = hostIds[0] ?? 'bnd-000';

let dynamo: TestDynamo;
let store: Store;
let server: ServerType;
let baseUrl: string;
let lambda: ReturnType<typeof handle>;
/** Query inputs sent by the API's own client, to check what it asks DynamoDB for. */
const queries: { TableName?: string; IndexName?: string; ProjectionExpression?: string; ExpressionAttributeNames?: Record<string, string> }[] = [];
const sizes: [string, number, number][] = [];

function agentReport(hostId: string, startedAt: string): ReapReport {
  const containers: ContainerReport[] = Array.from({ length: ORPHANS }, (_, i) => ({
    clawboxId: `sandbox-${hostId}-${String(i).padStart(5, '0')}`,
    dockerId: `${hostId.slice(4)}${i.toString(16).padStart(8, '0')}`.padEnd(64, 'c'),
    state: 'running',
    createdAt: '2026-11-27T09:00:00.000Z',
    action: 'would-remove',
  }));
  return {
    runId: RUN,
    hostId,
    engineId: `docker:${hostId}`,
    clockOffsetMs: 3,
    status: 'capped',
    cap: { guard: 'max-reap', limit: 100, orphans: ORPHANS, labelled: ORPHANS },
    startedAt,
    finishedAt: startedAt,
    durationMs: 80,
    dryRun: false,
    counts: { labelled: ORPHANS, tracked: 0, orphans: ORPHANS, young: 0, stopped: 0, removed: 0, vanished: 0, failed: 0 },
    containers,
  };
}

beforeAll(async () => {
  dynamo = await startDynalite({ prefix: 'bounded-' });
  store = createStore({ client: dynamo.client, prefix: dynamo.prefix });
  const startedAt = new Date(Date.now() - 60_000).toISOString();
  for (const hostId of hostIds) {
    await store.hosts.put(hostId, { agentUrl: 'http://127.0.0.1:9/', enabled: true });
    const item = await store.reports.putReport({
      hostId,
      runId: RUN,
      trigger: 'schedule',
      status: 'capped',
      startedAt,
      snapshotAt: startedAt,
      finishedAt: startedAt,
      durationMs: 90,
      dryRun: false,
      force: false,
      maxReap: 100,
      trackedSent: 0,
      attempts: 1,
      runHosts: HOSTS,
      agentReport: agentReport(hostId, startedAt),
    });
    await store.hosts.recordLastReap(hostId, { runId: RUN, at: item.finishedAt, status: 'capped', counts: item.counts });
  }
  await recordRun(store, RUN, startedAt, Object.fromEntries(hostIds.map((h) => [h, 'capped' as const])), { runHosts: HOSTS });
  // The API reads through a client of its own, whose Query inputs are recorded.
  const client = dynamo.newClient();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'QueryCommand') queries.push({ ...(args as { input: (typeof queries)[number] }).input });
      return next(args);
    },
    { step: 'initialize', name: 'test-record-queries' },
  );
  const { logger } = capturingLogger('warn');
  const app = createApiApp({ store: createStore({ client, prefix: dynamo.prefix }), startRun: () => Promise.resolve(), logger });
  lambda = handle(app);
  server = await new Promise<ServerType>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
    s.once('error', reject);
  });
  baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}, 120_000);

afterAll(async () => {
  const largest = new Map<string, [number, number]>();
  for (const [path, body, result] of sizes) {
    const key = path.replaceAll(RUN, ':runId').replace(/cursor=[^&]+/, 'cursor=…');
    const seen = largest.get(key);
    if (!seen || seen[1] < result) largest.set(key, [body, result]);
  }
  if (largest.size) console.log(`largest answers (HTTP body, whole Lambda result), bytes:\n${[...largest].map(([p, [b, l]]) => `  ${p}  ${b}  ${l}`).join('\n')}`);
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await dynamo?.close();
});

/** An API Gateway HTTP API (payload 2.0) event for a GET. */
function lambdaEvent(pathAndQuery: string): LambdaEvent {
  const url = new URL(pathAndQuery, 'https://api.example');
  const event = {
    version: '2.0',
    routeKey: '$default',
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers: { host: 'api.example', accept: '*/*', 'accept-encoding': 'gzip, deflate' },
    ...(url.search ? { queryStringParameters: Object.fromEntries(url.searchParams) } : {}),
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'api.example',
      domainPrefix: 'api',
      http: { method: 'GET', path: url.pathname, protocol: 'HTTP/1.1', sourceIp: '198.51.100.7', userAgent: 'test' },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: '27/Nov/2026:03:15:00 +0000',
      timeEpoch: Date.now(),
    },
    isBase64Encoded: false,
  };
  return event as unknown as LambdaEvent;
}
const context = { awsRequestId: 'bounded', getRemainingTimeInMillis: () => 29_000 } as unknown as LambdaContext;

/** GETs a path over HTTP and through the Lambda entry; both must be 200 and under 6 MB. */
async function measure(path: string): Promise<{ text: string; json: unknown }> {
  const response = await fetch(baseUrl + path);
  const text = await response.text();
  expect(response.status, `${path}: ${text.slice(0, 300)}`).toBe(200);
  const result = await lambda(lambdaEvent(path), context);
  expect(result.statusCode, path).toBe(200);
  const lambdaBytes = Buffer.byteLength(JSON.stringify(result));
  const bytes = Buffer.byteLength(text);
  sizes.push([path, bytes, lambdaBytes]);
  expect(bytes, path).toBeLessThan(LIMIT);
  expect(lambdaBytes, path).toBeLessThan(LIMIT);
  return { text, json: response.headers.get('content-type')?.startsWith('application/json') ? (JSON.parse(text) as unknown) : undefined };
}

describe('every answer fits 6 MB with 100 hosts capped at 5,000 orphans each', () => {
  it('the seeded reports are the ones that broke it: their full items add up to well over 6 MB', async () => {
    const full = await store.reports.reportsForRun(RUN);
    expect(full.length).toBeGreaterThan(HOSTS * 0.9);
    expect(full[0]).toMatchObject({ status: 'capped', containersTotal: ORPHANS, truncated: true });
    // Capped at 1,000 entries or ~200 KB, whichever comes first (functions/store/report-item.ts).
    expect(full[0]?.containers.length).toBeGreaterThan(900);
    // ~18.6 MB: what GET /v1/reports?limit=100 and GET /v1/reaps/:runId answered before.
    expect(full.reduce((sum, r) => sum + Buffer.byteLength(JSON.stringify(r)), 0)).toBeGreaterThan(2.5 * LIMIT);
  });

  it('GET /v1/reports: counts and the summary fields, no per-container lists, across hosts and for one host', async () => {
    for (const path of ['/v1/reports?limit=100', '/v1/reports', `/v1/reports?hostId=${HOST}&limit=100`]) {
      const page = ReportPageBody.parse((await measure(path)).json);
      expect(page.items.length, path).toBeGreaterThan(0);
      for (const item of page.items) {
        expect(item).not.toHaveProperty('containers');
        expect(item).toMatchObject({ status: 'capped', containersTotal: ORPHANS, truncated: true, counts: { orphans: ORPHANS }, cap: { guard: 'max-reap' } });
      }
    }
  });

  it('GET /v1/reaps/:runId is paged; every page carries counts, and the pages hold each host once', async () => {
    const first = RunView.parse((await measure(`/v1/reaps/${RUN}`)).json);
    expect(first.reports.length).toBe(Math.min(100, first.reported));
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = RunView.parse((await measure(`/v1/reaps/${RUN}?limit=25${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)).json);
      expect(page.reports.length).toBeLessThanOrEqual(25);
      // done and reported are over the whole run on every page.
      expect(page).toMatchObject({ reported: first.reported, done: first.done, runHosts: HOSTS });
      for (const r of page.reports) {
        expect(r).not.toHaveProperty('containers');
        expect(r).toMatchObject({ runId: RUN, containersTotal: ORPHANS, counts: { orphans: ORPHANS } });
      }
      seen.push(...page.reports.map((r) => r.hostId));
      cursor = page.cursor;
      pages++;
    } while (cursor !== undefined && pages < 50);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.length).toBe(first.reported);
    expect(seen.every((h) => hostIds.includes(h))).toBe(true);
    // Read through the runId index: dynalite's may drop an item of a large set (MACHINE-NOTES), so
    // `done` is checked against what was read, not assumed.
    expect(first.done).toBe(first.reported >= HOSTS);
    expect(first.reported).toBeGreaterThan(HOSTS * 0.9);
  });

  it('GET /v1/reports/:hostId/:runId answers the one full report; unknown ones are 404, bad ids 400', async () => {
    const report = ReportItem.parse((await measure(`/v1/reports/${HOST}/${RUN}`)).json);
    expect(report).toMatchObject({ hostId: HOST, runId: RUN, containersTotal: ORPHANS, truncated: true });
    expect(report.containers.length).toBeGreaterThan(900);
    expect(report.containers[0]?.clawboxId).toBe(`sandbox-${HOST}-00000`);
    for (const [path, status, code] of [
      [`/v1/reports/bnd-nobody/${RUN}`, 404, 'report_not_found'],
      [`/v1/reports/${HOST}/${randomUUID()}`, 404, 'report_not_found'],
      [`/v1/reports/${HOST}/short`, 400, 'validation_failed'],
      [`/v1/reports/..%2Fx/${RUN}`, 400, 'validation_failed'],
      [`/v1/reports/${HOST}/${RUN}?full=1`, 400, 'validation_failed'],
    ] as const) {
      const response = await fetch(baseUrl + path);
      expect(response.status, path).toBe(status);
      expect(((await response.json()) as { error: { code: string } }).error.code, path).toBe(code);
    }
  });

  it('finds one host’s report of a run whose hosts started at different times (another shard or delivery)', async () => {
    const run = `shards-${randomUUID()}`;
    const base = { runId: run, trigger: 'api' as const, status: 'ok' as const, durationMs: 1, dryRun: false, force: false, attempts: 1 };
    await store.reports.putReport({ ...base, hostId: 'shard-a', startedAt: '2026-11-27T10:00:00.000Z', finishedAt: '2026-11-27T10:00:01.000Z' });
    await store.reports.putReport({ ...base, hostId: 'shard-b', startedAt: '2026-11-27T10:00:05.000Z', finishedAt: '2026-11-27T10:00:06.000Z' });
    await recordRun(store, run, '2026-11-27T10:00:00.000Z', { 'shard-a': 'ok' }, { trigger: 'api', shard: 0, shards: 2, runHosts: 2 });
    await recordRun(store, run, '2026-11-27T10:00:05.000Z', { 'shard-b': 'ok' }, { trigger: 'api', shard: 1, shards: 2, runHosts: 2 });
    for (const hostId of ['shard-a', 'shard-b']) {
      const report = ReportItem.parse((await measure(`/v1/reports/${hostId}/${run}`)).json);
      expect(report).toMatchObject({ hostId, runId: run });
    }
  });

  it('the rest of the API fits too (hosts, a host, its tracked containers)', async () => {
    for (const path of ['/v1/hosts', `/v1/hosts/${HOST}`, `/v1/hosts/${HOST}/containers`]) await measure(path);
  });

  it('a run cursor is refused for another run, and a tampered one', async () => {
    const page = RunView.parse((await measure(`/v1/reaps/${RUN}?limit=1`)).json);
    expect(page.cursor).toBeDefined();
    const other = await fetch(`${baseUrl}/v1/reaps/${randomUUID()}?cursor=${encodeURIComponent(page.cursor ?? '')}`);
    expect(other.status).toBe(400);
    expect((await fetch(`${baseUrl}/v1/reaps/${RUN}?cursor=zzz`)).status).toBe(400);
    expect((await fetch(`${baseUrl}/v1/reaps/${RUN}?limit=101`)).status).toBe(400);
  });

  it('the dashboard pages fit too: fleet, host and run pages from counts, the report page from one full item', async () => {
    queries.length = 0;
    for (const path of ['/dashboard', '/dashboard?range=30d', `/dashboard/hosts/${HOST}`, `/dashboard/runs/${RUN}`]) {
      const { text } = await measure(path);
      expect(text).toContain(HOST);
    }
    // Summary reads only: every Query of the reports projects attributes, and never the container list.
    const reportQueries = queries.filter((q) => q.TableName === `${dynamo.prefix}reports`);
    expect(reportQueries.length).toBeGreaterThan(0);
    for (const q of reportQueries) {
      expect(q.ProjectionExpression, JSON.stringify(q)).toBeDefined();
      expect(Object.values(q.ExpressionAttributeNames ?? {})).not.toContain('containers');
    }
    queries.length = 0;
    const { text } = await measure(`/dashboard/hosts/${HOST}/runs/${RUN}`);
    expect(text).toContain(`sandbox-${HOST}-00900`);
    // The report page reads the one item whole (no projection), by its key, from the table: once
    // per request (HTTP, then Lambda).
    const whole = queries.filter((q) => q.ProjectionExpression === undefined);
    expect(whole).toHaveLength(2);
    for (const q of whole) expect(q).toMatchObject({ TableName: `${dynamo.prefix}reports`, KeyConditionExpression: 'hostId = :hostId AND sk = :sk' });
    for (const q of whole) expect(q.IndexName).toBeUndefined();
  });

  it('the API reads summaries from DynamoDB: listings and run views never ask for the container lists', async () => {
    queries.length = 0;
    await measure('/v1/reports?limit=100');
    await measure(`/v1/reports?hostId=${HOST}`);
    await measure(`/v1/reaps/${RUN}?limit=10`);
    expect(queries.length).toBeGreaterThanOrEqual(3);
    // The runs table holds no container list (shard items: a short entry or a status per host).
    for (const q of queries.filter((query) => !String((query as { TableName?: string }).TableName).endsWith('-runs'))) {
      expect(q.ProjectionExpression, JSON.stringify(q)).toBeDefined();
      expect(Object.values(q.ExpressionAttributeNames ?? {})).not.toContain('containers');
    }
  });

  it('the CLI parses the new shapes: it walks a run page by page, lists summaries, and reads one full report', async () => {
    const api = createApiClient({ baseUrl });
    const first = await api.getRun(RUN, { limit: 30 });
    expect(first.cursor).toBeDefined();
    const whole = await getWholeRun(api, RUN);
    expect(whole.reports.map((r) => r.hostId)).toEqual([...new Set(whole.reports.map((r) => r.hostId))].sort());
    expect(whole.reports).toHaveLength(whole.reported);
    expect(whole).not.toHaveProperty('cursor');
    const listing = await api.listReports({ limit: 100 });
    expect(listing.items.every((r) => r.containersTotal === ORPHANS)).toBe(true);
    const report = await api.getReport(HOST, RUN);
    expect(report.containers.length).toBeGreaterThan(900);
  });

  it('a page is bounded by its length, not by what this fleet happened to write: 100 summaries of the largest kind fit', () => {
    // Every free-text field at its cap, in characters that JSON escapes to six bytes each.
    const nasty = '\u0001'.repeat(5000);
    const hostId = `h${'x'.repeat(127)}`;
    const report = agentReport(hostId, '2026-11-27T10:00:00.000Z');
    const item = buildReportItem(
      {
        hostId,
        runId: `r${'y'.repeat(63)}`,
        trigger: 'api',
        status: 'error',
        error: nasty,
        errorCode: 'e'.repeat(64),
        startedAt: '2026-11-27T10:00:00.000Z',
        finishedAt: '2026-11-27T10:00:00.000Z',
        durationMs: 1,
        dryRun: false,
        force: false,
        attempts: 1,
        runHosts: 10_000,
        agentReport: { ...report, engineId: 'z'.repeat(256), containers: report.containers.map((c) => ({ ...c, error: nasty })) },
      },
      { ttlDays: 90, nowMs: Date.now() },
    );
    const summary = ReportSummary.parse(item);
    const page = JSON.stringify({ items: Array.from({ length: 100 }, () => summary), cursor: 'c'.repeat(4096) });
    expect(Buffer.byteLength(page)).toBeLessThan(LIMIT / 2);
  });
});
