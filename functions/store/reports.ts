/**
 * The reports table: the audit trail, one item per host per run.
 *
 * Listing: with a hostId, one Query on the table (sk is `<startedAt>#<runId>`, so newest first is
 * ScanIndexForward=false, and since/until are a key range). Across hosts, the `day-index` GSI
 * (partition = UTC day of the run's start) is read day by day from `until` back to `since`,
 * newest first: no Scan, and a page costs a handful of Queries however large the table. The
 * default window is the retention (REAPER_REPORT_TTL_DAYS), since older items are expiring.
 * Cursors are opaque and validated on the way back in.
 *
 * Bounded reads (SPEC §6): listings and run views read summaries — every attribute but the
 * per-container list, by ProjectionExpression — so no answer built from them can outgrow 6 MB
 * whatever the fleet did; only `getReport` reads one full item. (DynamoDB still charges a read by
 * the item's whole size: the projection bounds the transfer and the memory, not the cost.)
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BatchGetCommand, PutCommand, QueryCommand, UpdateCommand, type BatchGetCommandOutput, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ReapReport } from '../../lib/agent-contract.js';
import { z } from 'zod';
import { HostId, Instant, RunId } from '../../lib/ids.js';
import { badRequest } from '../../lib/errors.js';
import { withBackoff } from '../../lib/backoff.js';
import { parseItem } from './corrupt.js';
import { writeOnce } from './write-once.js';
import { decodeCursor, encodeCursor, invalidCursor } from './cursor.js';
import { isConditionalCheckFailed, isRetryableDynamoError } from './dynamo-errors.js';
import { buildReportItem, recoveredFields, reportSortKey, type ReportInput } from './report-item.js';
import { ReportItem, ReportSummary } from './schemas.js';
import { MAX_REPORTS_PAGE } from './schemas.js';
import { DAY_INDEX } from './tables.js';
import { hostEntries, missingReport, quietReport, type ShardItem } from './run-items.js';
import type { RunStore } from './runs.js';

type RunEntry = { shard: ShardItem } & ({ quiet: string } | { status: ReportItem['status'] });

export const DEFAULT_REPORT_TTL_DAYS = 90;
export { MAX_REPORTS_PAGE };
const DAY_MS = 86_400_000;
const DAYS_IN_PARALLEL = 7;

export interface ListReportsOptions {
  hostId?: string;
  /** ISO instants, inclusive, on the run's start. */
  since?: string;
  until?: string;
  /** 1-100, default 25. */
  limit?: number;
  cursor?: string;
}

export interface ReportPage {
  /** Summaries: no per-container list (`containersTotal` and `truncated` say how long it is). */
  items: ReportSummary[];
  /** Present when there may be more; an empty last page is possible. */
  cursor?: string;
}

export interface RunPageOptions {
  /** 1-100, default 100. */
  limit?: number;
  cursor?: string;
}

/** Who has reported for a run so far. */
export interface RunProgress {
  /** Distinct hosts with a report, sorted. */
  hosts: string[];
  /** Hosts the run covers, when its reports say (`runHosts`). */
  runHosts?: number;
}

/** putReport found this host's report of this run already written (another delivery of the run). */
export class DuplicateReportError extends Error {
  override name = 'DuplicateReportError';
  constructor(
    readonly hostId: string,
    readonly runId: string,
  ) {
    super(`host ${hostId} already has a report for run ${runId} (a duplicate delivery of the run); this one was not written`);
  }
}

export interface PutReportOptions {
  /** Epoch ms; write retries stop before it. */
  deadlineAt?: number;
}

export interface ReportStore {
  /** Builds the item (caps the container list, sets the TTL) and writes it, retrying throttling and 5xx with backoff. */
  putReport(input: ReportInput, options?: PutReportOptions): Promise<ReportItem>;
  /**
   * Fills in a report whose outcome was unknown with the agent's report, had later (a conditional
   * update of that one item: only while it exists and is still `unknown`). False when it was not
   * (already filled in, or never written).
   */
  fillInReport(key: { hostId: string; runId: string; startedAt: string }, agentReport: ReapReport, recovered: { at: string; byRunId: string }, options?: PutReportOptions): Promise<boolean>;
  /**
   * Every host's full report for a run (the runId GSI, all pages), ordered by hostId. Unbounded:
   * for the control plane's own use, never for an answer (use `runPage` / `runSummaries`).
   */
  reportsForRun(runId: string): Promise<ReportItem[]>;
  /** One page of a run's summaries (the runId GSI), each page ordered by hostId. */
  /** One page of a run's summaries, each page ordered by hostId, with who has reported over the whole run (from the same read). */
  runPage(runId: string, options?: RunPageOptions): Promise<ReportPage & { progress: RunProgress }>;
  /** Every summary of a run (all pages), ordered by hostId: for a page that totals a run. */
  runSummaries(runId: string): Promise<ReportSummary[]>;
  /** Which hosts have reported for a run, reading only `hostId` and `runHosts` of each report. */
  runProgress(runId: string): Promise<RunProgress>;
  /** The one full report of a host for a run (with its container list), or undefined. */
  getReport(hostId: string, runId: string): Promise<ReportItem | undefined>;
  /** The audit trail as summaries, newest first, paged. */
  listReports(options?: ListReportsOptions): Promise<ReportPage>;
}

