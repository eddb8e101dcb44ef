/**
 * What one host costs a month at one run a minute (issue 12 item 3): DynamoDB read and write
 * units per host per tick, from the sizes (bench/dynamo-size.ts) of the items the store really
 * writes, built with the project's own builders (buildReportItem, quietEntry, the run items'
 * schemas, the tracked items test/helpers/seed.ts writes); plus Lambda and 90 days of report
 * storage. Computed for the current design with tracked items in the long form of earlier builds
 * and in the lean form the store writes now, for the old design (a full report item per host per run) as the baseline,
 * and the floor the consistent tracked read (S5) sets on its own.
 *
 *   npx tsx bench/cost.ts [--tracked 50] [--eventful 0.01] [--shard-hosts 200] [--cpu-ms 1.0] [--fleet 10000] [--json]
 *
 * No AWS call is made: this is arithmetic on the documented billing rules, not a measurement of
 * a bill. Reads by people (API, dashboard) are not counted: they do not grow with the run rate.
 */
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { ReapReport } from '../lib/agent-contract.js';
import { buildReportItem, type ReportInput } from '../functions/store/report-item.js';
import { HEADER_PART, isQuiet, quietEntry, RunHeaderItem, ShardItem, shardPart } from '../functions/store/run-items.js';
import { HostItem, LastReap, ReportItem, TrackedItem } from '../functions/store/schemas.js';
import { DAY_INDEX_ATTRIBUTES } from '../functions/store/tables.js';
import { trackedExpiresAt } from '../functions/store/tracked.js';
import { toStored } from '../functions/store/tracked-item.js';
import { trackedItems } from '../test/helpers/seed.js';
import { itemSize, pageReadUnits, pick, READ_UNIT_BYTES, STORAGE_OVERHEAD_BYTES, writeUnits } from './dynamo-size.js';

export const PRICES = {
  basis: 'on-demand, us-east-1, after the Nov 2024 DynamoDB price cut (Lambda arm64 list price)',
  writePerMillion: 0.625,
  readPerMillion: 0.125,
  storagePerGbMonth: 0.25,
  lambdaPerGbSecond: 0.0000133334,
  lambdaPerMillionRequests: 0.2,
  logsIngestionPerGb: 0.5,
  /** Storage GB taken as 10^9 bytes (the larger bill of the two readings). */
  gbBytes: 1e9,
} as const;

/** 730 hours, AWS's billing month: one run a minute. */
export const TICKS_PER_MONTH = 730 * 60;
export const REPORT_TTL_DAYS = 90;
const TICKS_HELD = REPORT_TTL_DAYS * 24 * 60;
const LAMBDA_GB = 0.5;
/** The vCPU share a 512 MB Lambda gets (1,769 MB is one vCPU). */
const LAMBDA_VCPU = 0.29;
/**
 * CloudWatch Logs a shard run writes when nothing goes wrong: Lambda's START/END/REPORT lines,
 * the run summary and the EMF metrics line. An estimate (not measured here); per-host lines are
 * logged only when something fails.
 */
const LOG_BYTES_PER_SHARD_RUN = 1500;
/** DynamoDB's page limit for Query and Scan. */
const PAGE_BYTES = 1024 * 1024;

export interface CostParams {
  /** Tracked containers per host. */
  tracked: number;
  /** Share of hosts with something to report each tick (a full report item). */
  eventful: number;
  shardHosts: number;
  /** Reaper CPU per host per run, ms. */
  cpuMs: number;
  /** Hosts in the fleet (the run header's and the planner's share). */
  fleet: number;
  /** Share of hosts with quarantine records (their run reads them); default: the eventful share. */
  quarantined?: number;
}

export const DEFAULT_PARAMS: CostParams = { tracked: 50, eventful: 0.01, shardHosts: 200, cpuMs: 1.0, fleet: 10_000 };

export interface Line {
  what: string;
  kind: 'read' | 'write' | 'lambda' | 'storage';
  /** Per host per tick (storage: bytes held per host). */
  units: number;
  unit: 'RRU' | 'WRU' | 'GB-s' | 'requests' | 'log bytes' | 'bytes held';
  dollarsPerMonth: number;
}

export interface Design {
  name: string;
  lines: Line[];
  byKind: Record<Line['kind'], number>;
  total: number;
}

