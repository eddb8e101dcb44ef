/**
 * The control-plane API's contract (SPEC §6): request and response schemas shared by the API
 * (functions/api) and its clients (the CLI, the dashboard, tests). Imports only zod and the
 * shared id/item schemas.
 */
import { z } from 'zod';
import { ClawboxId, HostId, Instant, RunId } from '../../lib/ids.js';
// Only the pure schemas: clients of the API (the CLI) must not load the DynamoDB SDK.
import { HostInput, HostItem, MAX_PAGE_SIZE, MAX_REPORTS_PAGE, ReportItem, ReportSummary, TrackInput, TrackedItem } from '../store/schemas.js';

/** A page size in a query string: digits only, so "", "1e2" or "-1" are refused, never coerced. */
const pageLimit = (max: number) =>
  z
    .string()
    .regex(/^\d{1,4}$/, `must be a whole number from 1 to ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(1).max(max));

/** Routes that take no query string refuse any parameter (a typo'd filter must not be ignored). */
export const NoQuery = z.strictObject({});

export const HostParams = z.strictObject({ hostId: HostId });
export const TrackedParams = z.strictObject({ hostId: HostId, containerId: ClawboxId });
export const RunParams = z.strictObject({ runId: RunId });
/** GET /v1/reports/:hostId/:runId: one host's report of one run, in full. */
export const ReportParams = z.strictObject({ hostId: HostId, runId: RunId });

/** PUT /v1/hosts/:hostId; `enabled` defaults to true. */
export const HostPutBody = HostInput.safeExtend({ enabled: z.boolean().default(true) });
export type HostPutBody = z.input<typeof HostPutBody>;

/** PUT /v1/hosts/:hostId/containers/:containerId (idempotent). */
export const TrackPutBody = TrackInput;
export type TrackPutBody = z.infer<typeof TrackPutBody>;

/** POST /v1/reaps */
export const ReapStartBody = z.strictObject({
  hosts: z.array(HostId).min(1).max(10_000).optional(),
  dryRun: z.boolean().optional(),
  /** Lifts the guards (S4) for this run's named hosts only (400 force_needs_hosts without names). */
  force: z.boolean().optional(),
  /** Removes orphans at once, without quarantine (S11). */
  now: z.boolean().optional(),
});
export type ReapStartBody = z.infer<typeof ReapStartBody>;

export const ReapStarted = z.strictObject({ runId: RunId, hosts: z.array(HostId) });
export type ReapStarted = z.infer<typeof ReapStarted>;

/** GET /v1/reaps/:runId query string: one page of the run's host reports. */
export const RunQuery = z.strictObject({
  limit: pageLimit(MAX_REPORTS_PAGE).optional(),
  cursor: z.string().max(4096).optional(),
});
export type RunQuery = z.infer<typeof RunQuery>;

/**
 * GET /v1/reaps/:runId: one page of the host reports so far (summaries: counts, no per-container
 * list; GET /v1/reports/:hostId/:runId has the one full report), and whether every host of the
 * run has one. `done` and `reported` are over the whole run, whichever page this is.
 */
export const RunView = z.strictObject({
  runId: RunId,
  done: z.boolean(),
  /** Hosts the run was started for, when known. */
  hosts: z.array(HostId).optional(),
  /** Distinct hosts with a report so far, over every page. */
  reported: z.number().int().min(0),
  /** Hosts the run covers, as its reports declare (absent on reports written before they did). */
  runHosts: z.number().int().min(0).optional(),
  /** This page, ordered by host id; the pages together hold each host's report once. */
  reports: z.array(ReportSummary),
  /** Present when there may be more: pass it back as `cursor`. */
  cursor: z.string().optional(),
});
export type RunView = z.infer<typeof RunView>;

/** GET /v1/reports query string. */
export const ReportsQuery = z.strictObject({
  hostId: HostId.optional(),
  since: Instant.optional(),
  until: Instant.optional(),
  limit: pageLimit(MAX_REPORTS_PAGE).optional(),
  cursor: z.string().max(4096).optional(),
});
export type ReportsQuery = z.infer<typeof ReportsQuery>;

/** GET /v1/reports: summaries (counts, `containersTotal`, `truncated`; no per-container list). */
export const ReportPageBody = z.strictObject({ items: z.array(ReportSummary), cursor: z.string().optional() });
export type ReportPageBody = z.infer<typeof ReportPageBody>;

/** GET /v1/hosts/:hostId/containers query string: one page, in containerId order. */
export const TrackedListQuery = z.strictObject({
  limit: pageLimit(MAX_PAGE_SIZE).optional(),
  cursor: z.string().max(4096).optional(),
});

/** A host item in the table that does not match its schema; the reaper gives it an `error` report. */
export const InvalidHostEntry = z.strictObject({ hostId: HostId.optional(), problem: z.string() });

export const HostList = z.strictObject({
  hosts: z.array(HostItem),
  /** Host items that could not be read (absent when there are none). */
  invalid: z.array(InvalidHostEntry).optional(),
});
export type HostList = z.infer<typeof HostList>;
export const TrackedList = z.strictObject({ items: z.array(TrackedItem), cursor: z.string().optional() });
export type TrackedList = z.infer<typeof TrackedList>;

/** POST /v1/hosts/:hostId/containers/:containerId/restore: the tracked item and what the agent did. */
export const RestoreAnswer = z.strictObject({
  tracked: TrackedItem,
  restore: z.strictObject({
    status: z.enum(['restored', 'pending']),
    containers: z.array(z.strictObject({ dockerId: z.string(), outcome: z.string(), error: z.string().optional() })),
    error: z.string().optional(),
  }),
});
export type RestoreAnswer = z.infer<typeof RestoreAnswer>;

export const HealthBody = z.strictObject({ ok: z.literal(true) });

export { HostItem, ReportItem, ReportSummary, TrackedItem };
