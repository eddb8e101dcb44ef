/**
 * Fan-out benchmark: one reap run over 1,000 (or --hosts N) simulated hosts, 50 tracked items each
 * in dynalite, planned and sharded as on AWS (the shards run in this process, as locally).
 * One node process (a child, like a remote fleet) serves every host's agent on 127.0.0.1 (path
 * /h/<hostId>/v1/reap): it verifies each host's signature with that host's derived key, validates
 * the body against the contract, waits a realistic 20-80 ms, and answers a contract-valid report.
 * dynalite runs in another child (DynamoDB is remote to a Lambda too), so this process's CPU is the
 * reaper's own: the real createReaper, agent client, store and p-limit fan-out. Goal: wall ≤ 10 s.
 *
 *   npx tsx bench/fanout.ts [--hosts 1000] [--tracked 50] [--concurrency 32] [--latency 20,80]
 *                           [--orphan-share 1] [--shard-hosts 200]
 *
 * --orphan-share: the share of hosts that have an orphan each run (default 1: every host removes
 * one, the pessimistic case); the others are quiet (SPEC §10's compact outcomes).
 *
 * CPU figures are taken on the code as Lambda runs it: `node scripts/bundle-fanout.mjs` builds this
 * file and the simulator with esbuild (as scripts/build.mjs builds the handlers) into
 * dist/bench/, then `node dist/bench/fanout.mjs …`. Under tsx every function carries a naming
 * wrapper (esbuild's keepNames) that the deployed bundle does not: ~10–20 % more CPU.
 *
 * Prints JSON. `runFanoutBench` is exported for bench/run.ts.
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { silentLogger } from '../lib/logger.js';
import { DEFAULT_REAP_SETTINGS } from '../functions/reaper/config.js';
import { staticMasterKey } from '../functions/reaper/master-key.js';
import { createReaper } from '../functions/reaper/run.js';
import { createStore, ensureTables } from '../functions/store/index.js';
import { dynamoClient } from '../test/helpers/dynalite.js';
import { AgentStats } from './fanout-sim.js';
import { seedTracked, trackedItems } from '../test/helpers/seed.js';

export const FANOUT_GOAL_MS = 10_000;

export interface FanoutBenchOptions {
  hosts?: number;
  trackedPerHost?: number;
  concurrency?: number;
  /** Agent answer latency, uniform in [min, max] ms. */
  latencyMs?: [number, number];
  /** REAPER_FLEET_MAX_REAP for the runs (default the reaper's). */
  fleetMaxReap?: number;
  /** Share of hosts with an orphan per run; default 1. */
  orphanShare?: number;
  /** Hosts per shard (REAPER_SHARD_HOSTS). */
  shardHosts?: number;
}

