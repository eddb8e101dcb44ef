/**
 * The lease allowance (S12) as properties.
 *
 * 1. `protects(item, now, skew)` is exactly "no lease, or now <= leaseExpiresAt + skew" (inclusive:
 *    the whole second leaseExpiresAt + skew still protects, the next does not).
 * 2. The writer's clock: the lease is written by the real `track()` on the writer's clock (the API
 *    that stamps `leaseExpiresAt = floor(writerNow / 1000) + leaseSeconds`) and judged by the real
 *    `readTracked()` on the reaper's clock at the snapshot's second. Whenever the two clocks
 *    disagree by at most `skew` seconds, in either direction, a lease that is still running on the
 *    true timeline (less than `leaseSeconds` since it was written) is never judged expired, and a
 *    lapsed one stops protecting within skew + 1 s (plus the writer's lead). Only the DynamoDB wire
 *    is faked: an in-memory table that answers UpdateItem and Query.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createTrackedStore, protects } from '../../functions/store/tracked.js';

/** 10,000 in `npm test`; 100,000 under STRESS=1; SAFETY_PROPERTY_RUNS overrides both. */
const NUM_RUNS = Number(process.env.SAFETY_PROPERTY_RUNS ?? (process.env.STRESS === '1' ? 100_000 : 10_000));
const MUTANT_RUNS = 2_000;
const T0 = Date.parse('2026-11-27T12:00:00.000Z');
const HOST = 'lease-host';

type Protects = typeof protects;

/** Property 1 over any implementation (for the mutants below). */
function exactRule(impl: Protects) {
  return fc.property(
    fc.integer({ min: 1_700_000_000, max: 1_900_000_000 }),
    fc.integer({ min: -5, max: 5 }),
    fc.oneof(fc.constantFrom(0, 1, 60), fc.integer({ min: 0, max: 3_600 })),
    fc.boolean(),
    (lease, delta, skew, hasLease) => {
      // The judge's second lands around the edge leaseExpiresAt + skew.
      const now = lease + skew + delta;
      const got = impl(hasLease ? { leaseExpiresAt: lease } : {}, now, skew);
      const want = !hasLease || now <= lease + skew;
      if (got !== want) throw new Error(`protects(lease ${lease}, now ${now}, skew ${skew}) = ${got}, want ${want}`);
      // Monotone: anything protected now was protected a second earlier, and with more skew.
      if (got && !impl(hasLease ? { leaseExpiresAt: lease } : {}, now - 1, skew)) throw new Error('not monotone in time');
      if (got && !impl(hasLease ? { leaseExpiresAt: lease } : {}, now, skew + 1)) throw new Error('not monotone in skew');
    },
  );
}

/** An in-memory tracked table behind a DocumentClient: UpdateItem (track) and Query (readTracked). */
function memoryTable() {
  const items = new Map<string, Record<string, unknown>>();
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } }));
  interface Input {
    Key?: { hostId: string; containerId: string };
    ExpressionAttributeValues?: Record<string, unknown>;
    UpdateExpression?: string;
    KeyConditionExpression?: string;
    ConsistentRead?: boolean;
  }
  const send = async (command: { input: Input }) => {
    const input = command.input;
    if (input.UpdateExpression !== undefined && input.Key) {
      const key = `${input.Key.hostId}/${input.Key.containerId}`;
      const values = input.ExpressionAttributeValues ?? {};
      const at = values[':at'];
      // The stored names are the lean ones (functions/store/tracked-item.ts).
      const item: Record<string, unknown> = { ...(items.get(key) ?? { c: at }), ...input.Key, u: at };
      for (const name of ['d', 'o', 'l', 'x']) {
        if (`:${name}` in values) item[name] = values[`:${name}`];
        else delete item[name];
      }
      items.set(key, item);
      return { Attributes: item };
    }
    if (input.KeyConditionExpression !== undefined) {
      if (input.ConsistentRead !== true) throw new Error('readTracked must read with ConsistentRead');
      const host = input.ExpressionAttributeValues?.[':hostId'];
      return { Items: [...items.values()].filter((i) => i.hostId === host).map(({ containerId, d, l }) => ({ containerId, d, l })) };
    }
    throw new Error('unexpected command');
  };
  (doc as unknown as { send: typeof send }).send = send;
  return { doc, clear: () => items.clear() };
}

