/**
 * The audit dashboard in a real browser (Debian's chromium through playwright-core) against the
 * API app as the local stack serves it, over HTTP on 127.0.0.1, with dynalite and real reports:
 * the real reaper against a real agent on a private Docker engine (one removal made to fail
 * with markup in its error), a real unreachable host, plus reports written with the store for
 * older times and a capped report of an agent that does not name its guard. Then real runs with
 * the default quarantine (S11), a per-host cap (S4), and a second host record on the same engine
 * reaped by a control plane whose clock lags (S10, S12), for what the pages say about each.
 *
 * Most pages are read with JavaScript disabled: the dashboard has none and must not need it.
 * Every number checked on a page is recomputed from the store, not from the page.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { serve, type ServerType } from '@hono/node-server';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DockerPort } from '../../agent/docker.js';
import type { ReapReport } from '../../lib/agent-contract.js';
import { handle } from 'hono/aws-lambda';
import { createApiFromEnv } from '../../functions/api.js';
import { createLocalApi, type LocalApi } from '../../functions/api/local.js';
import { formatInstant, shortEngine } from '../../functions/dashboard/format.js';
import { DEFAULT_REAP_SETTINGS } from '../../functions/reaper/config.js';
import { createReaperHandler } from '../../functions/reaper/handler.js';
import { staticMasterKey } from '../../functions/reaper/master-key.js';
import { createReaper } from '../../functions/reaper/run.js';
import { createStore, type ReportSummary, type Store } from '../../functions/store/index.js';
import { capturingLogger, startTestAgent, type TestAgent } from '../helpers/agent.js';
import { makeContainer, stateOf } from '../helpers/containers.js';
import { startDynalite, type TestDynamo } from '../helpers/dynalite.js';
import { startEngine, type Engine } from '../helpers/engine.js';
import { closedPortUrl } from '../helpers/net.js';
import { recordRun } from '../helpers/seed.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const TOKEN = randomBytes(24).toString('base64url');
const MASTER = randomBytes(32).toString('hex');
const RUN_LABEL = `dash-${randomUUID().slice(0, 8)}`;
const MARKUP = '<script>alert(1)</script><b>x</b>';
const ENGINE_HOST = 'dash-engine';
const DOWN_HOST = 'dash-down';
const CAPPED_HOST = 'dash-capped';
const XSS_HOST = 'dash-xss';
const HOUR = 3_600_000;

let dynamo: TestDynamo | undefined;
let store: Store;
let engine: Engine | undefined;
let agent: TestAgent | undefined;
let api: LocalApi | undefined;
let server: ServerType | undefined;
let evil: Server | undefined;
let browser: Browser | undefined;
let base: string;
let evilBase: string;
/** A signed-in context with JavaScript disabled, shared by the page tests. */
let reader: BrowserContext;
const failRemove = new Set<string>();
const apiLog = capturingLogger('info');
const reaperLog = capturingLogger('warn');
/** The run the real reaper made: the engine host partial (2 removed, 1 failed), the down host unreachable. */
let realRunId: string;
let cappedRunId: string;
let xssRunId: string;
let removedIds: string[];
let failedId: string;
let keptId: string;

function reapReport(hostId: string, runId: string, at: string, status: ReapReport['status'], counts: ReapReport['counts'], containers: ReapReport['containers']): ReapReport {
  return { runId, hostId, engineId: 'engine-dash', clockOffsetMs: 0, status, startedAt: at, finishedAt: at, durationMs: 12, dryRun: false, counts, containers };
}

