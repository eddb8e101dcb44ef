/**
 * Load on one agent: N concurrent clients for a bounded time, mixing GET /healthz, signed
 * GET /v1/containers and signed POST /v1/reap (dry runs, so the engine stays as it was: all but one
 * reap at a time get 409, some repeat an earlier runId and get its stored report). Reports requests
 * sent, p50/p99 latency per route, statuses, errors (5xx must be 0) and the agent's RSS before,
 * at peak and after. The agent runs as its own process (the real CLI, after `node scripts/build.mjs`),
 * so its memory is measured alone.
 *
 *   npx tsx bench/load-agent.ts [--clients 200] [--seconds 10] [--containers 200] [--no-build]
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpus, totalmem } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { signedHeaders } from '../lib/signing.js';
import { cpuSeconds, rssMiB, startAgentProcess, type AgentProcess } from './agent-process.js';
import { makeContainers } from '../test/helpers/containers.js';
import { startEngine } from '../test/helpers/engine.js';

export type Route = 'healthz' | 'containers' | 'reap' | 'reap-replay';

export interface RouteFigures {
  requests: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  statuses: Record<string, number>;
}

export interface LoadFigures {
  clients: number;
  durationMs: number;
  requests: number;
  requestsPerSecond: number;
  routes: Record<Route, RouteFigures>;
  /** Answers with a 5xx status: must be 0. */
  serverErrors: number;
  /** Requests that got no HTTP answer at all (connection errors). */
  networkErrors: number;
  /** Reaps that were accepted and carried out (dry runs). */
  reapsRun: number;
}

const quantile = (sorted: number[], q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : 0);

/**
 * Drives `clients` concurrent loops against an agent for `durationMs`. Every reap is a dry run
 * for `hostId`; a fifth of the reaps repeat an earlier runId (the agent must replay, not reap).
 */
export async function loadAgent(options: { url: string; hostKey: Buffer; hostId: string; clients: number; durationMs: number; random?: () => number }): Promise<LoadFigures> {
  const random = options.random ?? Math.random;
  const latencies: Record<Route, number[]> = { healthz: [], containers: [], reap: [], 'reap-replay': [] };
  const statuses: Record<Route, Record<string, number>> = { healthz: {}, containers: {}, reap: {}, 'reap-replay': {} };
  const finishedRunIds: string[] = [];
  let serverErrors = 0;
  let networkErrors = 0;
  let reapsRun = 0;
  const started = performance.now();
  const end = started + options.durationMs;

  const signed = (method: string, path: string, body: string) => ({ ...signedHeaders(options.hostKey, { method, path, body }), ...(body ? { 'content-type': 'application/json' } : {}) });

  // One anchor for the whole load (valid 10 min on the agent's clock; these are dry runs).
  const identityPath = '/v1/identity';
  const identity = (await (await fetch(options.url + identityPath, { headers: signed('GET', identityPath, '') })).json()) as { anchor: string };

  const one = async () => {
    const pick = random();
    let route: Route;
    let init: RequestInit;
    let path: string;
    if (pick < 0.5) {
      route = 'healthz';
      path = '/healthz';
      init = {};
    } else if (pick < 0.8) {
      route = 'containers';
      path = '/v1/containers';
      init = { headers: signed('GET', path, '') };
    } else {
      const replay = finishedRunIds.length > 0 && random() < 0.2;
      route = replay ? 'reap-replay' : 'reap';
      path = '/v1/reap';
      const runId = replay ? finishedRunIds[Math.floor(random() * finishedRunIds.length)]! : `load-${randomUUID()}`;
      const body = JSON.stringify({ runId, hostId: options.hostId, tracked: [], snapshotAt: new Date(Date.now() - 1000).toISOString(), graceSeconds: 0, stopTimeoutSeconds: 0, maxReap: null, dryRun: true, anchor: identity.anchor });
      init = { method: 'POST', headers: signed('POST', path, body), body };
    }
    const t0 = performance.now();
    let status: string;
    try {
      const response = await fetch(options.url + path, init);
      const text = await response.text();
      status = String(response.status);
      if (response.status >= 500) serverErrors++;
      if (route === 'reap' && response.status === 200) {
        reapsRun++;
        finishedRunIds.push((JSON.parse(text) as { runId: string }).runId);
      }
      if (route === 'reap-replay' && response.status === 200 && response.headers.get('x-reaper-replayed') !== 'true') status = '200-not-replayed';
    } catch {
      networkErrors++;
      status = 'network-error';
    }
    latencies[route].push(performance.now() - t0);
    statuses[route][status] = (statuses[route][status] ?? 0) + 1;
  };

  await Promise.all(
    Array.from({ length: options.clients }, async () => {
      while (performance.now() < end) await one();
    }),
  );
  const durationMs = performance.now() - started;
  const routes = {} as Record<Route, RouteFigures>;
  let requests = 0;
  for (const route of Object.keys(latencies) as Route[]) {
    const sorted = [...latencies[route]].sort((a, b) => a - b);
    requests += sorted.length;
    routes[route] = { requests: sorted.length, p50Ms: round(quantile(sorted, 0.5)), p99Ms: round(quantile(sorted, 0.99)), maxMs: round(sorted.at(-1) ?? 0), statuses: statuses[route] };
  }
  return { clients: options.clients, durationMs: Math.round(durationMs), requests, requestsPerSecond: Math.round((requests / durationMs) * 1000), routes, serverErrors, networkErrors, reapsRun };
}

