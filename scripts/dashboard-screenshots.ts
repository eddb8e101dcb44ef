/**
 * Screenshots of the dashboard for the docs (docs/screenshots/*.png): a fleet of five hosts with a
 * day of reports written through the real store into dynalite, the real API app (local flavour,
 * with sign-in) served on 127.0.0.1, and Debian's chromium driven by playwright-core.
 *
 *   npx tsx scripts/dashboard-screenshots.ts [--out docs/screenshots] [--chromium /usr/bin/chromium]
 *
 * Nothing leaves 127.0.0.1. Everything it starts is stopped at the end, also on failure.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { serve, type ServerType } from '@hono/node-server';
import { chromium, type Browser } from 'playwright-core';
import type { ContainerReport, ReapReport } from '../lib/agent-contract.js';
import { createLocalApi } from '../functions/api/local.js';
import { createStore, type ReportInput, type Store } from '../functions/store/index.js';
import { createLogger } from '../lib/logger.js';
import { startDynalite, type TestDynamo } from '../test/helpers/dynalite.js';

export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const { values: args } = parseArgs({ options: { out: { type: 'string', default: 'docs/screenshots' }, chromium: { type: 'string', default: '/usr/bin/chromium' } } });

const HOUR = 3_600_000;
const hex = (n: number) => randomBytes(n).toString('hex');

/** A deterministic pseudo-random sequence, so the pictures stay the same from run to run. */
function rng(seed: number) {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
}

function agentReport(hostId: string, runId: string, at: number, removed: number, failed: number, young: number, tracked: number): ReapReport {
  const containers: ContainerReport[] = [];
  const created = new Date(at - 3 * HOUR).toISOString();
  for (let i = 0; i < removed; i++) containers.push({ clawboxId: `sbx-${hostId}-${runId.slice(0, 4)}-${i}`, dockerId: hex(32), state: 'running', createdAt: created, action: 'removed' });
  for (let i = 0; i < failed; i++) {
    containers.push({
      clawboxId: `sbx-${hostId}-${runId.slice(0, 4)}-f${i}`,
      dockerId: hex(32),
      state: 'dead',
      createdAt: created,
      action: 'failed',
      error: '(HTTP code 500) server error - container is marked for removal and cannot be started: device or resource busy',
    });
  }
  for (let i = 0; i < young; i++) containers.push({ clawboxId: `sbx-${hostId}-young-${i}`, dockerId: hex(32), state: 'running', createdAt: new Date(at - 30_000).toISOString(), action: 'skipped-young' });
  const orphans = removed + failed;
  return {
    runId,
    hostId,
    engineId: `ENGINE-${hostId.toUpperCase()}`,
    clockOffsetMs: 12,
    status: failed > 0 ? 'partial' : 'ok',
    startedAt: new Date(at + 40).toISOString(),
    finishedAt: new Date(at + 900).toISOString(),
    durationMs: 860,
    dryRun: false,
    counts: { labelled: tracked + orphans + young, tracked, orphans, young, stopped: removed, removed, vanished: 0, failed },
    containers,
  };
}

