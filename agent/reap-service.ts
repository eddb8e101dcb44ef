/**
 * One reap on this host: list the labelled containers, decide (pure: orphans, quarantine,
 * guards), act on the engine, and build the report.
 */
import pLimit from 'p-limit';
import type { Logger } from '../lib/logger.js';
import type { Cap, ContainerReport, ForensicRecord, ReapCounts, ReapReport, ReapRequest, ResourceReport } from '../lib/agent-contract.js';
import type { DockerPort } from './docker.js';
import { takeRecords, type ForensicsPort, type RecordOptions } from './forensics.js';
import { checkGuards } from './guards.js';
import { cutoffMs, planReap, type LabelledContainer } from './orphans.js';
import { planQuarantine, quarantineIndex } from './quarantine.js';
import { removeOrphans, type RemovalResult } from './reap.js';
import { isInUse, planResources, usageOf, type ContainerUse, type LabelledResource, type ResourcePlan, type ResourcesPort } from './resources.js';

export interface ReapServiceDeps {
  docker: DockerPort;
  /** Engine calls in flight at once (REAPER_AGENT_CONCURRENCY). */
  concurrency: number;
  logger: Logger;
  now?: () => number;
  /** Labelled networks and volumes (SPEC §9); absent: only containers are reaped. */
  resources?: ResourcesPort | undefined;
  /** Forensic records of orphans before removal (SPEC §9); absent: no records. */
  forensics?: ForensicsPort | undefined;
  recordOptions?: Partial<RecordOptions> | undefined;
}

/** What the HTTP layer verified about the command. */
export interface ReapContext {
  /** The agent's clock minus the request's signed timestamp (reported, S12). */
  clockOffsetMs: number;
  /** The verified anchor's instant on this agent's clock: the cutoff is anchorMs − grace (S2). */
  anchorMs: number;
  /** The engine as asked just before the reap (S10). */
  engineId: string;
}

const iso = (ms: number) => new Date(ms).toISOString();

