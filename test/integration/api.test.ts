/**
 * The control-plane API against real parts: dynalite for the tables, the app served over real
 * HTTP on 127.0.0.1 by @hono/node-server (and some requests through `app.request`), and for
 * on-demand reaps the real reaper handler with a real agent on a private Docker engine.
 *
 * Refused input is checked twice: the answer (4xx, a stable code) and the table (nothing written).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { serve, type ServerType } from '@hono/node-server';
import { DynamoDBDocumentClient, paginateScan } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiApp, type StartRunRequest } from '../../functions/api/app.js';
import { createLocalApi, type LocalApi } from '../../functions/api/local.js';
import { HostItem, HostList, ReapStarted, ReportItem, ReportPageBody, RunView, TrackedItem, TrackedList } from '../../functions/api/contract.js';
import { DEFAULT_REAP_SETTINGS } from '../../functions/reaper/config.js';
import { createReaperHandler } from '../../functions/reaper/handler.js';
import { staticMasterKey } from '../../functions/reaper/master-key.js';
import { createReaper } from '../../functions/reaper/run.js';
import { createStore, ensureTables, type ReportInput, type Store } from '../../functions/store/index.js';
import { capturingLogger, startTestAgent, type TestAgent } from '../helpers/agent.js';
import { makeContainer, stateOf } from '../helpers/containers.js';
import { recordRun } from '../helpers/seed.js';
import { startDynalite, type TestDynamo } from '../helpers/dynalite.js';
import { startEngine, type Engine } from '../helpers/engine.js';
import { closedPortUrl } from '../helpers/net.js';

const TOKEN = randomBytes(24).toString('base64url');
const WRONG_TOKEN = randomBytes(24).toString('base64url');
const MASTER = randomBytes(32).toString('hex');
const RUN_LABEL = `api-${randomUUID().slice(0, 8)}`;
const GRACE_SECONDS = 1;
const ENGINE_HOST = 'api-engine';

let dynamo: TestDynamo;
let store: Store;
let doc: DynamoDBDocumentClient;
let engine: Engine | undefined;
let agent: TestAgent | undefined;
let api: LocalApi;
let server: ServerType | undefined;
let baseUrl: string;
/** A loopback port nobody listens on: hosts registered here are unreachable, and nothing leaves 127.0.0.1. */
let down: string;
const apiLog = capturingLogger('info');
const reaperLog = capturingLogger('info');

beforeAll(async () => {
  dynamo = await startDynalite({ prefix: 'api-' });
  down = await closedPortUrl();
  store = createStore({ client: dynamo.client, prefix: dynamo.prefix });
  doc = DynamoDBDocumentClient.from(dynamo.client);
  engine = await startEngine();
  agent = await startTestAgent({ dockerHost: engine.dockerHost, hostId: ENGINE_HOST, masterKey: MASTER });
  const reaper = createReaper({
    store,
    masterKey: staticMasterKey(MASTER),
    logger: reaperLog.logger,
    settings: { ...DEFAULT_REAP_SETTINGS, quarantineSeconds: 0, maxReapPercent: 100, graceSeconds: GRACE_SECONDS, stopTimeoutSeconds: 1, agentAttempts: 1, reportMarginMs: 1000 },
  });
  // The local stack's wiring: the reaper function's own handler runs the on-demand event.
  const handler = createReaperHandler({ reaper, logger: reaperLog.logger });
  api = createLocalApi({ store, token: TOKEN, logger: apiLog.logger, invoke: (event) => handler(event, { getRemainingTimeInMillis: () => 120_000 }) });
  const app = api.app;
  server = await new Promise<ServerType>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
    s.once('error', reject);
  });
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('API server did not bind a TCP port');
  baseUrl = `http://127.0.0.1:${address.port}`;
});

afterAll(async () => {
  // Each step on its own: one failing cleanup must not leave an engine or a server behind.
  const steps: (() => Promise<unknown>)[] = [
    () => (server ? new Promise<void>((resolve) => server?.close(() => resolve())) : Promise.resolve()),
    () => api?.inFlight() ?? Promise.resolve(),
    () => agent?.close() ?? Promise.resolve(),
    () => engine?.stop() ?? Promise.resolve(),
    () => dynamo?.close() ?? Promise.resolve(),
  ];
  for (const step of steps) await step().catch((error: unknown) => console.error('cleanup failed', error));
});

interface Answer {
  status: number;
  json: unknown;
  headers: Headers;
}

interface CallOptions {
  /** JSON-encoded unless `raw` is given. */
  body?: unknown;
  raw?: string;
  /** Default application/json when there is a body; null sends none. */
  contentType?: string | null;
  /** Default the right token; null sends no Authorization header. */
  token?: string | null;
  authorization?: string;
  /** 'http' (default): real HTTP to the server; 'app': app.request in process. */
  via?: 'http' | 'app';
}

