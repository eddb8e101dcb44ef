/**
 * The agent's reap of 100 running orphans that ignore SIGTERM (1 s stop timeout), against the
 * engine's own force-remove limit (100 containers, 16 at a time, straight through its API) and the
 * original in-process reaper's sequential algorithm (stop t=5 then force-remove, one by one,
 * timed on 10 and scaled to 100) — all in one run on one private engine. The agent runs as its own
 * process (the real CLI), so its RSS is measured alone, idle and during the reap.
 *
 *   npx tsx bench/agent-reap.ts [--rounds 3] [--skip-sequential]
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pLimit from 'p-limit';
import { rssMiB, startAgentProcess, type AgentProcess } from './agent-process.js';
import { makeContainers } from '../test/helpers/containers.js';
import { startEngine, type Engine } from '../test/helpers/engine.js';

const N = 100;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function makeOrphans(engine: Engine, count: number) {
  return makeContainers(engine.docker, Array.from({ length: count }, (_, i) => ({ clawboxId: `bench-${randomUUID().slice(0, 8)}-${i}`, kind: 'running' as const })), 8);
}

async function engineForceRemove(engine: Engine): Promise<number> {
  const made = await makeOrphans(engine, N);
  const limit = pLimit(16);
  const t0 = performance.now();
  await Promise.all(made.map((c) => limit(() => engine.docker.getContainer(c.id).remove({ force: true, v: true }))));
  return (performance.now() - t0) / 1000;
}

async function sequentialOriginal(engine: Engine, count: number): Promise<number> {
  const made = await makeOrphans(engine, count);
  const t0 = performance.now();
  for (const c of made) {
    const container = engine.docker.getContainer(c.id);
    await container.stop({ t: 5 }).catch(() => undefined);
    await container.remove({ force: true }).catch(() => undefined);
  }
  return (performance.now() - t0) / 1000;
}

export interface AgentReapBench {
  date: string;
  machine: string;
  rounds: number;
  engineForceRemoveSeconds: number[];
  /** POST /v1/reap alone. */
  agentReapSeconds: number[];
  /** GET /v1/identity just before it (the anchor). */
  identitySeconds?: number[];
  medianEngineSeconds: number;
  medianReapSeconds: number;
  budgetSeconds: number;
  withinBudget: boolean;
  ratioReapToEngine: number;
  sequentialOriginal?: { measuredOn: number; seconds: number; scaledTo100Seconds: number };
  agentRssMiB: { idle: number; peakDuringReap: number };
}

export async function benchAgentReap(options: { rounds?: number; sequential?: boolean } = {}): Promise<AgentReapBench> {
  const rounds = options.rounds ?? 3;
  const engine = await startEngine();
  let agentProcess: AgentProcess | undefined;
  try {
    agentProcess = await startAgentProcess({ dockerHost: engine.dockerHost, hostId: 'bench-host' });
    const { client, pid } = agentProcess;
    const idle = rssMiB(pid);
    let peak = idle;

    const engineTimes: number[] = [];
    const reapTimes: number[] = [];
    const identityTimes: number[] = [];
    for (let round = 0; round < rounds; round++) {
      engineTimes.push(await engineForceRemove(engine));
      await makeOrphans(engine, N);
      await sleep(2_100); // old enough for a grace of 0
      const sampler = setInterval(() => {
        peak = Math.max(peak, rssMiB(pid));
      }, 20);
      // The identity step comes first, as from the control plane (before its snapshot): timed apart.
      const i0 = performance.now();
      const { anchor } = await client.identity();
      identityTimes.push((performance.now() - i0) / 1000);
      const t0 = performance.now();
      const report = await client.reap({
        anchor,
        runId: randomUUID(),
        hostId: 'bench-host',
        tracked: [],
        snapshotAt: new Date().toISOString(),
        graceSeconds: 0,
        stopTimeoutSeconds: 1,
        maxReap: N,
        dryRun: false,
      });
      reapTimes.push((performance.now() - t0) / 1000);
      clearInterval(sampler);
      if (report.counts.removed !== N || report.status !== 'ok') throw new Error(`reap removed ${report.counts.removed}/${N}: ${report.status}`);
      process.stderr.write(`round ${round + 1}: engine ${engineTimes.at(-1)!.toFixed(2)} s, agent reap ${reapTimes.at(-1)!.toFixed(2)} s\n`);
    }

    let sequential: AgentReapBench['sequentialOriginal'];
    if (options.sequential !== false) {
      const seconds = await sequentialOriginal(engine, 10);
      sequential = { measuredOn: 10, seconds, scaledTo100Seconds: seconds * 10 };
    }
    const medianEngine = median(engineTimes);
    const medianReap = median(reapTimes);
    const budget = 1 + 1.25 * medianEngine;
    return {
      date: new Date().toISOString(),
      machine: `${(await import('node:os')).cpus().length} cores, ${Math.round((await import('node:os')).totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${engine.dockerHost ? 'dockerd 20.10 private engine' : ''}`,
      rounds,
      engineForceRemoveSeconds: engineTimes,
      agentReapSeconds: reapTimes,
      identitySeconds: identityTimes,
      medianEngineSeconds: medianEngine,
      medianReapSeconds: medianReap,
      budgetSeconds: budget,
      withinBudget: medianReap <= budget,
      ratioReapToEngine: medianReap / medianEngine,
      ...(sequential ? { sequentialOriginal: sequential } : {}),
      agentRssMiB: { idle, peakDuringReap: peak },
    };
  } finally {
    agentProcess?.stop();
    await engine.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1]) || 3;
  const result = await benchAgentReap({ rounds, sequential: !process.argv.includes('--skip-sequential') });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}
