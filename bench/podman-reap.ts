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
import { startAgentProcess, type AgentProcess } from './agent-process.js';
import { makeOrphans, reapFigures, reapRound, timed, type ReapFigures, type RoundTimes } from './reap-round.js';
import type { Engine } from '../test/helpers/engine.js';
import { startPodman } from '../test/helpers/podman.js';

const STOP_TIMEOUT = 1;

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

export interface PodmanReapCase extends ReapFigures {
  orphans: number;
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
      const times: RoundTimes[] = [];
      for (let round = 0; round < rounds; round++) {
        const t = await reapRound(engine, agent.client, { count, hostId: agent.hostId, stopTimeoutSeconds: STOP_TIMEOUT });
        times.push(t);
        process.stderr.write(`podman ${count} round ${round + 1}: engine ${t.engineSeconds.toFixed(2)} s, identity ${t.identitySeconds.toFixed(2)} s, agent reap ${t.reapSeconds.toFixed(2)} s\n`);
      }
      const stopAll = await stopAllThenRemove(engine, count);
      process.stderr.write(`podman ${count}: stop all (t=${STOP_TIMEOUT}) then remove ${stopAll.toFixed(2)} s\n`);
      cases.push({
        orphans: count,
        ...reapFigures(times),
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