export interface FanoutBenchResult {
  hosts: number;
  trackedPerHost: number;
  concurrency: number;
  latencyMs: [number, number];
  /** The first run, which also pins every host to its engine (S10). */
  firstContactWallMs: number;
  /** The steady-state run (hosts pinned), from createReaper().run() to its return (every report written). */
  wallMs: number;
  /** CPU time this process (the reaper) spent during the run. */
  reaperCpuMs: number;
  /** reaperCpuMs / hosts. */
  cpuPerHostMs: number;
  orphanShare: number;
  shards: number;
  /** DynamoDB requests of the steady-state run, by command, per host. */
  dynamoCallsPerHost: Record<string, number>;
  /** Per host: snapshot + registry read + signed call + answer (report write excluded). */
  perHostMs: { p50: number; p99: number; max: number };
  statuses: Record<string, number>;
  reportsStored: number;
  agentRequests: number;
  signatureFailures: number;
  seedMs: number;
  goalMs: number;
  withinGoal: boolean;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

/** Starts `bench/fanout-sim.ts <role>` in a child node (same loader as this process) and reads its address line. */
async function startChild(role: 'agents' | 'dynamo', env: Record<string, string>): Promise<{ url: string; stop(): Promise<void> }> {
  // Bundled (`--bundled`), the simulator is the .mjs built beside this file; otherwise the .ts under tsx.
  const sim = import.meta.url.endsWith('.mjs') ? fileURLToPath(new URL('./fanout-sim.mjs', import.meta.url)) : fileURLToPath(new URL('./fanout-sim.ts', import.meta.url));
  const child = spawn(process.execPath, [...process.execArgv, sim, role], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const line = /^READY (\S+)$/m.exec(buffered);
      if (line?.[1]) resolve(line[1]);
    });
    child.once('exit', (code) => reject(new Error(`fanout-sim ${role} exited with ${code}`)));
    child.once('error', reject);
  });
  return {
    url,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export async function runFanoutBench(options: FanoutBenchOptions = {}): Promise<FanoutBenchResult> {
  const hostCount = options.hosts ?? 1000;
  const trackedPerHost = options.trackedPerHost ?? 50;
  const concurrency = options.concurrency ?? DEFAULT_REAP_SETTINGS.hostConcurrency;
  const latency = options.latencyMs ?? [20, 80];
  const masterKey = randomBytes(32).toString('hex');
  const [dynamoChild, agents] = await Promise.all([
    startChild('dynamo', {}),
    startChild('agents', { FANOUT_MASTER_KEY: masterKey, FANOUT_LATENCY: latency.join(','), FANOUT_ORPHAN_SHARE: String(options.orphanShare ?? 1) }),
  ]);
  const client = dynamoClient(dynamoChild.url);
  try {
    const tables = await ensureTables(client, 'bench-');
    const store = createStore({ client, prefix: 'bench-' });
    const seedStart = Date.now();
    const hostIds = Array.from({ length: hostCount }, (_, i) => `bench-${String(i).padStart(5, '0')}`);
    for (const hostId of hostIds) await store.hosts.put(hostId, { agentUrl: `${agents.url}/h/${hostId}`, enabled: true });
    await seedTracked(
      client,
      tables.tracked,
      hostIds.flatMap((hostId) => trackedItems(hostId, Array.from({ length: trackedPerHost }, (_, i) => `sbx-${i}`), { owner: 'bench-manager' })),
    );
    const seedMs = Date.now() - seedStart;

    const reaper = createReaper({
      store,
      masterKey: staticMasterKey(masterKey),
      logger: silentLogger(),
      settings: {
        ...DEFAULT_REAP_SETTINGS,
        hostConcurrency: concurrency,
        ...(options.fleetMaxReap === undefined ? {} : { fleetMaxReap: options.fleetMaxReap }),
        ...(options.shardHosts === undefined ? {} : { shardHosts: options.shardHosts }),
      },
    });
    // First contact pins every host to its engine (S10): measured apart from the steady state.
    const firstT0 = performance.now();
    const first = await reaper.run({ runId: `bench-first-${randomUUID()}`, trigger: 'schedule', deadlineAt: Date.now() + 300_000 });
    const firstContactWallMs = Math.round(performance.now() - firstT0);
    if ((first.statuses.ok ?? 0) !== hostCount) throw new Error(`first-contact run: ${JSON.stringify(first.statuses)}`);
    // A second warm-up: the first run after pinning writes each host's first quiet lastReap.
    await reaper.run({ runId: `bench-warm-${randomUUID()}`, trigger: 'schedule', deadlineAt: Date.now() + 300_000 });
    const calls = new Map<string, number>();
    client.middlewareStack.add(
      (next, context) => (args) => {
        calls.set(context.commandName ?? '?', (calls.get(context.commandName ?? '?') ?? 0) + 1);
        return next(args);
      },
      { step: 'initialize', name: 'benchCallCounter' },
    );
    const runId = `bench-${randomUUID()}`;
    // FANOUT_PROFILE=file.cpuprofile: a CPU profile of the steady-state run only (where its CPU goes).
    const profiler = process.env.FANOUT_PROFILE ? new (await import('node:inspector/promises')).Session() : undefined;
    if (profiler) {
      profiler.connect();
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.start');
    }
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const result = await reaper.run({ runId, trigger: 'schedule', deadlineAt: Date.now() + 300_000 });
    const wallMs = Math.round(performance.now() - t0);
    const cpu = process.cpuUsage(cpu0);
    if (profiler) {
      const { profile } = await profiler.post('Profiler.stop');
      (await import('node:fs')).writeFileSync(process.env.FANOUT_PROFILE ?? '', JSON.stringify(profile));
      profiler.disconnect();
    }

    const dynamoCallsPerHost = Object.fromEntries([...calls].map(([name, n]) => [name.replace(/Command$/, ''), Math.round((n / hostCount) * 1000) / 1000]));
    const durations = result.hosts.map((h) => h.durationMs).sort((a, b) => a - b);
    const reportsStored = (await store.reports.reportsForRun(runId)).length;
    const stats = AgentStats.parse(await (await fetch(`${agents.url}/stats`)).json());
    const statuses: Record<string, number> = {};
    for (const [status, n] of Object.entries(result.statuses)) statuses[status] = n;
    return {
      hosts: hostCount,
      trackedPerHost,
      concurrency,
      latencyMs: latency,
      firstContactWallMs,
      wallMs,
      reaperCpuMs: Math.round((cpu.user + cpu.system) / 1000),
      cpuPerHostMs: Math.round(((cpu.user + cpu.system) / 1000 / hostCount) * 1000) / 1000,
      orphanShare: options.orphanShare ?? 1,
      shards: result.shards,
      dynamoCallsPerHost,
      perHostMs: { p50: percentile(durations, 50), p99: percentile(durations, 99), max: durations[durations.length - 1] ?? 0 },
      statuses,
      reportsStored,
      agentRequests: stats.requests,
      signatureFailures: stats.signatureFailures,
      seedMs,
      goalMs: FANOUT_GOAL_MS,
      withinGoal: wallMs <= FANOUT_GOAL_MS && reportsStored === hostCount && statuses.ok === hostCount,
    };
  } finally {
    client.destroy();
    await Promise.all([agents.stop(), dynamoChild.stop()]);
  }
}

function flag(name: string): number | undefined {
  const index = process.argv.indexOf(name);
  return index >= 0 ? Number(process.argv[index + 1]) : undefined;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const latencyArg = process.argv.indexOf('--latency');
  const latencyParts = latencyArg >= 0 ? (process.argv[latencyArg + 1] ?? '').split(',').map(Number) : [];
  const latencyFlag: [number, number] | undefined = latencyParts.length === 2 ? [latencyParts[0] ?? 20, latencyParts[1] ?? 80] : undefined;
  const result = await runFanoutBench({
    ...(flag('--hosts') ? { hosts: flag('--hosts') } : {}),
    ...(flag('--tracked') ? { trackedPerHost: flag('--tracked') } : {}),
    ...(flag('--concurrency') ? { concurrency: flag('--concurrency') } : {}),
    ...(flag('--fleet-max-reap') ? { fleetMaxReap: flag('--fleet-max-reap') } : {}),
    ...(flag('--orphan-share') !== undefined ? { orphanShare: flag('--orphan-share') } : {}),
    ...(flag('--shard-hosts') ? { shardHosts: flag('--shard-hosts') } : {}),
    ...(latencyFlag ? { latencyMs: latencyFlag } : {}),
  });
  console.log(JSON.stringify(result, null, 2));
  if (!result.withinGoal) process.exitCode = 1;
}