beforeAll(async () => {
  dynamo = await startDynalite({ prefix: 'dash-' });
  store = createStore({ client: dynamo.client, prefix: dynamo.prefix });
  engine = await startEngine();
  agent = await startTestAgent({
    dockerHost: engine.dockerHost,
    hostId: ENGINE_HOST,
    masterKey: MASTER,
    // A removal the engine refuses, with markup in its message: the engine cannot be made to fail on demand.
    wrapDocker: (real): DockerPort => ({
      ...real,
      version: () => real.version(),
      listLabelled: () => real.listLabelled(),
      remove: (id) => (failRemove.has(id) ? Promise.reject(new Error(`${MARKUP} device or resource busy`)) : real.remove(id)),
    }),
  });
  const down = await closedPortUrl();
  await store.hosts.put(ENGINE_HOST, { agentUrl: agent.url, enabled: true });
  await store.hosts.put(DOWN_HOST, { agentUrl: down, enabled: true });

  const made = await Promise.all(
    ['dash-orphan-1', 'dash-orphan-2', 'dash-fail-1', 'dash-kept-1'].map((clawboxId) => makeContainer(engine!.docker, { clawboxId, kind: 'running', runLabel: RUN_LABEL })),
  );
  removedIds = [made[0]!.id, made[1]!.id];
  failedId = made[2]!.id;
  keptId = made[3]!.id;
  failRemove.add(failedId);
  await store.tracked.track(ENGINE_HOST, 'dash-kept-1', { owner: 'dash-test', leaseSeconds: 3600 });
  // Past the 1 s grace with room: the agent widens the grace by the clock offset it sees, and the
  // signed timestamp has whole seconds, so up to another second.
  await sleep(3000);

  const reaper = createReaper({
    store,
    masterKey: staticMasterKey(MASTER),
    logger: reaperLog.logger,
    // Removed at once (no quarantine, S11), and 3 orphans of 4 labelled are not a mass deletion here (S4).
    settings: { ...DEFAULT_REAP_SETTINGS, graceSeconds: 1, stopTimeoutSeconds: 1, agentAttempts: 1, agentTimeoutMs: 20_000, reportMarginMs: 1000, quarantineSeconds: 0, maxReapPercent: 100 },
  });
  realRunId = randomUUID();
  await reaper.run({ runId: realRunId, trigger: 'api', hosts: [ENGINE_HOST, DOWN_HOST], deadlineAt: Date.now() + 60_000 });

  // Older and other reports, written with the store: the engine host 3 h ago, a capped host, and
  // an unreachable one whose error is markup.
  const now = Date.now();
  const threeHoursAgo = new Date(now - 3 * HOUR).toISOString();
  const oldRunId = randomUUID();
  await store.reports.putReport({
    hostId: ENGINE_HOST, runId: oldRunId, trigger: 'schedule', status: 'ok', startedAt: threeHoursAgo, finishedAt: threeHoursAgo, durationMs: 40, dryRun: false, force: false, attempts: 1,
    agentReport: reapReport(ENGINE_HOST, oldRunId, threeHoursAgo, 'ok', { labelled: 6, tracked: 2, orphans: 4, young: 0, stopped: 4, removed: 4, vanished: 0, failed: 0 },
      ['old-1', 'old-2', 'old-3', 'old-4'].map((id) => ({ clawboxId: id, dockerId: randomBytes(32).toString('hex'), state: 'running', createdAt: threeHoursAgo, action: 'removed' as const }))),
  });
  await recordRun(store, oldRunId, threeHoursAgo, { [ENGINE_HOST]: 'ok' });
  await store.hosts.put(CAPPED_HOST, { agentUrl: down, enabled: true, maxReap: 10 });
  cappedRunId = randomUUID();
  const twoHoursAgo = new Date(now - 2 * HOUR).toISOString();
  const capped = await store.reports.putReport({
    hostId: CAPPED_HOST, runId: cappedRunId, trigger: 'schedule', status: 'capped', startedAt: twoHoursAgo, finishedAt: twoHoursAgo, durationMs: 30, dryRun: false, force: false, attempts: 1, maxReap: 10,
    agentReport: reapReport(CAPPED_HOST, cappedRunId, twoHoursAgo, 'capped', { labelled: 31, tracked: 1, orphans: 30, young: 0, stopped: 0, removed: 0, vanished: 0, failed: 0 }, []),
  });
  await store.hosts.recordLastReap(CAPPED_HOST, { runId: cappedRunId, at: capped.finishedAt, status: 'capped', counts: capped.counts });
  await recordRun(store, cappedRunId, twoHoursAgo, { [CAPPED_HOST]: 'capped' });
  await store.hosts.put(XSS_HOST, { agentUrl: down, enabled: false });
  xssRunId = randomUUID();
  const xss = await store.reports.putReport({
    hostId: XSS_HOST, runId: xssRunId, trigger: 'api', status: 'unreachable', error: `agent said ${MARKUP}`, startedAt: new Date(now - 30 * 60_000).toISOString(),
    finishedAt: new Date(now - 30 * 60_000).toISOString(), durationMs: 3, dryRun: false, force: false, attempts: 2,
  });
  await store.hosts.recordLastReap(XSS_HOST, { runId: xssRunId, at: xss.finishedAt, status: 'unreachable', counts: null, error: `agent said ${MARKUP}` });
  await recordRun(store, xssRunId, xss.startedAt, { [XSS_HOST]: 'unreachable' }, { trigger: 'api' });

  const handler = createReaperHandler({ reaper, logger: reaperLog.logger });
  api = createLocalApi({ store, token: TOKEN, logger: apiLog.logger, invoke: (event) => handler(event, { getRemainingTimeInMillis: () => 60_000 }) });
  const app = api.app;
  server = await new Promise<ServerType>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
    s.once('error', reject);
  });
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

  // Another origin (another port) with a page that posts the right token to the dashboard's sign-in.
  evil = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!doctype html><form id="f" method="post" action="${base}/dashboard/login"><input name="token" value="${TOKEN}"><button id="go">go</button></form>`);
  });
  await new Promise<void>((resolve) => evil!.listen(0, '127.0.0.1', resolve));
  evilBase = `http://127.0.0.1:${(evil.address() as { port: number }).port}`;

  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  reader = await browser.newContext({ javaScriptEnabled: false });
  await signIn(await reader.newPage(), `${base}/dashboard`, TOKEN);
});

afterAll(async () => {
  // Each step on its own: one failing cleanup must not leave a browser, a server or an engine behind.
  const steps: (() => Promise<unknown>)[] = [
    () => browser?.close() ?? Promise.resolve(),
    () => (evil ? new Promise<void>((resolve) => evil?.close(() => resolve())) : Promise.resolve()),
    () => (server ? new Promise<void>((resolve) => server?.close(() => resolve())) : Promise.resolve()),
    () => api?.inFlight() ?? Promise.resolve(),
    () => agent?.close() ?? Promise.resolve(),
    () => engine?.stop() ?? Promise.resolve(),
    () => dynamo?.close() ?? Promise.resolve(),
  ];
  for (const step of steps) await step().catch((error: unknown) => console.error('cleanup failed', error));
});

/** Fills the sign-in form that `url` leads to and submits it. */
async function signIn(page: Page, url: string, token: string) {
  await page.goto(url);
  expect(new URL(page.url()).pathname).toBe('/dashboard/login');
  await page.fill('#token', token);
  await Promise.all([page.waitForNavigation(), page.click('form.login button[type=submit]')]);
  return page;
}

async function open(path: string): Promise<Page> {
  const page = await reader.newPage();
  const response = await page.goto(base + path);
  expect(response?.status(), path).toBe(200);
  return page;
}

const texts = async (row: Locator) => (await row.locator('td').allTextContents()).map((t) => t.trim());

/** Every report whose run started in the last `hours`, from the store, through every page. */
async function storedReports(hours: number, hostId?: string): Promise<ReportSummary[]> {
  const items: ReportSummary[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.reports.listReports({ since: new Date(Date.now() - hours * HOUR).toISOString(), limit: 100, ...(hostId ? { hostId } : {}), ...(cursor ? { cursor } : {}) });
    items.push(...page.items);
    cursor = page.cursor;
  } while (cursor);
  return items;
}
const sum = (reports: ReportSummary[], key: 'removed' | 'failed' | 'orphans') => reports.reduce((s, r) => s + (r.counts?.[key] ?? 0), 0);
const FAILING = new Set(['error', 'unreachable', 'timeout', 'refused', 'partial', 'capped']);

describe('the real run behind the pages', () => {
  it('removed the two orphans, failed the third, kept the tracked one', async () => {
    for (const id of removedIds) expect(await stateOf(engine!.docker, id)).toBeUndefined();
    expect(await stateOf(engine!.docker, failedId)).toBeDefined();
    expect(await stateOf(engine!.docker, keptId)).toBe('running');
    const run = await store.reports.reportsForRun(realRunId);
    expect(run.map((r) => [r.hostId, r.status])).toEqual([
      [DOWN_HOST, 'unreachable'],
      [ENGINE_HOST, 'partial'],
    ]);
  });
});