async function call(method: string, path: string, options: CallOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (options.authorization !== undefined) headers.authorization = options.authorization;
  else if (options.token !== null) headers.authorization = `Bearer ${options.token ?? TOKEN}`;
  const body = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  if (body !== undefined && options.contentType !== null) headers['content-type'] = options.contentType ?? 'application/json';
  const init: RequestInit = { method, headers, ...(body === undefined ? {} : { body }) };
  const response = options.via === 'app' ? await api.app.request(path, init) : await fetch(baseUrl + path, init);
  const text = await response.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: response.status, json, headers: response.headers };
}

function errorCode(answer: Answer): string | undefined {
  const body = answer.json as { error?: { code?: unknown } } | undefined;
  return typeof body?.error?.code === 'string' ? body.error.code : undefined;
}

async function scanTable(table: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  for await (const page of paginateScan({ client: doc }, { TableName: table, ConsistentRead: true })) items.push(...(page.Items ?? []));
  return items;
}

const hostIds = async () => (await scanTable(dynamo.tables.hosts)).map((item) => item.hostId).sort();
const trackedKeys = async () => (await scanTable(dynamo.tables.tracked)).map((item) => `${String(item.hostId)}/${String(item.containerId)}`).sort();

/** A control-plane report (the host was never reached), for seeding the trail directly. */
function reportInput(hostId: string, runId: string, startedAt: string, extra: Partial<ReportInput> = {}): ReportInput {
  return { hostId, runId, trigger: 'schedule', status: 'unreachable', error: 'agent is unreachable', startedAt, finishedAt: startedAt, durationMs: 3, dryRun: false, force: false, attempts: 1, ...extra };
}

/** Path tricks and markup that must never become a key. */
const BAD_IDS = ['..%2Fetc', '..%2F..%2Fhosts', 'a%2Fb', '%3Cscript%3Ealert(1)%3C%2Fscript%3E', '%20lead', 'x%00y', '-dash', 'a'.repeat(300), '%C3%A9t%C3%A9'];