const table = memoryTable();
const clock = { writerMs: T0 };
/** The API's store: stamps leases with the writer's clock. */
const writer = createTrackedStore(table.doc, 'tracked', () => clock.writerMs);
/** The reaper's store: reads with its own `nowSeconds` (the snapshot's second). */
const reaper = createTrackedStore(table.doc, 'tracked', () => {
  throw new Error('the read must not use the store clock');
});

const clockArb = fc.record({
  skewSeconds: fc.oneof(fc.constantFrom(0, 1, 60), fc.integer({ min: 0, max: 600 })),
  /** The writer's clock minus the reaper's, as a fraction of the allowance (−1 … +1). */
  writerOffsetPermille: fc.oneof(fc.constantFrom(-1000, 1000, 0), fc.integer({ min: -1000, max: 1000 })),
  writeJitterMs: fc.integer({ min: 0, max: 999_999 }),
  leaseSeconds: fc.oneof(fc.constantFrom(1, 2, 30), fc.integer({ min: 1, max: 7_200 })),
  /** When the reaper reads, as a fraction of the lease (0 … 1: still running on the true timeline). */
  readPermille: fc.oneof(fc.constantFrom(0, 1000), fc.integer({ min: 0, max: 1000 })),
  readJitterMs: fc.integer({ min: -999, max: 999 }),
});

interface LeaseCase {
  skewSeconds: number;
  writerOffsetMs: number;
  leaseSeconds: number;
  writeAtMs: number;
  readAtMs: number;
}

type ClockDraw = typeof clockArb extends fc.Arbitrary<infer R> ? R : never;

function toCase(c: ClockDraw): LeaseCase {
  const writeAtMs = T0 + c.writeJitterMs;
  const leaseMs = c.leaseSeconds * 1000;
  const readAtMs = Math.min(writeAtMs + leaseMs, Math.max(writeAtMs, writeAtMs + Math.floor((leaseMs * c.readPermille) / 1000) + c.readJitterMs));
  return { skewSeconds: c.skewSeconds, writerOffsetMs: Math.trunc((c.skewSeconds * 1000 * c.writerOffsetPermille) / 1000), leaseSeconds: c.leaseSeconds, writeAtMs, readAtMs };
}

/** Tracks on the writer's clock, reads on the reaper's (true) clock; true when the container is protected. */
async function protectedAt(c: LeaseCase, readAtMs: number, readSkewSeconds: number): Promise<boolean> {
  table.clear();
  clock.writerMs = c.writeAtMs + c.writerOffsetMs;
  await writer.track(HOST, 'box', { leaseSeconds: c.leaseSeconds });
  const { refs } = await reaper.readTracked(HOST, Math.floor(readAtMs / 1000), { leaseSkewSeconds: readSkewSeconds });
  return refs.some((r) => r.id === 'box');
}

/**
 * The writer-clock property; `readSkew` maps the configured allowance to the one the reaper
 * actually reads with (the identity for the real code, a mutant otherwise).
 */