export interface Floor {
  items: number;
  leanItemBytes: number;
  queryBytes: number;
  readUnits: number;
  dollarsPerMonth: number;
  /** Whole read units a tick that $0.01 a month pays for. */
  unitsForTarget: number;
  /** The largest average item that keeps the Query at one 4 KB unit. */
  maxItemBytesForOneUnit: number;
  /** Keys plus the binary dockerId alone: no layout that keeps them is smaller. */
  keysAndDockerIdBytes: number;
  /** The same with one-letter key names (a new table's key schema). */
  shortKeysAndDockerIdBytes: number;
  /** Lean items one 4 KB unit holds. */
  leanItemsPerUnit: number;
  reachable: boolean;
  arithmetic: string[];
}

/** Bytes by DynamoDB's rules (tracked: the average item). */
export interface ItemSizes {
  trackedCurrentAvg: number;
  trackedLeanAvg: number;
  hostItemQuiet: number;
  hostItemEventful: number;
  shardItem: number;
  runHeader: number;
  eventfulReport: number;
  eventfulDayIndexEntry: number;
  oldQuietReport: number;
}

export interface CostResult {
  params: CostParams;
  prices: typeof PRICES;
  ticksPerMonth: number;
  sizes: ItemSizes;
  current: Design;
  lean: Design;
  old: Design;
  floor: Floor;
}

const STARTED = '2026-12-01T10:00:00.000Z';
const STARTED_MS = Date.parse(STARTED);
const RUN_ID = '3f8e2a7c-5b1d-4c9e-a0f4-6d2b8e1c7a95';
const hostIdOf = (i: number) => `docker-eu1-${String(i).padStart(5, '0')}`;
const hex = (bytes: number) => randomUUID().replaceAll('-', '').repeat(4).slice(0, bytes * 2);
const iso = (ms: number) => new Date(ms).toISOString();

/** 50 tracked containers as the manager registers them: uuid ids, full Docker ids, one owner, a lease on one in five. */
function trackedRefs(count: number) {
  return Array.from({ length: count }, (_, i) => {
    const lease = i % 5 === 0 ? Math.floor(STARTED_MS / 1000) + 3600 : undefined;
    return { containerId: randomUUID(), dockerId: hex(32), owner: 'manager-eu-1', lease };
  });
}

/** Today's tracked items: exactly what the store writes (test/helpers/seed.ts builds that shape). */
function currentTracked(hostId: string, refs: ReturnType<typeof trackedRefs>): Record<string, unknown>[] {
  return refs.map((r) => {
    const [item] = trackedItems(hostId, [r.containerId], { dockerId: r.dockerId, owner: r.owner, ...(r.lease === undefined ? {} : { leaseExpiresAt: r.lease, expiresAt: trackedExpiresAt(r.lease) }) });
    return TrackedItem.parse(item);
  });
}

/** The lean tracked layout, exactly as the store writes it (functions/store/tracked-item.ts toStored). */
function leanTracked(hostId: string, refs: ReturnType<typeof trackedRefs>): Record<string, unknown>[] {
  return refs.map((r) =>
    toStored({
      hostId,
      containerId: r.containerId,
      dockerId: r.dockerId,
      owner: r.owner,
      createdAt: new Date(STARTED_MS - 3_600_123).toISOString(),
      updatedAt: new Date(STARTED_MS - 61_457).toISOString(),
      ...(r.lease === undefined ? {} : { leaseExpiresAt: r.lease, expiresAt: trackedExpiresAt(r.lease) }),
    }),
  );
}

function agentReport(hostId: string, eventful: boolean, tracked: number): ReapReport {
  const created = iso(STARTED_MS - 2 * 3600_000);
  const logs = Array.from({ length: 24 }, (_, i) => `2026-12-01T09:${String(30 + i).padStart(2, '0')}:12.481Z [task] step ${i}: fetched 3 pages, wrote 14 KB to /work/out`).join('\n');
  const containers: ReapReport['containers'] = eventful
    ? [
        {
          clawboxId: randomUUID(),
          dockerId: hex(32),
          state: 'running',
          createdAt: created,
          action: 'removed',
          record: {
            image: 'ghcr.io/clawbox/sandbox:2026.11.3',
            command: ['node', '/app/run.js', '--task', 't-5f2c9a', '--budget', '300'],
            createdAt: created,
            startedAt: created,
            exitCode: 137,
            restartCount: 0,
            logs,
            logsTruncated: true,
          },
        },
        { clawboxId: randomUUID(), dockerId: hex(32), state: 'running', createdAt: iso(STARTED_MS - 40_000), action: 'skipped-young' },
      ]
    : [];
  return ReapReport.parse({
    runId: RUN_ID,
    hostId,
    engineId: `docker:${randomUUID()}/${hex(8)}`,
    clockOffsetMs: -37,
    status: 'ok',
    startedAt: iso(STARTED_MS + 900),
    finishedAt: iso(STARTED_MS + (eventful ? 2300 : 1040)),
    durationMs: eventful ? 1400 : 140,
    dryRun: false,
    counts: { labelled: tracked + containers.length, tracked, orphans: eventful ? 1 : 0, young: eventful ? 1 : 0, stopped: 0, removed: eventful ? 1 : 0, vanished: 0, failed: 0 },
    containers,
  });
}

