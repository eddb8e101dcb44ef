/**
 * Fuzzing the control-plane API (the local stack's app: bearer token, runs in process through a
 * real reaper) over real HTTP, with dynalite behind it. Generated malformed requests per route
 * group: wrong or missing tokens on every /v1 route (destructive ones included), bad path params,
 * bad query strings, bad bodies, wrong content types and methods, unknown paths. Every answer
 * must be a 4xx `{ error: { code, message } }`; afterwards the three tables are exactly as they
 * were (no host, tracked item or report written or deleted, no run started), the token is in no
 * log line, and the API still answers.
 *
 * npm test: 1,000 cases per group; STRESS=1: 5,000. API_FUZZ_SEED=<n> replays a run.
 */
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorBody } from '../../lib/agent-contract.js';
import { createLocalApi } from '../../functions/api/local.js';
import { DEFAULT_REAP_SETTINGS } from '../../functions/reaper/config.js';
import { staticMasterKey } from '../../functions/reaper/master-key.js';
import { createReaper } from '../../functions/reaper/run.js';
import { createStore, type Store } from '../../functions/store/index.js';
import { serveJsonErrors } from '../../lib/serve.js';
import { capturingLogger } from '../helpers/agent.js';
import { startDynalite, type TestDynamo } from '../helpers/dynalite.js';
import { closedPortUrl } from '../helpers/net.js';

const STRESS = process.env.STRESS === '1';
const PER_GROUP = STRESS ? 5_000 : 1_000;
const SEED = Number(process.env.API_FUZZ_SEED ?? Date.now() % 2 ** 31);
const TOKEN = randomBytes(24).toString('hex');
const HOST = 'api-fuzz-h1';
const BODY_LIMIT = 64 * 1024;

let dynamo: TestDynamo;
let store: Store;
let server: Server;
let base: string;
const apiLog = capturingLogger('debug');
const totals = { sent: 0, byStatus: {} as Record<number, number> };

async function tables(): Promise<string> {
  const out: Record<string, unknown> = {};
  for (const [name, table] of Object.entries(dynamo.tables)) {
    const items = (await dynamo.client.send(new ScanCommand({ TableName: table, ConsistentRead: true }))).Items ?? [];
    out[name] = items.map((i) => JSON.stringify(i)).sort();
  }
  return JSON.stringify(out);
}

beforeAll(async () => {
  dynamo = await startDynalite({ prefix: 'apifuzz-' });
  store = createStore({ client: dynamo.client, prefix: dynamo.prefix });
  await store.hosts.put(HOST, { agentUrl: await closedPortUrl(), enabled: true });
  await store.hosts.put('api-fuzz-off', { agentUrl: 'http://127.0.0.1:9', enabled: false });
  await store.tracked.track(HOST, 'keep-1', { owner: 'manager', leaseSeconds: 3600 });
  const reaper = createReaper({ store, masterKey: staticMasterKey(randomBytes(32).toString('hex')), logger: apiLog.logger, settings: { ...DEFAULT_REAP_SETTINGS, quarantineSeconds: 0, maxReapPercent: 100, agentAttempts: 1 } });
  const api = createLocalApi({ store, token: TOKEN, logger: apiLog.logger, reaper, bodyLimitBytes: BODY_LIMIT });
  server = await serveJsonErrors({ fetch: api.app.fetch, hostname: '127.0.0.1', port: 0, logger: apiLog.logger });
  const address = server.address();
  base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await dynamo?.close();
  process.stderr.write(`api-fuzz: seed ${SEED}, ${JSON.stringify(totals)}\n`);
});