function entry(container: LabelledContainer, action: ContainerReport['action'], extra: Partial<ContainerReport> = {}): ContainerReport {
  return {
    clawboxId: container.clawboxId,
    dockerId: container.dockerId,
    state: container.state,
    createdAt: iso(container.createdSeconds * 1000),
    action,
    ...extra,
  };
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function resourceEntry(resource: LabelledResource, action: ResourceReport['action'], error?: string): ResourceReport {
  return {
    kind: resource.kind,
    name: resource.name,
    ...(resource.id === undefined ? {} : { id: resource.id }),
    clawboxId: resource.clawboxId,
    ...(resource.createdMs === undefined ? {} : { createdAt: iso(resource.createdMs) }),
    action,
    ...(error === undefined ? {} : { error }),
  };
}

/** The labelled networks and volumes, and what every container uses; an error when a listing failed. */
async function resourceInventory(port: ResourcesPort): Promise<{ resources: LabelledResource[]; uses: ContainerUse[] } | { error: string }> {
  try {
    const [networks, volumes] = await Promise.all([port.listNetworks(), port.listVolumes()]);
    // Without a labelled network there is no need to learn each container's networks.
    const uses = networks.length || volumes.length ? await port.containerUses({ networks: networks.length > 0 }) : [];
    return { resources: [...networks, ...volumes], uses };
  } catch (error) {
    return { error: message(error) };
  }
}

/**
 * The guards for networks and volumes (S4, SPEC §9): each kind is judged on its own against the
 * same limits as containers — its removable count against maxReap and the fleet budget, its
 * share of the labelled ones of its kind against the percent guard.
 */
function resourceCap(plan: ResourcePlan, all: readonly LabelledResource[], limits: Parameters<typeof checkGuards>[1]): Cap | undefined {
  for (const kind of ['network', 'volume'] as const) {
    const candidates = plan.candidates.filter((r) => r.kind === kind).length;
    const labelled = all.filter((r) => r.kind === kind).length;
    const cap = checkGuards({ orphans: candidates, labelled, removals: candidates }, limits);
    if (cap) return { ...cap, kind: kind === 'network' ? 'networks' : 'volumes' };
  }
  return undefined;
}

/**
 * The age cutoff (agent clock, ms): containers created after it are young. The anchor alone makes
 * it sound (agent/anchor.ts); the snapshot-based bound is kept as well, so a control plane that
 * took its anchor after its snapshot (a bug) still gets the old protection with synced clocks.
 */
export function anchoredCutoffMs(anchorMs: number, graceSeconds: number, snapshot?: { snapshotAtMs: number; clockOffsetMs: number }): number {
  const anchored = anchorMs - graceSeconds * 1000;
  return snapshot === undefined ? anchored : Math.min(anchored, cutoffMs(snapshot.snapshotAtMs, graceSeconds, snapshot.clockOffsetMs));
}

export function createReapService(deps: ReapServiceDeps) {
  const now = deps.now ?? Date.now;

  return async function reap(request: ReapRequest, ctx: ReapContext): Promise<ReapReport> {
    const started = now();
    const log = deps.logger.child({ runId: request.runId, hostId: request.hostId });
    const [inventory, listed] = await Promise.all([deps.docker.listLabelled(), deps.resources ? resourceInventory(deps.resources) : undefined]);
    const snapshotAtMs = Date.parse(request.snapshotAt);
    const cutoff = anchoredCutoffMs(ctx.anchorMs, request.graceSeconds, { snapshotAtMs, clockOffsetMs: ctx.clockOffsetMs });
    const plan = planReap(inventory, request.tracked, cutoff);
    const q = request.quarantineSeconds;
    const timeline = planQuarantine(plan, request.quarantine, q, snapshotAtMs);
    const since = quarantineIndex(q === undefined ? undefined : request.quarantine);
    const window = (sinceMs: number) => ({ quarantinedAt: iso(sinceMs), removeAfter: iso(sinceMs + (q ?? 0) * 1000) });

    // Networks and volumes: judged first on what the containers this reap keeps use; after the
    // removals, again on a fresh listing (below), so only ever fewer are removed than judged here.
    const resources = listed !== undefined && 'resources' in listed ? listed.resources : [];
    const leaving = new Set(timeline.remove.map((r) => r.container.dockerId));
    const resourcePlan = listed !== undefined && 'resources' in listed ? planResources(resources, request.tracked, cutoff, usageOf(listed.uses, leaving)) : undefined;
    if (listed !== undefined && 'error' in listed) log.warn({ err: listed.error }, 'networks and volumes not judged: their listing failed; none touched');

    const limits = { maxReap: request.maxReap, percent: request.maxReapPercent, fleetBudget: request.fleetBudget };
    const cap =
      checkGuards({ orphans: plan.orphans.length, labelled: inventory.length, removals: timeline.remove.length }, limits) ??
      (resourcePlan ? resourceCap(resourcePlan, resources, limits) : undefined);
    if (cap) {
      // S4: this looks like a broken registry or a runaway run, not a fleet to empty: touch nothing.
      log.error({ guard: cap.guard, kind: cap.kind ?? 'containers', limit: cap.limit, orphans: cap.orphans, labelled: cap.labelled }, `REAP CAPPED by ${cap.guard}: nothing touched; check the registry, or lift the guard (see the report's cap)`);
    }

    const containers: ContainerReport[] = [];
    const counts: ReapCounts = {
      labelled: inventory.length,
      tracked: plan.tracked.length,
      orphans: plan.orphans.length,
      young: plan.young.length,
      stopped: 0,
      removed: 0,
      vanished: 0,
      failed: 0,
      ...(q === undefined ? {} : { quarantined: 0, restored: 0 }),
      ...(resources.length > 0 ? { networksRemoved: 0, volumesRemoved: 0, resourcesFailed: 0 } : {}),
    };
    const untouched = cap !== undefined || request.dryRun;
    const resourceEntries: ResourceReport[] = [];

    if (untouched) {
      for (const { container, sinceMs } of timeline.remove) containers.push(entry(container, 'would-remove', sinceMs === undefined ? {} : window(sinceMs)));
      for (const container of timeline.quarantine) containers.push(entry(container, 'would-quarantine'));
      for (const { container, sinceMs } of timeline.hold) containers.push(entry(container, 'quarantined', window(sinceMs)));
      for (const { container, sinceMs } of timeline.restore) containers.push(entry(container, 'would-restore', window(sinceMs)));
      if (counts.quarantined !== undefined) counts.quarantined = timeline.hold.length;
      for (const r of resourcePlan?.candidates ?? []) resourceEntries.push(resourceEntry(r, 'would-remove'));
    } else {
      const limit = pLimit(Math.max(1, deps.concurrency));
      // Forensic records first, while the orphans still exist (SPEC §9); bounded in time, never failing.
      const records: Map<string, ForensicRecord> =
        deps.forensics && timeline.remove.length
          ? await takeRecords(deps.forensics, timeline.remove.map((r) => ({ dockerId: r.container.dockerId, image: r.container.image })), { ...deps.recordOptions, concurrency: deps.concurrency })
          : new Map();
      const [removals, quarantined, restored] = await Promise.all([
        timeline.remove.length
          ? removeOrphans(
              deps.docker,
              timeline.remove.map((r) => r.container),
              { stopTimeoutSeconds: request.stopTimeoutSeconds, concurrency: deps.concurrency },
            )
          : Promise.resolve([] as RemovalResult[]),
        // S11: a running orphan is frozen, not killed; anything else is left exactly as it is.
        Promise.all(
          timeline.quarantine.map((container) =>
            limit(async (): Promise<ContainerReport> => {
              const extra = { ...window(snapshotAtMs) };
              if (container.state !== 'running' && container.state !== 'restarting') return entry(container, 'quarantined', { ...extra, paused: container.state === 'paused' });
              try {
                const outcome = await deps.docker.pause(container.dockerId);
                if (outcome === 'gone') return entry(container, 'vanished');
                return entry(container, 'quarantined', { ...extra, paused: outcome === 'done' });
              } catch (error) {
                // Still recorded (quarantinedAt), so it is removed after Q like any other orphan.
                return entry(container, 'failed', { ...extra, error: message(error) });
              }
            }),
          ),
        ),
        Promise.all(
          timeline.restore.map(({ container, sinceMs }) =>
            limit(async (): Promise<ContainerReport> => {
              if (container.state !== 'paused') return entry(container, 'restored', window(sinceMs));
              try {
                const outcome = await deps.docker.unpause(container.dockerId);
                return entry(container, outcome === 'gone' ? 'vanished' : 'restored', window(sinceMs));
              } catch (error) {
                return entry(container, 'failed', { ...window(sinceMs), error: message(error) });
              }
            }),
          ),
        ),
      ]);
      const removedSince = new Map(timeline.remove.map((r) => [r.container.dockerId, r.sinceMs]));
      for (const r of removals) {
        const sinceMs = removedSince.get(r.container.dockerId);
        // A due container whose removal failed keeps its quarantine record: the next run tries again.
        // Its removal thawed it first (agent/reap.ts), so the record no longer says paused.
        const extra = r.action === 'failed' && sinceMs !== undefined ? { ...window(sinceMs), paused: false } : {};
        const record = records.get(r.container.dockerId);
        containers.push(entry(r.container, r.action, { ...extra, ...(r.error === undefined ? {} : { error: r.error }), ...(record ? { record } : {}) }));
        if (r.stopped) counts.stopped++;
      }
      containers.push(...quarantined);
      for (const { container, sinceMs } of timeline.hold) containers.push(entry(container, 'quarantined', window(sinceMs)));
      containers.push(...restored);
      for (const c of containers) {
        if (c.action === 'removed') counts.removed++;
        else if (c.action === 'vanished') counts.vanished++;
        else if (c.action === 'failed') counts.failed++;
      }
      if (counts.quarantined !== undefined) counts.quarantined = containers.filter((c) => c.action === 'quarantined').length;
      if (counts.restored !== undefined) counts.restored = restored.filter((c) => c.action === 'restored').length;
      if (deps.resources && resourcePlan?.candidates.length) resourceEntries.push(...(await removeResources(deps.resources, resourcePlan.candidates, limit)));
      for (const r of resourceEntries) {
        if (r.action === 'removed') counts[r.kind === 'network' ? 'networksRemoved' : 'volumesRemoved']! += 1;
        else if (r.action === 'failed') counts.resourcesFailed! += 1;
      }
    }
    for (const r of resourcePlan?.inUse ?? []) resourceEntries.push(resourceEntry(r, 'in-use'));
    for (const r of resourcePlan?.young ?? []) resourceEntries.push(resourceEntry(r, 'skipped-young'));
    for (const container of plan.young) {
      const sinceMs = since(container);
      // Young again (the grace grew) while in quarantine: not judged now, and its record is kept.
      containers.push(entry(container, 'skipped-young', sinceMs === undefined ? {} : window(sinceMs)));
    }

    const status: ReapReport['status'] = cap ? 'capped' : request.dryRun ? 'dry-run' : counts.failed > 0 || (counts.resourcesFailed ?? 0) > 0 ? 'partial' : 'ok';
    const finished = now();
    const report: ReapReport = {
      runId: request.runId,
      hostId: request.hostId,
      engineId: ctx.engineId,
      clockOffsetMs: ctx.clockOffsetMs,
      status,
      ...(cap ? { cap } : {}),
      startedAt: iso(started),
      finishedAt: iso(finished),
      // The wall clock may step backwards (NTP) mid-reap; a duration is never negative.
      durationMs: Math.max(0, finished - started),
      dryRun: request.dryRun,
      counts,
      containers,
      ...(resources.length > 0 ? { resources: resourceEntries } : {}),
      ...(listed !== undefined && 'error' in listed ? { resourcesError: listed.error } : {}),
    };
    log.info({ status, counts, durationMs: report.durationMs, dryRun: request.dryRun }, 'reap finished');
    return report;
  };
}

/**
 * Removes the judged networks and volumes, after this reap's container removals: usage is asked
 * again, so a resource that some container (labelled or not, new or kept) uses now stays.
 */
async function removeResources(port: ResourcesPort, candidates: readonly LabelledResource[], limit: ReturnType<typeof pLimit>): Promise<ResourceReport[]> {
  let uses: ContainerUse[];
  try {
    uses = await port.containerUses({ networks: candidates.some((r) => r.kind === 'network') });
  } catch (error) {
    // Not knowing what is used now, remove nothing.
    return candidates.map((r) => resourceEntry(r, 'failed', `not removed: ${message(error)}`));
  }
  const usage = usageOf(uses);
  return Promise.all(
    candidates.map((resource) =>
      limit(async (): Promise<ResourceReport> => {
        if (isInUse(resource, usage)) return resourceEntry(resource, 'in-use');
        try {
          const outcome = await (resource.kind === 'network' ? port.removeNetwork(resource) : port.removeVolume(resource));
          return resourceEntry(resource, outcome === 'gone' ? 'vanished' : outcome);
        } catch (error) {
          return resourceEntry(resource, 'failed', message(error));
        }
      }),
    ),
  );
}

export type ReapService = ReturnType<typeof createReapService>;