describe('sign-in', () => {
  it('sends a browser without a session to sign in, refuses a wrong token, and lets the right one in where it was going', async () => {
    const context = await browser!.newContext({ javaScriptEnabled: false });
    try {
      const page = await context.newPage();
      await page.goto(`${base}/dashboard/hosts/${ENGINE_HOST}?range=7d`);
      expect(new URL(page.url()).pathname).toBe('/dashboard/login');
      // The pages are not served to it: no host data on the sign-in page.
      expect(await page.content()).not.toContain(agent!.url);

      await page.fill('#token', randomBytes(24).toString('base64url'));
      const [refused] = await Promise.all([page.waitForNavigation(), page.click('form.login button[type=submit]')]);
      expect(refused?.status()).toBe(401);
      await expect.poll(() => page.locator('#login-error').textContent()).toContain("not this API's token");
      expect(await context.cookies()).toHaveLength(0);

      await page.fill('#token', TOKEN);
      await Promise.all([page.waitForNavigation(), page.click('form.login button[type=submit]')]);
      expect(page.url()).toBe(`${base}/dashboard/hosts/${ENGINE_HOST}?range=7d`);
      expect(await page.locator('h1').textContent()).toBe(ENGINE_HOST);

      const cookies = await context.cookies();
      expect(cookies).toHaveLength(1);
      expect(cookies[0]).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/dashboard' });
      expect(cookies[0]!.value).not.toContain(TOKEN);

      // Signing out ends it: the pages send the browser to sign in again.
      await Promise.all([page.waitForNavigation(), page.click('header form button[type=submit]')]);
      expect(new URL(page.url()).pathname).toBe('/dashboard/login');
      await page.goto(`${base}/dashboard`);
      expect(new URL(page.url()).pathname).toBe('/dashboard/login');
    } finally {
      await context.close();
    }
    // S9: neither the token nor a session value is in the API's log.
    expect(apiLog.lines.some((line) => line.includes('/dashboard/login') && line.includes('"status":401'))).toBe(true);
    expect(apiLog.lines.join('\n')).not.toContain(TOKEN);
    expect(apiLog.lines.join('\n')).not.toContain('v1.');
  });

  it('refuses a sign-in posted from another origin, even with the right token (CSRF)', async () => {
    const context = await browser!.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${evilBase}/`);
      const [response] = await Promise.all([page.waitForNavigation(), page.click('#go')]);
      expect(response?.status()).toBe(403);
      expect(await context.cookies(base)).toHaveLength(0);
    } finally {
      await context.close();
    }
    // The same from a client that names another origin, or a cross-site fetch.
    const form = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${TOKEN}`, redirect: 'manual' as const };
    const foreign = await fetch(`${base}/dashboard/login`, { ...form, headers: { ...form.headers, origin: evilBase } });
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get('set-cookie')).toBeNull();
    const crossSite = await fetch(`${base}/dashboard/login`, { ...form, headers: { ...form.headers, 'sec-fetch-site': 'cross-site' } });
    expect(crossSite.status).toBe(403);
    // Not vacuous: the same request from this origin signs in.
    const own = await fetch(`${base}/dashboard/login`, { ...form, headers: { ...form.headers, origin: base } });
    expect(own.status).toBe(303);
    expect(own.headers.get('set-cookie')).toMatch(/HttpOnly/);
  });

  it('keeps /v1 bearer-only: a dashboard session is no API credential', async () => {
    const cookie = (await reader.cookies())[0];
    expect(cookie).toBeDefined();
    const withCookie = await fetch(`${base}/v1/hosts`, { headers: { cookie: `${cookie!.name}=${cookie!.value}` } });
    expect(withCookie.status).toBe(401);
    const withBearer = await fetch(`${base}/v1/hosts`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(withBearer.status).toBe(200);
    // And the bearer token is not a dashboard session.
    const page = await fetch(`${base}/dashboard`, { headers: { authorization: `Bearer ${TOKEN}` }, redirect: 'manual' });
    expect(page.status).toBe(303);
  });
});

