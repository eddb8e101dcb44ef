/**
 * Building a report item (pure). The per-container list is capped by entries and by bytes so an
 * item stays far below DynamoDB's 400 KB limit whatever the agent sent; counts are copied whole,
 * so they stay complete when the list is cut. Entries that say something happened (failed,
 * removed) are kept before those that say nothing did (skipped-young).
 */
import type { ContainerReport, ReapReport, ResourceReport } from '../../lib/agent-contract.js';
import type { ReportItem, ReportStatus, Trigger } from './schemas.js';

export const REPORT_LIMITS = {
  /** Per-container entries kept in one item. */
  maxEntries: 1000,
  /** Budget for the per-container list, in bytes of JSON (an approximation of DynamoDB's size). */
  maxContainerBytes: 200_000,
  /** Longest error text kept (Docker messages can be long). */
  maxErrorChars: 1000,
  /**
   * Forensic log tails kept over the whole list, in bytes, besides the list's own budget; later
   * entries keep their record without its logs (the agent keeps the full report, GET /v1/reaps/:runId).
   */
  maxRecordLogBytes: 64_000,
  /** Network and volume entries kept (SPEC §9), by count and by bytes. */
  maxResourceEntries: 500,
  maxResourceBytes: 32_000,
} as const;

export const LOGS_LEFT_OUT = 'logs left out of the stored report (size budget)';

export interface ReportInput {
  hostId: string;
  runId: string;
  trigger: Trigger;
  status: ReportStatus;
  error?: string | undefined;
  /** The run's start, ISO; also the sort key's prefix. */
  startedAt: string;
  snapshotAt?: string | undefined;
  finishedAt: string;
  durationMs: number;
  dryRun: boolean;
  force: boolean;
  maxReap?: number | null | undefined;
  trackedSent?: number | undefined;
  attempts: number;
  /** Hosts the run covers (every one of them gets a report, S8). */
  runHosts?: number | undefined;
  /** What the agent answered, when it did. */
  agentReport?: ReapReport | undefined;
  /** Machine-readable reason of a control-plane status (e.g. engine_claimed, engine_mismatch). */
  errorCode?: string | undefined;
  /** The engine the agent reported (S10), also when no reap was sent. */
  engineId?: string | undefined;
  /** The agent's clock against the control plane's, as best measured (S12). */
  clockOffsetMs?: number | undefined;
  /** `unknown`: no answer and the agent may have acted; `recovered`: the answer was lost, the report had afterwards. */
  outcome?: 'unknown' | 'recovered' | undefined;
  /** For a recovered outcome: what the report would have said without it. */
  lost?: { status: ReportStatus; error: string; at: string } | undefined;
}

/** A host whose clock is off by more than this is flagged in its report (S12). */
export const CLOCK_FLAG_MS = 5000;

const PRIORITY: Record<ContainerReport['action'], number> = {
  failed: 0,
  removed: 1,
  restored: 2,
  quarantined: 3,
  vanished: 4,
  'would-remove': 5,
  'would-restore': 6,
  'would-quarantine': 7,
  'skipped-young': 8,
};

export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** The entry with its record's log tail left out, and a note that says so. */
function withoutLogs(entry: ContainerReport): ContainerReport {
  if (entry.record?.logs === undefined) return entry;
  const { logs: _logs, logsTruncated: _truncated, ...record } = entry.record;
  return { ...entry, record: { ...record, note: clip(record.note === undefined ? LOGS_LEFT_OUT : `${record.note}; ${LOGS_LEFT_OUT}`, 1000) } };
}

export function capContainers(
  containers: readonly ContainerReport[],
  limits: { maxEntries: number; maxContainerBytes: number; maxErrorChars: number; maxRecordLogBytes?: number } = REPORT_LIMITS,
): { containers: ContainerReport[]; truncated: boolean } {
  const ordered = containers
    .map((entry, index) => ({ entry, index }))
    .sort((a, b) => PRIORITY[a.entry.action] - PRIORITY[b.entry.action] || a.index - b.index)
    .map(({ entry }) => (entry.error === undefined ? entry : { ...entry, error: clip(entry.error, limits.maxErrorChars) }));
  const kept: ContainerReport[] = [];
  let bytes = 0;
  let logBytes = 0;
  const maxLogBytes = limits.maxRecordLogBytes ?? REPORT_LIMITS.maxRecordLogBytes;
  for (const entry of ordered) {
    // Log tails have their own budget: the list itself is sized without them.
    const slim = withoutLogs(entry);
    const size = Buffer.byteLength(JSON.stringify(slim)) + 16;
    if (kept.length >= limits.maxEntries || bytes + size > limits.maxContainerBytes) break;
    const logs = entry.record?.logs === undefined ? 0 : Buffer.byteLength(entry.record.logs);
    const keepLogs = logs > 0 && logBytes + logs <= maxLogBytes;
    kept.push(keepLogs || entry.record?.logs === '' ? entry : slim);
    bytes += size;
    if (keepLogs) logBytes += logs;
  }
  return { containers: kept, truncated: kept.length < containers.length };
}

const RESOURCE_PRIORITY: Record<ResourceReport['action'], number> = { failed: 0, removed: 1, vanished: 2, 'would-remove': 3, 'in-use': 4, 'skipped-young': 5 };