/** Default and largest page of a run view. */
export const DEFAULT_RUN_PAGE = 100;

/**
 * The attributes a summary reads: every attribute of a report but `containers`, each through a
 * placeholder (`day`, `status`, `error` … are DynamoDB reserved words). Derived from the schema,
 * so an attribute added to ReportItem is read too.
 */
const SUMMARY_ATTRIBUTES = Object.keys(ReportSummary.shape);
const summaryProjection = (): { ProjectionExpression: string; ExpressionAttributeNames: Record<string, string> } => ({
  ProjectionExpression: SUMMARY_ATTRIBUTES.map((_, i) => `#s${i}`).join(', '),
  ExpressionAttributeNames: Object.fromEntries(SUMMARY_ATTRIBUTES.map((name, i) => [`#s${i}`, name])),
});


const HostKey = z.strictObject({ hostId: HostId, sk: z.string().max(200) });
const DayKey = z.strictObject({ hostId: HostId, sk: z.string().max(200), day: z.string().regex(/^\d{4}-\d{2}-\d{2}$/) });
const HostCursor = z.strictObject({ h: HostKey });
const DayCursor = z.strictObject({ d: z.string().regex(/^\d{4}-\d{2}-\d{2}$/), k: DayKey.nullable() });
const RunCursor = z.strictObject({ r: z.strictObject({ runId: RunId, hostId: HostId }) });

function instant(value: string | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  const parsed = Instant.safeParse(value);
  if (!parsed.success) throw badRequest('validation_failed', `${name} must be an ISO-8601 UTC instant, e.g. 2026-11-27T03:15:00Z`);
  // Normalised to toISOString's form so instants compare as strings against sort keys.
  return new Date(value).toISOString();
}

/** A cursor's position must lie inside the query's own [since, until]: a cursor from another query is refused, not sent to DynamoDB. */
function assertInRange(sk: string, since: string | undefined, until: string | undefined): void {
  if ((since !== undefined && sk < since) || (until !== undefined && sk > `${until}#~`)) throw invalidCursor();
}

const isRealDay = (day: string) => {
  const ms = Date.parse(`${day}T00:00:00.000Z`);
  return Number.isFinite(ms) && new Date(ms).toISOString().slice(0, 10) === day;
};

const previousDay = (day: string) => new Date(Date.parse(`${day}T00:00:00.000Z`) - DAY_MS).toISOString().slice(0, 10);

