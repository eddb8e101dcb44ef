import { describe, expect, it } from 'vitest';
import { protects } from '../../functions/store/tracked.js';

describe('the lease rule', () => {
  it('protects without a lease, through the lease second, and not after', () => {
    expect(protects({}, 1_000)).toBe(true);
    expect(protects({ leaseExpiresAt: 1_001 }, 1_000)).toBe(true);
    expect(protects({ leaseExpiresAt: 1_000 }, 1_000)).toBe(true);
    expect(protects({ leaseExpiresAt: 999 }, 1_000)).toBe(false);
  });

  it('allows the writer a clock skew (S12): protects through leaseExpiresAt + skew, and not after', () => {
    expect(protects({}, 1_000, 60)).toBe(true);
    expect(protects({ leaseExpiresAt: 940 }, 1_000, 60)).toBe(true);
    expect(protects({ leaseExpiresAt: 939 }, 1_000, 60)).toBe(false);
    expect(protects({ leaseExpiresAt: 999 }, 1_000, 1)).toBe(true);
    expect(protects({ leaseExpiresAt: 999 }, 1_000, 0)).toBe(false);
    // A skew never shortens a lease that is still running.
    for (const skew of [0, 1, 60, 3600]) expect(protects({ leaseExpiresAt: 2_000 }, 1_000, skew)).toBe(true);
  });
});
