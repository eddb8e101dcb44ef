import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TrackedRef } from '../../lib/agent-contract.js';
import { cutoffMs, isOldEnough, planReap, type LabelledContainer } from '../../agent/orphans.js';

const T0 = Date.parse('2026-11-27T12:00:00.000Z');
const sec = (ms: number) => Math.floor(ms / 1000);

function container(over: Partial<LabelledContainer>): LabelledContainer {
  return { clawboxId: 'c1', dockerId: 'a'.repeat(64), state: 'running', createdSeconds: sec(T0) - 3600, name: 'n', image: 'i', ...over };
}

describe('cutoffMs', () => {
  it('is snapshot minus grace, less a second for the truncated timestamp', () => {
    expect(cutoffMs(T0, 120, 0)).toBe(T0 - 1000 - 120_000);
  });
  it('moves earlier when the agent clock runs behind (widens the grace)', () => {
    expect(cutoffMs(T0, 120, -60_000)).toBe(T0 - 61_000 - 120_000);
  });
  it('never moves later when the agent clock runs ahead (cannot shrink the grace)', () => {
    expect(cutoffMs(T0, 120, 60_000)).toBe(T0 - 120_000);
  });
});

describe('isOldEnough', () => {
  it('counts a container as created at the end of its truncated second', () => {
    expect(isOldEnough(10, 11_000)).toBe(true);
    expect(isOldEnough(10, 10_999)).toBe(false);
  });
});

describe('planReap', () => {
  const cutoff = cutoffMs(T0, 120, 0);

  it('keeps tracked containers, skips young ones and selects the rest', () => {
    const inventory = [
      container({ clawboxId: 'tracked', dockerId: '1'.repeat(64) }),
      container({ clawboxId: 'young', dockerId: '2'.repeat(64), createdSeconds: sec(T0) - 10 }),
      container({ clawboxId: 'orphan', dockerId: '3'.repeat(64) }),
    ];
    const plan = planReap(inventory, [{ id: 'tracked' }], cutoff);
    expect(plan.tracked.map((c) => c.clawboxId)).toEqual(['tracked']);
    expect(plan.young.map((c) => c.clawboxId)).toEqual(['young']);
    expect(plan.orphans.map((c) => c.clawboxId)).toEqual(['orphan']);
  });

  it('treats a duplicate label value under another dockerId as an orphan', () => {
    const inventory = [container({ clawboxId: 'dup', dockerId: 'a'.repeat(64) }), container({ clawboxId: 'dup', dockerId: 'b'.repeat(64) })];
    const plan = planReap(inventory, [{ id: 'dup', dockerId: 'a'.repeat(64) }], cutoff);
    expect(plan.tracked.map((c) => c.dockerId)).toEqual(['a'.repeat(64)]);
    expect(plan.orphans.map((c) => c.dockerId)).toEqual(['b'.repeat(64)]);
  });

  it('accepts a 12-digit dockerId prefix', () => {
    const plan = planReap([container({ clawboxId: 'x', dockerId: 'abcdef012345' + '0'.repeat(52) })], [{ id: 'x', dockerId: 'abcdef012345' }], cutoff);
    expect(plan.tracked).toHaveLength(1);
  });

  it('keeps every container of a label value tracked without a dockerId', () => {
    const inventory = [container({ clawboxId: 'dup', dockerId: 'a'.repeat(64) }), container({ clawboxId: 'dup', dockerId: 'b'.repeat(64) })];
    const plan = planReap(inventory, [{ id: 'dup', dockerId: 'a'.repeat(64) }, { id: 'dup' }], cutoff);
    expect(plan.tracked).toHaveLength(2);
    expect(plan.orphans).toHaveLength(0);
  });
});

// Property: for any inventory and tracked set, nothing tracked or young is ever selected, and
// every other labelled container is. (Unlabelled containers never reach the plan: the Docker port
// filters on the daemon; the engine tests cover that.)
const hex = fc.constantFrom(...'0123456789abcdef'.split(''));
const dockerIdArb = fc.array(hex, { minLength: 64, maxLength: 64 }).map((a) => a.join(''));
const idArb = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g');

const fleetArb = fc.record({
  containers: fc.array(
    fc.record({
      clawboxId: idArb,
      dockerId: dockerIdArb,
      state: fc.constantFrom('running', 'created', 'exited', 'paused', 'restarting', 'dead'),
      // Creation times around the grace edge.
      ageMs: fc.integer({ min: -5_000, max: 400_000 }),
    }),
    { maxLength: 40 },
  ),
  tracked: fc.array(fc.record({ id: idArb, useDockerId: fc.boolean(), pick: fc.nat(), prefix: fc.boolean() }), { maxLength: 10 }),
  graceSeconds: fc.integer({ min: 0, max: 300 }),
  clockOffsetMs: fc.integer({ min: -300_000, max: 300_000 }),
});

describe('planReap properties', () => {
  it('never selects a tracked or young container, always selects the rest', () => {
    fc.assert(
      fc.property(fleetArb, ({ containers, tracked, graceSeconds, clockOffsetMs }) => {
        const inventory = containers.map((c) => container({ clawboxId: c.clawboxId, dockerId: c.dockerId, state: c.state, createdSeconds: sec(T0 - c.ageMs) }));
        const refs: TrackedRef[] = tracked.map((t) => {
          const target = inventory.length > 0 ? inventory[t.pick % inventory.length]! : undefined;
          if (!t.useDockerId || !target) return { id: t.id };
          return { id: target.clawboxId, dockerId: t.prefix ? target.dockerId.slice(0, 12) : target.dockerId };
        });
        const cutoff = cutoffMs(T0, graceSeconds, clockOffsetMs);
        const plan = planReap(inventory, refs, cutoff);

        const trackedBy = (c: LabelledContainer) =>
          refs.some((r) => r.id === c.clawboxId && (r.dockerId === undefined || c.dockerId.startsWith(r.dockerId)));
        // Independent oracle on the real creation instant: young means created within the grace of
        // the snapshot (on a correct clock), widened by any negative clock offset.
        for (const c of plan.orphans) {
          expect(trackedBy(c)).toBe(false);
          const createdAtLatestMs = (c.createdSeconds + 1) * 1000;
          expect(createdAtLatestMs).toBeLessThanOrEqual(T0 - graceSeconds * 1000);
        }
        for (const c of inventory) {
          const selected = plan.orphans.includes(c);
          const expected = !trackedBy(c) && (c.createdSeconds + 1) * 1000 <= cutoff;
          expect(selected).toBe(expected);
        }
        expect(plan.orphans.length + plan.tracked.length + plan.young.length).toBe(inventory.length);
      }),
      { numRuns: 2_000 },
    );
  });
});
