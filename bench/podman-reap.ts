/**
 * The agent's reap on Podman (a private rootful `podman system service`, its Docker-compatible
 * API): N running orphans that ignore SIGTERM, 1 s stop timeout, against the engine's own
 * force-remove of N such containers (16 at a time, straight through its API) measured in the same
 * run, for each N. The reap is the signed POST /v1/reap; the identity step before it (the anchor,
 * as the control plane asks it) is timed apart. Once per N, the way the agent used to do it is timed too: Docker-style `stop`
 * of all at once (t=1), then remove — Podman runs at most 3 x CPUs + 1 stops in parallel, so the
 * timeout is paid once per wave. The agent runs as its own process (the real CLI).
 *
 *   npx tsx bench/podman-reap.ts [--rounds 3] [--counts 20,50] [--from-source]
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pLimit from 'p-limit';
import { startAgentProcess, type AgentProcess } from './agent-process.js';
import { makeContainers } from '../test/helpers/containers.js';
import type { Engine } from '../test/helpers/engine.js';
import { startPodman } from '../test/helpers/podman.js';

const STOP_TIMEOUT = 1;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const makeOrphans = (engine: Engine, count: number) =>
  makeContainers(engine.docker, Array.from({ length: count }, (_, i) => ({ clawboxId: `bench-${randomUUID().slice(0, 8)}-${i}`, kind: 'running' as const })), 8);

async function timed(work: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await work();
  return (performance.now() - t0) / 1000;
}

async function engineForceRemove(engine: Engine, count: number): Promise<number> {
  const made = await makeOrphans(engine, count);
  const limit = pLimit(16);
  return timed(() => Promise.all(made.map((c) => limit(() => engine.docker.getContainer(c.id).remove({ force: true, v: true })))));
}

/** Docker-style: the engine's own stop of every one at once, then force-remove. */
async function stopAllThenRemove(engine: Engine, count: number): Promise<number> {
  const made = await makeOrphans(engine, count);
  return timed(() =>
    Promise.all(
      made.map(async (c) => {
        const container = engine.docker.getContainer(c.id);
        await container.stop({ t: STOP_TIMEOUT }).catch(() => undefined);
        await container.remove({ force: true, v: true });
      }),
    ),
  );
}

export interface PodmanReapCase {
  orphans: number;
  engineForceRemoveSeconds: number[];
  /** POST /v1/reap alone. */
  agentReapSeconds: number[];
  /** GET /v1/identity just before it (the anchor). */
  identitySeconds: number[];
  medianEngineSeconds: number;
  medianReapSeconds: number;
  budgetSeconds: number;
  withinBudget: boolean;
  ratioReapToEngine: number;
  stopAllThenRemoveSeconds: number;
}

export interface PodmanReapBench {
  date: string;
  podman: string;
  rounds: number;
  stopTimeoutSeconds: number;
  cases: PodmanReapCase[];
}

export async function benchPodmanReap(options: { rounds?: number; counts?: number[]; fromSource?: boolean } = {}): Promise<PodmanReapBench> {
  const rounds = options.rounds ?? 3;
  const engine = await startPodman();
  let agent: AgentProcess | undefined;
  try {
    const version = (await engine.docker.version()).Version;
    agent = await startAgentProcess({ dockerHost: engine.dockerHost, hostId: 'bench-podman', fromSource: options.fromSource ?? false });
    const cases: PodmanReapCase[] = [];
    for (const count of options.counts ?? [20, 50]) {
      const engineTimes: number[] = [];
      const reapTimes: number[] = [];
      const identityTimes: number[] = [];
      for (let round = 0; round < rounds; round++) {
        engineTimes.push(await engineForceRemove(engine, count));
        await makeOrphans(engine, count);
        await sleep(2_100); // old enough for a grace of 0
        // The identity step comes first, as from the control plane (which asks it before its
        // snapshot): timed apart, since on Podman it is mostly the engine's slow /info.
        const i0 = performance.now();
        const { anchor } = await agent.client.identity();
        identityTimes.push((performance.now() - i0) / 1000);
        const t0 = performance.now();
        const report = await agent.client.reap({
          anchor,
          runId: randomUUID(),
          hostId: agent.hostId,
          tracked: [],
          snapshotAt: new Date().toISOString(),
          graceSeconds: 0,
          stopTimeoutSeconds: STOP_TIMEOUT,
          maxReap: count,
          dryRun: false,
        });
        reapTimes.push((performance.now() - t0) / 1000);
        if (report.status !== 'ok' || report.counts.removed !== count) throw new Error(`reap removed ${report.counts.removed}/${count}: ${report.status}`);
        process.stderr.write(`podman ${count} round ${round + 1}: engine ${engineTimes.at(-1)!.toFixed(2)} s, identity ${identityTimes.at(-1)!.toFixed(2)} s, agent reap ${reapTimes.at(-1)!.toFixed(2)} s\n`);
      }
      const stopAll = await stopAllThenRemove(engine, count);
      process.stderr.write(`podman ${count}: stop all (t=${STOP_TIMEOUT}) then remove ${stopAll.toFixed(2)} s\n`);
      const medianEngine = median(engineTimes);
      const medianReap = median(reapTimes);
      const budget = 1 + 1.25 * medianEngine;
      cases.push({
        orphans: count,
        engineForceRemoveSeconds: engineTimes,
        agentReapSeconds: reapTimes,
        identitySeconds: identityTimes,
        medianEngineSeconds: medianEngine,
        medianReapSeconds: medianReap,
        budgetSeconds: budget,
        withinBudget: medianReap <= budget,
        ratioReapToEngine: medianReap / medianEngine,
        stopAllThenRemoveSeconds: stopAll,
      });
    }
    return { date: new Date().toISOString(), podman: version, rounds, stopTimeoutSeconds: STOP_TIMEOUT, cases };
  } finally {
    agent?.stop();
    await agent?.exited;
    await engine.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const result = await benchPodmanReap({
    rounds: Number(arg('--rounds')) || 3,
    counts: arg('--counts')?.split(',').map(Number) ?? [20, 50],
    fromSource: process.argv.includes('--from-source'),
  });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}