describe('pages', () => {
  it('the fleet: every host with its last reap, red where it failed, and the numbers of the stored reports', async () => {
    const page = await open('/dashboard?range=24h');
    const listing = await store.hosts.list();
    const reports = await storedReports(24);
    expect(reports.length).toBe(5);
    for (const host of listing.hosts) {
      const row = page.locator(`#hosts-table tr[data-host="${host.hostId}"]`);
      const cells = await texts(row);
      const mine = reports.filter((r) => r.hostId === host.hostId);
      expect(cells[0], host.hostId).toContain(host.agentUrl);
      expect(cells[1], host.hostId).toContain(host.lastReap?.status ?? 'never reaped');
      expect(cells.slice(3, 7), host.hostId).toEqual(['labelled', 'orphans', 'removed', 'failed'].map((k) => (host.lastReap?.counts ? String(host.lastReap.counts[k as 'labelled']) : '–')));
      expect(cells.slice(7), host.hostId).toEqual([
        String(new Set(mine.map((r) => r.runId)).size),
        String(sum(mine, 'removed')),
        String(sum(mine, 'failed')),
        String(mine.filter((r) => FAILING.has(r.status)).length),
      ]);
      const red = host.lastReap !== undefined && FAILING.has(host.lastReap.status);
      expect(await row.getAttribute('class'), host.hostId).toBe(red ? 'failing' : '');
    }
    expect(await page.locator('#hosts-table tbody tr').count()).toBe(listing.hosts.length);
    expect(await page.locator('#tile-removed .v').textContent()).toBe(String(sum(reports, 'removed')));
    expect(await page.locator('#tile-failed .v').textContent()).toBe(String(sum(reports, 'failed')));
    expect(await page.locator('#tile-runs .v').textContent()).toBe(String(new Set(reports.map((r) => r.runId)).size));
    const failingNow = listing.hosts.filter((h) => h.lastReap && FAILING.has(h.lastReap.status)).map((h) => h.hostId).sort();
    expect(failingNow).toEqual([CAPPED_HOST, DOWN_HOST, ENGINE_HOST, XSS_HOST]);
    expect(await page.locator('#tile-failing-hosts .v').textContent()).toBe('4');
    // The status is words too, not colour alone.
    expect(await page.locator(`tr[data-host="${DOWN_HOST}"] .badge`).textContent()).toBe('✕ unreachable');
    expect(await page.locator(`tr[data-host="${CAPPED_HOST}"] .badge`).textContent()).toBe('! capped');

    // The charts' numbers (the table under each chart) add up to the stored reports.
    const chartRows = page.locator('figure.chart').first().locator('details table tbody tr');
    let removed = 0;
    let failed = 0;
    for (const row of await chartRows.all()) {
      const [r, f] = await texts(row);
      removed += Number(r);
      failed += Number(f);
    }
    expect([removed, failed]).toEqual([sum(reports, 'removed'), sum(reports, 'failed')]);
    expect(await page.locator('figure.chart svg rect.s-failed').count()).toBeGreaterThan(0);

    // 1h: only the real run and the markup host's report are that recent.
    const hour = await open('/dashboard?range=1h');
    expect(await hour.locator('#tile-removed .v').textContent()).toBe('2');
    expect(await hour.locator(`tr[data-host="${ENGINE_HOST}"] td`).nth(7).textContent()).toBe('1');
  });

  it('the fleet filters hosts by the status of their last reap (a GET form, no script)', async () => {
    const page = await open('/dashboard?range=24h');
    await page.selectOption('#status', 'capped');
    await Promise.all([page.waitForNavigation(), page.click('.toolbar form button[type=submit]')]);
    expect(new URL(page.url()).searchParams.get('status')).toBe('capped');
    expect(await page.locator('#hosts-table tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-host')))).toEqual([CAPPED_HOST]);
    const bad = await reader.newPage();
    const response = await bad.goto(`${base}/dashboard?status=nonsense`);
    expect(response?.status()).toBe(400);
    expect(await bad.locator('#error-message').textContent()).toContain('status must be');
  });

  it('a host: its reports over time, its tracked containers, its report list with filters', async () => {
    const page = await open(`/dashboard/hosts/${ENGINE_HOST}?range=24h`);
    const reports = await storedReports(24, ENGINE_HOST);
    expect(reports.length).toBe(2);
    expect(await page.locator('#tile-removed .v').textContent()).toBe(String(sum(reports, 'removed')));
    expect(await page.locator('#tile-found .v').textContent()).toBe(String(sum(reports, 'orphans')));
    expect(await page.locator('#tile-failed .v').textContent()).toBe('1');
    // One group of bars per run, oldest first: [found, removed, failed].
    const chart = page.locator('figure.chart details table tbody tr');
    expect(await chart.count()).toBe(2);
    const expected = [...reports].reverse().map((r) => [String(r.counts?.orphans), String(r.counts?.removed), String(r.counts?.failed)]);
    expect([await texts(chart.nth(0)), await texts(chart.nth(1))]).toEqual(expected);

    const rows = page.locator('#reports-table tbody tr');
    expect(await rows.evaluateAll((r) => r.map((row) => row.getAttribute('data-run')))).toEqual(reports.map((r) => r.runId));
    const tracked = await page.locator('#tracked-table tbody tr').allTextContents();
    expect(tracked).toHaveLength(1);
    expect(tracked[0]).toContain('dash-kept-1');
    expect(tracked[0]).toContain('dash-test');

    // Filters: status, then the range links keep it.
    const partial = await open(`/dashboard/hosts/${ENGINE_HOST}?range=24h&status=partial`);
    expect(await partial.locator('#reports-table tbody tr').count()).toBe(1);
    const ok = await open(`/dashboard/hosts/${ENGINE_HOST}?range=24h&status=ok`);
    expect(await ok.locator('#reports-table tbody tr').count()).toBe(1);
    await Promise.all([ok.waitForNavigation(), ok.click('nav.ranges a:text-is("1h")')]);
    expect(new URL(ok.url()).search).toBe('?range=1h&status=ok');
    expect(await ok.locator('#reports-table').count()).toBe(0);
    expect(await ok.locator('#tile-runs .v').textContent()).toBe('1');
  });

  it('click through: fleet → host → report → run → another host', async () => {
    const page = await open('/dashboard');
    await Promise.all([page.waitForNavigation(), page.click(`#hosts-table tr[data-host="${ENGINE_HOST}"] td:first-child a`)]);
    expect(new URL(page.url()).pathname).toBe(`/dashboard/hosts/${ENGINE_HOST}`);
    await Promise.all([page.waitForNavigation(), page.click(`#reports-table tr[data-run="${realRunId}"] td:first-child a`)]);
    expect(new URL(page.url()).pathname).toBe(`/dashboard/hosts/${ENGINE_HOST}/runs/${realRunId}`);
    await Promise.all([page.waitForNavigation(), page.click('#run-link')]);
    expect(new URL(page.url()).pathname).toBe(`/dashboard/runs/${realRunId}`);
    expect(await page.locator('#run-table tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-host')))).toEqual([DOWN_HOST, ENGINE_HOST]);
    await Promise.all([page.waitForNavigation(), page.click(`#run-table tr[data-host="${DOWN_HOST}"] td:first-child a`)]);
    expect(new URL(page.url()).pathname).toBe(`/dashboard/hosts/${DOWN_HOST}`);
    // And back to the fleet from anywhere.
    await Promise.all([page.waitForNavigation(), page.click('.crumbs a')]);
    expect(new URL(page.url()).pathname).toBe('/dashboard');
    // The fleet's recent runs link to the run.
    await Promise.all([page.waitForNavigation(), page.click(`#runs-table tr[data-run="${cappedRunId}"] a`)]);
    expect(new URL(page.url()).pathname).toBe(`/dashboard/runs/${cappedRunId}`);
    expect(await page.locator(`#run-table tr[data-host="${CAPPED_HOST}"] td.err`).textContent()).toBe('capped: 30 orphans > max reap 10; nothing was touched');
  });

  it('a run: every host report of it, with the counts the store holds', async () => {
    const page = await open(`/dashboard/runs/${realRunId}`);
    const stored = await store.reports.reportsForRun(realRunId);
    for (const report of stored) {
      const cells = await texts(page.locator(`#run-table tr[data-host="${report.hostId}"]`));
      expect(cells[1]).toContain(report.status);
      const counts = report.counts;
      expect(cells.slice(2, 8)).toEqual(counts ? [counts.labelled, counts.tracked, counts.orphans, counts.young, counts.removed, counts.failed].map(String) : ['–', '–', '–', '–', '–', '–']);
      expect(cells[9]).toBe(report.error ?? '');
    }
    expect(await page.locator('#tile-removed .v').textContent()).toBe('2');
    expect(await page.locator('#tile-failing-hosts .v').textContent()).toBe('2');
  });

  it('a report: every container with its action and error; the error\'s markup is text', async () => {
    const report = (await store.reports.reportsForRun(realRunId)).find((r) => r.hostId === ENGINE_HOST)!;
    expect(report.containers.map((c) => c.action).sort()).toEqual(['failed', 'removed', 'removed']);
    const page = await open(`/dashboard/hosts/${ENGINE_HOST}/runs/${realRunId}`);
    for (const container of report.containers) {
      const cells = await texts(page.locator(`#containers-table tr[data-container="${container.clawboxId}"]`));
      expect(cells[0]).toBe(container.clawboxId);
      expect(cells[1]).toBe(container.dockerId.slice(0, 12));
      expect(cells[4]).toContain(container.action);
      // Removed at once: never in quarantine (S11).
      expect(cells[5]).toBe('–');
      expect(cells[6]).toBe(container.error ?? '');
    }
    for (const name of ['labelled', 'tracked', 'orphans', 'young', 'stopped', 'removed', 'vanished', 'failed'] as const) {
      expect(await page.locator(`#counts-table td[data-count="${name}"]`).textContent(), name).toBe(String(report.counts?.[name]));
    }
    // The agent's error (markup) reached the page as text.
    await expect.poll(() => page.getByText(`${MARKUP} device or resource busy`).isVisible()).toBe(true);
    expect(await page.locator('main b').count()).toBe(0);
    expect(await page.locator('script').count()).toBe(0);
  });

  it('markup in a stored error is shown as text and never runs, with JavaScript on', async () => {
    const context = await browser!.newContext({ javaScriptEnabled: true });
    const dialogs: string[] = [];
    try {
      await signIn(await context.newPage(), `${base}/dashboard`, TOKEN);
      for (const path of ['/dashboard', `/dashboard/hosts/${XSS_HOST}`, `/dashboard/runs/${xssRunId}`, `/dashboard/hosts/${XSS_HOST}/runs/${xssRunId}`]) {
        const page = await context.newPage();
        page.on('dialog', (dialog) => {
          dialogs.push(dialog.message());
          void dialog.dismiss();
        });
        const response = await page.goto(base + path);
        expect(response?.status(), path).toBe(200);
        await expect.poll(() => page.getByText(`agent said ${MARKUP}`).first().isVisible(), { message: path }).toBe(true);
        expect(await page.locator('b').count(), path).toBe(0);
        expect(await page.locator('script').count(), path).toBe(0);
        expect(await page.evaluate(() => document.body.innerText), path).toContain(MARKUP);
      }
    } finally {
      await context.close();
    }
    expect(dialogs).toEqual([]);
  });

  it('answers a bad id or an unknown page with an HTML error page, not a stack', async () => {
    const page = await reader.newPage();
    expect((await page.goto(`${base}/dashboard/hosts/nobody-here`))?.status()).toBe(404);
    expect(await page.locator('#error-message').textContent()).toContain('nobody-here');
    expect((await page.goto(`${base}/dashboard/runs/${randomUUID()}`))?.status()).toBe(404);
    expect((await page.goto(`${base}/dashboard/hosts/%3Cb%3Ex%3C%2Fb%3E`))?.status()).toBe(400);
    expect(await page.locator('b').count()).toBe(0);
    expect((await page.goto(`${base}/dashboard/nowhere`))?.status()).toBe(404);
    const response = await fetch(`${base}/dashboard`, { redirect: 'manual' });
    expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
  });
});