function reportInput(hostId: string, eventful: boolean, tracked: number, runHosts: number): ReportInput {
  const agent = agentReport(hostId, eventful, tracked);
  return {
    hostId,
    runId: RUN_ID,
    trigger: 'schedule',
    status: 'ok',
    startedAt: STARTED,
    snapshotAt: iso(STARTED_MS + 880),
    finishedAt: iso(STARTED_MS + (eventful ? 2310 : 1050)),
    durationMs: eventful ? 1410 : 150,
    dryRun: false,
    force: false,
    maxReap: 10,
    trackedSent: tracked,
    attempts: 1,
    runHosts,
    agentReport: agent,
    engineId: agent.engineId,
    clockOffsetMs: -37,
  };
}

/** A report item as putReport stores it: the built item plus its writeId. */
function storedReport(input: ReportInput): Record<string, unknown> {
  return { ...ReportItem.parse(buildReportItem(input, { ttlDays: REPORT_TTL_DAYS, nowMs: STARTED_MS })), writeId: randomUUID() };
}

/** The host item as the reaper leaves it: registered, pinned, with lastReap as reapHost writes it. */
function hostItem(hostId: string, report: ReportInput, quiet: boolean): Record<string, unknown> {
  const agent = report.agentReport!;
  const lastReap = LastReap.parse({
    runId: report.runId,
    at: report.finishedAt,
    status: report.status,
    counts: agent.counts,
    clockOffsetMs: report.clockOffsetMs,
    ...(quiet ? { quiet: true } : {}),
  });
  return HostItem.parse({
    hostId,
    agentUrl: `https://${hostId}.hosts.example.net:8443`,
    enabled: true,
    lastReap,
    engineId: agent.engineId,
    enginePinnedAt: iso(STARTED_MS - 30 * 86_400_000),
    quarantineRecords: false,
    createdAt: iso(STARTED_MS - 30 * 86_400_000),
    updatedAt: iso(STARTED_MS - 30 * 86_400_000),
  });
}

/** The shard item of a shard of `hosts` hosts, `eventful` of them eventful. */
function shardItem(hosts: number, eventful: number, tracked: number, runHosts: number): Record<string, unknown> {
  const quiet: Record<string, string> = {};
  const statuses: Record<string, 'ok'> = {};
  for (let i = 0; i < hosts; i++) {
    const hostId = hostIdOf(i);
    if (i < eventful) statuses[hostId] = 'ok';
    else {
      // Durations and clock offsets vary by host: the entry's length does too.
      const input = { ...reportInput(hostId, false, tracked, runHosts), durationMs: 90 + ((i * 37) % 400), clockOffsetMs: ((i * 13) % 81) - 40 };
      if (!isQuiet(input)) throw new Error('bench: a quiet host was not judged quiet (isQuiet changed?)');
      quiet[hostId] = quietEntry(input);
    }
  }
  return ShardItem.parse({
    runId: RUN_ID,
    part: shardPart(7),
    trigger: 'schedule',
    startedAt: STARTED,
    finishedAt: iso(STARTED_MS + 4800),
    dryRun: false,
    force: false,
    runHosts,
    shard: 7,
    shards: Math.ceil(runHosts / hosts),
    quiet,
    eventful: statuses,
    expiresAt: Math.floor(STARTED_MS / 1000) + REPORT_TTL_DAYS * 86_400,
  });
}

