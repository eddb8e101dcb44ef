/**
 * The reap guards (S4 and S4 extended) as properties: `checkGuards` against an oracle written from
 * the rules, over generated counts that crowd every threshold, plus hand-made mutants (an
 * off-by-one comparison, a rounding percent, a swapped precedence) that the same property must
 * reject, so it is known to be able to fail.
 *
 * The rules, in order of precedence:
 *  1. max-reap:          orphans > maxReap (maxReap null = an explicit force: never);
 *  2. max-reap-percent:  orphans >= min AND orphans > percent% of labelled (exact, no rounding);
 *  3. fleet-max-reap:    removals > fleetBudget.
 * None holds: undefined (the reap goes ahead).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Cap, PercentGuard } from '../../lib/agent-contract.js';
import { checkGuards, type GuardInput, type GuardLimits } from '../../agent/guards.js';

/** 10,000 in `npm test`; 100,000 under STRESS=1; SAFETY_PROPERTY_RUNS overrides both. */
const NUM_RUNS = Number(process.env.SAFETY_PROPERTY_RUNS ?? (process.env.STRESS === '1' ? 100_000 : 10_000));
/** Mutants must be caught well within a normal run. */
const MUTANT_RUNS = 2_000;

type Guards = (input: GuardInput, limits: GuardLimits) => Cap | undefined;

/** Counts as a host reports them: removals <= orphans <= labelled. */
const inputArb: fc.Arbitrary<GuardInput> = fc
  .tuple(fc.oneof(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 2_000 })), fc.nat(), fc.nat())
  .map(([labelled, o, r]) => {
    const orphans = labelled === 0 ? 0 : o % (labelled + 1);
    const removals = orphans === 0 ? 0 : r % (orphans + 1);
    return { labelled, orphans, removals };
  });

/** A limit right at, just below or just above `value`, or anywhere. */
const near = (value: number) =>
  fc.oneof(
    fc.constantFrom(value - 1, value, value + 1).map((v) => Math.max(0, v)),
    fc.integer({ min: 0, max: 2_500 }),
  );

interface Case {
  input: GuardInput;
  limits: GuardLimits;
}

const caseArb: fc.Arbitrary<Case> = inputArb.chain((input) =>
  fc
    .record({
      maxReap: fc.oneof({ weight: 1, arbitrary: fc.constant(null) }, { weight: 4, arbitrary: near(input.orphans) }),
      percent: fc.option(
        fc.record({
          // Percents that make orphans*100 land exactly on percent*labelled when possible.
          percent: fc.oneof(
            fc.integer({ min: 1, max: 100 }),
            fc.constant(input.labelled === 0 ? 50 : Math.min(100, Math.max(1, Math.round((input.orphans * 100) / input.labelled)))),
          ),
          min: near(input.orphans),
        }),
        { nil: undefined },
      ),
      fleetBudget: fc.option(near(input.removals), { nil: undefined }),
    })
    .map((limits) => ({ input, limits: limits as GuardLimits })),
);

/** The oracle, straight from the rules (rational comparison, not the implementation's integers). */
function expected({ input, limits }: Case): Cap['guard'] | undefined {
  const { orphans, labelled, removals } = input;
  if (limits.maxReap !== null && orphans > limits.maxReap) return 'max-reap';
  const p: PercentGuard | undefined = limits.percent;
  // percent * labelled / 100 is exact whenever it is a whole number (IEEE division), so no rounding edge.
  if (p !== undefined && orphans >= p.min && orphans > (p.percent * labelled) / 100) return 'max-reap-percent';
  if (limits.fleetBudget !== undefined && removals > limits.fleetBudget) return 'fleet-max-reap';
  return undefined;
}

/** The property: the cap that fires is exactly the oracle's, with a limit the counts really pass. */
function guardProperty(guards: Guards, seen?: Record<string, number>) {
  return fc.property(caseArb, (c) => {
    const cap = guards(c.input, c.limits);
    const want = expected(c);
    if (cap?.guard !== want) throw new Error(`expected ${want ?? 'no cap'}, got ${cap?.guard ?? 'no cap'}`);
    if (seen) seen[want ?? 'none'] = (seen[want ?? 'none'] ?? 0) + 1;
    if (cap === undefined) return;
    // The report names the counts as they were, and a limit the host really passed.
    if (cap.orphans !== c.input.orphans || cap.labelled !== c.input.labelled) throw new Error('cap counts differ from the input');
    if (cap.guard === 'max-reap' && (cap.limit !== c.limits.maxReap || !(c.input.orphans > cap.limit))) throw new Error(`max-reap limit ${cap.limit}`);
    if (cap.guard === 'max-reap-percent') {
      const p = c.limits.percent as PercentGuard;
      if (cap.limit !== Math.floor((p.percent * c.input.labelled) / 100) || !(c.input.orphans > cap.limit)) throw new Error(`percent limit ${cap.limit}`);
    }
    if (cap.guard === 'fleet-max-reap' && (cap.limit !== c.limits.fleetBudget || !(c.input.removals > cap.limit))) throw new Error(`fleet limit ${cap.limit}`);
  });
}

