/**
 * The control plane's data layer. `createStore` takes a DynamoDB client built by the caller (the
 * Lambda entry, the local stack, a test pointing at dynalite) and never builds one itself.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createHostStore, type HostStore } from './hosts.js';
import { createQuarantineStore, type QuarantineStore } from './quarantine.js';
import { createReportStore, type ReportStore } from './reports.js';
import { createRunStore, type RunStore } from './runs.js';
import { DEFAULT_TABLE_PREFIX, tableNames, type TableNames } from './tables.js';
import { createTrackedStore, type TrackedStore } from './tracked.js';

export interface StoreOptions {
  client: DynamoDBClient;
  /** REAPER_TABLE_PREFIX; default `clawbox-reaper-`. */
  prefix?: string;
  /** REAPER_REPORT_TTL_DAYS; default 90. */
  reportTtlDays?: number;
  now?: () => number;
}

export interface Store {
  tables: TableNames;
  hosts: HostStore;
  tracked: TrackedStore;
  reports: ReportStore;
  quarantine: QuarantineStore;
  runs: RunStore;
}

export function createStore(options: StoreOptions): Store {
  const tables = tableNames(options.prefix ?? DEFAULT_TABLE_PREFIX);
  // removeUndefinedValues: optional fields left undefined are simply not written.
  const doc = DynamoDBDocumentClient.from(options.client, { marshallOptions: { removeUndefinedValues: true } });
  const now = options.now ?? Date.now;
  const runs = createRunStore(doc, tables.runs, now);
  return {
    tables,
    hosts: createHostStore(doc, { hosts: tables.hosts, engines: tables.engines }, now),
    tracked: createTrackedStore(doc, tables.tracked, now),
    reports: createReportStore(doc, tables.reports, { runs, now, ...(options.reportTtlDays === undefined ? {} : { ttlDays: options.reportTtlDays }) }),
    runs,
    quarantine: createQuarantineStore(doc, tables.quarantine, now),
  };
}

export { DEFAULT_TABLE_PREFIX, DAY_INDEX, ensureTables, tableDefinitions, tableNames, type TableNames } from './tables.js';
export { HostInput, type HostListing, type HostStore, type HostTables, type InvalidHost, type PinResult } from './hosts.js';
export { TrackInput, MAX_PAGE_SIZE, MAX_LEASE_SKEW_SECONDS, TRACKED_TTL_MARGIN_SECONDS, protects, trackedExpiresAt, type ReadTrackedOptions, type TrackedPage, type TrackedSnapshot, type TrackedStore } from './tracked.js';
export {
  QUARANTINE_BATCH_SIZE,
  QuarantineWriteError,
  type ApplyQuarantineOptions,
  type ListQuarantineOptions,
  type QuarantineChanges,
  type QuarantinePut,
  type QuarantineStore,
} from './quarantine.js';
export { DEFAULT_REPORT_TTL_DAYS, DEFAULT_RUN_PAGE, DuplicateReportError, MAX_REPORTS_PAGE, type ListReportsOptions, type ReportPage, type ReportStore, type RunPageOptions, type RunProgress } from './reports.js';
export { REPORT_LIMITS, buildReportItem, capContainers, reportSortKey, type ReportInput } from './report-item.js';
export { CorruptItemError } from './corrupt.js';
export { type RunRecord, type RunStore } from './runs.js';
export { HEADER_PART, RunHeaderItem, ShardItem, hostEntries, isQuiet, quietEntry, quietReport, shardPart } from './run-items.js';
export { isRetryableDynamoError } from './dynamo-errors.js';
export * from './schemas.js';
