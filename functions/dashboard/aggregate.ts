/**
 * The dashboard's arithmetic, pure: time windows and their buckets, totals over reports, runs
 * grouped from host reports. No store, no clock (the caller passes `nowMs`), so the numbers a page
 * shows can be unit-tested against hand-made reports.
 */
import type { ReportSummary, ReportStatus } from '../store/schemas.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** The time ranges a page can show; each with the bucket width its charts use. */
export const RANGES = {
  '1h': { ms: HOUR, bucketMs: 5 * MINUTE, per: '5 minutes' },
  '6h': { ms: 6 * HOUR, bucketMs: 15 * MINUTE, per: '15 minutes' },
  '24h': { ms: DAY, bucketMs: HOUR, per: 'hour' },
  '7d': { ms: 7 * DAY, bucketMs: 6 * HOUR, per: '6 hours' },
  '30d': { ms: 30 * DAY, bucketMs: DAY, per: 'day' },
} as const;
export type RangeKey = keyof typeof RANGES;
export const RANGE_KEYS = Object.keys(RANGES) as RangeKey[];
export const DEFAULT_RANGE: RangeKey = '24h';

/**
 * Statuses that mark a host red: the control plane never got a verdict (error, unreachable,
 * timeout, refused), some container could not be removed (partial), or nothing was touched
 * because there were too many orphans (capped, S4).
 */
export const FAILING_STATUSES: ReadonlySet<ReportStatus> = new Set(['error', 'unreachable', 'timeout', 'refused', 'partial', 'capped']);
export const isFailing = (status: ReportStatus): boolean => FAILING_STATUSES.has(status);

/** A status filter: one status, or every failing one. */
export type StatusFilter = ReportStatus | 'failing';
export function matchesStatus(status: ReportStatus, filter: StatusFilter | undefined): boolean {
  if (filter === undefined) return true;
  return filter === 'failing' ? isFailing(status) : status === filter;
}

export interface TimeWindow {
  range: RangeKey;
  /** Epoch ms, inclusive: reports whose run started at or after this are in the window. */
  since: number;
  until: number;
  bucketMs: number;
  /** Start of the first bucket (aligned to the bucket width, UTC), at or before `since`. */
  firstBucket: number;
  buckets: number;
}

export function windowFor(range: RangeKey, nowMs: number): TimeWindow {
  const { ms, bucketMs } = RANGES[range];
  const since = nowMs - ms;
  const firstBucket = Math.floor(since / bucketMs) * bucketMs;
  const buckets = Math.floor((nowMs - firstBucket) / bucketMs) + 1;
  return { range, since, until: nowMs, bucketMs, firstBucket, buckets };
}

/** What the runs of one bucket did across the hosts in it. */
export interface Bucket {
  start: number;
  /** Orphans found (dry runs included: they count what would have gone). */
  found: number;
  removed: number;
  /** Containers whose removal failed. */
  failed: number;
  /** Host reports in the bucket, and how many of them are failing. */
  reports: number;
  failingReports: number;
}

/** Spreads reports over the window's buckets by the start of their run; reports outside the window are left out. */
export function bucketize(reports: readonly ReportSummary[], window: TimeWindow): Bucket[] {
  const buckets: Bucket[] = Array.from({ length: window.buckets }, (_, i) => ({
    start: window.firstBucket + i * window.bucketMs,
    found: 0,
    removed: 0,
    failed: 0,
    reports: 0,
    failingReports: 0,
  }));
  for (const report of reports) {
    const at = Date.parse(report.startedAt);
    if (!(at >= window.since && at <= window.until)) continue;
    const bucket = buckets[Math.floor((at - window.firstBucket) / window.bucketMs)];
    if (!bucket) continue;
    bucket.reports++;
    if (isFailing(report.status)) bucket.failingReports++;
    bucket.found += report.counts?.orphans ?? 0;
    bucket.removed += report.counts?.removed ?? 0;
    bucket.failed += report.counts?.failed ?? 0;
  }
  return buckets;
}

export interface Totals {
  /** Distinct runs. */
  runs: number;
  reports: number;
  found: number;
  removed: number;
  failed: number;
  failingReports: number;
}

const emptyTotals = (): Totals => ({ runs: 0, reports: 0, found: 0, removed: 0, failed: 0, failingReports: 0 });

export function totals(reports: readonly ReportSummary[]): Totals {
  const sum = emptyTotals();
  const runs = new Set<string>();
  for (const report of reports) {
    runs.add(report.runId);
    sum.reports++;
    sum.found += report.counts?.orphans ?? 0;
    sum.removed += report.counts?.removed ?? 0;
    sum.failed += report.counts?.failed ?? 0;
    if (isFailing(report.status)) sum.failingReports++;
  }
  sum.runs = runs.size;
  return sum;
}

/** Totals per host id. */
export function totalsByHost(reports: readonly ReportSummary[]): Map<string, Totals> {
  const groups = new Map<string, ReportSummary[]>();
  for (const report of reports) {
    const group = groups.get(report.hostId);
    if (group) group.push(report);
    else groups.set(report.hostId, [report]);
  }
  return new Map([...groups].map(([hostId, group]) => [hostId, totals(group)]));
}

export interface RunSummary extends Totals {
  runId: string;
  startedAt: string;
  trigger: ReportSummary['trigger'];
  dryRun: boolean;
  /** Host reports of this run, and the failing ones' host ids. */
  hosts: number;
  failingHosts: string[];
}

/** Host reports grouped into runs, newest run first. */
export function summarizeRuns(reports: readonly ReportSummary[]): RunSummary[] {
  const groups = new Map<string, ReportSummary[]>();
  for (const report of reports) {
    const group = groups.get(report.runId);
    if (group) group.push(report);
    else groups.set(report.runId, [report]);
  }
  const runs: RunSummary[] = [];
  for (const [runId, group] of groups) {
    const first = group[0];
    if (!first) continue;
    const startedAt = group.reduce((min, r) => (r.startedAt < min ? r.startedAt : min), first.startedAt);
    runs.push({
      ...totals(group),
      runId,
      startedAt,
      trigger: first.trigger,
      dryRun: group.every((r) => r.dryRun),
      hosts: new Set(group.map((r) => r.hostId)).size,
      failingHosts: [...new Set(group.filter((r) => isFailing(r.status)).map((r) => r.hostId))].sort(),
    });
  }
  return runs.sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : a.runId < b.runId ? 1 : -1));
}

/** The part of a window's reports that belongs to hosts no longer registered, per host and in all. */
export interface UnregisteredShare {
  /** By host id, sorted. */
  hosts: { hostId: string; totals: Totals }[];
  totals: Totals;
}

/**
 * Reports stay in the audit trail after their host is removed (until they expire), and the
 * fleet's totals and charts keep counting them: a container removed yesterday was removed,
 * whatever became of its host since. This says how much of those totals such hosts make up, so
 * the page can say it instead of leaving sums that the hosts table does not add up to.
 */
export function unregisteredShare(reports: readonly ReportSummary[], registered: ReadonlySet<string>): UnregisteredShare {
  const theirs = reports.filter((r) => !registered.has(r.hostId));
  const hosts = [...totalsByHost(theirs)].map(([hostId, sum]) => ({ hostId, totals: sum })).sort((a, b) => (a.hostId < b.hostId ? -1 : 1));
  return { hosts, totals: totals(theirs) };
}
