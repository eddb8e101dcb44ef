/**
 * One round of the agent-reap benches (bench/agent-reap.ts on dockerd, bench/podman-reap.ts on
 * Podman): the engine's own force-remove of N running orphans (16 at a time, straight through its
 * API: the limit), then the agent's signed reap of N fresh ones, timed apart from the identity
 * step before it; and the figures both benches report from the rounds.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pLimit from 'p-limit';
import type { AgentClient } from '../lib/agent-client.js';
import { makeContainers } from '../test/helpers/containers.js';
import type { Engine } from '../test/helpers/engine.js';
import { median } from './stats.js';

export const makeOrphans = (engine: Engine, count: number) =>
  makeContainers(engine.docker, Array.from({ length: count }, (_, i) => ({ clawboxId: `bench-${randomUUID().slice(0, 8)}-${i}`, kind: 'running' as const })), 8);

export async function timed(work: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await work();
  return (performance.now() - t0) / 1000;
}

async function engineForceRemove(engine: Engine, count: number): Promise<number> {
  const made = await makeOrphans(engine, count);
  const limit = pLimit(16);
  return timed(() => Promise.all(made.map((c) => limit(() => engine.docker.getContainer(c.id).remove({ force: true, v: true })))));
}

export interface RoundTimes {
  engineSeconds: number;
  identitySeconds: number;
  reapSeconds: number;
}

export interface ReapRoundOptions {
  count: number;
  hostId: string;
  stopTimeoutSeconds: number;
  /** Called as the identity step starts; what it returns is called once the reap has answered. */
  whileReaping?: () => () => void;
}

/** One round; throws unless the agent removed all `count` orphans. */
export async function reapRound(engine: Engine, client: AgentClient, options: ReapRoundOptions): Promise<RoundTimes> {
  const { count } = options;
  const engineSeconds = await engineForceRemove(engine, count);
  await makeOrphans(engine, count);
  await sleep(2_100); // old enough for a grace of 0
  const done = options.whileReaping?.();
  // The identity step comes first, as from the control plane (which asks it before its
  // snapshot): timed apart, since on Podman it is mostly the engine's slow /info.
  let anchor = '';
  const identitySeconds = await timed(async () => ({ anchor } = await client.identity()));
  let report: Awaited<ReturnType<AgentClient['reap']>> | undefined;
  const reapSeconds = await timed(async () => {
    report = await client.reap({
      anchor,
      runId: randomUUID(),
      hostId: options.hostId,
      tracked: [],
      snapshotAt: new Date().toISOString(),
      graceSeconds: 0,
      stopTimeoutSeconds: options.stopTimeoutSeconds,
      maxReap: count,
      dryRun: false,
    });
  });
  done?.();
  if (report?.status !== 'ok' || report.counts.removed !== count) throw new Error(`reap removed ${report?.counts.removed}/${count}: ${report?.status}`);
  return { engineSeconds, identitySeconds, reapSeconds };
}

export interface ReapFigures {
  engineForceRemoveSeconds: number[];
  /** POST /v1/reap alone. */
  agentReapSeconds: number[];
  /** GET /v1/identity just before it (the anchor). */
  identitySeconds: number[];
  medianEngineSeconds: number;
  medianReapSeconds: number;
  /** The goal: 1 s + 1.25 × the engine's own limit. */
  budgetSeconds: number;
  withinBudget: boolean;
  ratioReapToEngine: number;
}

export function reapFigures(rounds: readonly RoundTimes[]): ReapFigures {
  const medianEngine = median(rounds.map((r) => r.engineSeconds));
  const medianReap = median(rounds.map((r) => r.reapSeconds));
  const budget = 1 + 1.25 * medianEngine;
  return {
    engineForceRemoveSeconds: rounds.map((r) => r.engineSeconds),
    agentReapSeconds: rounds.map((r) => r.reapSeconds),
    identitySeconds: rounds.map((r) => r.identitySeconds),
    medianEngineSeconds: medianEngine,
    medianReapSeconds: medianReap,
    budgetSeconds: budget,
    withinBudget: medianReap <= budget,
    ratioReapToEngine: medianReap / medianEngine,
  };
}
