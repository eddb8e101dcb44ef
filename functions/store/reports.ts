/**
 * The reports table: the audit trail, one item per host per run.
 *
 * Listing: with a hostId, one Query on the table (sk is `<startedAt>#<runId>`, so newest first is
 * ScanIndexForward=false, and since/until are a key range). Across hosts, the `day-index` GSI
 * (partition = UTC day of the run's start) is read day by day from `until` back to `since`,
 * newest first: no Scan, and a page costs a handful of Queries however large the table. The
 * default window is the retention (REAPER_REPORT_TTL_DAYS), since older items are expiring.
 * Cursors are opaque and validated on the way back in.
 */
import { PutCommand, paginateQuery, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { HostId, Instant, RunId } from '../../lib/ids.js';
import { badRequest } from '../../lib/errors.js';
import { withBackoff } from '../../lib/backoff.js';
import { parseItem } from './corrupt.js';
import { decodeCursor, encodeCursor, invalidCursor } from './cursor.js';
import { isRetryableDynamoError } from './dynamo-errors.js';
import { buildReportItem, type ReportInput } from './report-item.js';
import { ReportItem } from './schemas.js';
import { MAX_REPORTS_PAGE } from './schemas.js';
import { DAY_INDEX, RUN_INDEX } from './tables.js';

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
  items: ReportItem[];
  /** Present when there may be more; an empty last page is possible. */
  cursor?: string;
}

export interface PutReportOptions {
  /** Epoch ms; write retries stop before it. */
  deadlineAt?: number;
}

export interface ReportStore {
  /** Builds the item (caps the container list, sets the TTL) and writes it, retrying throttling and 5xx with backoff. */
  putReport(input: ReportInput, options?: PutReportOptions): Promise<ReportItem>;
  /** Every host's report for a run (the runId GSI, all pages), ordered by hostId. */
  reportsForRun(runId: string): Promise<ReportItem[]>;
  listReports(options?: ListReportsOptions): Promise<ReportPage>;
}

const HostKey = z.strictObject({ hostId: HostId, sk: z.string().max(200) });
const DayKey = z.strictObject({ hostId: HostId, sk: z.string().max(200), day: z.string().regex(/^\d{4}-\d{2}-\d{2}$/) });
const HostCursor = z.strictObject({ h: HostKey });
const DayCursor = z.strictObject({ d: z.string().regex(/^\d{4}-\d{2}-\d{2}$/), k: DayKey.nullable() });

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
  options: { ttlDays?: number; now?: () => number } = {},
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
    const items: ReportItem[] = [];
    do {
      const out = await doc.send(
        new QueryCommand({
          TableName: table,
          KeyConditionExpression: `hostId = :hostId${range.condition ? ` AND ${range.condition}` : ''}`,
          ExpressionAttributeValues: { ':hostId': hostId, ...range.values },
          ScanIndexForward: false,
          Limit: limit - items.length,
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
      for (const raw of out.Items ?? []) items.push(parseItem(ReportItem, raw, table, `${hostId}/?`));
      startKey = out.LastEvaluatedKey;
    } while (startKey !== undefined && items.length < limit);
    const next = startKey === undefined ? undefined : HostKey.safeParse(startKey);
    return { items, ...(next?.success ? { cursor: encodeCursor({ h: next.data }) } : {}) };
  }

  async function queryDay(day: string, range: ReturnType<typeof skRange>, limit: number, startKey: Record<string, unknown> | undefined) {
    const out = await doc.send(
      new QueryCommand({
        TableName: table,
        IndexName: DAY_INDEX,
        KeyConditionExpression: `#day = :day${range.condition ? ` AND ${range.condition}` : ''}`,
        ExpressionAttributeNames: { '#day': 'day' },
        ExpressionAttributeValues: { ':day': day, ...range.values },
        ScanIndexForward: false,
        Limit: limit,
        ...(startKey ? { ExclusiveStartKey: startKey } : {}),
      }),
    );
    return { items: (out.Items ?? []).map((raw) => parseItem(ReportItem, raw, `${table}/${DAY_INDEX}`, `${day}/?`)), lastKey: out.LastEvaluatedKey };
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
    const items: ReportItem[] = [];
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
      await withBackoff(() => doc.send(new PutCommand({ TableName: table, Item: item })), {
        attempts: 6,
        baseMs: 50,
        capMs: 1000,
        isRetryable: isRetryableDynamoError,
        ...(putOptions.deadlineAt === undefined ? {} : { deadlineAt: putOptions.deadlineAt }),
        now,
      });
      return item;
    },

    async reportsForRun(runId) {
      const parsedRunId = RunId.safeParse(runId);
      if (!parsedRunId.success) throw badRequest('validation_failed', 'runId must be 8-64 characters of A-Z a-z 0-9 _ -');
      const items: ReportItem[] = [];
      const pages = paginateQuery(
        { client: doc },
        { TableName: table, IndexName: RUN_INDEX, KeyConditionExpression: 'runId = :runId', ExpressionAttributeValues: { ':runId': runId } },
      );
      for await (const page of pages) {
        for (const raw of page.Items ?? []) items.push(parseItem(ReportItem, raw, `${table}/${RUN_INDEX}`, `${runId}/?`));
      }
      return items.sort((a, b) => (a.hostId < b.hostId ? -1 : a.hostId > b.hostId ? 1 : a.sk < b.sk ? -1 : 1));
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