function headerItem(runHosts: number, shards: number): Record<string, unknown> {
  return RunHeaderItem.parse({ runId: RUN_ID, part: HEADER_PART, trigger: 'schedule', startedAt: STARTED, dryRun: false, force: false, runHosts, shards, expiresAt: Math.floor(STARTED_MS / 1000) + REPORT_TTL_DAYS * 86_400 });
}

/** A consistent Query over these items: the sum of sizes per 1 MB page, each page rounded up to 4 KB. */
function queryUnits(sizes: readonly number[]): number {
  let units = 0;
  let page: number[] = [];
  let bytes = 0;
  for (const size of sizes) {
    if (bytes + size > PAGE_BYTES) {
      units += pageReadUnits(page, true);
      page = [];
      bytes = 0;
    }
    page.push(size);
    bytes += size;
  }
  return units + pageReadUnits(page, true);
}

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

function design(name: string, lines: Omit<Line, 'dollarsPerMonth'>[]): Design {
  const priced: Line[] = lines.map((line) => {
    const perTick =
      line.unit === 'RRU' ? (line.units * PRICES.readPerMillion) / 1e6
      : line.unit === 'WRU' ? (line.units * PRICES.writePerMillion) / 1e6
      : line.unit === 'GB-s' ? line.units * PRICES.lambdaPerGbSecond
      : line.unit === 'requests' ? (line.units * PRICES.lambdaPerMillionRequests) / 1e6
      : line.unit === 'log bytes' ? (line.units / PRICES.gbBytes) * PRICES.logsIngestionPerGb
      : 0;
    const dollarsPerMonth = line.unit === 'bytes held' ? (line.units / PRICES.gbBytes) * PRICES.storagePerGbMonth : perTick * TICKS_PER_MONTH;
    return { ...line, dollarsPerMonth };
  });
  const byKind = { read: 0, write: 0, lambda: 0, storage: 0 };
  for (const line of priced) byKind[line.kind] += line.dollarsPerMonth;
  return { name, lines: priced, byKind, total: sum(priced.map((l) => l.dollarsPerMonth)) };
}