describe('guards (S4, S4 extended)', () => {
  it(`caps exactly when a guard's rule holds, the first in precedence order, and never otherwise (${NUM_RUNS} cases)`, () => {
    const seen: Record<string, number> = {};
    fc.assert(guardProperty(checkGuards, seen), { numRuns: NUM_RUNS });
    // Every outcome, and the exact edges, must be reached.
    for (const outcome of ['none', 'max-reap', 'max-reap-percent', 'fleet-max-reap']) expect(seen[outcome] ?? 0, outcome).toBeGreaterThan(NUM_RUNS / 50);
  });

  it(`force (maxReap null, no percent, no budget) never caps (${NUM_RUNS} cases)`, () => {
    fc.assert(
      fc.property(inputArb, fc.integer({ min: 0, max: 1_000_000 }), (input, bigger) => {
        expect(checkGuards(input, { maxReap: null })).toBeUndefined();
        expect(checkGuards({ ...input, orphans: input.orphans + bigger, labelled: input.labelled + bigger }, { maxReap: null, percent: undefined, fleetBudget: undefined })).toBeUndefined();
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('the edges, by hand', () => {
    // max-reap: equal passes, one more caps.
    expect(checkGuards({ orphans: 5, labelled: 100, removals: 5 }, { maxReap: 5 })).toBeUndefined();
    expect(checkGuards({ orphans: 6, labelled: 100, removals: 6 }, { maxReap: 5 })?.guard).toBe('max-reap');
    // percent: exactly 50% passes, more caps; under min never caps.
    const p = { percent: 50, min: 3 };
    expect(checkGuards({ orphans: 3, labelled: 6, removals: 3 }, { maxReap: 100, percent: p })).toBeUndefined();
    expect(checkGuards({ orphans: 4, labelled: 7, removals: 4 }, { maxReap: 100, percent: p })).toEqual({ guard: 'max-reap-percent', limit: 3, orphans: 4, labelled: 7 });
    expect(checkGuards({ orphans: 2, labelled: 2, removals: 2 }, { maxReap: 100, percent: p })).toBeUndefined();
    expect(checkGuards({ orphans: 3, labelled: 3, removals: 3 }, { maxReap: 100, percent: p })?.guard).toBe('max-reap-percent');
    // Odd labelled: 50% of 5 is 2.5, so 3 is more (no rounding down to "3 > 2" nor up to "3 > 3").
    expect(checkGuards({ orphans: 3, labelled: 5, removals: 0 }, { maxReap: 100, percent: p })?.guard).toBe('max-reap-percent');
    // fleet budget: equal passes, one more caps.
    expect(checkGuards({ orphans: 2, labelled: 100, removals: 2 }, { maxReap: 100, fleetBudget: 2 })).toBeUndefined();
    expect(checkGuards({ orphans: 3, labelled: 100, removals: 3 }, { maxReap: 100, fleetBudget: 2 })?.guard).toBe('fleet-max-reap');
    // Precedence: all three fire, max-reap is reported.
    expect(checkGuards({ orphans: 10, labelled: 10, removals: 10 }, { maxReap: 1, percent: p, fleetBudget: 0 })?.guard).toBe('max-reap');
    expect(checkGuards({ orphans: 10, labelled: 10, removals: 10 }, { maxReap: 100, percent: p, fleetBudget: 0 })?.guard).toBe('max-reap-percent');
  });
});

/** Hand-made mutants of checkGuards: the property above must reject every one. */
const MUTANTS: Record<string, Guards> = {
  'max-reap with >=': (i, l) => (l.maxReap !== null && i.orphans >= l.maxReap ? { guard: 'max-reap', limit: l.maxReap, orphans: i.orphans, labelled: i.labelled } : checkGuards(i, { ...l, maxReap: null })),
  'percent with >=': (i, l) => {
    if (l.maxReap !== null && i.orphans > l.maxReap) return checkGuards(i, l);
    const p = l.percent;
    if (p && i.orphans >= p.min && i.orphans * 100 >= p.percent * i.labelled) return { guard: 'max-reap-percent', limit: Math.floor((p.percent * i.labelled) / 100), orphans: i.orphans, labelled: i.labelled };
    return checkGuards(i, { ...l, percent: undefined });
  },
  'percent compared with a rounded limit': (i, l) => {
    if (l.maxReap !== null && i.orphans > l.maxReap) return checkGuards(i, l);
    const p = l.percent;
    if (p && i.orphans >= p.min && i.orphans > Math.round((p.percent * i.labelled) / 100)) return { guard: 'max-reap-percent', limit: Math.floor((p.percent * i.labelled) / 100), orphans: i.orphans, labelled: i.labelled };
    return checkGuards(i, { ...l, percent: undefined });
  },
  'percent ignores min': (i, l) => checkGuards(i, { ...l, ...(l.percent ? { percent: { percent: l.percent.percent, min: 0 } } : {}) }),
  'fleet budget with >=': (i, l) => {
    const first = checkGuards(i, { ...l, fleetBudget: undefined });
    if (first) return first;
    return l.fleetBudget !== undefined && i.removals >= l.fleetBudget ? { guard: 'fleet-max-reap', limit: l.fleetBudget, orphans: i.orphans, labelled: i.labelled } : undefined;
  },
  'fleet budget judged on orphans, not removals': (i, l) => checkGuards({ ...i, removals: i.orphans }, l),
  'fleet budget checked first': (i, l) => (l.fleetBudget !== undefined && i.removals > l.fleetBudget ? { guard: 'fleet-max-reap', limit: l.fleetBudget, orphans: i.orphans, labelled: i.labelled } : checkGuards(i, l)),
};

describe('guards: the property catches hand-made mutants', () => {
  for (const [name, mutant] of Object.entries(MUTANTS)) {
    it(`rejects: ${name}`, () => {
      const result = fc.check(guardProperty(mutant), { numRuns: MUTANT_RUNS });
      expect(result.failed, `mutant "${name}" survived ${MUTANT_RUNS} cases`).toBe(true);
    });
  }
});
