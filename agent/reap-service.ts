/**
 * One reap on this host: list the labelled containers, decide (pure), apply the cap and dry-run
 * rules, remove, and build the report.
 */
import type { Logger } from '../lib/logger.js';
import type { ContainerReport, ReapCounts, ReapReport, ReapRequest } from './contract.js';
import type { DockerPort } from './docker.js';
import { cutoffMs, planReap, type LabelledContainer } from './orphans.js';
import { removeOrphans, type RemovalResult } from './reap.js';

export interface ReapServiceDeps {
  docker: DockerPort;
  /** Engine calls in flight at once (REAPER_AGENT_CONCURRENCY). */
  concurrency: number;
  logger: Logger;
  now?: () => number;
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString();

function entry(container: LabelledContainer, action: ContainerReport['action'], error?: string): ContainerReport {
  return {
    clawboxId: container.clawboxId,
    dockerId: container.dockerId,
    state: container.state,
    createdAt: iso(container.createdSeconds),
    action,
    ...(error === undefined ? {} : { error }),
  };
}

export function createReapService(deps: ReapServiceDeps) {
  const now = deps.now ?? Date.now;

  /** @param clockOffsetMs the agent's clock minus the request's signed timestamp (S2). */
  return async function reap(request: ReapRequest, clockOffsetMs: number): Promise<ReapReport> {
    const started = now();
    const log = deps.logger.child({ runId: request.runId, hostId: request.hostId });
    const inventory = await deps.docker.listLabelled();
    const cutoff = cutoffMs(Date.parse(request.snapshotAt), request.graceSeconds, clockOffsetMs);
    const plan = planReap(inventory, request.tracked, cutoff);

    const capped = request.maxReap !== null && plan.orphans.length > request.maxReap;
    let removals: RemovalResult[] = [];
    if (capped) {
      // S4: too many orphans looks like a broken registry, not a fleet to empty: touch nothing.
      log.error(
        { orphans: plan.orphans.length, maxReap: request.maxReap },
        'REAP CAPPED: orphans exceed maxReap, nothing touched; check the registry, or force an on-demand reap',
      );
    } else if (!request.dryRun && plan.orphans.length > 0) {
      removals = await removeOrphans(deps.docker, plan.orphans, {
        stopTimeoutSeconds: request.stopTimeoutSeconds,
        concurrency: deps.concurrency,
      });
    }

    const untouched = capped || request.dryRun;
    const containers: ContainerReport[] = [
      ...(untouched ? plan.orphans.map((c) => entry(c, 'would-remove')) : removals.map((r) => entry(r.container, r.action, r.error))),
      ...plan.young.map((c) => entry(c, 'skipped-young')),
    ];
    const tally = (action: RemovalResult['action']) => removals.filter((r) => r.action === action).length;
    const counts: ReapCounts = {
      labelled: inventory.length,
      tracked: plan.tracked.length,
      orphans: plan.orphans.length,
      young: plan.young.length,
      stopped: removals.filter((r) => r.stopped).length,
      removed: tally('removed'),
      vanished: tally('vanished'),
      failed: tally('failed'),
    };
    const status: ReapReport['status'] = capped ? 'capped' : request.dryRun ? 'dry-run' : counts.failed > 0 ? 'partial' : 'ok';
    const finished = now();
    const report: ReapReport = {
      runId: request.runId,
      hostId: request.hostId,
      status,
      startedAt: new Date(started).toISOString(),
      finishedAt: new Date(finished).toISOString(),
      // The wall clock may step backwards (NTP) mid-reap; a duration is never negative.
      durationMs: Math.max(0, finished - started),
      dryRun: request.dryRun,
      counts,
      containers,
    };
    log.info({ status, counts, durationMs: report.durationMs, dryRun: request.dryRun }, 'reap finished');
    return report;
  };
}

export type ReapService = ReturnType<typeof createReapService>;