export function computeCost(input: Partial<CostParams> = {}): CostResult {
  const params: CostParams = { ...DEFAULT_PARAMS, ...input };
  const { tracked, eventful, shardHosts, cpuMs, fleet } = params;
  const quarantined = params.quarantined ?? eventful;
  for (const [key, value] of Object.entries({ tracked, eventful, shardHosts, cpuMs, fleet, quarantined })) {
    if (!Number.isFinite(value) || value < 0) throw new RangeError(`--${key} must be a number >= 0, not ${value}`);
  }
  if (eventful > 1 || quarantined > 1) throw new RangeError('--eventful and the quarantined share are shares of hosts: between 0 and 1');
  if (shardHosts < 1 || fleet < 1) throw new RangeError('--shard-hosts and --fleet must be at least 1');

  const hostId = hostIdOf(17);
  const refs = trackedRefs(tracked);
  const currentSizes = currentTracked(hostId, refs).map(itemSize);
  const leanSizes = leanTracked(hostId, refs).map(itemSize);
  const quietInput = reportInput(hostId, false, tracked, fleet);
  const eventfulInput = reportInput(hostId, true, tracked, fleet);
  if (!isQuiet(quietInput) || isQuiet(eventfulInput)) throw new Error('bench: the quiet and eventful reports are not judged as intended');
  const eventfulReport = storedReport(eventfulInput);
  const quietReportItem = storedReport(quietInput);
  const shards = Math.ceil(fleet / shardHosts);
  const hostsInShard = Math.min(shardHosts, fleet);
  const shard = shardItem(hostsInShard, Math.round(hostsInShard * eventful), tracked, fleet);
  const header = headerItem(fleet, shards);
  const hostQuiet = hostItem(hostId, quietInput, true);
  const hostEventful = hostItem(hostId, eventfulInput, false);
  const dayEntry = (report: Record<string, unknown>) => pick(report, ['hostId', 'sk', 'day', ...DAY_INDEX_ATTRIBUTES]);
  // The old design's two GSIs projected ALL: each entry is the whole item (its keys are in it).
  const sizes: ItemSizes = {
    trackedCurrentAvg: sum(currentSizes) / Math.max(1, tracked),
    trackedLeanAvg: sum(leanSizes) / Math.max(1, tracked),
    hostItemQuiet: itemSize(hostQuiet),
    hostItemEventful: itemSize(hostEventful),
    shardItem: itemSize(shard),
    runHeader: itemSize(header),
    eventfulReport: itemSize(eventfulReport),
    eventfulDayIndexEntry: itemSize(dayEntry(eventfulReport)),
    oldQuietReport: itemSize(quietReportItem),
  };
  const hostItemBytes = Math.max(sizes.hostItemQuiet, sizes.hostItemEventful);
  // lastReap is one UpdateItem, billed on the larger of the item before and after.
  const lastReapWrite = writeUnits(hostItemBytes);
  const lambda: Omit<Line, 'dollarsPerMonth'>[] = [
    { what: `Lambda compute: ${cpuMs} ms CPU per host at ${LAMBDA_VCPU} vCPU (512 MB)`, kind: 'lambda', units: (cpuMs / LAMBDA_VCPU / 1000) * LAMBDA_GB, unit: 'GB-s' },
    { what: 'Lambda requests: one per shard, one planner per run', kind: 'lambda', units: 1 / hostsInShard + 1 / fleet, unit: 'requests' },
    { what: `CloudWatch Logs: ~${LOG_BYTES_PER_SHARD_RUN} B a shard run (estimate)`, kind: 'lambda', units: LOG_BYTES_PER_SHARD_RUN / hostsInShard, unit: 'log bytes' },
  ];
  const hostsScan = { what: 'hosts Scan, consistent (this host item’s share)', kind: 'read' as const, units: hostItemBytes / READ_UNIT_BYTES, unit: 'RRU' as const };
  const registryHeld = (trackedSizes: number[]) => sum(trackedSizes) + tracked * STORAGE_OVERHEAD_BYTES + hostItemBytes + STORAGE_OVERHEAD_BYTES;

  const newDesign = (name: string, trackedSizes: number[]) =>
    design(name, [
      { what: `tracked Query, consistent (${tracked} items, ${Math.round(sum(trackedSizes))} B)`, kind: 'read', units: queryUnits(trackedSizes), unit: 'RRU' },
      hostsScan,
      { what: `quarantine Query, consistent (${quarantined * 100}% of hosts have records)`, kind: 'read', units: quarantined * 1, unit: 'RRU' },
      { what: `shard item (${sizes.shardItem} B) / ${hostsInShard} hosts`, kind: 'write', units: writeUnits(sizes.shardItem) / hostsInShard, unit: 'WRU' },
      { what: `run header (${sizes.runHeader} B) / ${fleet} hosts`, kind: 'write', units: writeUnits(sizes.runHeader) / fleet, unit: 'WRU' },
      { what: `full report item (${sizes.eventfulReport} B) × ${eventful * 100}% eventful`, kind: 'write', units: eventful * writeUnits(sizes.eventfulReport), unit: 'WRU' },
      { what: `day-index entry (${sizes.eventfulDayIndexEntry} B, INCLUDE) × ${eventful * 100}%`, kind: 'write', units: eventful * writeUnits(sizes.eventfulDayIndexEntry), unit: 'WRU' },
      { what: `lastReap UpdateItem (${hostItemBytes} B) × 2 × ${eventful * 100}% (quiet↔eventful)`, kind: 'write', units: Math.min(1, 2 * eventful) * lastReapWrite, unit: 'WRU' },
      ...lambda,
      {
        what: `${REPORT_TTL_DAYS} days of run records (shard share + eventful reports and index entries)`,
        kind: 'storage',
        units: TICKS_HELD * ((sizes.shardItem + STORAGE_OVERHEAD_BYTES) / hostsInShard + (sizes.runHeader + STORAGE_OVERHEAD_BYTES) / fleet + eventful * (sizes.eventfulReport + sizes.eventfulDayIndexEntry + 2 * STORAGE_OVERHEAD_BYTES)),
        unit: 'bytes held',
      },
      { what: 'tracked items and the host item', kind: 'storage', units: registryHeld(trackedSizes), unit: 'bytes held' },
    ]);

  const current = newDesign('current design, tracked items in the long form (earlier builds)', currentSizes);
  const lean = newDesign('current design, lean tracked items (as the store writes them)', leanSizes);
  const oldReportWrite = (1 - eventful) * writeUnits(sizes.oldQuietReport) + eventful * writeUnits(sizes.eventfulReport);
  const oldReportBytes = (1 - eventful) * sizes.oldQuietReport + eventful * sizes.eventfulReport;
  const old = design('old design: a full report item per host per run', [
    { what: `tracked Query, consistent (${tracked} items in the long form)`, kind: 'read', units: queryUnits(currentSizes), unit: 'RRU' },
    hostsScan,
    { what: 'quarantine Query, consistent, every host', kind: 'read', units: 1, unit: 'RRU' },
    { what: `report item per host (${sizes.oldQuietReport} B quiet, ${sizes.eventfulReport} B eventful)`, kind: 'write', units: oldReportWrite, unit: 'WRU' },
    { what: 'runId-index and day-index entries (both ALL)', kind: 'write', units: 2 * oldReportWrite, unit: 'WRU' },
    { what: `lastReap UpdateItem every host (${hostItemBytes} B)`, kind: 'write', units: lastReapWrite, unit: 'WRU' },
    ...lambda,
    { what: `${REPORT_TTL_DAYS} days of report items, each in the table and both indexes`, kind: 'storage', units: TICKS_HELD * 3 * (oldReportBytes + STORAGE_OVERHEAD_BYTES), unit: 'bytes held' },
    { what: 'tracked items and the host item', kind: 'storage', units: registryHeld(currentSizes), unit: 'bytes held' },
  ]);

  return { params: { ...params, quarantined }, prices: PRICES, ticksPerMonth: TICKS_PER_MONTH, sizes, current, lean, old, floor: floorOf(hostId, refs) };
}