export function createReportStore(
  doc: DynamoDBDocumentClient,
  table: string,
  options: { runs: RunStore; ttlDays?: number; now?: () => number },
): ReportStore {
  const now = options.now ?? Date.now;
  const ttlDays = options.ttlDays ?? DEFAULT_REPORT_TTL_DAYS;

  /** sk bounds for [since, until]: runIds use [A-Za-z0-9_-], all below '~'. */
  function skRange(since: string | undefined, until: string | undefined) {
    const parts: string[] = [];
    const values: Record<string, string> = {};
    if (since !== undefined && until !== undefined) {
      parts.push('sk BETWEEN :lo AND :hi');
      values[':lo'] = since;
      values[':hi'] = `${until}#~`;
    } else if (since !== undefined) {
      parts.push('sk >= :lo');
      values[':lo'] = since;
    } else if (until !== undefined) {
      parts.push('sk <= :hi');
      values[':hi'] = `${until}#~`;
    }
    return { condition: parts[0], values };
  }

  async function listForHost(hostId: string, since: string | undefined, until: string | undefined, limit: number, cursor: string | undefined): Promise<ReportPage> {
    let startKey: Record<string, unknown> | undefined;
    if (cursor !== undefined) {
      const decoded = decodeCursor(HostCursor, cursor);
      if (decoded.h.hostId !== hostId) throw invalidCursor();
      assertInRange(decoded.h.sk, since, until);
      startKey = decoded.h;
    }
    const range = skRange(since, until);
    const items: ReportSummary[] = [];
    do {
      const out = await doc.send(
        new QueryCommand({
          TableName: table,
          KeyConditionExpression: `hostId = :hostId${range.condition ? ` AND ${range.condition}` : ''}`,
          ExpressionAttributeValues: { ':hostId': hostId, ...range.values },
          ...summaryProjection(),
          ScanIndexForward: false,
          Limit: limit - items.length,
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
      for (const raw of out.Items ?? []) items.push(parseItem(ReportSummary, raw, table, `${hostId}/?`));
      startKey = out.LastEvaluatedKey;
    } while (startKey !== undefined && items.length < limit);
    const next = startKey === undefined ? undefined : HostKey.safeParse(startKey);
    return { items, ...(next?.success ? { cursor: encodeCursor({ h: next.data }) } : {}) };
  }

  async function queryDay(day: string, range: ReturnType<typeof skRange>, limit: number, startKey: Record<string, unknown> | undefined) {
    const projection = summaryProjection();
    const out = await doc.send(
      new QueryCommand({
        TableName: table,
        IndexName: DAY_INDEX,
        KeyConditionExpression: `#day = :day${range.condition ? ` AND ${range.condition}` : ''}`,
        ProjectionExpression: projection.ProjectionExpression,
        ExpressionAttributeNames: { ...projection.ExpressionAttributeNames, '#day': 'day' },
        ExpressionAttributeValues: { ':day': day, ...range.values },
        ScanIndexForward: false,
        Limit: limit,
        ...(startKey ? { ExclusiveStartKey: startKey } : {}),
      }),
    );
    return { items: (out.Items ?? []).map((raw) => parseItem(ReportSummary, raw, `${table}/${DAY_INDEX}`, `${day}/?`)), lastKey: out.LastEvaluatedKey };
  }

  function checkRunId(runId: string): string {
    const parsed = RunId.safeParse(runId);
    if (!parsed.success) throw badRequest('validation_failed', 'runId must be 8-64 characters of A-Z a-z 0-9 _ -');
    return parsed.data;
  }

  /** Every host of a run with its one outcome (functions/store/run-items.ts hostEntries), in hostId order. */
  async function runEntries(runId: string): Promise<{ entries: [string, RunEntry][]; runHosts: number | undefined }> {
    const record = await options.runs.read(runId);
    const entries = [...hostEntries(record.shards)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return { entries, runHosts: record.header?.runHosts ?? record.shards[0]?.runHosts };
  }

  /**
   * The reports of these entries: quiet ones rebuilt from their entry, the others read by key
   * (BatchGetItem, 100 keys a request; summaries only when asked). An eventful host whose item is
   * missing (its write failed) is still listed, with its status and why nothing more is known.
   */
  async function fullReports(entries: readonly [string, RunEntry][], summaries: boolean): Promise<(ReportItem | ReportSummary)[]> {
    const wanted = entries.flatMap(([hostId, e]) => ('status' in e ? [{ hostId, sk: reportSortKey(e.shard.startedAt, e.shard.runId) }] : []));
    const found = new Map<string, ReportItem | ReportSummary>();
    // A BatchGetItem answers at most 16 MB: full items (up to ~250 KB) go 25 at a time.
    const perRequest = summaries ? 100 : 25;
    for (let i = 0; i < wanted.length; i += perRequest) {
      let keys: Record<string, unknown>[] | undefined = wanted.slice(i, i + perRequest);
      // Unprocessed keys (throttling, the 16 MB cap) are asked again while each round makes progress.
      for (let stalled = 0; keys !== undefined && keys.length > 0 && stalled < 5; ) {
        const before: number = keys.length;
        const projection = summaries ? summaryProjection() : undefined;
        const out: BatchGetCommandOutput = await doc.send(
          new BatchGetCommand({ RequestItems: { [table]: { Keys: keys, ConsistentRead: true, ...(projection ?? {}) } } }),
        );
        for (const raw of out.Responses?.[table] ?? []) {
          const item = parseItem(summaries ? ReportSummary : ReportItem, raw, table, `${String(raw.hostId)}/${String(raw.sk)}`);
          found.set(item.hostId, item);
        }
        keys = out.UnprocessedKeys?.[table]?.Keys;
        if (keys !== undefined && keys.length >= before) await sleep(Math.min(50 * 2 ** ++stalled, 1000));
      }
      if (keys !== undefined && keys.length > 0) throw new Error(`could not read ${keys.length} reports of a run: DynamoDB kept them unprocessed`);
    }
    return entries.map(([hostId, e]) => {
      if ('quiet' in e) {
        const rebuilt = quietReport(hostId, e.quiet, e.shard);
        if (!summaries) return rebuilt;
        const { containers: _containers, ...summary } = rebuilt;
        return summary;
      }
      const item = found.get(hostId);
      if (item !== undefined) return item;
      const missing = missingReport(hostId, e.status, e.shard);
      if (!summaries) return missing;
      const { containers: _containers, ...summary } = missing;
      return summary;
    });
  }

  /** A host's report with this exact sort key, read consistently from the table (not the index). */
  async function readOne(hostId: string, sk: string): Promise<ReportItem | undefined> {
    const out = await doc.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: 'hostId = :hostId AND sk = :sk',
        ExpressionAttributeValues: { ':hostId': hostId, ':sk': sk },
        ConsistentRead: true,
      }),
    );
    const raw = out.Items?.[0];
    return raw === undefined ? undefined : parseItem(ReportItem, raw, table, `${hostId}/${sk}`);
  }

  async function listAcrossHosts(since: string | undefined, until: string | undefined, limit: number, cursor: string | undefined): Promise<ReportPage> {
    const nowMs = now();
    // Days are walked one by one, so the walk is clamped to where reports can be: the retention
    // window (older ones have expired) up to a day ahead (a run's start may come from an event
    // time slightly ahead of this clock). A far-off since/until costs nothing.
    const oldest = new Date(nowMs - (ttlDays + 1) * DAY_MS).toISOString().slice(0, 10);
    const newest = new Date(nowMs + DAY_MS).toISOString().slice(0, 10);
    const sinceDay = since?.slice(0, 10);
    const untilDay = until?.slice(0, 10);
    const lowest = sinceDay !== undefined && sinceDay > oldest ? sinceDay : oldest;
    let day = untilDay !== undefined && untilDay < newest ? untilDay : newest;
    let startKey: Record<string, unknown> | undefined;
    if (cursor !== undefined) {
      const decoded = decodeCursor(DayCursor, cursor);
      if (decoded.k !== null && decoded.k.day !== decoded.d) throw invalidCursor();
      if (!isRealDay(decoded.d) || decoded.d < lowest || decoded.d > day) throw invalidCursor();
      if (decoded.k !== null) assertInRange(decoded.k.sk, since, until);
      day = decoded.d;
      startKey = decoded.k ?? undefined;
    }
    const range = skRange(since, until);
    const items: ReportSummary[] = [];
    const page = (d: string, k: z.infer<typeof DayKey> | null): ReportPage => ({ items, cursor: encodeCursor({ d, k }) });
    while (day >= lowest) {
      // Days are read a week at a time in parallel: a sparse trail would otherwise cost one
      // round trip per empty day. Results past the page's end are discarded.
      const days: string[] = [];
      for (let d = day; d >= lowest && days.length < DAYS_IN_PARALLEL; d = previousDay(d)) days.push(d);
      const wanted = limit - items.length;
      const results = await Promise.all(days.map((d, i) => queryDay(d, range, wanted, i === 0 ? startKey : undefined)));
      startKey = undefined;
      for (const [i, result] of results.entries()) {
        const d = days[i] ?? day;
        for (const item of result.items) {
          if (items.length === limit) {
            const last = items[items.length - 1];
            return page(d, last && last.day === d ? { hostId: last.hostId, sk: last.sk, day: d } : null);
          }
          items.push(item);
        }
        if (result.lastKey !== undefined) {
          // This day has more (Limit or the 1 MB page): the page ends here, or reading resumes here.
          const key = DayKey.parse(result.lastKey);
          if (items.length === limit) return page(d, key);
          day = d;
          startKey = key;
          break;
        }
        day = previousDay(d);
        if (items.length === limit) return day >= lowest ? page(day, null) : { items };
      }
    }
    return { items };
  }

  return {
    async putReport(input, putOptions = {}) {
      const item = ReportItem.parse(buildReportItem(input, { ttlDays, nowMs: now() }));
      // One report per host per run (SPEC §10): the key is the run's and the host's, and an item
      // already there was written by another delivery of the run.
      const written = await writeOnce((input) => doc.send(new PutCommand(input)), { table, item, rangeKey: 'sk' }, { deadlineAt: putOptions.deadlineAt, now });
      if (!written) throw new DuplicateReportError(item.hostId, item.runId);
      return item;
    },

    async fillInReport(key, agentReport, recovered, fillOptions = {}) {
      const fields = recoveredFields(agentReport, recovered);
      const names: Record<string, string> = { '#sk': 'sk', '#outcome': 'outcome', '#status': 'status', '#error': 'error', '#errorCode': 'errorCode', '#lostStatus': 'lostStatus', '#lostError': 'lostError' };
      const values: Record<string, unknown> = { ':unknown': 'unknown', ':noError': '' };
      const sets = ['#lostStatus = #status', '#lostError = if_not_exists(#error, :noError)'];
      for (const [name, value] of Object.entries(fields)) {
        names[`#${name}`] = name;
        values[`:${name}`] = value;
        sets.push(`#${name} = :${name}`);
      }
      try {
        await withBackoff(
          () =>
            doc.send(
              new UpdateCommand({
                TableName: table,
                Key: { hostId: key.hostId, sk: reportSortKey(key.startedAt, key.runId) },
                // Only a report that exists and is still unknown: a recovered one is never rewritten.
                ConditionExpression: 'attribute_exists(#sk) AND #outcome = :unknown',
                UpdateExpression: `SET ${sets.join(', ')} REMOVE #error, #errorCode`,
                ExpressionAttributeNames: names,
                ExpressionAttributeValues: values,
              }),
            ),
          {
            attempts: 4,
            baseMs: 50,
            capMs: 500,
            isRetryable: isRetryableDynamoError,
            ...(fillOptions.deadlineAt === undefined ? {} : { deadlineAt: fillOptions.deadlineAt }),
            now,
          },
        );
        return true;
      } catch (error) {
        if (isConditionalCheckFailed(error)) return false;
        throw error;
      }
    },

    async reportsForRun(runId) {
      checkRunId(runId);
      const { entries } = await runEntries(runId);
      return fullReports(entries, false) as Promise<ReportItem[]>;
    },

    async runPage(runId, pageOptions = {}) {
      checkRunId(runId);
      const limit = Math.min(Math.max(Math.floor(pageOptions.limit ?? DEFAULT_RUN_PAGE), 1), MAX_REPORTS_PAGE);
      let after: string | undefined;
      if (pageOptions.cursor !== undefined) {
        const decoded = decodeCursor(RunCursor, pageOptions.cursor);
        if (decoded.r.runId !== runId) throw invalidCursor();
        after = decoded.r.hostId;
      }
      const { entries, runHosts } = await runEntries(runId);
      const rest = after === undefined ? entries : entries.filter(([hostId]) => hostId > after);
      const page = rest.slice(0, limit);
      const items = (await fullReports(page, true)) as ReportSummary[];
      const last = page[page.length - 1];
      const progress: RunProgress = { hosts: entries.map(([hostId]) => hostId), ...(runHosts === undefined ? {} : { runHosts }) };
      return { items, progress, ...(rest.length > limit && last ? { cursor: encodeCursor({ r: { runId, hostId: last[0] } }) } : {}) };
    },

    async runSummaries(runId) {
      checkRunId(runId);
      const { entries } = await runEntries(runId);
      return (await fullReports(entries, true)) as ReportSummary[];
    },

    async runProgress(runId) {
      checkRunId(runId);
      const { entries, runHosts } = await runEntries(runId);
      return { hosts: entries.map(([hostId]) => hostId), ...(runHosts === undefined ? {} : { runHosts }) };
    },

    async getReport(hostId, runId) {
      checkRunId(runId);
      const parsedHost = HostId.safeParse(hostId);
      if (!parsedHost.success) throw badRequest('validation_failed', `hostId ${parsedHost.error.issues[0]?.message ?? 'is invalid'}`);
      // The run's header gives its start, so the full report is read by its key, consistently.
      const header = await options.runs.getHeader(runId);
      if (header !== undefined) {
        const found = await readOne(hostId, reportSortKey(header.startedAt, runId));
        if (found !== undefined) return found;
      }
      // A quiet outcome lives in its shard item only.
      const { entries } = await runEntries(runId);
      const entry = entries.find(([h]) => h === hostId);
      return entry === undefined ? undefined : ((await fullReports([entry], false))[0] as ReportItem | undefined);
    },

    async listReports(listOptions = {}) {
      const limit = Math.min(Math.max(Math.floor(listOptions.limit ?? 25), 1), MAX_REPORTS_PAGE);
      const since = instant(listOptions.since, 'since');
      const until = instant(listOptions.until, 'until');
      if (since !== undefined && until !== undefined && since > until) throw badRequest('validation_failed', 'since must not be after until');
      if (listOptions.hostId !== undefined) {
        const hostId = HostId.safeParse(listOptions.hostId);
        if (!hostId.success) throw badRequest('validation_failed', `hostId ${hostId.error.issues[0]?.message ?? 'is invalid'}`);
        return listForHost(hostId.data, since, until, limit, listOptions.cursor);
      }
      return listAcrossHosts(since, until, limit, listOptions.cursor);
    },
  };
}