async function seed(store: Store, nowMs: number): Promise<{ runId: string; hostId: string }> {
  const hosts = ['docker-eu-1', 'docker-eu-2', 'docker-us-1', 'docker-us-2', 'docker-ap-1'];
  for (const [i, hostId] of hosts.entries()) await store.hosts.put(hostId, { agentUrl: `https://10.0.${i}.10:8788`, enabled: true, ...(hostId === 'docker-ap-1' ? { maxReap: 20 } : {}) });
  for (const id of ['sbx-live-1001', 'sbx-live-1002', 'sbx-live-1003']) await store.tracked.track('docker-eu-2', id, { owner: 'manager-eu', leaseSeconds: 7200 });
  await store.tracked.track('docker-eu-2', 'sbx-live-0999', { owner: 'manager-eu', dockerId: hex(32) });
  const random = rng(7);
  let last = { runId: '', hostId: 'docker-eu-2' };
  // A run every 30 minutes over the last day.
  for (let t = nowMs - 24 * HOUR + 5 * 60_000; t < nowMs; t += 30 * 60_000) {
    const runId = randomUUID();
    for (const hostId of hosts) {
      const base: ReportInput = { hostId, runId, trigger: 'schedule', status: 'ok', startedAt: new Date(t).toISOString(), finishedAt: new Date(t + 1000).toISOString(), durationMs: 1000, dryRun: false, force: false, attempts: 1, runHosts: hosts.length };
      const late = t > nowMs - 3 * HOUR;
      if (hostId === 'docker-us-2' && late) {
        await store.reports.putReport({ ...base, status: 'unreachable', error: 'connect ECONNREFUSED 10.0.3.10:8788', attempts: 3, durationMs: 6100 });
        continue;
      }
      if (hostId === 'docker-ap-1' && t > nowMs - 90 * 60_000) {
        const report = agentReport(hostId, runId, t, 0, 0, 0, 12);
        const capped: ReapReport = { ...report, status: 'capped', counts: { ...report.counts, labelled: 47, orphans: 35 } };
        await store.reports.putReport({ ...base, status: 'capped', maxReap: 20, trackedSent: 12, agentReport: capped });
        continue;
      }
      const removed = Math.floor(random() * random() * 9);
      const failed = hostId === 'docker-eu-2' && random() < 0.2 ? 1 + Math.floor(random() * 2) : 0;
      const report = agentReport(hostId, runId, t, removed, failed, Math.floor(random() * 2), 20 + Math.floor(random() * 10));
      await store.reports.putReport({ ...base, status: report.status, maxReap: 100, trackedSent: report.counts.tracked, snapshotAt: new Date(t).toISOString(), agentReport: report });
      if (hostId === 'docker-eu-2' && failed > 0) last = { runId, hostId };
    }
    for (const hostId of hosts) {
      const reports = await store.reports.reportsForRun(runId);
      const mine = reports.find((r) => r.hostId === hostId);
      if (mine) await store.hosts.recordLastReap(hostId, { runId, at: mine.finishedAt, status: mine.status, counts: mine.counts });
    }
  }
  return last;
}

async function main() {
  const token = randomBytes(24).toString('base64url');
  const logger = createLogger({ level: 'warn' });
  let dynamo: TestDynamo | undefined;
  let server: ServerType | undefined;
  let browser: Browser | undefined;
  try {
    dynamo = await startDynalite({ prefix: 'shots-' });
    const store = createStore({ client: dynamo.client, prefix: dynamo.prefix });
    const failedRun = await seed(store, Date.now());
    const api = createLocalApi({ store, token, logger, invoke: () => Promise.resolve() });
    server = await new Promise<ServerType>((resolve, reject) => {
      const s = serve({ fetch: api.app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
      s.once('error', reject);
    });
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    browser = await chromium.launch({ executablePath: args.chromium, args: CHROMIUM_ARGS });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    mkdirSync(args.out, { recursive: true });
    // The host page lists every report of the day: its top (meta, chart, tracked, first reports) is the picture.
    const shot = (name: string, fullPage = true) => page.screenshot({ path: join(args.out, `${name}.png`), fullPage });

    await page.goto(`${base}/dashboard`);
    await shot('login');
    await page.fill('#token', token);
    await page.click('button[type=submit]');
    await page.waitForURL(`${base}/dashboard`);
    await shot('fleet');
    await page.goto(`${base}/dashboard/hosts/${failedRun.hostId}?range=24h`);
    await page.setViewportSize({ width: 1280, height: 1500 });
    await shot('host', false);
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(`${base}/dashboard/runs/${failedRun.runId}`);
    await shot('run');
    await page.goto(`${base}/dashboard/hosts/${failedRun.hostId}/runs/${failedRun.runId}`);
    await shot('report');
    process.stdout.write(`screenshots in ${args.out}\n`);
  } finally {
    await browser?.close().catch(() => undefined);
    if (server) await new Promise<void>((resolve) => server?.close(() => resolve()));
    await dynamo?.close();
  }
}

await main();