function writerClockProperty(readSkew: (skewSeconds: number) => number, seen?: Record<string, number>) {
  return fc.asyncProperty(clockArb, async (raw) => {
    const c = toCase(raw);
    // Still running on the true timeline (readAtMs <= writeAtMs + leaseSeconds): must protect.
    if (!(await protectedAt(c, c.readAtMs, readSkew(c.skewSeconds)))) {
      throw new Error(`live lease judged expired: writer off by ${c.writerOffsetMs} ms, skew ${c.skewSeconds} s, read ${c.readAtMs - c.writeAtMs} ms after a ${c.leaseSeconds} s lease`);
    }
    // And the allowance is bounded: once lease + skew + 1 s (+ the writer's lead) has passed, it is dropped.
    const lapsedAtMs = c.writeAtMs + Math.max(0, c.writerOffsetMs) + (c.leaseSeconds + c.skewSeconds + 1) * 1000;
    if (await protectedAt(c, lapsedAtMs, readSkew(c.skewSeconds))) throw new Error(`lapsed lease still protects ${lapsedAtMs - c.writeAtMs} ms after writing`);
    if (!seen) return;
    seen.lapsedDropped = (seen.lapsedDropped ?? 0) + 1;
    if (c.writerOffsetMs < 0) seen.writerBehind = (seen.writerBehind ?? 0) + 1;
    if (c.writerOffsetMs > 0) seen.writerAhead = (seen.writerAhead ?? 0) + 1;
    if (c.readAtMs === c.writeAtMs + c.leaseSeconds * 1000) seen.atLeaseEnd = (seen.atLeaseEnd ?? 0) + 1;
  });
}

describe('lease skew (S12)', () => {
  it(`protects exactly until leaseExpiresAt + skew, inclusive (${NUM_RUNS} cases)`, () => {
    fc.assert(exactRule(protects), { numRuns: NUM_RUNS });
  });

  it(`a writer whose clock is off by up to the skew, either way, never has its live lease judged expired (${NUM_RUNS} cases)`, async () => {
    const seen = { writerBehind: 0, writerAhead: 0, atLeaseEnd: 0, lapsedDropped: 0 };
    await fc.assert(writerClockProperty((skew) => skew, seen), { numRuns: NUM_RUNS });
    for (const [name, count] of Object.entries(seen)) expect(count, name).toBeGreaterThan(NUM_RUNS / 20);
  });

  it('the writer-clock property rejects a reaper that reads without the allowance (mutant)', async () => {
    const result = await fc.check(writerClockProperty(() => 0), { numRuns: MUTANT_RUNS });
    expect(result.failed).toBe(true);
  });

  it('the allowance is needed: with no skew, a writer whose clock is behind has a live lease judged expired', async () => {
    // The writer is 30 s behind; the reaper reads 5 s before the lease truly ends.
    const c: LeaseCase = { skewSeconds: 60, writerOffsetMs: -30_000, leaseSeconds: 60, writeAtMs: T0, readAtMs: T0 + 55_000 };
    expect(await protectedAt(c, c.readAtMs, 60)).toBe(true);
    expect(await protectedAt(c, c.readAtMs, 0)).toBe(false);
    // And it is tight: a writer further behind than the allowance can lose its live lease.
    const tooFar: LeaseCase = { ...c, writerOffsetMs: -61_500 };
    expect(await protectedAt(tooFar, T0 + 59_500, 60)).toBe(false);
  });
});

/** Hand-made mutants of protects: the exact rule must reject each. */
const MUTANTS: Record<string, Protects> = {
  'strict > at the edge': (item, now, skew = 0) => item.leaseExpiresAt === undefined || item.leaseExpiresAt + skew > now,
  'skew ignored': (item, now) => item.leaseExpiresAt === undefined || item.leaseExpiresAt >= now,
  'skew subtracted': (item, now, skew = 0) => item.leaseExpiresAt === undefined || item.leaseExpiresAt - skew >= now,
  'skew applied twice (over-protects)': (item, now, skew = 0) => item.leaseExpiresAt === undefined || item.leaseExpiresAt + 2 * skew >= now,
  'no lease treated as expired': (item, now, skew = 0) => item.leaseExpiresAt !== undefined && item.leaseExpiresAt + skew >= now,
};

describe('lease skew: the property catches hand-made mutants', () => {
  for (const [name, mutant] of Object.entries(MUTANTS)) {
    it(`rejects: ${name}`, () => {
      expect(fc.check(exactRule(mutant), { numRuns: MUTANT_RUNS }).failed, name).toBe(true);
    });
  }
});
