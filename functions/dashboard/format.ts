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

/** A bucket's short axis label: `13:05` within a day's ranges, `05-01 12h` or `05-01` beyond. */
export function bucketLabel(startMs: number, bucketMs: number): string {
  const d = new Date(startMs);
  const hm = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  if (bucketMs >= 86_400_000) return `${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  if (bucketMs >= 6 * 3_600_000) return `${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}h`;
  return hm;
}

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

/** What went wrong in a report, in words: its error, or for a capped one why nothing was touched (S4). */
export function reportProblem(report: { status: string; error?: string | undefined; maxReap?: number | null | undefined; counts: { orphans: number } | null }): string {
  if (report.error !== undefined) return report.error;
  if (report.status === 'capped') {
    const orphans = report.counts?.orphans;
    return `capped: ${orphans ?? 'more'} orphans${typeof report.maxReap === 'number' ? ` > max reap ${report.maxReap}` : ''}; nothing was touched`;
  }
  return '';
}

/** A run id is a UUID; its first block is enough to tell runs apart on screen (the link and tooltip have it whole). */
export const shortId = (id: string, chars = 8) => (id.length > chars + 1 ? `${id.slice(0, chars)}…` : id);
