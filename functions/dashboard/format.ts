/**
 * Formatting for the pages: times in UTC (a fleet spans time zones; the server does not know the
 * reader's), durations, and the dashboard's own URLs. Ids go into paths percent-encoded; the id
 * patterns already exclude markup, and hono/jsx escapes every text and attribute value anyway.
 */
import type { RangeKey, StatusFilter } from './aggregate.js';

export const BASE = '/dashboard';

const pad = (n: number) => String(n).padStart(2, '0');

/** `2026-05-01 13:05:22 UTC` */
export function formatInstant(iso: string | number): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`;
}

/** Ways to write a time on a chart's x axis (UTC), coarsest first within each family. */
export const TIME_FORMATS = {
  /** Within less than a day a clock time names one point: `13:05`. */
  clock: [(ms: number) => hm(new Date(ms)), (ms: number) => hms(new Date(ms))],
  /** Across days the date leads: `05-01`, `05-01 13:05`. */
  dated: [(ms: number) => md(new Date(ms)), (ms: number) => `${md(new Date(ms))} ${hm(new Date(ms))}`, (ms: number) => `${md(new Date(ms))} ${hms(new Date(ms))}`],
} as const;
const hm = (d: Date) => `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
const hms = (d: Date) => `${hm(d)}:${pad(d.getUTCSeconds())}`;
const md = (d: Date) => `${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
/** `2026-05-01` */
export const formatDate = (ms: number) => {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${md(d)}`;
};

/** `3 min ago`, `2 h ago`, `4 d ago` (or `in …` for a clock ahead). */
export function ago(iso: string, nowMs: number): string {
  const diff = nowMs - Date.parse(iso);
  if (Number.isNaN(diff)) return '';
  const abs = Math.abs(diff);
  const text = abs < 60_000 ? `${Math.round(abs / 1000)} s` : abs < 3_600_000 ? `${Math.round(abs / 60_000)} min` : abs < 172_800_000 ? `${Math.round(abs / 3_600_000)} h` : `${Math.round(abs / 86_400_000)} d`;
  return diff >= 0 ? `${text} ago` : `in ${text}`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** Page filters carried from link to link. */
export interface Filters {
  range: RangeKey;
  status?: StatusFilter | undefined;
}

function query(filters: Partial<Filters>): string {
  const params = new URLSearchParams();
  if (filters.range !== undefined) params.set('range', filters.range);
  if (filters.status !== undefined) params.set('status', filters.status);
  const text = params.toString();
  return text ? `?${text}` : '';
}

export const fleetUrl = (filters: Partial<Filters> = {}) => `${BASE}${query(filters)}`;
export const hostUrl = (hostId: string, filters: Partial<Filters> = {}) => `${BASE}/hosts/${encodeURIComponent(hostId)}${query(filters)}`;
export const runUrl = (runId: string, filters: Partial<Filters> = {}) => `${BASE}/runs/${encodeURIComponent(runId)}${query({ range: filters.range })}`;
export const reportUrl = (hostId: string, runId: string, filters: Partial<Filters> = {}) =>
  `${BASE}/hosts/${encodeURIComponent(hostId)}/runs/${encodeURIComponent(runId)}${query({ range: filters.range })}`;

/** Which guard capped a reap (S4), as the report carries it. */
export interface CapInfo {
  guard: 'max-reap' | 'max-reap-percent' | 'fleet-max-reap';
  limit: number;
  orphans: number;
  labelled: number;
}

/** A cap in words: which guard fired and what it compared. */
export function capText(cap: CapInfo): string {
  switch (cap.guard) {
    case 'max-reap':
      return `capped by max-reap: ${cap.orphans} orphans > limit ${cap.limit} (of ${cap.labelled} labelled); nothing was touched`;
    case 'max-reap-percent':
      return `capped by max-reap-percent: ${cap.orphans} of ${cap.labelled} labelled are orphans, more than the ${cap.limit} allowed (REAPER_MAX_REAP_PERCENT); nothing was touched`;
    case 'fleet-max-reap':
      return `capped by fleet-max-reap: the run's REAPER_FLEET_MAX_REAP left this host ${cap.limit} removals for ${cap.orphans} orphans; nothing was touched`;
  }
}

/** What to do about a cap (S4): the guards are there to stop a mass deletion, so look first. */
export function capAdvice(cap: CapInfo, hostId: string): string {
  switch (cap.guard) {
    case 'max-reap':
      return `Check the registry (clawbox-reaper hosts containers ${hostId}); then lift it for one run with clawbox-reaper reap --host ${hostId} --force, or raise the host's cap (clawbox-reaper hosts add ${hostId} --url … --max-reap N).`;
    case 'max-reap-percent':
      return `The registry may have been emptied or written under the wrong host id: check clawbox-reaper hosts containers ${hostId}. Lift it with clawbox-reaper reap --host ${hostId} --force, or raise REAPER_MAX_REAP_PERCENT.`;
    case 'fleet-max-reap':
      return `The run hit REAPER_FLEET_MAX_REAP: reap the remaining hosts by name (clawbox-reaper reap --host ${hostId}), or raise it.`;
  }
}

/** What went wrong in a report, in words: its error, or for a capped one which guard fired (S4). */
export function reportProblem(report: {
  status: string;
  error?: string | undefined;
  maxReap?: number | null | undefined;
  counts: { orphans: number } | null;
  cap?: CapInfo | undefined;
}): string {
  if (report.error !== undefined) return report.error;
  if (report.status === 'capped') {
    if (report.cap !== undefined) return capText(report.cap);
    const orphans = report.counts?.orphans;
    return `capped: ${orphans ?? 'more'} orphans${typeof report.maxReap === 'number' ? ` > max reap ${report.maxReap}` : ''}; nothing was touched`;
  }
  return '';
}

/** A host whose clock is off by more than this is flagged (S12). */
export const CLOCK_FLAG_MS = 5000;

/** `+7.2 s` / `-0.3 s`: the agent's clock minus the control plane's. */
export function formatOffset(ms: number): string {
  return `${ms < 0 ? '-' : '+'}${(Math.abs(ms) / 1000).toFixed(1)} s`;
}

/**
 * An engine id short enough for a table: its first 12 and last 8 characters. Both ends matter:
 * Docker's ids (`docker:<ID>/<data-root hash>`) of engines on one machine share the whole start
 * (the ID comes from a key file they share) and differ only at the end, while engines on
 * different machines may share the end (the same data root) and differ at the start.
 */
export function shortEngine(engineId: string): string {
  return engineId.length <= 24 ? engineId : `${engineId.slice(0, 12)}…${engineId.slice(-8)}`;
}

/**
 * When a quarantined container is removed (S11): `removed after 2026-05-01 14:05:00 UTC (in 8 min)`,
 * or once that time is past, that the next run removes it if it is still an orphan.
 */
export function removalText(removeAfter: string, nowMs: number): string {
  const at = Date.parse(removeAfter);
  if (Number.isNaN(at)) return `removed after ${removeAfter}`;
  if (at > nowMs) return `removed after ${formatInstant(at)} (${ago(removeAfter, nowMs)})`;
  return `removed after ${formatInstant(at)} (due ${ago(removeAfter, nowMs)}: the next run removes it if it is still an orphan)`;
}

/** A run id is a UUID; its first block is enough to tell runs apart on screen (the link and tooltip have it whole). */
export const shortId = (id: string, chars = 8) => (id.length > chars + 1 ? `${id.slice(0, chars)}…` : id);
