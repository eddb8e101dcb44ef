/**
 * The compact outcome form and the shard plan (SPEC §10), pure: which outcomes may be recorded
 * as one short entry, that the entry rebuilds the same report, that a run's shard items give one
 * outcome per host whatever was delivered twice, and that a plan puts every host in one shard.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ReapReport } from '../../lib/agent-contract.js';
import { budgetShare, budgetShares, MAX_SHARD_EVENT_BYTES, planShards, UNPINNED_SHARD_HOSTS } from '../../functions/reaper/shards.js';
import { buildReportItem, ReportItem, ReportSummary, type ReportInput } from '../../functions/store/index.js';
import { hostEntries, isQuiet, quietEntry, quietReport, ShardItem, shardPart } from '../../functions/store/run-items.js';
import { DAY_INDEX_ATTRIBUTES } from '../../functions/store/tables.js';
import type { Host } from '../../functions/store/schemas.js';

const STARTED = '2026-12-01T10:00:00.000Z';

function agent(counts: Partial<ReapReport['counts']> = {}, extra: Partial<ReapReport> = {}): ReapReport {
  return {
    runId: 'run-00000001',
    hostId: 'h-1',
    engineId: 'docker:x/y',
    clockOffsetMs: 12,
    status: 'ok',
    startedAt: STARTED,
    finishedAt: STARTED,
    durationMs: 30,
    dryRun: false,
    counts: { labelled: 7, tracked: 7, orphans: 0, young: 0, stopped: 0, removed: 0, vanished: 0, failed: 0, ...counts },
    containers: [],
    ...extra,
  };
}

function input(report: ReapReport | undefined, extra: Partial<ReportInput> = {}): ReportInput {
  return {
    hostId: 'h-1',
    runId: 'run-00000001',
    trigger: 'schedule',
    status: report?.status ?? 'unreachable',
    startedAt: STARTED,
    finishedAt: STARTED,
    durationMs: 41,
    dryRun: false,
    force: false,
    maxReap: 100,
    trackedSent: 7,
    attempts: 1,
    runHosts: 3,
    agentReport: report,
    clockOffsetMs: 12,
    ...extra,
  };
}

const shardOf = { runId: 'run-00000001', trigger: 'schedule' as const, startedAt: STARTED, finishedAt: STARTED, dryRun: false, force: false, runHosts: 3, expiresAt: 1_900_000_000 };

describe('isQuiet', () => {
  it('is true only when the agent answered ok and nothing happened', () => {
    expect(isQuiet(input(agent()))).toBe(true);
    expect(isQuiet(input(agent({ orphans: 1, removed: 1 })))).toBe(false);
    expect(isQuiet(input(agent({ young: 1 })))).toBe(false);
    expect(isQuiet(input(agent({ quarantined: 1, restored: 0 })))).toBe(false);
    expect(isQuiet(input(agent({ quarantined: 0, restored: 0 })))).toBe(true);
    expect(isQuiet(input(agent({}, { status: 'partial' }), { status: 'partial' }))).toBe(false);
    expect(isQuiet(input(undefined))).toBe(false);
    expect(isQuiet(input(agent(), { dryRun: true }))).toBe(false);
    expect(isQuiet(input(agent(), { force: true }))).toBe(false);
    expect(isQuiet(input(agent(), { error: 'quarantine records not written' }))).toBe(false);
    expect(isQuiet(input(agent(), { outcome: 'recovered' }))).toBe(false);
    // S12: a clock off by more than the flag is worth a full report.
    expect(isQuiet(input(agent(), { clockOffsetMs: 6000 }))).toBe(false);
    expect(isQuiet(input(agent({}, { containers: [{ clawboxId: 'a', dockerId: 'f'.repeat(64), state: 'running', createdAt: STARTED, action: 'skipped-young' }] })))).toBe(false);
    expect(isQuiet(input(agent({}, { resources: [{ kind: 'volume', name: 'v', clawboxId: 'x', action: 'in-use' }] })))).toBe(false);
    expect(isQuiet(input(agent({}, { resourcesError: 'list volumes: HTTP 500' })))).toBe(false);
    // A count this code does not know yet (a newer agent's) that is not zero: not quiet.
    expect(isQuiet(input(agent({ networksRemoved: 2 } as Partial<ReapReport['counts']>)))).toBe(false);
  });

  it('a quiet entry rebuilds the report the full item would have been, but for what only the agent and the clock knew', () => {
    fc.assert(
      fc.property(
        fc.nat(100_000),
        fc.nat(100_000),
        fc.nat(100_000),
        fc.nat(10_000_000),
        fc.integer({ min: -5000, max: 5000 }),
        fc.integer({ min: 1, max: 10 }),
        fc.nat(10_000),
        (labelled, tracked, trackedSent, durationMs, clockOffsetMs, attempts, maxReap) => {
          const i = input(agent({ labelled, tracked }), { trackedSent, durationMs, clockOffsetMs, attempts, maxReap });
          const full = buildReportItem(i, { ttlDays: 90, nowMs: 0 });
          const rebuilt = ReportItem.parse(quietReport('h-1', quietEntry(i), shardOf));
          for (const key of ['hostId', 'sk', 'runId', 'day', 'trigger', 'status', 'startedAt', 'dryRun', 'force', 'maxReap', 'trackedSent', 'attempts', 'runHosts', 'counts', 'containers', 'containersTotal', 'truncated', 'clockOffsetMs', 'clockFlag', 'durationMs'] as const) {
            expect(rebuilt[key], key).toEqual(full[key]);
          }
          expect(rebuilt.compact).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('hostEntries', () => {
  const shard = (n: number, quiet: Record<string, string>, eventful: ShardItem['eventful']): ShardItem => ({ ...shardOf, part: shardPart(n), shard: n, shards: 2, quiet, eventful });
  it('gives one outcome per host: an eventful entry over a quiet one (a second delivery), then the first shard', () => {
    const entries = hostEntries([shard(1, { a: '1,1,1,1,0,1,1', c: '2,2,2,2,0,1,1' }, { b: 'error' }), shard(0, { b: '1,1,1,1,0,1,1' }, { a: 'timeout', c: 'unreachable' })]);
    expect([...entries.keys()].sort()).toEqual(['a', 'b', 'c']);
    expect(entries.get('a')).toMatchObject({ status: 'timeout' });
    expect(entries.get('b')).toMatchObject({ status: 'error' });
    expect(entries.get('c')).toMatchObject({ status: 'unreachable' });
  });
});

describe('the day index', () => {
  it('copies exactly a summary’s attributes (everything but the keys and the container list)', () => {
    const summary = Object.keys(ReportSummary.shape).filter((k) => !['hostId', 'sk', 'day'].includes(k));
    expect([...DAY_INDEX_ATTRIBUTES].sort()).toEqual(summary.sort());
  });
});

describe('planShards', () => {
  const host = (i: number, pinned: boolean): Host => ({
    hostId: `host-${String(i).padStart(5, '0')}`,
    agentUrl: `http://127.0.0.1:${10_000 + (i % 50_000)}`,
    enabled: true,
    ...(pinned ? { engineId: `docker:${i}/abc` } : {}),
    createdAt: STARTED,
    updatedAt: STARTED,
  });

  it('puts every host in exactly one shard, the unpinned together first, within the limits', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { maxLength: 2500 }), fc.integer({ min: 1, max: 300 }), fc.nat(5), (pins, maxHosts, brokenCount) => {
        const hosts = pins.map((pinned, i) => host(i, pinned));
        const broken = Array.from({ length: brokenCount }, (_, i) => ({ hostId: `broken-${i}`, problem: 'agentUrl: bad' }));
        const shards = planShards(hosts, broken, { maxHosts, maxBytes: MAX_SHARD_EVENT_BYTES });
        const ids = shards.flatMap((s) => [...s.hosts.map((h) => h.hostId), ...s.broken.map((b) => b.hostId)]);
        expect(ids.sort()).toEqual([...hosts.map((h) => h.hostId), ...broken.map((b) => b.hostId)].sort());
        // New hosts come first and together (up to UNPINNED_SHARD_HOSTS a shard); no shard mixes them with pinned ones.
        const unpinned = hosts.filter((h) => h.engineId === undefined);
        const newShards = Math.ceil(unpinned.length / UNPINNED_SHARD_HOSTS);
        for (const [i, s] of shards.entries()) {
          expect(s.hosts.length + s.broken.length).toBeGreaterThan(0);
          if (i < newShards) {
            expect(s.hosts.every((h) => h.engineId === undefined)).toBe(true);
            expect(s.hosts.length).toBe(Math.min(UNPINNED_SHARD_HOSTS, unpinned.length - i * UNPINNED_SHARD_HOSTS));
          } else {
            expect(s.hosts.every((h) => h.engineId !== undefined)).toBe(true);
            expect(s.hosts.length + s.broken.length).toBeLessThanOrEqual(maxHosts);
          }
        }
      }),
      { numRuns: 100 },
    );
  });

  it('keeps each shard’s hosts under the asynchronous payload limit', () => {
    const hosts = Array.from({ length: 3000 }, (_, i) => ({ ...host(i, true), agentUrl: `https://${'x'.repeat(900)}.example:8788` }));
    const shards = planShards(hosts, [], { maxHosts: 2000, maxBytes: MAX_SHARD_EVENT_BYTES });
    expect(shards.length).toBeGreaterThan(1);
    for (const s of shards) expect(Buffer.byteLength(JSON.stringify(s.hosts))).toBeLessThanOrEqual(MAX_SHARD_EVENT_BYTES + 2000);
  });

  it('splits the fleet budget so the shards together never grant more than it', () => {
    fc.assert(
      fc.property(fc.nat(100_000), fc.array(fc.integer({ min: 1, max: 2000 }), { minLength: 1, maxLength: 60 }), (total, sizes) => {
        const runHosts = sizes.reduce((a, b) => a + b, 0);
        const shares = sizes.map((n) => budgetShare(total, n, runHosts));
        expect(shares.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(total);
        if (sizes.length === 1) expect(shares[0]).toBe(total);
      }),
    );
  });

  const needing = (i: number, need: number | undefined, status: 'capped' | 'ok' = 'capped'): Host => ({
    ...host(i, true),
    ...(need === undefined ? {} : { lastReap: { runId: 'r', at: STARTED, status, counts: null, budgetNeed: need } }),
  });

  it('sets aside what budget-capped hosts asked for, and never grants more than the budget in all', () => {
    fc.assert(
      fc.property(
        fc.nat(5000),
        fc.array(fc.option(fc.nat(3000), { nil: undefined }), { minLength: 1, maxLength: 400 }),
        fc.integer({ min: 1, max: 100 }),
        (total, needs, maxHosts) => {
          const hosts = needs.map((need, i) => needing(i, need));
          const plans = planShards(hosts, [], { maxHosts, maxBytes: MAX_SHARD_EVENT_BYTES });
          const shares = budgetShares(total, plans, hosts.length);
          expect(shares.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(total);
          // The smallest needs that fit the budget together are each met by their shard's share.
          let left = total;
          for (const need of needs.filter((n): n is number => n !== undefined && n > 0).sort((a, b) => a - b)) {
            if (need > left) break;
            left -= need;
            const index = plans.findIndex((p) => p.hosts.some((h) => h.lastReap?.budgetNeed === need));
            expect(shares[index]).toBeGreaterThanOrEqual(need);
          }
        },
      ),
    );
  });

  it('gives a host capped by its shard’s share what it asked for: 10,000 hosts, 50 shards, a budget of 1,000', () => {
    const hosts = Array.from({ length: 10_000 }, (_, i) => needing(i, i === 7_777 ? 500 : undefined));
    const plans = planShards(hosts, [], { maxHosts: 200, maxBytes: MAX_SHARD_EVENT_BYTES });
    expect(plans).toHaveLength(50);
    const plain = plans.map((p) => budgetShare(1000, p.hosts.length, hosts.length));
    const shares = budgetShares(1000, plans, hosts.length);
    const index = plans.findIndex((p) => p.hosts.some((h) => h.hostId === 'host-07777'));
    expect(plain[index]).toBe(20);
    // 500 set aside, the other 500 shared by hosts: 10 a shard.
    expect(shares[index]).toBe(510);
    expect(shares.filter((_, i) => i !== index).every((s) => s === 10)).toBe(true);
    // Only a capped run's need counts; one larger than the whole budget is not set aside.
    const stale = hosts.map((h, i) => (i === 7_777 ? needing(i, 500, 'ok') : h));
    expect(budgetShares(1000, planShards(stale, [], { maxHosts: 200, maxBytes: MAX_SHARD_EVENT_BYTES }), hosts.length)).toEqual(plain);
    const huge = hosts.map((h, i) => (i === 7_777 ? needing(i, 1001) : h));
    expect(budgetShares(1000, planShards(huge, [], { maxHosts: 200, maxBytes: MAX_SHARD_EVENT_BYTES }), hosts.length)).toEqual(plain);
  });
});