/** The networks and volumes kept in a report item: what happened first, within the resource budget. */
export function capResources(resources: readonly ResourceReport[], limits: { maxResourceEntries: number; maxResourceBytes: number; maxErrorChars: number } = REPORT_LIMITS): { resources: ResourceReport[]; truncated: boolean } {
  const ordered = resources
    .map((entry, index) => ({ entry, index }))
    .sort((a, b) => RESOURCE_PRIORITY[a.entry.action] - RESOURCE_PRIORITY[b.entry.action] || a.index - b.index)
    .map(({ entry }) => (entry.error === undefined ? entry : { ...entry, error: clip(entry.error, limits.maxErrorChars) }));
  const kept: ResourceReport[] = [];
  let bytes = 0;
  for (const entry of ordered) {
    const size = Buffer.byteLength(JSON.stringify(entry)) + 16;
    if (kept.length >= limits.maxResourceEntries || bytes + size > limits.maxResourceBytes) break;
    kept.push(entry);
    bytes += size;
  }
  return { resources: kept, truncated: kept.length < resources.length };
}

/** The resource fields of a report item, when the agent reported any. */
function resourceFields(agent: ReapReport | undefined): { fields: { resources?: ResourceReport[]; resourcesTotal?: number; resourcesError?: string }; truncated: boolean } {
  if (agent === undefined) return { fields: {}, truncated: false };
  const error = agent.resourcesError === undefined ? {} : { resourcesError: clip(agent.resourcesError, 2000) };
  if (agent.resources === undefined) return { fields: error, truncated: false };
  const { resources, truncated } = capResources(agent.resources);
  return { fields: { resources, resourcesTotal: agent.resources.length, ...error }, truncated };
}

export function reportSortKey(startedAt: string, runId: string): string {
  return `${startedAt}#${runId}`;
}

export function buildReportItem(input: ReportInput, options: { ttlDays: number; nowMs: number }): ReportItem {
  const agent = input.agentReport;
  const { containers, truncated: containersTruncated } = capContainers(agent?.containers ?? []);
  const { fields: resourceItem, truncated: resourcesTruncated } = resourceFields(agent);
  const truncated = containersTruncated || resourcesTruncated;
  const engineId = agent?.engineId ?? input.engineId;
  const clockOffsetMs = input.clockOffsetMs ?? agent?.clockOffsetMs;
  return {
    hostId: input.hostId,
    sk: reportSortKey(input.startedAt, input.runId),
    runId: input.runId,
    day: input.startedAt.slice(0, 10),
    trigger: input.trigger,
    status: input.status,
    ...(input.error === undefined ? {} : { error: clip(input.error, 2000) }),
    ...(input.errorCode === undefined ? {} : { errorCode: input.errorCode }),
    ...(engineId === undefined ? {} : { engineId }),
    ...(clockOffsetMs === undefined ? {} : { clockOffsetMs, clockFlag: Math.abs(clockOffsetMs) > CLOCK_FLAG_MS }),
    ...(agent?.cap === undefined ? {} : { cap: agent.cap }),
    startedAt: input.startedAt,
    ...(input.snapshotAt === undefined ? {} : { snapshotAt: input.snapshotAt }),
    finishedAt: input.finishedAt,
    // A wall clock stepped backwards must not make the report unwritable (the schema wants >= 0).
    durationMs: Math.max(0, input.durationMs),
    dryRun: input.dryRun,
    force: input.force,
    ...(input.maxReap === undefined ? {} : { maxReap: input.maxReap }),
    ...(input.trackedSent === undefined ? {} : { trackedSent: input.trackedSent }),
    attempts: input.attempts,
    ...(input.runHosts === undefined ? {} : { runHosts: input.runHosts }),
    ...(agent ? { agent: { startedAt: agent.startedAt, finishedAt: agent.finishedAt, durationMs: Math.max(0, agent.durationMs) } } : {}),
    counts: agent ? { ...agent.counts } : null,
    containers,
    containersTotal: agent?.containers.length ?? 0,
    truncated,
    ...resourceItem,
    expiresAt: Math.floor(options.nowMs / 1000) + Math.round(options.ttlDays * 86_400),
    ...(input.outcome === undefined ? {} : { outcome: input.outcome }),
    ...(input.lost === undefined ? {} : { recoveredAt: input.lost.at, lostStatus: input.lost.status, lostError: clip(input.lost.error, 2000) }),
  };
}

/**
 * What filling in a report whose outcome was unknown sets (functions/store/reports.ts
 * fillInReport): the agent's verdict, its complete counts and its capped container list, and who
 * recovered it. The rest of the item (its key, start, snapshot, attempts, the control plane's
 * clock measure) stays as written.
 */
export function recoveredFields(agent: ReapReport, recovered: { at: string; byRunId: string }) {
  const { containers, truncated: containersTruncated } = capContainers(agent.containers);
  const { fields: resourceItem, truncated: resourcesTruncated } = resourceFields(agent);
  return {
    status: agent.status as ReportStatus,
    engineId: agent.engineId,
    ...(agent.cap === undefined ? {} : { cap: agent.cap }),
    agent: { startedAt: agent.startedAt, finishedAt: agent.finishedAt, durationMs: Math.max(0, agent.durationMs) },
    counts: { ...agent.counts },
    containers,
    containersTotal: agent.containers.length,
    truncated: containersTruncated || resourcesTruncated,
    ...resourceItem,
    outcome: 'recovered' as const,
    recoveredAt: recovered.at,
    recoveredBy: recovered.byRunId,
  };
}