interface Case {
  what: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

const AUTH = { authorization: `Bearer ${TOKEN}` };
const JSON_AUTH = { ...AUTH, 'content-type': 'application/json' };

/** Every /v1 route with a valid request (the destructive ones too): only the auth is wrong. */
const VALID_ROUTES: { method: string; path: string; body?: string }[] = [
  { method: 'GET', path: '/v1/hosts' },
  { method: 'GET', path: `/v1/hosts/${HOST}` },
  { method: 'PUT', path: `/v1/hosts/${HOST}`, body: JSON.stringify({ agentUrl: 'http://127.0.0.1:1', enabled: false }) },
  { method: 'PUT', path: '/v1/hosts/api-fuzz-new', body: JSON.stringify({ agentUrl: 'http://127.0.0.1:1', enabled: true }) },
  { method: 'DELETE', path: `/v1/hosts/${HOST}` },
  { method: 'GET', path: `/v1/hosts/${HOST}/containers` },
  { method: 'PUT', path: `/v1/hosts/${HOST}/containers/new-1`, body: '{}' },
  { method: 'DELETE', path: `/v1/hosts/${HOST}/containers/keep-1` },
  { method: 'POST', path: '/v1/reaps', body: JSON.stringify({ dryRun: false, force: true }) },
  { method: 'POST', path: '/v1/reaps' },
  { method: 'GET', path: '/v1/reaps/00000000-0000-0000-0000-000000000000' },
  { method: 'GET', path: '/v1/reports' },
  { method: 'GET', path: `/v1/reports/${HOST}/00000000-0000-0000-0000-000000000000` },
];

const badAuth = fc.oneof(
  fc.constant<Record<string, string>>({}),
  fc.constantFrom(
    `Bearer ${TOKEN.slice(0, -1)}`,
    `Bearer ${TOKEN}x`,
    `Bearer ${TOKEN}${TOKEN}`,
    `Bearer ${TOKEN.slice(0, -1)}${TOKEN.at(-1) === 'a' ? 'b' : 'a'}`,
    `Bearer ${TOKEN.toUpperCase()}`,
    `Basic ${Buffer.from(`user:${TOKEN}`).toString('base64')}`,
    `Token ${TOKEN}`,
    TOKEN,
    'Bearer',
    'Bearer ',
    `Bearer  ${randomBytes(24).toString('hex')}`,
    'Bearer ../../etc/passwd',
    `Bearer ${TOKEN},${TOKEN}`,
    `Bearer\t${TOKEN}`,
  ).map((value) => ({ authorization: value })),
  fc.constant({ 'x-api-token': TOKEN }),
  fc.constant({ cookie: `token=${TOKEN}` }),
  fc.string({ maxLength: 60 }).filter((s) => !/[\r\n\0]/.test(s) && s.trim() === s).map((value) => ({ authorization: value })),
);

const badId = fc.oneof(
  fc.constantFrom('-lead', '_lead', 'a b', 'ä', '%C3%A4', '%00', 'a%2Fb', '..%2F..%2Fetc', 'x'.repeat(300), '%20', 'a%0Ab', '%2e%2e', 'a;b', 'a,b', '%7B%7D', "a'b", 'a%22b'),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }).map((s) => encodeURIComponent(`é${s}`)),
);

const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1.5, '', 'x', '../', 'ä', [], {}, [null], { a: 1 }),
  fc.string({ maxLength: 20 }),
  fc.integer(),
);