describe('health and auth', () => {
  it('answers /healthz without a token', async () => {
    const answer = await call('GET', '/healthz', { token: null });
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ ok: true });
  });

  it('refuses /v1 without the right bearer token with 401, and never logs the token (S9)', async () => {
    const missing = await call('GET', '/v1/hosts', { token: null });
    expect(missing.status).toBe(401);
    expect(errorCode(missing)).toBe('missing_token');
    const wrong = await call('GET', '/v1/hosts', { token: WRONG_TOKEN });
    expect(wrong.status).toBe(401);
    expect(errorCode(wrong)).toBe('invalid_token');
    const basic = await call('GET', '/v1/hosts', { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` });
    expect(basic.status).toBe(401);
    // The token is not enough on its own: the scheme must be Bearer.
    const bare = await call('GET', '/v1/hosts', { authorization: TOKEN });
    expect(bare.status).toBe(401);
    // Unknown routes under /v1 are refused before routing: no route map for anonymous callers.
    expect((await call('GET', '/v1/secret-route', { token: null })).status).toBe(401);
    // A refused caller's body is never read, however large.
    const big = await call('PUT', '/v1/hosts/h-auth', { token: WRONG_TOKEN, raw: 'x'.repeat(2 * 1024 * 1024) });
    expect(big.status).toBe(401);
    // The unread body is still on the wire: the server closes that connection instead of reusing it.
    expect(big.headers.get('connection')).toBe('close');
    expect(await hostIds()).not.toContain('h-auth');

    const ok = await call('GET', '/v1/hosts');
    expect(ok.status).toBe(200);
    const appOk = await call('GET', '/v1/hosts', { via: 'app' });
    expect(appOk.status).toBe(200);
    expect((await call('GET', '/v1/hosts', { via: 'app', token: WRONG_TOKEN })).status).toBe(401);

    const log = apiLog.lines.join('\n');
    // The check is not vacuous: the refused requests were logged, with their status.
    expect(apiLog.lines.some((line) => line.includes('"status":401') && line.includes('/v1/hosts'))).toBe(true);
    expect(log).not.toContain(TOKEN);
    expect(log).not.toContain(WRONG_TOKEN);
  });

  it('refuses an unusable token when the app is built', () => {
    expect(() => createLocalApi({ store, token: 'short', logger: apiLog.logger, invoke: () => Promise.resolve() })).toThrow(/at least 16/);
    expect(() => createLocalApi({ store, token: 'has spaces in it, too many', logger: apiLog.logger, invoke: () => Promise.resolve() })).toThrow(/letters, digits/);
  });
});

describe('hosts', () => {
  it('creates, reads, lists, updates (keeping createdAt) and deletes a host, idempotently', async () => {
    const created = await call('PUT', '/v1/hosts/crud-1', { body: { agentUrl: `${down}/crud-1` } });
    expect(created.status).toBe(200);
    const host = HostItem.parse(created.json);
    expect(host).toMatchObject({ hostId: 'crud-1', agentUrl: `${down}/crud-1`, enabled: true });
    expect(host.maxReap).toBeUndefined();

    const read = await call('GET', '/v1/hosts/crud-1', { via: 'app' });
    expect(read.status).toBe(200);
    expect(read.json).toEqual(host);

    await sleep(5);
    const updated = HostItem.parse((await call('PUT', '/v1/hosts/crud-1', { body: { agentUrl: down, enabled: false, maxReap: 3 } })).json);
    expect(updated).toMatchObject({ enabled: false, maxReap: 3, agentUrl: down, createdAt: host.createdAt });
    expect(updated.updatedAt > host.updatedAt).toBe(true);

    const list = HostList.parse((await call('GET', '/v1/hosts')).json);
    expect(list.hosts.find((h) => h.hostId === 'crud-1')).toEqual(updated);

    const deleted = await call('DELETE', '/v1/hosts/crud-1');
    expect(deleted.status).toBe(204);
    expect(await hostIds()).not.toContain('crud-1');
    expect((await call('DELETE', '/v1/hosts/crud-1')).status).toBe(204);
    const gone = await call('GET', '/v1/hosts/crud-1');
    expect(gone.status).toBe(404);
    expect(errorCode(gone)).toBe('host_not_found');
  });

  it('refuses bad ids, bodies, content types and query strings with 4xx and writes nothing', async () => {
    const before = await hostIds();
    const good = { agentUrl: 'http://127.0.0.1:8788' };
    for (const id of BAD_IDS) {
      for (const via of ['http', 'app'] as const) {
        const answer = await call('PUT', `/v1/hosts/${id}`, { body: good, via });
        expect(answer.status, `${via} PUT /v1/hosts/${id}`).toBeGreaterThanOrEqual(400);
        expect(answer.status, `${via} PUT /v1/hosts/${id}`).toBeLessThan(500);
      }
      const read = await call('GET', `/v1/hosts/${id}`);
      expect(read.status, `GET ${id}`).toBe(400);
    }
    const cases: [string, CallOptions, number, string][] = [
      ['unknown field', { body: { ...good, admin: true } }, 400, 'validation_failed'],
      ['enabled as a string', { body: { ...good, enabled: 'yes' } }, 400, 'validation_failed'],
      ['maxReap negative', { body: { ...good, maxReap: -1 } }, 400, 'validation_failed'],
      ['maxReap fractional', { body: { ...good, maxReap: 1.5 } }, 400, 'validation_failed'],
      ['not http(s)', { body: { agentUrl: 'file:///etc/passwd' } }, 400, 'validation_failed'],
      ['javascript url', { body: { agentUrl: 'javascript:alert(1)' } }, 400, 'validation_failed'],
      ['agentUrl missing', { body: {} }, 400, 'validation_failed'],
      ['an array', { body: [good] }, 400, 'validation_failed'],
      ['null', { raw: 'null' }, 400, 'validation_failed'],
      ['not JSON', { raw: '{"agentUrl":' }, 400, 'invalid_json'],
      ['empty JSON body', { raw: '' }, 400, 'invalid_json'],
      ['no body at all', {}, 415, 'unsupported_media_type'],
      ['text/plain', { body: good, contentType: 'text/plain' }, 415, 'unsupported_media_type'],
      ['form', { raw: 'agentUrl=http://x', contentType: 'application/x-www-form-urlencoded' }, 415, 'unsupported_media_type'],
      ['no content type', { raw: JSON.stringify(good), contentType: null }, 415, 'unsupported_media_type'],
      ['too large', { raw: JSON.stringify({ agentUrl: `http://x/${'a'.repeat(2 * 1024 * 1024)}` }) }, 413, 'payload_too_large'],
    ];
    for (const [name, options, status, code] of cases) {
      for (const via of ['http', 'app'] as const) {
        const answer = await call('PUT', '/v1/hosts/bad-body', { ...options, via });
        expect(answer.status, `${via} ${name}`).toBe(status);
        expect(errorCode(answer), `${via} ${name}`).toBe(code);
      }
    }
    // A hostile key is named in the error, but never echoed whole.
    const hugeKey = await call('PUT', '/v1/hosts/bad-body', { body: { ...good, ['k'.repeat(500_000)]: 1 } });
    expect(hugeKey.status).toBe(400);
    expect(JSON.stringify(hugeKey.json).length).toBeLessThan(2_000);
    const query = await call('PUT', '/v1/hosts/bad-body?enabled=false', { body: good });
    expect(query.status).toBe(400);
    expect((await call('GET', '/v1/hosts?limit=5')).status).toBe(400);
    expect(await hostIds()).toEqual(before);
  });
});

