import { describe, expect, it } from 'vitest';
import { protects } from '../../functions/store/tracked.js';

describe('the lease rule', () => {
  it('protects without a lease, through the lease second, and not after', () => {
    expect(protects({}, 1_000)).toBe(true);
    expect(protects({ leaseExpiresAt: 1_001 }, 1_000)).toBe(true);
    expect(protects({ leaseExpiresAt: 1_000 }, 1_000)).toBe(true);
    expect(protects({ leaseExpiresAt: 999 }, 1_000)).toBe(false);
  });
});