/** What the consistent tracked read alone costs in the leanest layout, and whether $0.01 a month is reachable. */
function floorOf(hostId: string, refs: ReturnType<typeof trackedRefs>): Floor {
  const items = refs.length;
  const leanSizes = leanTracked(hostId, refs).map(itemSize);
  const queryBytes = sum(leanSizes);
  const readUnits = queryUnits(leanSizes);
  const perUnit = (TICKS_PER_MONTH * PRICES.readPerMillion) / 1e6;
  const dollarsPerMonth = readUnits * perUnit;
  const unitsForTarget = Math.floor(0.01 / perUnit);
  const maxItemBytesForOneUnit = items === 0 ? Infinity : READ_UNIT_BYTES / items;
  const average = (build: (r: (typeof refs)[number]) => Record<string, unknown>) => (items === 0 ? 0 : sum(refs.map((r) => itemSize(build(r)))) / items);
  const keysAndDockerIdBytes = average((r) => ({ hostId, containerId: r.containerId, d: Buffer.from(r.dockerId, 'hex') }));
  const shortKeysAndDockerIdBytes = average((r) => ({ h: hostId, k: r.containerId, d: Buffer.from(r.dockerId, 'hex') }));
  const leanItemsPerUnit = Math.floor(READ_UNIT_BYTES / (queryBytes / Math.max(1, items)));
  const reachable = dollarsPerMonth < 0.01;
  const arithmetic = [
    `one read unit a tick for a month: ${TICKS_PER_MONTH} ticks × $${PRICES.readPerMillion}/10^6 = $${perUnit.toFixed(5)}`,
    `$0.01 a month pays for ${(0.01 / perUnit).toFixed(2)} units a tick; a Query is billed in whole 4 KB units, so at most ${unitsForTarget}`,
    `${items} lean items = ${queryBytes} B (${(queryBytes / items).toFixed(1)} B each) → ceil(${queryBytes} / ${READ_UNIT_BYTES}) = ${readUnits} units → $${dollarsPerMonth.toFixed(5)}/host/month for this read alone`,
    `${unitsForTarget} unit holds ${items} items only if they average ≤ ${maxItemBytesForOneUnit.toFixed(1)} B; the keys and the binary Docker id alone are ${keysAndDockerIdBytes.toFixed(1)} B (${shortKeysAndDockerIdBytes.toFixed(1)} B even with one-letter key names)`,
    `one unit holds ${leanItemsPerUnit} lean items: a host with up to ${leanItemsPerUnit} tracked containers reads them for $${perUnit.toFixed(5)}/month`,
  ];
  return { items, leanItemBytes: queryBytes / Math.max(1, items), queryBytes, readUnits, dollarsPerMonth, unitsForTarget, maxItemBytesForOneUnit, keysAndDockerIdBytes, shortKeysAndDockerIdBytes, leanItemsPerUnit, reachable, arithmetic };
}

const money = (x: number) => `$${x.toFixed(5)}`;