const round = (ms: number) => Math.round(ms * 10) / 10;


export interface AgentLoadBench extends LoadFigures {
  date: string;
  machine: string;
  containersOnEngine: number;
  engineUnchanged: boolean;
  agentRssMiB: { before: number; peak: number; after: number };
  /** CPU seconds used during the load: where the time went (2 cores shared with the load generator). */
  cpuSecondsDuringLoad: { agent: number; dockerd: number; loadGenerator: number };
}

/** The whole bench: private engine, the agent as its own process, the load, the engine compared. */
export async function benchAgentLoad(options: { clients?: number; seconds?: number; containers?: number; build?: boolean } = {}): Promise<AgentLoadBench> {
  const clients = options.clients ?? 200;
  const containers = options.containers ?? 200;
  if (options.build !== false) execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
  const engine = await startEngine();
  const hostId = 'load-host';
  let agentProcess: AgentProcess | undefined;
  try {
    // Labelled containers, all old untracked orphans: every dry run lists them all as would-remove.
    await makeContainers(engine.docker, Array.from({ length: containers }, (_, i) => ({ clawboxId: `load-${i}`, kind: 'created' as const })), 8);
    await sleep(2_100);
    const before = new Map((await engine.docker.listContainers({ all: true })).map((c) => [c.Id, c.State]));

    // Every client holds a connection: the agent's cap (64 by default) is raised to let them all in.
    agentProcess = await startAgentProcess({ dockerHost: engine.dockerHost, hostId, env: { REAPER_AGENT_MAX_CONNECTIONS: String(Math.max(64, clients + 16)) } });
    const { pid, url, hostKey } = agentProcess;
    const rssBefore = rssMiB(pid);
    let peak = rssBefore;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMiB(pid));
    }, 50);
    const cpu0 = { agent: cpuSeconds(pid), dockerd: cpuSeconds(engine.pid), self: cpuSeconds(process.pid) };
    let figures: LoadFigures;
    try {
      figures = await loadAgent({ url, hostKey, hostId, clients, durationMs: (options.seconds ?? 10) * 1000 });
    } finally {
      clearInterval(sampler);
    }
    const cpuSecondsDuringLoad = {
      agent: Math.round((cpuSeconds(pid) - cpu0.agent) * 10) / 10,
      dockerd: Math.round((cpuSeconds(engine.pid) - cpu0.dockerd) * 10) / 10,
      loadGenerator: Math.round((cpuSeconds(process.pid) - cpu0.self) * 10) / 10,
    };
    await sleep(1_000);
    const rssAfter = rssMiB(pid);
    const after = new Map((await engine.docker.listContainers({ all: true })).map((c) => [c.Id, c.State]));
    const engineUnchanged = before.size === after.size && [...before].every(([id, state]) => after.get(id) === state);
    return {
      date: new Date().toISOString(),
      machine: `${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, dockerd 20.10 private engine`,
      containersOnEngine: before.size,
      engineUnchanged,
      ...figures,
      agentRssMiB: { before: rssBefore, peak, after: rssAfter },
      cpuSecondsDuringLoad,
    };
  } finally {
    agentProcess?.stop();
    await engine.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : undefined;
  };
  const result = await benchAgentLoad({ clients: arg('clients'), seconds: arg('seconds'), containers: arg('containers'), build: !process.argv.includes('--no-build') });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  if (result.serverErrors > 0 || !result.engineUnchanged) process.exitCode = 1;
}
