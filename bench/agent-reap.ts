/**
 * The agent's reap of 100 running orphans that ignore SIGTERM (1 s stop timeout), against the
 * engine's own force-remove limit (100 containers, 16 at a time, straight through its API) and the
 * original in-process reaper's sequential algorithm (stop t=5 then force-remove, one by one,
 * timed on 10 and scaled to 100) — all in one run on one private engine. The agent runs as its own
 * process (the real CLI), so its RSS is measured alone, idle and during the reap.
 *
 *   npx tsx bench/agent-reap.ts [--rounds 3] [--skip-sequential]
 */
import { rssMiB, startAgentProcess, type AgentProcess } from './agent-process.js';
import { makeOrphans, reapFigures, reapRound, timed, type ReapFigures, type RoundTimes } from './reap-round.js';
import { startEngine, type Engine } from '../test/helpers/engine.js';

const N = 100;

async function sequentialOriginal(engine: Engine, count: number): Promise<number> {
  const made = await makeOrphans(engine, count);
  return timed(async () => {
    for (const c of made) {
      const container = engine.docker.getContainer(c.id);
      await container.stop({ t: 5 }).catch(() => undefined);
      await container.remove({ force: true }).catch(() => undefined);
    }
  });
}

export interface AgentReapBench extends ReapFigures {
  date: string;
  machine: string;
  rounds: number;
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

    const times: RoundTimes[] = [];
    for (let round = 0; round < rounds; round++) {
      const sampleRss = () => {
        const sampler = setInterval(() => {
          peak = Math.max(peak, rssMiB(pid));
        }, 20);
        return () => clearInterval(sampler);
      };
      times.push(await reapRound(engine, client, { count: N, hostId: 'bench-host', stopTimeoutSeconds: 1, whileReaping: sampleRss }));
      process.stderr.write(`round ${round + 1}: engine ${times.at(-1)!.engineSeconds.toFixed(2)} s, agent reap ${times.at(-1)!.reapSeconds.toFixed(2)} s\n`);
    }

    let sequential: AgentReapBench['sequentialOriginal'];
    if (options.sequential !== false) {
      const seconds = await sequentialOriginal(engine, 10);
      sequential = { measuredOn: 10, seconds, scaledTo100Seconds: seconds * 10 };
    }
    return {
      date: new Date().toISOString(),
      machine: `${(await import('node:os')).cpus().length} cores, ${Math.round((await import('node:os')).totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${engine.dockerHost ? 'dockerd 20.10 private engine' : ''}`,
      rounds,
      ...reapFigures(times),
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
