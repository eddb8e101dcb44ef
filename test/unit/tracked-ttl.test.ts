/**
 * Tracked items' TTL (registry hygiene): an item with a lease carries `expiresAt` past the lease
 * plus any lease allowance the reaper accepts (S12) plus a day, so DynamoDB's deletion only ever
 * removes an item that protects nothing already; an item without a lease never expires.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadReaperConfig } from '../../functions/reaper/config.js';
import { MAX_LEASE_SKEW_SECONDS, TRACKED_TTL_MARGIN_SECONDS, protects, trackedExpiresAt } from '../../functions/store/tracked.js';

describe('trackedExpiresAt', () => {
  it('is absent without a lease, and the lease end plus the largest allowance plus a day with one', () => {
    expect(trackedExpiresAt(undefined)).toBeUndefined();
    expect(TRACKED_TTL_MARGIN_SECONDS).toBe(MAX_LEASE_SKEW_SECONDS + 86_400);
    expect(trackedExpiresAt(1_800_000_000)).toBe(1_800_000_000 + 2 * 86_400);
  });

  it('never falls while the item still protects its container, whatever allowance the reaper uses', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_000_000_000 }), fc.integer({ min: 0, max: MAX_LEASE_SKEW_SECONDS }), fc.integer({ min: 0, max: 5_000_000_000 }), (lease, skew, now) => {
        const expiresAt = trackedExpiresAt(lease) ?? Number.POSITIVE_INFINITY;
        // DynamoDB deletes only items whose TTL has passed (now > expiresAt); such an item must protect nothing.
        if (now > expiresAt) expect(protects({ leaseExpiresAt: lease }, now, skew)).toBe(false);
        // And at least a day passes between the end of its protection and its TTL.
        expect(expiresAt - (lease + skew)).toBeGreaterThanOrEqual(86_400);
      }),
      { numRuns: 10_000 },
    );
  });

  it('the reaper accepts no lease allowance beyond the one the TTL margin covers', () => {
    const env = { REAPER_MASTER_KEY: 'ab'.repeat(32) };
    expect(loadReaperConfig({ ...env, REAPER_LEASE_SKEW_SECONDS: String(MAX_LEASE_SKEW_SECONDS) }).leaseSkewSeconds).toBe(MAX_LEASE_SKEW_SECONDS);
    expect(() => loadReaperConfig({ ...env, REAPER_LEASE_SKEW_SECONDS: String(MAX_LEASE_SKEW_SECONDS + 1) })).toThrow(/REAPER_LEASE_SKEW_SECONDS/);
  });
});
