/**
 * Load on the control-plane API (the local stack's app: bearer token, dynalite behind it, served
 * on 127.0.0.1): N requests over mixed routes at a fixed concurrency — host list and reads, tracked
 * list / track / untrack, reports pages, run views, health — with p50/p99 per route. Every answer
 * must be the expected 2xx; errors and 5xx are counted (must be 0).
 *
 *   npx tsx bench/load-api.ts [--requests 1000] [--concurrency 16] [--hosts 50]
 */
import { randomBytes } from 'node:crypto';
import { cpus, totalmem } from 'node:os';
import pLimit from 'p-limit';
import { createLocalApi } from '../functions/api/local.js';
import { DEFAULT_REAP_SETTINGS } from '../functions/reaper/config.js';
import { staticMasterKey } from '../functions/reaper/master-key.js';
import { createReaper } from '../functions/reaper/run.js';
import { createStore } from '../functions/store/index.js';
import { silentLogger } from '../lib/logger.js';
import { serveJsonErrors } from '../lib/serve.js';
import { startDynalite } from '../test/helpers/dynalite.js';
import { closedPortUrl } from '../test/helpers/net.js';

type Route = 'healthz' | 'hosts' | 'host' | 'tracked-list' | 'track' | 'untrack' | 'reports' | 'run';
const MIX: [Route, number][] = [
  ['healthz', 5],
  ['hosts', 10],
  ['host', 15],
  ['tracked-list', 15],
  ['track', 20],
  ['untrack', 10],
  ['reports', 15],
  ['run', 10],
];

export interface ApiLoadBench {
  date: string;
  machine: string;
  requests: number;
  concurrency: number;
  durationMs: number;
  requestsPerSecond: number;
  routes: Record<string, { requests: number; p50Ms: number; p99Ms: number; statuses: Record<string, number> }>;
  serverErrors: number;
  unexpected: number;
  networkErrors: number;
}

const quantile = (sorted: number[], q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : 0);
const round = (ms: number) => Math.round(ms * 10) / 10;

export async function benchApiLoad(options: { requests?: number; concurrency?: number; hosts?: number } = {}): Promise<ApiLoadBench> {
  const total = options.requests ?? 1000;
  const concurrency = options.concurrency ?? 16;
  const hostCount = options.hosts ?? 50;
  const token = randomBytes(24).toString('hex');
  const dynamo = await startDynalite({ prefix: 'loadapi-' });
  const logger = silentLogger();
  let server: Awaited<ReturnType<typeof serveJsonErrors>> | undefined;
  try {
    const store = createStore({ client: dynamo.client, prefix: dynamo.prefix });
    const down = await closedPortUrl();
    const hostIds = Array.from({ length: hostCount }, (_, i) => `load-h${String(i).padStart(3, '0')}`);
    for (const hostId of hostIds) {
      await store.hosts.put(hostId, { agentUrl: down, enabled: true });
      for (let j = 0; j < 10; j++) await store.tracked.track(hostId, `c-${j}`, { owner: 'bench' });
    }
    // One real run: every host unreachable, so every host gets a report for the audit trail.
    const reaper = createReaper({ store, masterKey: staticMasterKey(randomBytes(32).toString('hex')), logger, settings: { ...DEFAULT_REAP_SETTINGS, agentAttempts: 1 } });
    const run = await reaper.run({ trigger: 'api', deadlineAt: Date.now() + 60_000 });

    const api = createLocalApi({ store, token, logger, reaper });
    server = await serveJsonErrors({ fetch: api.app.fetch, hostname: '127.0.0.1', port: 0, logger });
    const address = server.address();
    const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const auth = { authorization: `Bearer ${token}` };

    const weights = MIX.reduce((sum, [, w]) => sum + w, 0);
    const pickRoute = (i: number): Route => {
      let x = (i * 7919) % weights;
      for (const [route, w] of MIX) {
        if (x < w) return route;
        x -= w;
      }
      return 'healthz';
    };
    const latencies: Record<string, number[]> = {};
    const statuses: Record<string, Record<string, number>> = {};
    let serverErrors = 0;
    let unexpected = 0;
    let networkErrors = 0;
    const limit = pLimit(concurrency);
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: total }, (_, i) =>
        limit(async () => {
          const route = pickRoute(i);
          const hostId = hostIds[i % hostIds.length]!;
          const [method, path, body, expected]: [string, string, string | undefined, number] = {
            healthz: ['GET', '/healthz', undefined, 200],
            hosts: ['GET', '/v1/hosts', undefined, 200],
            host: ['GET', `/v1/hosts/${hostId}`, undefined, 200],
            'tracked-list': ['GET', `/v1/hosts/${hostId}/containers?limit=100`, undefined, 200],
            track: ['PUT', `/v1/hosts/${hostId}/containers/bench-${i}`, JSON.stringify({ owner: 'bench', leaseSeconds: 600 }), 200],
            untrack: ['DELETE', `/v1/hosts/${hostId}/containers/bench-${i - 1}`, undefined, 204],
            reports: ['GET', `/v1/reports?limit=20&hostId=${hostId}`, undefined, 200],
            run: ['GET', `/v1/reaps/${run.runId}`, undefined, 200],
          }[route] as [string, string, string | undefined, number];
          const started = performance.now();
          let status: string;
          try {
            const response = await fetch(base + path, { method, headers: { ...auth, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body } : {}) });
            await response.arrayBuffer();
            status = String(response.status);
            if (response.status >= 500) serverErrors++;
            else if (response.status !== expected) unexpected++;
          } catch {
            networkErrors++;
            status = 'network-error';
          }
          (latencies[route] ??= []).push(performance.now() - started);
          const s = (statuses[route] ??= {});
          s[status] = (s[status] ?? 0) + 1;
        }),
      ),
    );
    const durationMs = performance.now() - t0;
    const routes: ApiLoadBench['routes'] = {};
    for (const [route, values] of Object.entries(latencies)) {
      const sorted = [...values].sort((a, b) => a - b);
      routes[route] = { requests: sorted.length, p50Ms: round(quantile(sorted, 0.5)), p99Ms: round(quantile(sorted, 0.99)), statuses: statuses[route] ?? {} };
    }
    return {
      date: new Date().toISOString(),
      machine: `${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, dynalite in memory`,
      requests: total,
      concurrency,
      durationMs: Math.round(durationMs),
      requestsPerSecond: Math.round((total / durationMs) * 1000),
      routes,
      serverErrors,
      unexpected,
      networkErrors,
    };
  } finally {
    if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
    await dynamo.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : undefined;
  };
  const result = await benchApiLoad({ requests: arg('requests'), concurrency: arg('concurrency'), hosts: arg('hosts') });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  if (result.serverErrors > 0 || result.unexpected > 0 || result.networkErrors > 0) process.exitCode = 1;
}
