/**
 * The runs table's items (pure builders and readers): what lets a run over 10,000 hosts be
 * recorded for about a cent per host-month (SPEC §10, docs/REAPER.md "What a run writes").
 *
 * - One **run header** per run (`part = "run"`): its start, trigger, hosts and shards; written by
 *   the planner before any shard runs. It is how a report is found by run and host without an index.
 * - One **shard item** per shard (`part = "shard#<n>"`), written once when the shard ends: every
 *   host of the shard with its outcome. A *quiet* host (the agent answered `ok` and nothing was
 *   orphaned, young, failed, quarantined or removed) is recorded here only, as one short string;
 *   any other host also has its full report item in the reports table, and is listed here with
 *   its status. The shard item is the authority on which hosts of a run have an outcome.
 *
 * A quiet host's report is rebuilt from its entry on read (`quietReport`): every count is there
 * (all zero but `labelled` and `tracked`), and its container list is empty by definition.
 */
import { z } from 'zod';
import { HostId, Instant, RunId } from '../../lib/ids.js';
import type { ReportInput } from './report-item.js';
import { CLOCK_FLAG_MS, reportSortKey } from './report-item.js';
import { ReportStatus, Trigger, type ReportItem } from './schemas.js';

export const HEADER_PART = 'run';
export const shardPart = (shard: number) => `shard#${String(shard).padStart(5, '0')}`;

/** `labelled,tracked,trackedSent,durationMs,clockOffsetMs,attempts,maxReap`: ~25 bytes a host. */
export const QuietEntry = z.string().regex(/^\d{1,9},\d{1,9},\d{1,9},\d{1,9},-?\d{1,12},\d{1,3},\d{1,9}$/);

export const RunHeaderItem = z.object({
  runId: RunId,
  part: z.literal(HEADER_PART),
  trigger: Trigger,
  startedAt: Instant,
  dryRun: z.boolean(),
  force: z.boolean(),
  /** Hosts the run covers: the run is done when its shard items name this many. */
  runHosts: z.number().int().min(0),
  shards: z.number().int().min(0),
  expiresAt: z.number().int(),
});
export type RunHeaderItem = z.infer<typeof RunHeaderItem>;

export const ShardItem = z.object({
  runId: RunId,
  part: z.string().regex(/^shard#\d{5}$/),
  trigger: Trigger,
  startedAt: Instant,
  finishedAt: Instant,
  dryRun: z.boolean(),
  force: z.boolean(),
  runHosts: z.number().int().min(0),
  shard: z.number().int().min(0),
  shards: z.number().int().min(1),
  /** Quiet hosts: hostId → QuietEntry. */
  quiet: z.record(HostId, QuietEntry),
  /** Every other host: hostId → status; its full report is in the reports table. */
  eventful: z.record(HostId, ReportStatus),
  expiresAt: z.number().int(),
});
export type ShardItem = z.infer<typeof ShardItem>;

/**
 * True when the outcome says nothing happened and nothing needs a look: the agent answered `ok`,
 * every count but `labelled` and `tracked` is zero, no container is listed, no error, no guard,
 * no lost answer, and the host's clock is within S12's flag. Dry runs and forced runs are never
 * quiet: they are asked for by a person, who reads the full report.
 */
export function isQuiet(input: ReportInput): boolean {
  const agent = input.agentReport;
  if (agent === undefined || input.status !== 'ok' || agent.status !== 'ok') return false;
  if (input.dryRun || input.force || input.error !== undefined || input.errorCode !== undefined || input.outcome !== undefined || agent.cap !== undefined) return false;
  // Anything listed (containers, labelled networks or volumes, young or in use) is worth its full report.
  if (agent.containers.length > 0 || (agent.resources?.length ?? 0) > 0 || agent.resourcesError !== undefined) return false;
  const offset = input.clockOffsetMs ?? agent.clockOffsetMs;
  if (offset !== undefined && Math.abs(offset) > CLOCK_FLAG_MS) return false;
  for (const [name, value] of Object.entries(agent.counts)) {
    if (name === 'labelled' || name === 'tracked') continue;
    if (typeof value === 'number' && value !== 0) return false;
  }
  return true;
}

export function quietEntry(input: ReportInput): string {
  const counts = input.agentReport?.counts;
  const n = (v: number | undefined) => String(Math.max(0, Math.round(v ?? 0)));
  const offset = Math.round(input.clockOffsetMs ?? input.agentReport?.clockOffsetMs ?? 0);
  return [n(counts?.labelled), n(counts?.tracked), n(input.trackedSent), n(input.durationMs), String(offset), n(input.attempts), n(input.maxReap ?? 0)].join(',');
}

/** The full report a quiet entry stands for (`compact: true` says it was rebuilt). */
export function quietReport(hostId: string, entry: string, shard: Pick<ShardItem, 'runId' | 'trigger' | 'startedAt' | 'finishedAt' | 'dryRun' | 'force' | 'runHosts' | 'expiresAt'>): ReportItem {
  const [labelled = 0, tracked = 0, trackedSent = 0, durationMs = 0, clockOffsetMs = 0, attempts = 0, maxReap = 0] = entry.split(',').map(Number);
  return {
    hostId,
    sk: reportSortKey(shard.startedAt, shard.runId),
    runId: shard.runId,
    day: shard.startedAt.slice(0, 10),
    trigger: shard.trigger,
    status: 'ok',
    clockOffsetMs,
    clockFlag: false,
    startedAt: shard.startedAt,
    finishedAt: shard.finishedAt,
    durationMs,
    dryRun: shard.dryRun,
    force: shard.force,
    maxReap,
    trackedSent,
    attempts,
    runHosts: shard.runHosts,
    counts: { labelled, tracked, orphans: 0, young: 0, stopped: 0, removed: 0, vanished: 0, failed: 0 },
    containers: [],
    containersTotal: 0,
    truncated: false,
    expiresAt: shard.expiresAt,
    compact: true,
  };
}

/** The report of an eventful host whose full item is missing (its write failed: the reaper logged it whole). */
export function missingReport(hostId: string, status: ReportStatus, shard: Pick<ShardItem, 'runId' | 'trigger' | 'startedAt' | 'finishedAt' | 'dryRun' | 'force' | 'runHosts' | 'expiresAt'>): ReportItem {
  const { clockOffsetMs: _offset, clockFlag: _flag, trackedSent: _sent, maxReap: _maxReap, ...base } = quietReport(hostId, '0,0,0,0,0,0,0', shard);
  return {
    ...base,
    status,
    counts: null,
    error: 'this host’s full report was not stored (the reaper logged it whole: REPORT NOT STORED); only its status is known here',
    compact: true,
  };
}

/** One outcome per host of a run, from its shard items: an eventful entry wins over a quiet one (a duplicate delivery), then the first shard. */
export function hostEntries(shards: readonly ShardItem[]): Map<string, { shard: ShardItem } & ({ quiet: string } | { status: ReportStatus })> {
  const out = new Map<string, { shard: ShardItem } & ({ quiet: string } | { status: ReportStatus })>();
  const ordered = [...shards].sort((a, b) => a.shard - b.shard);
  for (const shard of ordered) for (const [hostId, status] of Object.entries(shard.eventful)) if (!out.has(hostId)) out.set(hostId, { shard, status });
  for (const shard of ordered) for (const [hostId, quiet] of Object.entries(shard.quiet)) if (!out.has(hostId)) out.set(hostId, { shard, quiet });
  return out;
}