function badBodies(valid: Record<string, unknown>, fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<string> {
  const names = Object.keys(fields);
  return fc.oneof(
    fc.tuple(fc.string({ minLength: 1, maxLength: 10 }).filter((k) => !names.includes(k) && k !== '__proto__'), anyJson).map(([k, v]) => JSON.stringify({ ...valid, [k]: v })),
    fc.constantFrom(...names).chain((f) => fields[f]!.map((v) => JSON.stringify({ ...valid, [f]: v }))),
    // (A leading BOM is not here: RFC 8259 lets a parser ignore it, and Request.text() strips it.)
    fc.constantFrom('', ' ', 'null', '[]', '"x"', '0', '{', '{"a":', 'NaN', '\ufeff', "{'a':1}"),
    fc.integer({ min: 1_000, max: 20_000 }).map((d) => '['.repeat(d) + ']'.repeat(d)),
    fc.integer({ min: BODY_LIMIT + 1, max: BODY_LIMIT * 3 }).map((n) => JSON.stringify({ ...valid, pad: 'x'.repeat(n) })),
  );
}

const hostBodies = badBodies(
  { agentUrl: 'http://127.0.0.1:1', enabled: true },
  {
    agentUrl: fc.constantFrom(null, 1, '', 'ftp://x', 'javascript:alert(1)', 'not a url', 'http://', `http://${'a'.repeat(3000)}.com`, 'file:///etc/passwd'),
    enabled: fc.constantFrom(null, 'true', 1, [], 'false'),
    maxReap: fc.constantFrom(-1, 1.5, '10', null, true),
  },
);
const trackBodies = badBodies(
  { dockerId: 'a'.repeat(64) },
  {
    dockerId: fc.constantFrom('', 'ABC', 'a'.repeat(11), 'a'.repeat(65), 'g'.repeat(12), 1, null),
    owner: fc.constantFrom('', 'x'.repeat(257), 1, null, []),
    leaseSeconds: fc.constantFrom(0, -1, 1.5, '60', 366 * 24 * 3600 + 1, null),
  },
);
const reapBodies = badBodies(
  { dryRun: true },
  {
    hosts: fc.constantFrom([], ['bad host'], ['-x'], 'all', null, [1], ['api-fuzz-unknown'], ['api-fuzz-off'], [HOST, '../x']),
    dryRun: fc.constantFrom('true', 1, null, []),
    force: fc.constantFrom('yes', 0, null, {}),
  },
).filter((b) => b.trim() !== '');

const badQuery = fc.oneof(
  fc.constantFrom('?x=1', '?limit=0', '?limit=-1', '?limit=abc', '?limit=1e2', '?limit=100000', '?limit=', '?limit=1&limit=2', '?cursor=%00', '?cursor=not-a-cursor', `?cursor=${'A'.repeat(5000)}`),
  fc.constantFrom('?hostId=bad%20id', '?since=yesterday', '?until=2026-13-01T00:00:00Z', '?since=1', '?hostId=a&hostId=b', '?since=2026-11-27T00:00:00%2B02:00', '?foo', '?constructor=1', '?toString=x', '?hasOwnProperty=1'),
  fc.tuple(fc.string({ minLength: 1, maxLength: 8 }), fc.string({ maxLength: 8 })).map(([k, v]) => `?${encodeURIComponent(k)}=${encodeURIComponent(v)}`),
  // `?__proto__=…` is left out here: it is a known defect, pinned by its own test below.
).filter((q) => !q.includes('__proto__'));

const contentTypes = fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonp', 'json', '', 'application/xml');

const groups: Record<string, () => fc.Arbitrary<Case>> = {
  auth: () =>
    fc.tuple(fc.constantFrom(...VALID_ROUTES), badAuth).map(([route, headers]) => ({
      what: `${route.method} ${route.path} with ${JSON.stringify(headers).slice(0, 50)}`,
      method: route.method,
      path: route.path,
      headers: { ...headers, ...(route.body ? { 'content-type': 'application/json' } : {}) },
      ...(route.body ? { body: route.body } : {}),
    })),
  hosts: () =>
    fc.oneof(
      fc.tuple(fc.constantFrom('GET', 'PUT', 'DELETE'), badId).map(([method, id]) => ({ what: `${method} host ${id}`, method, path: `/v1/hosts/${id}`, headers: JSON_AUTH, ...(method === 'PUT' ? { body: JSON.stringify({ agentUrl: 'http://127.0.0.1:1', enabled: true }) } : {}) })),
      hostBodies.map((body) => ({ what: `PUT host body ${body.slice(0, 40)}`, method: 'PUT', path: '/v1/hosts/api-fuzz-new', headers: JSON_AUTH, body })),
      fc.tuple(hostBodies, fc.constantFrom(HOST, 'api-fuzz-new')).map(([body, id]) => ({ what: `PUT host ${id} body ${body.slice(0, 40)}`, method: 'PUT', path: `/v1/hosts/${id}`, headers: JSON_AUTH, body })),
      contentTypes.map((type) => ({ what: `PUT host as ${type}`, method: 'PUT', path: `/v1/hosts/${HOST}`, headers: { ...AUTH, 'content-type': type }, body: JSON.stringify({ agentUrl: 'http://127.0.0.1:1', enabled: false }) })),
      badQuery.map((q) => ({ what: `GET hosts${q.slice(0, 40)}`, method: 'GET', path: `/v1/hosts${q}`, headers: AUTH })),
      badQuery.map((q) => ({ what: `DELETE host${q.slice(0, 40)}`, method: 'DELETE', path: `/v1/hosts/${HOST}${q}`, headers: AUTH })),
      fc.constantFrom('POST', 'PATCH').map((method) => ({ what: `${method} hosts`, method, path: '/v1/hosts', headers: JSON_AUTH, body: '{}' })),
    ),
  tracked: () =>
    fc.oneof(
      fc.tuple(fc.constantFrom('PUT', 'DELETE'), badId).map(([method, id]) => ({ what: `${method} tracked ${id}`, method, path: `/v1/hosts/${HOST}/containers/${id}`, headers: JSON_AUTH, ...(method === 'PUT' ? { body: '{}' } : {}) })),
      fc.tuple(fc.constantFrom('PUT', 'DELETE', 'GET'), badId).map(([method, id]) => ({ what: `${method} tracked on host ${id}`, method, path: `/v1/hosts/${id}/containers${method === 'GET' ? '' : '/keep-1'}`, headers: JSON_AUTH, ...(method === 'PUT' ? { body: '{}' } : {}) })),
      trackBodies.map((body) => ({ what: `PUT tracked body ${body.slice(0, 40)}`, method: 'PUT', path: `/v1/hosts/${HOST}/containers/keep-1`, headers: JSON_AUTH, body })),
      contentTypes.map((type) => ({ what: `PUT tracked as ${type}`, method: 'PUT', path: `/v1/hosts/${HOST}/containers/keep-1`, headers: { ...AUTH, 'content-type': type }, body: '{}' })),
      badQuery.filter((q) => !/^\?(limit=\d{1,3}|cursor=)$/.test(q)).map((q) => ({ what: `GET tracked${q.slice(0, 40)}`, method: 'GET', path: `/v1/hosts/${HOST}/containers${q}`, headers: AUTH })),
      badQuery.map((q) => ({ what: `DELETE tracked${q.slice(0, 40)}`, method: 'DELETE', path: `/v1/hosts/${HOST}/containers/keep-1${q}`, headers: AUTH })),
      fc.constantFrom('POST', 'PATCH').map((method) => ({ what: `${method} tracked`, method, path: `/v1/hosts/${HOST}/containers/keep-1`, headers: JSON_AUTH, body: '{}' })),
    ),
  reaps: () =>
    fc.oneof(
      reapBodies.map((body) => ({ what: `POST reaps ${body.slice(0, 40)}`, method: 'POST', path: '/v1/reaps', headers: JSON_AUTH, body })),
      contentTypes.map((type) => ({ what: `POST reaps as ${type}`, method: 'POST', path: '/v1/reaps', headers: { ...AUTH, 'content-type': type }, body: '{"dryRun":true}' })),
      badQuery.map((q) => ({ what: `POST reaps${q.slice(0, 40)}`, method: 'POST', path: `/v1/reaps${q}`, headers: JSON_AUTH, body: '{"dryRun":true}' })),
      badId.map((id) => ({ what: `GET run ${id}`, method: 'GET', path: `/v1/reaps/${id}`, headers: AUTH })),
      badQuery.filter((q) => !/^\?(limit=\d{1,2}|cursor=|limit=100)$/.test(q)).map((q) => ({ what: `GET run${q.slice(0, 40)}`, method: 'GET', path: `/v1/reaps/00000000-0000-0000-0000-000000000000${q}`, headers: AUTH })),
      fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH').map((method) => ({ what: `${method} reaps`, method, path: '/v1/reaps', headers: JSON_AUTH, ...(method === 'GET' ? {} : { body: '{}' }) })),
    ),
  reports: () =>
    fc.oneof(
      badQuery.filter((q) => !/^\?(limit=\d{1,2}|cursor=|limit=100)$/.test(q)).map((q) => ({ what: `GET reports${q.slice(0, 40)}`, method: 'GET', path: `/v1/reports${q}`, headers: AUTH })),
      fc.constantFrom('POST', 'PUT', 'DELETE').map((method) => ({ what: `${method} reports`, method, path: '/v1/reports', headers: JSON_AUTH, body: '{}' })),
      fc.tuple(badId, fc.boolean()).map(([id, asHost]) => ({
        what: `GET one report ${asHost ? 'host' : 'run'} ${id}`,
        method: 'GET',
        path: asHost ? `/v1/reports/${id}/00000000-0000-0000-0000-000000000000` : `/v1/reports/${HOST}/${id}`,
        headers: AUTH,
      })),
      badQuery.map((q) => ({ what: `GET one report${q.slice(0, 40)}`, method: 'GET', path: `/v1/reports/${HOST}/00000000-0000-0000-0000-000000000000${q}`, headers: AUTH })),
    ),
  unknown: () =>
    fc.oneof(
      fc.tuple(fc.webPath(), fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'), fc.boolean()).map(([p, method, auth]) => ({ what: `${method} ${p}`, method, path: `/v1${p.startsWith('/') ? p : `/${p}`}/x`, headers: auth ? JSON_AUTH : {}, ...(method === 'GET' ? {} : { body: '{}' }) })),
      fc.constantFrom('/v2/hosts', '/v1', '/v1/', '/v1/hosts/', `/v1/hosts/${HOST}/`, `/v1/hosts/${HOST}/containers/keep-1/x`, '/admin', '/.env', '/healthz/x', '/V1/HOSTS').map((path) => ({ what: path, method: 'GET', path, headers: AUTH })),
    ),
};

async function send(c: Case) {
  const response = await fetch(base + c.path, { method: c.method, headers: c.headers, ...(c.body !== undefined && c.method !== 'GET' ? { body: c.body } : {}) });
  return { status: response.status, type: response.headers.get('content-type') ?? '', body: await response.text() };
}

async function fuzz(name: string, seedOffset: number) {
  const cases = fc.sample(groups[name]!(), { numRuns: PER_GROUP, seed: SEED + seedOffset });
  const problems: string[] = [];
  const limit = pLimit(16);
  await Promise.all(
    cases.map((c) =>
      limit(async () => {
        try {
          const answer = await send(c);
          totals.sent++;
          totals.byStatus[answer.status] = (totals.byStatus[answer.status] ?? 0) + 1;
          if (answer.status < 400 || answer.status >= 500) problems.push(`${c.what}: ${answer.status} ${answer.body.slice(0, 150)}`);
          else if (!/^application\/json/.test(answer.type) || !ErrorBody.safeParse(JSON.parse(answer.body)).success) problems.push(`${c.what}: not a JSON error: ${answer.body.slice(0, 150)}`);
        } catch (error) {
          problems.push(`${c.what}: send failed: ${(error as Error).message} ${String((error as Error).cause ?? '')}`);
        }
      }),
    ),
  );
  expect(cases).toHaveLength(PER_GROUP);
  expect(problems.slice(0, 15), `${name}: ${problems.length} of ${cases.length} answers wrong (seed ${SEED})`).toEqual([]);
}

describe(`API fuzz: ${PER_GROUP} generated malformed requests per route group (seed ${SEED})`, () => {
  let before: string;
  beforeAll(async () => {
    before = await tables();
  });

  it('wrong, missing or misplaced tokens on every /v1 route, destructive ones included: 401', () => fuzz('auth', 1));
  it('hosts: bad ids, bodies, content types, queries and methods', () => fuzz('hosts', 2));
  it('tracked: bad ids, bodies, content types, queries and methods', () => fuzz('tracked', 3));
  it('reaps: bad bodies, content types, queries, run ids and methods; no run is started', () => fuzz('reaps', 4));
  it('reports: bad queries and methods', () => fuzz('reports', 5));
  it('unknown paths', () => fuzz('unknown', 6));

  // Regression (found by this fuzz): the query object was a plain `{}`, so `query['__proto__'] = v`
  // set its prototype instead of adding a key, an unknown parameter named __proto__ was ignored,
  // and DELETE /v1/hosts/:id?__proto__=1 deleted the host.
  it('an unknown query parameter named __proto__ is refused like any other (400)', async () => {
    const answer = await send({ what: '__proto__', method: 'GET', path: '/v1/reports?__proto__=1', headers: AUTH });
    expect(answer.status).toBe(400);
    const del = await send({ what: '__proto__ delete', method: 'DELETE', path: '/v1/hosts/fuzz-proto-host?__proto__=1', headers: AUTH });
    expect(del.status).toBe(400);
  });

  it('afterwards: every table exactly as before, no run started, the token in no log line, the API up', async () => {
    expect(await tables()).toBe(before);
    expect(JSON.parse(before).reports).toEqual([]);
    expect(apiLog.lines.join('\n')).not.toContain(TOKEN);
    expect(apiLog.lines.some((l) => l.includes('reap started'))).toBe(false);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const hosts = await fetch(`${base}/v1/hosts`, { headers: AUTH });
    expect(hosts.status).toBe(200);
  });
});
