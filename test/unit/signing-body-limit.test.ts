/**
 * The agent's default body limit is the largest legitimate command (agent/body-limit.ts): the
 * arithmetic from the contract's LIMITS, entries that are the longest the contract admits, and the
 * control plane's own cap on what it sends.
 */
import { describe, expect, it } from 'vitest';
import { COMMAND_OVERHEAD_BYTES, DEFAULT_BODY_LIMIT_BYTES, LARGEST_COMMAND_BYTES, LARGEST_QUARANTINE_REF_JSON, LARGEST_TRACKED_REF_JSON } from '../../agent/body-limit.js';
import { LIMITS, MAX_COMMAND_BYTES, QuarantineRef, ReapRequest, TrackedRef } from '../../lib/agent-contract.js';
import { loadAgentConfig } from '../../agent/config.js';

describe('the default body limit', () => {
  it('is sized from entries the contract accepts at their longest', () => {
    expect(TrackedRef.safeParse(JSON.parse(LARGEST_TRACKED_REF_JSON)).success).toBe(true);
    expect(QuarantineRef.safeParse(JSON.parse(LARGEST_QUARANTINE_REF_JSON)).success).toBe(true);
    // One character longer is refused: these are the longest.
    const tracked = JSON.parse(LARGEST_TRACKED_REF_JSON) as { id: string; dockerId: string };
    expect(TrackedRef.safeParse({ ...tracked, id: `${tracked.id}a` }).success).toBe(false);
    expect(TrackedRef.safeParse({ ...tracked, dockerId: `${tracked.dockerId}a` }).success).toBe(false);
    expect(Buffer.byteLength(LARGEST_TRACKED_REF_JSON)).toBe(342);
    expect(Buffer.byteLength(LARGEST_QUARANTINE_REF_JSON)).toBe(399);
  });

  it('follows the documented arithmetic, and is the smaller of it and the control plane cap', () => {
    expect(LARGEST_COMMAND_BYTES).toBe(LIMITS.trackedItems * 343 + LIMITS.quarantineEntries * 400 + COMMAND_OVERHEAD_BYTES);
    expect(LARGEST_COMMAND_BYTES).toBe(76_665_536);
    expect(DEFAULT_BODY_LIMIT_BYTES).toBe(Math.min(LARGEST_COMMAND_BYTES, MAX_COMMAND_BYTES));
  });

  it('fits a command of the largest lists but for the control plane cap, and its fixed fields in the overhead', () => {
    const request = {
      runId: 'r'.repeat(64),
      hostId: 'h'.repeat(128),
      tracked: [JSON.parse(LARGEST_TRACKED_REF_JSON), JSON.parse(LARGEST_TRACKED_REF_JSON)],
      snapshotAt: '2026-11-27T03:15:55.123Z',
      graceSeconds: LIMITS.graceSeconds,
      stopTimeoutSeconds: LIMITS.stopTimeoutSeconds,
      maxReap: LIMITS.maxReap,
      dryRun: false,
      anchor: `v1.${'9'.repeat(15)}.${'9'.repeat(15)}.${'a'.repeat(16)}.${'b'.repeat(64)}`,
      engineId: 'e'.repeat(256),
      maxReapPercent: { percent: 100, min: LIMITS.maxReap },
      fleetBudget: LIMITS.maxReap,
      quarantineSeconds: LIMITS.quarantineSeconds,
      quarantine: [JSON.parse(LARGEST_QUARANTINE_REF_JSON)],
    };
    expect(ReapRequest.safeParse(request).success).toBe(true);
    const fixed = Buffer.byteLength(JSON.stringify({ ...request, tracked: [], quarantine: [] }));
    expect(fixed).toBeLessThan(COMMAND_OVERHEAD_BYTES);
  });

  it('is the agent config default, overridable by REAPER_AGENT_BODY_LIMIT_BYTES; the connection cap defaults to 64', () => {
    const base = { REAPER_HOST_ID: 'h', REAPER_AGENT_KEY: 'ab'.repeat(32), REAPER_AGENT_STATE_DIR: '/tmp/unused-state' };
    expect(loadAgentConfig({}, base)).toMatchObject({ bodyLimitBytes: DEFAULT_BODY_LIMIT_BYTES, maxConnections: 64 });
    expect(loadAgentConfig({}, { ...base, REAPER_AGENT_BODY_LIMIT_BYTES: '4096', REAPER_AGENT_MAX_CONNECTIONS: '8' })).toMatchObject({ bodyLimitBytes: 4096, maxConnections: 8 });
    expect(() => loadAgentConfig({}, { ...base, REAPER_AGENT_MAX_CONNECTIONS: '0' })).toThrow(/REAPER_AGENT_MAX_CONNECTIONS/);
  });
});
