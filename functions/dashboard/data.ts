/**
 * What the dashboard reads from the store. Every listing is paged to its end or to a cap, and
 * says which: a page must never present a truncated sum as the whole. The fleet, host and run
 * pages read summaries (counts, no per-container lists); only the report page reads a full item.
 */
import type { Store } from '../store/index.js';
import type { Host, ReportItem, ReportSummary, TrackedItem } from '../store/schemas.js';
import type { InvalidHost } from '../store/hosts.js';
import type { TimeWindow } from './aggregate.js';

/** Reports read for one page at most (a fleet reaping every minute writes 1440 a day per host). */
export const MAX_DASHBOARD_REPORTS = 5000;
/** Tracked containers listed on a host page at most. */
export const MAX_TRACKED_SHOWN = 500;

export type DashboardStore = Pick<Store, 'hosts' | 'tracked' | 'reports'>;

export interface LoadedReports {
  /** Newest first. */
  items: ReportSummary[];
  /** True when the window holds more reports than were read (older ones are left out). */
  capped: boolean;
}

/** The reports whose run started inside the window, newest first, through every page up to `cap`. */
export async function loadReports(store: DashboardStore, window: TimeWindow, hostId?: string, cap = MAX_DASHBOARD_REPORTS): Promise<LoadedReports> {
  const items: ReportSummary[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.reports.listReports({
      ...(hostId === undefined ? {} : { hostId }),
      since: new Date(window.since).toISOString(),
      until: new Date(window.until).toISOString(),
      limit: Math.min(100, cap - items.length),
      ...(cursor === undefined ? {} : { cursor }),
    });
    items.push(...page.items);
    cursor = page.cursor;
  } while (cursor !== undefined && items.length < cap);
  // The store may hand back a cursor whose next page is empty; only a non-empty one proves the cap cut something.
  let capped = false;
  if (cursor !== undefined) {
    const next = await store.reports.listReports({
      ...(hostId === undefined ? {} : { hostId }),
      since: new Date(window.since).toISOString(),
      until: new Date(window.until).toISOString(),
      limit: 1,
      cursor,
    });
    capped = next.items.length > 0;
  }
  return { items, capped };
}

export interface FleetData {
  hosts: Host[];
  invalid: InvalidHost[];
  reports: LoadedReports;
}

export async function loadFleet(store: DashboardStore, window: TimeWindow): Promise<FleetData> {
  const [listing, reports] = await Promise.all([store.hosts.list(), loadReports(store, window)]);
  return { hosts: listing.hosts, invalid: listing.invalid, reports };
}

export interface HostData {
  /** Undefined when the host is no longer registered (its reports stay until they expire). */
  host: Host | undefined;
  tracked: { items: TrackedItem[]; more: boolean };
  reports: LoadedReports;
}

export async function loadHost(store: DashboardStore, hostId: string, window: TimeWindow): Promise<HostData> {
  const [host, reports, tracked] = await Promise.all([store.hosts.get(hostId), loadReports(store, window, hostId), loadTracked(store, hostId)]);
  return { host, reports, tracked };
}

async function loadTracked(store: DashboardStore, hostId: string): Promise<HostData['tracked']> {
  const items: TrackedItem[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.tracked.list(hostId, { limit: Math.min(1000, MAX_TRACKED_SHOWN - items.length), ...(cursor === undefined ? {} : { cursor }) });
    items.push(...page.items);
    cursor = page.cursor;
  } while (cursor !== undefined && items.length < MAX_TRACKED_SHOWN);
  let more = false;
  if (cursor !== undefined) more = (await store.tracked.list(hostId, { limit: 1, cursor })).items.length > 0;
  return { items, more };
}

/** Every host's report of a run as summaries, by host id. */
export function loadRun(store: DashboardStore, runId: string): Promise<ReportSummary[]> {
  return store.reports.runSummaries(runId);
}

/** One host's report of one run in full, its container list included (a host gets one report per run). */
export function loadReport(store: DashboardStore, hostId: string, runId: string): Promise<ReportItem | undefined> {
  return store.reports.getReport(hostId, runId);
}
