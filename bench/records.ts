/**
 * What forensic records (SPEC §9) cost a reap: 50 running orphans that have logged 40 lines each
 * (1 s stop timeout, SIGTERM ignored), reaped in-process by the agent's reap service with and
 * without its records port, alternating, on one private engine. Prints the medians and the
 * difference.
 *
 *   npx tsx bench/records.ts [--rounds 3] [--orphans 50]
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pLimit from 'p-limit';
import { createDockerPort } from '../agent/docker.js';
import { createForensicsPort, takeRecords } from '../agent/forensics.js';
import { createReapService } from '../agent/reap-service.js';
import { createLogger } from '../lib/logger.js';
import { LABEL } from '../test/helpers/containers.js';
import { startEngine, TEST_IMAGE, type Engine } from '../test/helpers/engine.js';
import { median } from './stats.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const ROUNDS = arg('rounds', 3);
const N = arg('orphans', 50);

async function makeOrphans(engine: Engine): Promise<void> {
  const limit = pLimit(8);
  await Promise.all(
    Array.from({ length: N }, (_, i) =>
      limit(async () => {
        const c = await engine.docker.createContainer({
          Image: TEST_IMAGE,
          Cmd: ['sh', '-c', 'i=0; while [ $i -lt 40 ]; do echo "line $i of a sandbox run, token=abc$i"; i=$((i+1)); done; exec sleep 3600'],
          Env: [`SECRET=bench-${randomUUID()}`],
          Labels: { [LABEL]: `bench-${randomUUID().slice(0, 8)}-${i}` },
          HostConfig: { NetworkMode: 'none' },
        });
        await c.start();
      }),
    ),
  );
  // Old enough for a grace of 0, and every one has logged its lines.
  await sleep(2_100);
}

async function main() {
  const engine = await startEngine();
  const logger = createLogger({ level: 'warn' });
  const docker = createDockerPort({ dockerHost: engine.dockerHost, label: LABEL });
  const forensics = createForensicsPort({ dockerHost: engine.dockerHost });
  const services = {
    without: createReapService({ docker, concurrency: 16, logger }),
    with: createReapService({ docker, concurrency: 16, logger, forensics }),
  };
  const seconds: Record<keyof typeof services, number[]> = { without: [], with: [] };
  /** The records phase alone (inspect + logs of every orphan, 16 at a time), taken before a reap without records. */
  const phase: number[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const kind of round % 2 ? (['with', 'without'] as const) : (['without', 'with'] as const)) {
        await makeOrphans(engine);
        if (kind === 'without') {
          const orphans = await docker.listLabelled();
          const t0 = performance.now();
          await takeRecords(forensics, orphans, { concurrency: 16 });
          phase.push((performance.now() - t0) / 1000);
        }
        const now = Date.now();
        const report = await services[kind](
          { runId: randomUUID(), hostId: 'bench', tracked: [], snapshotAt: new Date(now).toISOString(), graceSeconds: 0, stopTimeoutSeconds: 1, maxReap: null, dryRun: false, anchor: 'unused' },
          { anchorMs: now, clockOffsetMs: 0, engineId: 'bench' },
        );
        if (report.counts.removed !== N) throw new Error(`round ${round} ${kind}: removed ${report.counts.removed} of ${N}`);
        if (kind === 'with' && report.containers.some((c) => !c.record?.logs)) throw new Error('a record without logs');
        seconds[kind].push(report.durationMs / 1000);
        console.log(`round ${round + 1} ${kind.padEnd(7)} records: ${(report.durationMs / 1000).toFixed(2)} s`);
      }
    }
  } finally {
    await engine.stop();
  }
  const a = median(seconds.without);
  const b = median(seconds.with);
  console.log(JSON.stringify({ orphans: N, rounds: ROUNDS, medianWithoutSeconds: a, medianWithSeconds: b, extraSeconds: +(b - a).toFixed(3), extraPercent: +(((b - a) / a) * 100).toFixed(1), medianRecordsPhaseSeconds: median(phase), seconds, phase }, null, 1));
}

await main();