describe('tracked containers', () => {
  beforeAll(async () => {
    await store.hosts.put('trk-1', { agentUrl: down, enabled: true });
    await store.hosts.put('trk-off', { agentUrl: down, enabled: false });
  });

  it('tracks idempotently: createdAt kept, dockerId/owner/lease replaced by the latest call', async () => {
    const first = await call('PUT', '/v1/hosts/trk-1/containers/sbx-1');
    expect(first.status).toBe(200);
    const item = TrackedItem.parse(first.json);
    expect(item).toMatchObject({ hostId: 'trk-1', containerId: 'sbx-1' });
    expect(item.dockerId).toBeUndefined();

    await sleep(5);
    const dockerId = 'ab'.repeat(32);
    const second = TrackedItem.parse(
      (await call('PUT', '/v1/hosts/trk-1/containers/sbx-1', { body: { dockerId, owner: 'manager-7', leaseSeconds: 3600 } })).json,
    );
    expect(second).toMatchObject({ dockerId, owner: 'manager-7', createdAt: item.createdAt });
    expect(second.leaseExpiresAt).toBeGreaterThan(Date.now() / 1000 + 3500);

    const third = TrackedItem.parse((await call('PUT', '/v1/hosts/trk-1/containers/sbx-1', { body: {}, via: 'app' })).json);
    expect(third.createdAt).toBe(item.createdAt);
    expect(third.dockerId).toBeUndefined();
    expect(third.leaseExpiresAt).toBeUndefined();
    expect((await trackedKeys()).filter((k) => k === 'trk-1/sbx-1')).toHaveLength(1);

    // A disabled host is still registered: its containers can be tracked.
    expect((await call('PUT', '/v1/hosts/trk-off/containers/sbx-off')).status).toBe(200);
  });

  it('untracks idempotently, on a registered host or not', async () => {
    await call('PUT', '/v1/hosts/trk-1/containers/sbx-gone');
    expect(await trackedKeys()).toContain('trk-1/sbx-gone');
    expect((await call('DELETE', '/v1/hosts/trk-1/containers/sbx-gone')).status).toBe(204);
    expect(await trackedKeys()).not.toContain('trk-1/sbx-gone');
    expect((await call('DELETE', '/v1/hosts/trk-1/containers/sbx-gone')).status).toBe(204);
    expect((await call('DELETE', '/v1/hosts/never-registered/containers/sbx-x', { via: 'app' })).status).toBe(204);
  });

  it('refuses tracking on an unregistered host (a typo must not look like protection)', async () => {
    const answer = await call('PUT', '/v1/hosts/trk-typo/containers/sbx-1', { body: { owner: 'm' } });
    expect(answer.status).toBe(404);
    expect(errorCode(answer)).toBe('host_not_found');
    expect((await trackedKeys()).some((k) => k.startsWith('trk-typo/'))).toBe(false);
  });

  it('refuses bad ids, unknown fields and wrong types with 4xx and writes nothing', async () => {
    const before = await trackedKeys();
    for (const id of BAD_IDS) {
      for (const via of ['http', 'app'] as const) {
        const put = await call('PUT', `/v1/hosts/trk-1/containers/${id}`, { body: {}, via });
        expect(put.status, `${via} PUT container ${id}`).toBeGreaterThanOrEqual(400);
        expect(put.status, `${via} PUT container ${id}`).toBeLessThan(500);
        const onHost = await call('PUT', `/v1/hosts/${id}/containers/sbx-1`, { body: {}, via });
        expect(onHost.status, `${via} PUT host ${id}`).toBeGreaterThanOrEqual(400);
        expect(onHost.status, `${via} PUT host ${id}`).toBeLessThan(500);
      }
      expect((await call('DELETE', `/v1/hosts/trk-1/containers/${id}`)).status, `DELETE ${id}`).toBe(400);
    }
    const cases: [string, CallOptions, number, string][] = [
      ['unknown field', { body: { dockerId: 'ab'.repeat(32), protect: 'all' } }, 400, 'validation_failed'],
      ['dockerId upper case', { body: { dockerId: 'AB'.repeat(32) } }, 400, 'validation_failed'],
      ['dockerId too short', { body: { dockerId: 'abc' } }, 400, 'validation_failed'],
      ['dockerId with a path', { body: { dockerId: '../../containers' } }, 400, 'validation_failed'],
      ['leaseSeconds as a string', { body: { leaseSeconds: '60' } }, 400, 'validation_failed'],
      ['leaseSeconds zero', { body: { leaseSeconds: 0 } }, 400, 'validation_failed'],
      ['leaseSeconds over a year', { body: { leaseSeconds: 400 * 24 * 3600 } }, 400, 'validation_failed'],
      ['owner empty', { body: { owner: '' } }, 400, 'validation_failed'],
      ['owner a number', { body: { owner: 7 } }, 400, 'validation_failed'],
      ['not JSON', { raw: '{' }, 400, 'invalid_json'],
      ['text/plain', { raw: '{}', contentType: 'text/plain' }, 415, 'unsupported_media_type'],
      ['too large', { body: { owner: 'o'.repeat(2 * 1024 * 1024) } }, 413, 'payload_too_large'],
    ];
    for (const [name, options, status, code] of cases) {
      const answer = await call('PUT', '/v1/hosts/trk-1/containers/sbx-bad', options);
      expect(answer.status, name).toBe(status);
      expect(errorCode(answer), name).toBe(code);
    }
    expect((await call('PUT', '/v1/hosts/trk-1/containers/sbx-bad?owner=x')).status).toBe(400);
    expect(await trackedKeys()).toEqual(before);
  });

  it('lists a host’s items in pages whose cursor round-trips; refuses a bad or foreign cursor', async () => {
    await store.hosts.put('trk-page', { agentUrl: down, enabled: true });
    const ids = ['p-01', 'p-02', 'p-03', 'p-04', 'p-05'];
    for (const id of ids) expect((await call('PUT', `/v1/hosts/trk-page/containers/${id}`)).status).toBe(200);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const answer = await call('GET', `/v1/hosts/trk-page/containers?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(answer.status).toBe(200);
      const page = TrackedList.parse(answer.json);
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((i) => i.containerId));
      cursor = page.cursor;
      pages++;
    } while (cursor !== undefined && pages < 10);
    expect(seen).toEqual(ids);
    expect(pages).toBeGreaterThanOrEqual(3);

    const all = TrackedList.parse((await call('GET', '/v1/hosts/trk-page/containers')).json);
    expect(all.items.map((i) => i.containerId)).toEqual(ids);

    const firstPage = TrackedList.parse((await call('GET', '/v1/hosts/trk-page/containers?limit=2')).json);
    expect(firstPage.cursor).toBeDefined();
    const foreign = await call('GET', `/v1/hosts/trk-1/containers?cursor=${encodeURIComponent(firstPage.cursor ?? '')}`);
    expect(foreign.status).toBe(400);
    expect(errorCode(foreign)).toBe('invalid_cursor');
    for (const bad of ['zzz', 'not%20base64', Buffer.from('{"hostId":"trk-page","containerId":{"S":"x"}}').toString('base64url')]) {
      const answer = await call('GET', `/v1/hosts/trk-page/containers?cursor=${bad}`);
      expect(answer.status, bad).toBe(400);
      expect(errorCode(answer), bad).toBe('invalid_cursor');
    }
    for (const query of ['limit=0', 'limit=1001', 'limit=abc', 'limit=1e2', 'limit=-1', 'limit=2&limit=3', 'sort=desc']) {
      expect((await call('GET', `/v1/hosts/trk-page/containers?${query}`)).status, query).toBe(400);
    }
    const unknown = await call('GET', '/v1/hosts/trk-nobody/containers');
    expect(unknown.status).toBe(404);
    expect(errorCode(unknown)).toBe('host_not_found');
  });

  it('deleting a host keeps its tracked items, so re-registering it keeps them protected', async () => {
    await store.hosts.put('trk-del', { agentUrl: down, enabled: true });
    expect((await call('PUT', '/v1/hosts/trk-del/containers/keep-me')).status).toBe(200);
    expect((await call('DELETE', '/v1/hosts/trk-del')).status).toBe(204);
    expect(await hostIds()).not.toContain('trk-del');
    expect(await trackedKeys()).toContain('trk-del/keep-me');
    const listed = await call('GET', '/v1/hosts/trk-del/containers');
    expect(listed.status).toBe(200);
    expect(TrackedList.parse(listed.json).items.map((i) => i.containerId)).toEqual(['keep-me']);
  });
});

describe('reaps', () => {
  it('refuses a run nobody could serve: unknown host 404, disabled host 409, no enabled host 409', async () => {
    await store.hosts.put('reap-off', { agentUrl: down, enabled: false });
    const unknown = await call('POST', '/v1/reaps', { body: { hosts: ['reap-nobody'] } });
    expect(unknown.status).toBe(404);
    expect(errorCode(unknown)).toBe('host_not_found');
    expect(JSON.stringify(unknown.json)).toContain('reap-nobody');
    const disabled = await call('POST', '/v1/reaps', { body: { hosts: ['reap-off'] } });
    expect(disabled.status).toBe(409);
    expect(errorCode(disabled)).toBe('host_disabled');

    // A registry with no enabled host at all (its own tables).
    const emptyTables = await ensureTables(dynamo.client, 'api-empty-');
    expect(emptyTables.hosts).toBe('api-empty-hosts');
    const emptyStore = createStore({ client: dynamo.client, prefix: 'api-empty-' });
    await emptyStore.hosts.put('only-off', { agentUrl: down, enabled: false });
    const started: unknown[] = [];
    const emptyApi = createLocalApi({ store: emptyStore, token: TOKEN, logger: apiLog.logger, invoke: (event) => Promise.resolve(started.push(event)) });
    const none = await emptyApi.app.request('/v1/reaps', { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(none.status).toBe(409);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe('no_enabled_hosts');
    await emptyApi.inFlight();
    expect(started).toEqual([]);
  });

  it('refuses a malformed start request with 4xx', async () => {
    const cases: [string, CallOptions, number][] = [
      ['unknown field', { body: { hosts: [ENGINE_HOST], everything: true } }, 400],
      ['empty host list', { body: { hosts: [] } }, 400],
      ['bad host id', { body: { hosts: ['../etc'] } }, 400],
      ['markup host id', { body: { hosts: ['<b>x</b>'] } }, 400],
      ['dryRun as a string', { body: { dryRun: 'true' } }, 400],
      ['force as a number', { body: { force: 1 } }, 400],
      ['hosts as a string', { body: { hosts: ENGINE_HOST } }, 400],
      ['not JSON', { raw: 'dryRun' }, 400],
      ['text/plain', { raw: '{}', contentType: 'text/plain' }, 415],
    ];
    for (const [name, options, status] of cases) expect((await call('POST', '/v1/reaps', options)).status, name).toBe(status);
    for (const bad of ['short', 'has%20space', '..%2F..%2Fx', '%3Cscript%3E12345678']) {
      expect((await call('GET', `/v1/reaps/${bad}`)).status, bad).toBe(400);
    }
    const unknownRun = await call('GET', `/v1/reaps/${randomUUID()}`);
    expect(unknownRun.status).toBe(404);
    expect(errorCode(unknownRun)).toBe('run_not_found');
  });

  it('POST /v1/reaps → 202, then the run shows its report and done; the orphan is gone, the tracked container runs on', async () => {
    if (!engine || !agent) throw new Error('engine not started');
    await call('PUT', `/v1/hosts/${ENGINE_HOST}`, { body: { agentUrl: agent.url, enabled: true } });
    const orphan = await makeContainer(engine.docker, { clawboxId: 'api-orphan-1', kind: 'running', runLabel: RUN_LABEL });
    const kept = await makeContainer(engine.docker, { clawboxId: 'api-kept-1', kind: 'running', runLabel: RUN_LABEL });
    const track = await call('PUT', `/v1/hosts/${ENGINE_HOST}/containers/api-kept-1`, { body: { dockerId: kept.id, owner: 'api-test' } });
    expect(track.status).toBe(200);
    // Past the grace (plus Docker's 1 s truncation of Created and the agent's 1 s correction).
    await sleep((GRACE_SECONDS + 2.5) * 1000);

    const start = await call('POST', '/v1/reaps', { body: { hosts: [ENGINE_HOST, ENGINE_HOST] } });
    expect(start.status).toBe(202);
    const { runId, hosts } = ReapStarted.parse(start.json);
    expect(hosts).toEqual([ENGINE_HOST]);

    const view = await waitForRun(runId);
    expect(view.hosts).toEqual([ENGINE_HOST]);
    expect(view.reports).toHaveLength(1);
    const report = view.reports[0];
    expect(report).toMatchObject({ hostId: ENGINE_HOST, runId, trigger: 'api', status: 'ok', dryRun: false, force: false });
    expect(report?.counts).toMatchObject({ tracked: 1, orphans: 1, removed: 1, failed: 0 });
    // The run view carries counts; the one report has the per-container list.
    expect(report).toMatchObject({ containersTotal: 1, truncated: false });
    expect(report).not.toHaveProperty('containers');
    const full = await call('GET', `/v1/reports/${ENGINE_HOST}/${runId}`);
    expect(full.status).toBe(200);
    expect(ReportItem.parse(full.json).containers.map((c) => [c.clawboxId, c.action])).toEqual([['api-orphan-1', 'removed']]);

    expect(await stateOf(engine.docker, orphan.id)).toBeUndefined();
    expect(await stateOf(engine.docker, kept.id)).toBe('running');

    // The audit trail has it, and the host its lastReap.
    const trail = ReportPageBody.parse((await call('GET', `/v1/reports?hostId=${ENGINE_HOST}`)).json);
    expect(trail.items.map((i) => i.runId)).toContain(runId);
    const host = HostItem.parse((await call('GET', `/v1/hosts/${ENGINE_HOST}`)).json);
    expect(host.lastReap).toMatchObject({ runId, status: 'ok' });
  });

  it('a dry run over every enabled host (no names given) reports would-remove and touches nothing', async () => {
    if (!engine) throw new Error('engine not started');
    const orphan = await makeContainer(engine.docker, { clawboxId: 'api-orphan-2', kind: 'running', runLabel: RUN_LABEL });
    await sleep((GRACE_SECONDS + 2.5) * 1000);
    const enabled = HostList.parse((await call('GET', '/v1/hosts')).json)
      .hosts.filter((h) => h.enabled)
      .map((h) => h.hostId);
    expect(enabled).toContain(ENGINE_HOST);
    // Enabled hosts other than the engine's point at a closed port: they report `unreachable`.
    const start = await call('POST', '/v1/reaps', { body: { dryRun: true } });
    expect(start.status).toBe(202);
    const { runId, hosts } = ReapStarted.parse(start.json);
    expect(hosts).toEqual([...enabled].sort());
    const view = await waitForRun(runId);
    expect(view.reports.map((r) => r.hostId).sort()).toEqual(hosts);
    const report = view.reports.find((r) => r.hostId === ENGINE_HOST);
    expect(report).toMatchObject({ status: 'dry-run', dryRun: true });
    const full = ReportItem.parse((await call('GET', `/v1/reports/${ENGINE_HOST}/${runId}`)).json);
    expect(full.containers.find((c) => c.clawboxId === 'api-orphan-2')?.action).toBe('would-remove');
    expect(await stateOf(engine.docker, orphan.id)).toBe('running');
  });
});

async function waitForRun(runId: string, timeoutMs = 60_000): Promise<RunView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await call('GET', `/v1/reaps/${runId}`);
    expect(answer.status).toBe(200);
    const view = RunView.parse(answer.json);
    expect(view.runId).toBe(runId);
    if (view.done) return view;
    if (Date.now() > deadline) throw new Error(`run ${runId} not done after ${timeoutMs} ms: ${JSON.stringify(view)}`);
    await sleep(100);
  }
}

describe('reports', () => {
  const DAY = 86_400_000;
  // Whole days in the past, away from the runs above (which are today).
  const base = Math.floor(Date.now() / DAY) * DAY - 20 * DAY;
  const seeded: { hostId: string; runId: string; startedAt: string }[] = [];

  beforeAll(async () => {
    // Three days, two hosts, several runs a day: 12 reports.
    for (let day = 0; day < 3; day++) {
      for (let run = 0; run < 2; run++) {
        const startedAt = new Date(base + day * DAY + (run + 1) * 3_600_000).toISOString();
        const runId = `trail-${day}-${run}-${randomUUID().slice(0, 8)}`;
        for (const hostId of ['rp-a', 'rp-b']) {
          await store.reports.putReport(reportInput(hostId, runId, startedAt));
          seeded.push({ hostId, runId, startedAt });
        }
      }
    }
  });

  const newestFirst = (items: typeof seeded) =>
    [...items].sort((a, b) => (a.startedAt === b.startedAt ? (a.runId < b.runId ? 1 : -1) : a.startedAt < b.startedAt ? 1 : -1));

  async function collect(query: string, limit: number): Promise<{ items: { hostId: string; runId: string; startedAt: string }[]; pages: number }> {
    const items: { hostId: string; runId: string; startedAt: string }[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const answer = await call('GET', `/v1/reports?${query}&limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(answer.status, JSON.stringify(answer.json)).toBe(200);
      const page = ReportPageBody.parse(answer.json);
      expect(page.items.length).toBeLessThanOrEqual(limit);
      items.push(...page.items.map(({ hostId, runId, startedAt }) => ({ hostId, runId, startedAt })));
      cursor = page.cursor;
      pages++;
    } while (cursor !== undefined && pages < 50);
    return { items, pages };
  }

  const window = () => `since=${new Date(base).toISOString()}&until=${new Date(base + 3 * DAY - 1).toISOString()}`;

  it('pages one host’s trail newest first; the cursor round-trips', async () => {
    const { items, pages } = await collect(`hostId=rp-a&${window()}`, 2);
    expect(items).toEqual(newestFirst(seeded.filter((s) => s.hostId === 'rp-a')));
    expect(pages).toBeGreaterThanOrEqual(3);
  });

  it('pages the trail across hosts newest first within since/until', async () => {
    const { items } = await collect(window(), 5);
    expect(items.map((i) => i.startedAt)).toEqual(newestFirst(seeded).map((s) => s.startedAt));
    expect(new Set(items.map((i) => `${i.hostId}/${i.runId}`))).toEqual(new Set(seeded.map((s) => `${s.hostId}/${s.runId}`)));
  });

  it('since and until are inclusive bounds on the run start', async () => {
    const day1 = seeded.filter((s) => s.startedAt.startsWith(new Date(base + DAY).toISOString().slice(0, 10)));
    const starts = [...new Set(day1.map((s) => s.startedAt))].sort();
    const first = starts[0] ?? '';
    const last = starts[starts.length - 1] ?? '';
    const { items } = await collect(`since=${first}&until=${last}`, 100);
    // Hosts of one run share its start: their relative order is not specified.
    expect(items.map((i) => i.startedAt)).toEqual(newestFirst(day1).map((s) => s.startedAt));
    expect(new Set(items.map((i) => `${i.hostId}/${i.runId}`))).toEqual(new Set(day1.map((s) => `${s.hostId}/${s.runId}`)));
    expect(items).toHaveLength(4);
    const { items: one } = await collect(`hostId=rp-b&since=${last}&until=${last}`, 100);
    expect(one).toEqual(day1.filter((s) => s.hostId === 'rp-b' && s.startedAt === last));
  });

  it('refuses bad query strings and cursors with 400', async () => {
    const hostPage = ReportPageBody.parse((await call('GET', `/v1/reports?hostId=rp-a&${window()}&limit=1`)).json);
    expect(hostPage.cursor).toBeDefined();
    const cursor = encodeURIComponent(hostPage.cursor ?? '');
    const cases: [string, string][] = [
      ['garbage cursor', 'cursor=zzz'],
      ['cursor not base64url', 'cursor=%7B%7D'],
      ['a host cursor without the host', `cursor=${cursor}`],
      ['a host cursor for another host', `hostId=rp-b&cursor=${cursor}`],
      ['limit 0', 'limit=0'],
      ['limit 101', 'limit=101'],
      ['limit not a number', 'limit=ten'],
      ['since not an instant', 'since=yesterday'],
      ['since with an offset', 'since=2026-01-01T00:00:00%2B02:00'],
      ['since after until', 'since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z'],
      ['bad hostId', 'hostId=..%2Fetc'],
      ['unknown parameter', 'host=rp-a'],
      ['repeated parameter', 'hostId=rp-a&hostId=rp-b'],
    ];
    for (const [name, query] of cases) {
      const answer = await call('GET', `/v1/reports?${query}`);
      expect(answer.status, `${name}: ${JSON.stringify(answer.json)}`).toBe(400);
    }
    expect(errorCode(await call('GET', '/v1/reports?cursor=zzz'))).toBe('invalid_cursor');
  });
});

describe('run completion', () => {
  const auth = { authorization: `Bearer ${TOKEN}` };
  const getRun = async (app: { request: (path: string, init?: RequestInit) => Response | Promise<Response> }, runId: string) => {
    const response = await app.request(`/v1/reaps/${runId}`, { headers: auth });
    return { status: response.status, json: (await response.json()) as unknown };
  };

  it('is done once its shard items name as many hosts as the run covers (runHosts)', async () => {
    const runId = `cmp-${randomUUID()}`;
    const startedAt = new Date().toISOString();
    // Another process started this run (another Lambda container): only the stored run tells.
    const app = createApiApp({ store, startRun: () => Promise.reject(new Error('not used')), logger: apiLog.logger });
    await store.reports.putReport(reportInput('cmp-a', runId, startedAt, { trigger: 'api', runHosts: 2 }));
    await recordRun(store, runId, startedAt, { 'cmp-a': 'unreachable' }, { trigger: 'api', shard: 0, shards: 2, runHosts: 2 });
    const partial = RunView.parse((await getRun(app, runId)).json);
    expect(partial).toMatchObject({ runId, done: false, reported: 1, runHosts: 2 });
    expect(partial.hosts).toBeUndefined();
    expect(partial.reports.map((r) => r.hostId)).toEqual(['cmp-a']);
    // The second shard's host is quiet: recorded in its shard item only, rebuilt on read.
    await recordRun(store, runId, startedAt, {}, { trigger: 'api', shard: 1, shards: 2, runHosts: 2, quiet: { 'cmp-b': '3,3,3,40,0,1,100' } });
    const full = RunView.parse((await getRun(app, runId)).json);
    expect(full.done).toBe(true);
    expect(full.reports.map((r) => [r.hostId, r.status, r.compact ?? false])).toEqual([
      ['cmp-a', 'unreachable', false],
      ['cmp-b', 'ok', true],
    ]);
  });

  it('is not done while a run this process started has no shard recorded; 404 only for a run nobody knows', async () => {
    await store.hosts.put('cmp-x', { agentUrl: down, enabled: true });
    await store.hosts.put('cmp-y', { agentUrl: down, enabled: true });
    const started: StartRunRequest[] = [];
    const app = createApiApp({
      store,
      startRun: (request) => {
        started.push(request);
        return Promise.resolve();
      },
      logger: apiLog.logger,
    });
    const start = await app.request('/v1/reaps', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ hosts: ['cmp-y', 'cmp-x'], dryRun: false }) });
    expect(start.status).toBe(202);
    const { runId, hosts } = ReapStarted.parse(await start.json());
    expect(hosts).toEqual(['cmp-x', 'cmp-y']);
    expect(started).toEqual([{ runId, startedAt: expect.any(String), hosts: ['cmp-x', 'cmp-y'], dryRun: false }]);

    // Started, no report yet: known here, so 200 and not done.
    const empty = RunView.parse((await getRun(app, runId)).json);
    expect(empty).toEqual({ runId, done: false, hosts: ['cmp-x', 'cmp-y'], reported: 0, reports: [] });
    const startedAt = new Date().toISOString();
    await store.reports.putReport(reportInput('cmp-x', runId, startedAt, { trigger: 'api' }));
    // A full report written while its shard still runs is not counted until the shard item names it.
    expect(RunView.parse((await getRun(app, runId)).json).done).toBe(false);
    await store.reports.putReport(reportInput('cmp-y', runId, startedAt, { trigger: 'api' }));
    await recordRun(store, runId, startedAt, { 'cmp-x': 'unreachable', 'cmp-y': 'unreachable' }, { trigger: 'api' });
    expect(RunView.parse((await getRun(app, runId)).json).done).toBe(true);

    // Another process knows it from the stored run alone.
    const elsewhere = createApiApp({ store, startRun: () => Promise.resolve(), logger: apiLog.logger });
    const view = RunView.parse((await getRun(elsewhere, runId)).json);
    expect(view.done).toBe(true);
    expect(view.reports).toHaveLength(2);
    const unknown = await getRun(elsewhere, `cmp-${randomUUID()}`);
    expect(unknown.status).toBe(404);
  });

  it('a run that could not be handed off answers 503 and is not remembered', async () => {
    const runId = `cmp-${randomUUID()}`;
    const app = createApiApp({ store, startRun: () => Promise.reject(new Error('throttled')), logger: apiLog.logger, newRunId: () => runId });
    const start = await app.request('/v1/reaps', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ hosts: ['cmp-x'] }) });
    expect(start.status).toBe(503);
    expect(((await start.json()) as { error: { code: string } }).error.code).toBe('reap_not_started');
    expect((await getRun(app, runId)).status).toBe(404);
  });
});