export function renderCost(result: CostResult): string {
  const { params: p, prices } = result;
  const out: string[] = [
    `Cost per host per month, one run a minute (${result.ticksPerMonth} runs a month), ${p.tracked} tracked containers per host, ${p.eventful * 100}% of hosts eventful per run, ${p.shardHosts} hosts a shard, fleet ${p.fleet}, ${p.cpuMs} ms reaper CPU per host.`,
    `Prices (${prices.basis}): $${prices.writePerMillion}/M write units, $${prices.readPerMillion}/M read units, $${prices.storagePerGbMonth}/GB-month (GB = 10^9 B), Lambda $${prices.lambdaPerGbSecond}/GB-s and $${prices.lambdaPerMillionRequests}/M requests, CloudWatch Logs $${prices.logsIngestionPerGb}/GB ingested.`,
    'Lean tracked items (functions/store/tracked-item.ts, what the store writes): keys hostId + containerId, d = dockerId as 32 bytes of binary, o = owner, c/u = created/updated as epoch ms, l = lease and x = TTL as epoch s (numbers).',
    'Not counted: reads by people (API, dashboard), which do not grow with the run rate; fixed per-account costs (alarms, the five metrics).',
    `Item sizes (DynamoDB rules): tracked long form ${result.sizes.trackedCurrentAvg.toFixed(1)} B avg, lean ${result.sizes.trackedLeanAvg.toFixed(1)} B avg; host item ${result.sizes.hostItemQuiet}/${result.sizes.hostItemEventful} B (quiet/eventful lastReap); shard item ${result.sizes.shardItem} B; run header ${result.sizes.runHeader} B; eventful report ${result.sizes.eventfulReport} B (day-index entry ${result.sizes.eventfulDayIndexEntry} B); old quiet report ${result.sizes.oldQuietReport} B.`,
    '',
  ];
  for (const d of [result.current, result.lean, result.old]) {
    out.push(`${d.name}`, '| what | per host per tick | $/host/month |', '| --- | ---: | ---: |');
    for (const l of d.lines) out.push(`| ${l.what} | ${l.unit === 'bytes held' ? `${(l.units / 1e6).toFixed(2)} MB held` : `${l.units.toPrecision(3)} ${l.unit}`} | ${money(l.dollarsPerMonth)} |`);
    out.push(
      `| reads / writes / Lambda and logs / storage | | ${money(d.byKind.read)} / ${money(d.byKind.write)} / ${money(d.byKind.lambda)} / ${money(d.byKind.storage)} |`,
      `| **total** | | **${money(d.total)}** (target $0.01: ${d.total <= 0.01 ? 'met' : 'not met'}) |`,
      '',
    );
  }
  const f = result.floor;
  out.push('Floor: the consistent tracked read (S5) alone, lean layout', ...f.arithmetic.map((line) => `  ${line}`));
  out.push(
    f.reachable
      ? `  $0.01 is reachable for this read: ${money(f.dollarsPerMonth)}.`
      : `  $0.01 per host per month is NOT reachable with ${f.items} tracked items read consistently every minute: the read alone costs ${money(f.dollarsPerMonth)}. The lean layout reaches this floor (${f.readUnits} units a tick); the lowest total is ${money(result.lean.total)}.`,
    `  Above the floor in the lean total: ${money(result.lean.total - f.dollarsPerMonth)} (other reads ${money(result.lean.byKind.read - f.dollarsPerMonth)}, writes ${money(result.lean.byKind.write)}, Lambda and logs ${money(result.lean.byKind.lambda)}, storage ${money(result.lean.byKind.storage)}).`,
  );
  return out.join('\n');
}

function argNumber(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (process.argv[i + 1] === undefined || !Number.isFinite(value)) throw new RangeError(`--${name} needs a number`);
  return value;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const result = computeCost({
      tracked: argNumber('tracked', DEFAULT_PARAMS.tracked),
      eventful: argNumber('eventful', DEFAULT_PARAMS.eventful),
      shardHosts: argNumber('shard-hosts', DEFAULT_PARAMS.shardHosts),
      cpuMs: argNumber('cpu-ms', DEFAULT_PARAMS.cpuMs),
      fleet: argNumber('fleet', DEFAULT_PARAMS.fleet),
    });
    process.stdout.write(process.argv.includes('--json') ? `${JSON.stringify(result, null, 2)}\n` : `${renderCost(result)}\n`);
  } catch (error) {
    process.stderr.write(`bench/cost.ts: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 2;
  }
}