describe('engines, guards, quarantine and clocks on the pages (S10, S4, S11, S12)', () => {
  const TWIN_HOST = 'dash-twin';
  let twin: TestAgent | undefined;
  let quarantineRunId: string;
  let guardRunId: string;
  let twinRunId: string;
  let quarantinedId: string;
  const settings = { ...DEFAULT_REAP_SETTINGS, graceSeconds: 1, stopTimeoutSeconds: 1, agentAttempts: 1, agentTimeoutMs: 20_000, reportMarginMs: 1000 };

  beforeAll(async () => {
    quarantinedId = (await makeContainer(engine!.docker, { clawboxId: 'dash-q-1', kind: 'running', runLabel: RUN_LABEL })).id;
    await sleep(3000);
    // The default settings now: an orphan is paused for 10 minutes before it is removed (S11).
    expect(settings.quarantineSeconds).toBe(600);
    const reaper = createReaper({ store, masterKey: staticMasterKey(MASTER), logger: reaperLog.logger, settings });
    quarantineRunId = randomUUID();
    await reaper.run({ runId: quarantineRunId, trigger: 'api', hosts: [ENGINE_HOST], deadlineAt: Date.now() + 60_000 });

    // The same orphans against a per-host cap of 1: capped by max-reap (S4), nothing touched.
    await store.hosts.put(ENGINE_HOST, { agentUrl: agent!.url, enabled: true, maxReap: 1 });
    guardRunId = randomUUID();
    await reaper.run({ runId: guardRunId, trigger: 'api', hosts: [ENGINE_HOST], deadlineAt: Date.now() + 60_000 });

    // A second host record on the same engine (S10), reaped by a control plane whose clock is 10 s
    // behind the agent's (S12): refused engine_claimed, and the agent's clock flagged.
    twin = await startTestAgent({ dockerHost: engine!.dockerHost, hostId: TWIN_HOST, masterKey: MASTER });
    await store.hosts.put(TWIN_HOST, { agentUrl: twin.url, enabled: true });
    const lagging = createReaper({ store, masterKey: staticMasterKey(MASTER), logger: reaperLog.logger, settings, now: () => Date.now() - 10_000 });
    twinRunId = randomUUID();
    await lagging.run({ runId: twinRunId, trigger: 'api', hosts: [TWIN_HOST], deadlineAt: Date.now() + 60_000 });
  });

  afterAll(async () => {
    await twin?.close();
  });

  const reportOf = async (runId: string, hostId: string) => (await store.reports.reportsForRun(runId)).find((r) => r.hostId === hostId)!;

  it('the real runs: orphans paused into quarantine, then capped by max-reap, and the twin record refused', async () => {
    const quarantined = await reportOf(quarantineRunId, ENGINE_HOST);
    expect(quarantined.status).toBe('ok');
    expect(quarantined.counts).toMatchObject({ removed: 0, quarantined: 2 });
    // The one whose removal failed in the first run was stopped then: left as it is, not paused.
    expect(quarantined.containers.map((c) => [c.clawboxId, c.action, c.paused]).sort()).toEqual([
      ['dash-fail-1', 'quarantined', false],
      ['dash-q-1', 'quarantined', true],
    ]);
    expect(await stateOf(engine!.docker, quarantinedId)).toBe('paused');
    const capped = await reportOf(guardRunId, ENGINE_HOST);
    expect(capped.status).toBe('capped');
    expect(capped.cap).toEqual({ guard: 'max-reap', limit: 1, orphans: 2, labelled: 3 });
    const refused = await reportOf(twinRunId, TWIN_HOST);
    expect(refused).toMatchObject({ status: 'refused', errorCode: 'engine_claimed', clockFlag: true });
    expect(refused.clockOffsetMs).toBeGreaterThan(5000);
    expect((await store.hosts.get(TWIN_HOST))?.engineId).toBeUndefined();
  });

  it('the fleet: each host\'s engine or "unpinned", and why a failing last reap failed', async () => {
    const page = await open('/dashboard?range=24h');
    const engineHost = (await store.hosts.get(ENGINE_HOST))!;
    expect(engineHost.engineId).toBeDefined();
    const engineCell = page.locator(`#hosts-table tr[data-host="${ENGINE_HOST}"] .engine`);
    expect(await engineCell.textContent()).toBe(`engine ${shortEngine(engineHost.engineId!)}`);
    expect(await engineCell.getAttribute('title')).toBe(engineHost.engineId);
    for (const hostId of [DOWN_HOST, TWIN_HOST]) expect(await page.locator(`#hosts-table tr[data-host="${hostId}"] .engine`).textContent(), hostId).toBe('engine: unpinned');
    expect(await page.locator(`#hosts-table tr[data-host="${ENGINE_HOST}"] .why`).textContent()).toBe('capped by max-reap: 2 orphans > limit 1 (of 3 labelled); nothing was touched');
    // A long reason is cut on the fleet page; its tooltip (and the host page) has it whole.
    const twinWhy = page.locator(`#hosts-table tr[data-host="${TWIN_HOST}"] .why`);
    const full = `engine_claimed: engine ${engineHost.engineId} is pinned to host ${ENGINE_HOST}; two host records on one engine would reap each other's containers, so nothing was touched. Point this host at its own engine, or remove one of the records`;
    expect(await twinWhy.getAttribute('title')).toBe(full);
    const shown = (await twinWhy.textContent())!;
    expect(shown.length).toBeLessThanOrEqual(240);
    expect(full.startsWith(shown.endsWith('…') ? shown.slice(0, -1) : shown)).toBe(true);
    // The down host's error, as the reaper recorded it.
    const down = (await store.hosts.get(DOWN_HOST))!;
    expect(down.lastReap?.error).toBeDefined();
    expect(await page.locator(`#hosts-table tr[data-host="${DOWN_HOST}"] .why`).textContent()).toBe(down.lastReap!.error);
  });

  it('a host: its engine and when it was pinned, why its last reap failed, and a flagged clock', async () => {
    const host = (await store.hosts.get(ENGINE_HOST))!;
    const page = await open(`/dashboard/hosts/${ENGINE_HOST}`);
    expect(await page.locator('#host-engine [data-engine]').textContent()).toBe(host.engineId);
    expect(await page.locator('#host-pinned').textContent()).toContain(`pinned ${formatInstant(host.enginePinnedAt!)}`);
    expect(await page.locator('#host-why').textContent()).toContain('capped by max-reap');
    expect(await page.locator('#host-clock').getAttribute('class')).toBe('');

    const twinPage = await open(`/dashboard/hosts/${TWIN_HOST}`);
    expect(await twinPage.locator('#host-engine').textContent()).toContain('unpinned');
    expect(await twinPage.locator('#host-why').textContent()).toContain('engine_claimed');
    expect(await twinPage.locator('#host-clock').getAttribute('class')).toBe('bad-text');
    expect(await twinPage.locator('#host-clock').textContent()).toMatch(/^\+\d+\.\d s off the control plane's \(more than 5 s/);
  });

  it('a report: each quarantined container\'s time left until removal, the new counts, the engine and the clock', async () => {
    const report = await reportOf(quarantineRunId, ENGINE_HOST);
    const page = await open(`/dashboard/hosts/${ENGINE_HOST}/runs/${quarantineRunId}`);
    for (const c of report.containers) {
      expect(Date.parse(c.removeAfter!) - Date.parse(c.quarantinedAt!)).toBe(600_000);
      const cells = await texts(page.locator(`#containers-table tr[data-container="${c.clawboxId}"]`));
      expect(cells[4]).toContain('quarantined');
      // About 10 minutes left: the run was moments ago.
      expect(cells[5]).toMatch(new RegExp(`^removed after ${formatInstant(c.removeAfter!)} \\(in (9|10) min\\)`));
      expect(cells[5]).toContain(`quarantined since ${formatInstant(c.quarantinedAt!)}`);
      expect(cells[5]).toContain(c.paused ? 'paused (frozen, nothing lost)' : 'not running: left as it was');
    }
    for (const name of ['quarantined', 'restored', 'removed'] as const) {
      expect(await page.locator(`#counts-table td[data-count="${name}"]`).textContent(), name).toBe(String(report.counts?.[name]));
    }
    expect(await page.locator('#report-engine').textContent()).toBe(report.engineId);
    expect(await page.locator('#report-clock').getAttribute('data-flag')).toBe('false');
    expect(await page.locator('#report-cap').count()).toBe(0);
  });

  it('a capped report: the guard, its limit and what it compared, and what to do next', async () => {
    const report = await reportOf(guardRunId, ENGINE_HOST);
    const page = await open(`/dashboard/hosts/${ENGINE_HOST}/runs/${guardRunId}`);
    for (const key of ['guard', 'limit', 'orphans', 'labelled'] as const) {
      expect(await page.locator(`#report-cap [data-cap="${key}"]`).textContent(), key).toBe(String(report.cap![key]));
    }
    expect(await page.locator('#report-error').textContent()).toContain('capped by max-reap: 2 orphans > limit 1');
    expect(await page.locator('#cap-advice').textContent()).toContain(`clawbox-reaper reap --host ${ENGINE_HOST} --force`);
    const run = await open(`/dashboard/runs/${guardRunId}`);
    expect(await run.locator(`#run-table tr[data-host="${ENGINE_HOST}"] td.err`).textContent()).toBe('capped by max-reap: 2 orphans > limit 1 (of 3 labelled); nothing was touched');
  });

  it('a refused report: the binding\'s error and code, and the clock flagged in red', async () => {
    const report = await reportOf(twinRunId, TWIN_HOST);
    const page = await open(`/dashboard/hosts/${TWIN_HOST}/runs/${twinRunId}`);
    expect(await page.locator('#report-error').textContent()).toContain(`engine_claimed · ${report.error}`);
    const clock = page.locator('#report-clock');
    expect(await clock.getAttribute('data-flag')).toBe('true');
    expect(await clock.evaluate((el) => getComputedStyle(el).color)).toBe('rgb(180, 35, 24)');
    expect(await page.locator('#report-engine').textContent()).toBe(report.engineId);
  });
});

describe('rough edges a new user hit (issue 11)', () => {
  const GONE_HOST = 'dash-gone';
  const BUSY_HOST = 'dash-busy';
  const BUSY_RUNS = 30;
  const storeReport = (hostId: string, at: number, status: 'ok' | 'partial', removed: number, failed: number) => {
    const runId = randomUUID();
    const iso = new Date(at).toISOString();
    const counts = { labelled: removed + failed + 1, tracked: 1, orphans: removed + failed, young: 0, stopped: removed + failed, removed, vanished: 0, failed };
    return store.reports.putReport({
      hostId, runId, trigger: 'api', status, startedAt: iso, finishedAt: iso, durationMs: 20, dryRun: false, force: false, attempts: 1,
      agentReport: reapReport(hostId, runId, iso, status, counts, []),
    });
  };

  beforeAll(async () => {
    const now = Date.now();
    // A host reaped twice 1.5 h ago, then removed from the registry: its reports stay until they expire.
    await store.hosts.put(GONE_HOST, { agentUrl: 'http://127.0.0.1:9', enabled: true });
    await storeReport(GONE_HOST, now - 100 * 60_000, 'ok', 3, 0);
    await storeReport(GONE_HOST, now - 90 * 60_000, 'partial', 0, 1);
    expect(await store.hosts.delete(GONE_HOST)).toBe(true);
    // A host reaped every 2 s for a minute (the API triggers runs on demand): its chart's runs share their minutes.
    await store.hosts.put(BUSY_HOST, { agentUrl: 'http://127.0.0.1:9', enabled: true });
    for (let i = 0; i < BUSY_RUNS; i++) await storeReport(BUSY_HOST, now - 20 * 60_000 + i * 2000, 'ok', 1, 0);
  });

  /** Every x label drawn on the page's charts: its text and where the browser put it. */
  const xLabels = (page: Page) =>
    page.locator('figure.chart svg').evaluateAll((svgs) =>
      svgs.map((svg) => {
        const frame = svg.getBoundingClientRect();
        return {
          frame: { left: frame.left, right: frame.right },
          labels: [...svg.querySelectorAll('text.xlabel')].map((t) => {
            const box = t.getBoundingClientRect();
            return { text: t.textContent ?? '', left: box.left, right: box.right };
          }),
        };
      }),
    );
  function expectReadable(charts: Awaited<ReturnType<typeof xLabels>>, pattern: RegExp, what: string) {
    expect(charts.length, what).toBeGreaterThan(0);
    for (const { frame, labels } of charts) {
      const texts = labels.map((l) => l.text);
      expect(labels.length, `${what}: ${texts.join(' ')}`).toBeGreaterThanOrEqual(4);
      expect(new Set(texts).size, `${what}: ${texts.join(' ')}`).toBe(texts.length);
      for (const label of labels) {
        expect(label.text, what).toMatch(pattern);
        expect(label.left, what).toBeGreaterThanOrEqual(frame.left);
        expect(label.right, what).toBeLessThanOrEqual(frame.right);
      }
      for (let i = 1; i < labels.length; i++) expect(labels[i]!.left, `${what}: ${texts.join(' ')}`).toBeGreaterThan(labels[i - 1]!.right);
    }
  }

  it('the host chart: runs seconds apart get distinct, non-overlapping labels (by the second), and the date they leave out', async () => {
    const page = await open(`/dashboard/hosts/${BUSY_HOST}?range=1h`);
    // One group per run: the case whose labels repeated ("12:33 12:33 12:34 …").
    expect(await page.locator('figure.chart details table tbody tr').count()).toBe(BUSY_RUNS);
    const charts = await xLabels(page);
    expectReadable(charts, /^\d\d:\d\d:\d\d$/, 'host, 30 runs 2 s apart');
    // Each label is the time of the run under it, oldest first.
    const runs = (await storedReports(1, BUSY_HOST)).reverse();
    const rendered = await page.locator('figure.chart svg text.xlabel').evaluateAll((els) => els.map((e) => Number(e.getAttribute('x'))));
    expect(rendered).toHaveLength(charts[0]!.labels.length);
    expect(await page.locator('figure.chart .axis-note').textContent()).toContain(`UTC, ${new Date(Date.parse(runs[0]!.startedAt)).toISOString().slice(0, 10)}`);
    const slot = 896 / runs.length;
    rendered.forEach((x, k) => {
      const run = runs[Math.round((x - 52 - slot / 2) / slot)]!;
      expect(charts[0]!.labels[k]!.text).toBe(run.startedAt.slice(11, 19));
    });
  });

  it('the fleet charts over a day: hourly buckets labelled with their date, so no hour is named twice', async () => {
    const page = await open('/dashboard?range=24h');
    expectReadable(await xLabels(page), /^\d\d-\d\d \d\d:00$/, 'fleet 24h');
    expectReadable(await xLabels(await open('/dashboard?range=1h')), /^\d\d:\d\d$/, 'fleet 1h');
    expectReadable(await xLabels(await open('/dashboard?range=7d')), /^\d\d-\d\d$/, 'fleet 7d');
  });

  it('the fleet says which part of its totals is of hosts no longer registered, and names them', async () => {
    const page = await open('/dashboard?range=24h');
    const reports = await storedReports(24);
    const registered = new Set((await store.hosts.list()).hosts.map((h) => h.hostId));
    expect(registered.has(GONE_HOST)).toBe(false);
    const gone = reports.filter((r) => !registered.has(r.hostId));
    expect(gone.map((r) => r.hostId)).toEqual([GONE_HOST, GONE_HOST]);
    // Still counted (what was removed stays removed), and said so on each tile it changes.
    expect(await page.locator('#tile-removed .v').textContent()).toBe(String(sum(reports, 'removed')));
    expect(await page.locator('#tile-removed .d').textContent()).toBe('incl. 3 of hosts no longer registered');
    expect(await page.locator('#tile-failed .v').textContent()).toBe(String(sum(reports, 'failed')));
    expect(await page.locator('#tile-failed .d').textContent()).toBe('incl. 1 of hosts no longer registered');
    expect(await page.locator('#tile-failing-reports .d').textContent()).toBe('incl. 1 of hosts no longer registered');
    const note = page.locator('#unregistered-note');
    expect(await note.textContent()).toContain(`2 host reports of the ${reports.length} in 24h belong to a host no longer registered: ${GONE_HOST} (2 reports, 3 removed, 1 failed)`);
    // The hosts table lists registered hosts only; the sums of its rows plus the note's make the tile.
    expect(await page.locator(`#hosts-table tr[data-host="${GONE_HOST}"]`).count()).toBe(0);
    let rowsRemoved = 0;
    for (const row of await page.locator('#hosts-table tbody tr').all()) rowsRemoved += Number((await texts(row))[8]);
    expect(rowsRemoved + 3).toBe(sum(reports, 'removed'));
    // The note leads to the host's page, which says it is not registered.
    await Promise.all([page.waitForNavigation(), note.locator(`a[data-gone-host="${GONE_HOST}"]`).click()]);
    expect(new URL(page.url()).pathname).toBe(`/dashboard/hosts/${GONE_HOST}`);
    expect(await page.locator('#not-registered').count()).toBe(1);
    // No such note, no such line, while every report in the range is of a registered host (its reports are 1.5 h old).
    const hour = await open('/dashboard?range=1h');
    expect(await hour.locator('#unregistered-note').count()).toBe(0);
    expect(await hour.locator('.tile .d').count()).toBe(0);
  });

  it('a signed-out browser is offered the sign-in page only; a signed-in one the fleet and sign-out', async () => {
    const context = await browser!.newContext({ javaScriptEnabled: false });
    try {
      const page = await context.newPage();
      await page.goto(`${base}/dashboard`);
      expect(new URL(page.url()).pathname).toBe('/dashboard/login');
      const links = async () => page.locator('header.top a').evaluateAll((as) => as.map((a) => `${a.textContent} ${a.getAttribute('href')}`));
      expect(await page.locator('header.top nav a').allTextContents()).toEqual(['Sign in']);
      expect(await links()).toEqual(['clawbox-reaper /dashboard/login', 'Sign in /dashboard/login']);
      expect(await page.locator('header.top button').count()).toBe(0);
      // Once signed in: the fleet, and a way out.
      await page.fill('#token', TOKEN);
      await Promise.all([page.waitForNavigation(), page.click('form.login button[type=submit]')]);
      expect(new URL(page.url()).pathname).toBe('/dashboard');
      expect(await links()).toEqual(['clawbox-reaper /dashboard', 'Fleet /dashboard']);
      expect(await page.locator('header.top button').textContent()).toBe('Sign out');
      // Signed out again: back to the sign-in page only.
      await Promise.all([page.waitForNavigation(), page.click('header.top form button[type=submit]')]);
      expect(await links()).toEqual(['clawbox-reaper /dashboard/login', 'Sign in /dashboard/login']);
    } finally {
      await context.close();
    }
  });
});

describe('on AWS (the Lambda entry, API Gateway payload 2.0)', () => {
  it('serves the pages with no sign-in of their own: IAM on the HTTP API route guards them', async () => {
    const { app } = createApiFromEnv({ env: { REAPER_REAPER_FUNCTION_NAME: 'reaper', REAPER_TABLE_PREFIX: dynamo!.prefix, REAPER_LOG_LEVEL: 'silent' }, dynamo: dynamo!.client });
    const event = (rawPath: string, rawQueryString = '') => ({
      version: '2.0',
      routeKey: 'GET /dashboard/{proxy+}',
      rawPath,
      rawQueryString,
      headers: { host: 'abc123.execute-api.us-east-1.amazonaws.com', 'x-forwarded-proto': 'https' },
      requestContext: {
        accountId: '123456789012', apiId: 'abc123', domainName: 'abc123.execute-api.us-east-1.amazonaws.com', domainPrefix: 'abc123',
        http: { method: 'GET', path: rawPath, protocol: 'HTTP/1.1', sourceIp: '198.51.100.7', userAgent: 'test' },
        requestId: randomUUID(), routeKey: 'GET /dashboard/{proxy+}', stage: '$default', time: '', timeEpoch: Date.now(),
      },
      isBase64Encoded: false,
    });
    const lambda = handle(app) as unknown as (e: ReturnType<typeof event>, c: unknown) => Promise<{ statusCode: number; headers: Record<string, string>; body: string }>;
    const page = await lambda(event(`/dashboard/runs/${realRunId}`, 'range=7d'), {});
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain(ENGINE_HOST);
    expect(page.body).not.toContain('<b>x</b>');
    // With no token there is nothing to sign in to: the sign-in page sends the browser on.
    expect((await lambda(event('/dashboard/login'), {})).statusCode).toBe(303);
  });
});

describe('the local stack (npm start) serves the dashboard', () => {
  it('signs in with the stack token and shows its host after a scheduled reap', async () => {
    const { startLocalStack } = await import('../../cli/local-stack.js');
    const dir = mkdtempSync(join(tmpdir(), 'cr-dash-'));
    // Its own label: this stack's agent must not judge the containers of the tests above.
    const stack = await startLocalStack({
      dataDir: join(dir, 'data'),
      apiListen: '127.0.0.1:0',
      agentListen: '127.0.0.1:0',
      hostId: 'dash-local',
      intervalMs: HOUR,
      env: { DOCKER_HOST: engine!.dockerHost, REAPER_LABEL: `clawbox.dash-local-${RUN_LABEL}`, REAPER_LOG_LEVEL: 'silent', REAPER_API_TOKEN: TOKEN },
      logger: capturingLogger('warn').logger,
    });
    const context = await browser!.newContext({ javaScriptEnabled: false });
    try {
      await stack.tick();
      const page = await signIn(await context.newPage(), `${stack.apiUrl}/dashboard`, stack.token);
      expect(page.url()).toBe(`${stack.apiUrl}/dashboard`);
      const row = page.locator('#hosts-table tr[data-host="dash-local"]');
      expect(await row.locator('.badge').textContent()).toBe('✓ ok');
      expect(await row.locator('td').first().textContent()).toContain(stack.agentUrl);
    } finally {
      await context.close();
      await stack.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
