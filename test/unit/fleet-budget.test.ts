/**
 * The run's fleet budget (S4 extended) under concurrency, as properties.
 *
 * N simulated hosts share one `FleetBudget`: each reserves min(cap, total) as host-reap.ts does,
 * "removes" some number of containers no larger than its grant, and settles with what it may have
 * used (the actual count, or its whole grant when the outcome is unknown, as after a timeout).
 * A deterministic scheduler driven by fast-check decides the interleaving: which host starts,
 * which holder settles, which waiter's run deadline fires (abort), each step followed by a full
 * drain of the microtask queue. Properties, checked after every step:
 *  - the containers removed over all hosts never exceed the total (exact budget);
 *  - the accounting is exact: free = total − outstanding grants − what settled hosts used;
 *  - a host gets less than it asked for only when no other reservation is outstanding (or its
 *    own deadline fired): a smaller grant would cap a host the budget could in fact afford;
 *  - no deadlock: once every holder has settled, every reserve has resolved;
 *  - an aborted signal resolves its waiter at once (within the same turn).
 * A smaller run repeats the first three with real timers. Hand-made mutants must be rejected.
 */
import fc from 'fast-check';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { FleetBudget } from '../../functions/reaper/fleet-budget.js';

/** 10,000 in `npm test`; 100,000 under STRESS=1; SAFETY_PROPERTY_RUNS overrides both. */
const NUM_RUNS = Number(process.env.SAFETY_PROPERTY_RUNS ?? (process.env.STRESS === '1' ? 100_000 : 10_000));
const TIMER_RUNS = process.env.STRESS === '1' ? 2_000 : 60;
const MUTANT_RUNS = 1_000;

interface Budget {
  readonly total: number;
  readonly free: number;
  reserve(want: number, signal?: AbortSignal): Promise<number>;
  settle(granted: number, used: number): void;
}
type MakeBudget = (total: number) => Budget;

const hostArb = fc.record({
  cap: fc.oneof(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 60 })),
  /** Part of the grant actually removed (0 … 1). */
  usedFrac: fc.oneof(fc.constantFrom(0, 1), fc.double({ min: 0, max: 1, noNaN: true })),
  /** What the control plane passes to settle: the real count, or the whole grant (unknown outcome). */
  reports: fc.constantFrom('actual', 'actual', 'granted'),
  /** The run deadline may fire while it waits. */
  abortable: fc.boolean(),
});

const scenarioArb = fc.record({
  total: fc.oneof(fc.constantFrom(0, 1, 10), fc.integer({ min: 0, max: 40 })),
  hosts: fc.array(hostArb, { minLength: 1, maxLength: 10 }),
  /** The scheduler's choices: an index into the actions possible at each step. */
  choices: fc.array(fc.nat(), { maxLength: 80 }),
});
type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

const drain = () => new Promise<void>((resolve) => setImmediate(resolve));

function fail(message: string): never {
  throw new Error(message);
}

type HostState = 'idle' | 'waiting' | 'holding' | 'done';

async function runScenario(make: MakeBudget, s: Scenario, seen?: Record<string, number>): Promise<void> {
  const budget = make(s.total);
  const hosts = s.hosts.map((h) => ({
    ...h,
    want: Math.min(h.cap, s.total),
    state: 'idle' as HostState,
    granted: 0,
    reported: 0,
    aborted: false,
    controller: h.abortable ? new AbortController() : undefined,
  }));
  const holders = new Set<number>();
  let removed = 0;
  let choice = 0;
  /** A failure seen in a reserve's continuation, thrown by the driver after the drain. */
  let failure: string | undefined;
  const note = (message: string) => {
    failure ??= message;
  };
  const bump = (key: string) => {
    if (seen) seen[key] = (seen[key] ?? 0) + 1;
  };

  const checkAccounting = () => {
    const outstanding = hosts.filter((h) => h.state === 'holding').reduce((sum, h) => sum + h.granted, 0);
    const used = hosts.filter((h) => h.state === 'done').reduce((sum, h) => sum + h.reported, 0);
    if (budget.free !== s.total - outstanding - used) fail(`free ${budget.free}, expected ${s.total} − ${outstanding} held − ${used} used`);
    if (budget.free < 0) fail(`free went negative: ${budget.free}`);
    if (removed > s.total) fail(`removed ${removed} over all hosts, budget ${s.total}`);
  };

  for (;;) {
    const actions: Array<() => void> = [];
    hosts.forEach((h, i) => {
      if (h.state === 'idle') {
        actions.push(() => {
          h.state = 'waiting';
          budget.reserve(h.want, h.controller?.signal).then(
            (granted) => {
              if (h.state !== 'waiting') note(`host ${i} resolved twice`);
              if (!Number.isInteger(granted) || granted < 0 || granted > h.want) note(`host ${i} granted ${granted} of ${h.want}`);
              if (granted < h.want && !h.aborted) {
                const others = [...holders].filter((j) => j !== i);
                if (others.length > 0) note(`host ${i} granted ${granted} < ${h.want} while hosts ${others.join(',')} held reservations`);
                bump('partialGrant');
              }
              if (granted < h.want && h.aborted) bump('abortedPartial');
              h.granted = granted;
              h.state = 'holding';
              holders.add(i);
            },
            (error: unknown) => note(`reserve rejected: ${String(error)}`),
          );
        });
      }
      if (h.state === 'holding') {
        actions.push(() => {
          const actual = Math.floor(h.usedFrac * h.granted);
          removed += actual;
          h.reported = h.reports === 'granted' ? h.granted : actual;
          budget.settle(h.granted, h.reported);
          holders.delete(i);
          h.state = 'done';
        });
      }
      if (h.state === 'waiting' && h.controller && !h.aborted) {
        actions.push(() => {
          h.aborted = true;
          h.controller?.abort();
          bump('abortWhileWaiting');
        });
      }
    });
    if (actions.length === 0) break;
    const pick = s.choices[choice++] ?? 0;
    const action = actions[pick % actions.length]!;
    action();
    await drain();
    if (failure !== undefined) fail(failure);
    checkAccounting();
    // An aborted waiter is resolved in the same turn.
    for (const [i, h] of hosts.entries()) if (h.aborted && h.state === 'waiting') fail(`host ${i}: aborted, still waiting`);
    if (hosts.some((h) => h.state === 'waiting') && holders.size > 0) bump('waitedForOthers');
  }
  // Nothing left to do: every holder settled, so nobody may still be waiting (no deadlock).
  const stuck = hosts.flatMap((h, i) => (h.state === 'done' ? [] : [`${i}:${h.state}`]));
  if (stuck.length > 0) fail(`deadlock: ${stuck.join(' ')} with every holder settled (free ${budget.free})`);
  bump('scenarios');
}

const budgetProperty = (make: MakeBudget, seen?: Record<string, number>) => fc.asyncProperty(scenarioArb, (s) => runScenario(make, s, seen));

const real: MakeBudget = (total) => new FleetBudget(total);

describe('fleet budget (S4 extended) under concurrency', () => {
  it(`never over-spends, grants less only with no reservation outstanding, never deadlocks, aborts at once (${NUM_RUNS} schedules)`, async () => {
    const seen: Record<string, number> = {};
    await fc.assert(budgetProperty(real, seen), { numRuns: NUM_RUNS });
    for (const key of ['scenarios', 'partialGrant', 'abortedPartial', 'abortWhileWaiting', 'waitedForOthers']) expect(seen[key] ?? 0, key).toBeGreaterThan(NUM_RUNS / 100);
  });

  it(`with real timers: random start and settle delays (${TIMER_RUNS} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 30 }),
        fc.array(fc.record({ cap: fc.integer({ min: 0, max: 20 }), startMs: fc.integer({ min: 0, max: 3 }), holdMs: fc.integer({ min: 0, max: 3 }), usedFrac: fc.double({ min: 0, max: 1, noNaN: true }) }), { minLength: 1, maxLength: 8 }),
        async (total, plans) => {
          const budget = new FleetBudget(total);
          let holding = 0;
          let removed = 0;
          await Promise.all(
            plans.map(async (p) => {
              await sleep(p.startMs);
              const want = Math.min(p.cap, total);
              const granted = await budget.reserve(want);
              if (granted < want && holding > 0) fail(`granted ${granted} < ${want} with ${holding} holders`);
              holding++;
              await sleep(p.holdMs);
              const used = Math.floor(p.usedFrac * granted);
              removed += used;
              if (removed > total) fail(`removed ${removed} > ${total}`);
              holding--;
              budget.settle(granted, used);
            }),
          );
          expect(budget.free).toBe(total - removed);
        },
      ),
      { numRuns: TIMER_RUNS },
    );
  });

  it('by hand: a waiter takes the whole cap once it is given back; an aborted waiter takes what is free', async () => {
    const budget = new FleetBudget(10);
    expect(await budget.reserve(8)).toBe(8);
    let second: number | undefined;
    void budget.reserve(5).then((g) => (second = g));
    await drain();
    expect(second).toBeUndefined(); // 2 free, but a holder may give back: it waits
    budget.settle(8, 3); // 5 used of 8: 7 free now
    await drain();
    expect(second).toBe(5);
    const controller = new AbortController();
    let third: number | undefined;
    void budget.reserve(5, controller.signal).then((g) => (third = g));
    await drain();
    expect(third).toBeUndefined();
    controller.abort();
    await drain();
    expect(third).toBe(2);
    expect(budget.free).toBe(0);
  });
});

/**
 * Hand-made mutants: a copy of FleetBudget's algorithm with one rule switched off at a time (the
 * copy with every rule on must pass, so the mutants differ from the real thing in that rule only).
 */
interface Rules {
  /** Wait while others hold reservations (else: take what is free at once). */
  wait: boolean;
  /** Stop waiting when nobody holds a reservation any more. */
  proceedWhenNoHolders: boolean;
  /** An abort wakes the waiter. */
  wakeOnAbort: boolean;
  /** Settle keeps what was used (else: gives the whole grant back). */
  keepUsed: boolean;
}
const ALL_RULES: Rules = { wait: true, proceedWhenNoHolders: true, wakeOnAbort: true, keepUsed: true };

class RuleBudget implements Budget {
  free: number;
  #holders = 0;
  #waiters = new Set<() => void>();
  constructor(
    readonly total: number,
    private readonly rules: Rules,
  ) {
    this.free = total;
  }
  async reserve(want: number, signal?: AbortSignal): Promise<number> {
    for (;;) {
      if (!this.rules.wait || this.free >= want || (this.rules.proceedWhenNoHolders && this.#holders === 0) || signal?.aborted) {
        const granted = Math.max(0, Math.min(want, this.free));
        this.free -= granted;
        this.#holders++;
        return granted;
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.#waiters.delete(wake);
          signal?.removeEventListener('abort', wake);
          resolve();
        };
        this.#waiters.add(wake);
        if (this.rules.wakeOnAbort) signal?.addEventListener('abort', wake, { once: true });
      });
    }
  }
  settle(granted: number, used: number): void {
    this.free += granted - (this.rules.keepUsed ? Math.min(Math.max(0, used), granted) : 0);
    this.#holders--;
    for (const wake of [...this.#waiters]) wake();
  }
}

const MUTANTS: Record<string, Partial<Rules>> = {
  'grants what is free at once (a smaller grant while others hold)': { wait: false },
  'settle gives back the whole grant (forgets what was used)': { keepUsed: false },
  'an abort does not wake the waiter': { wakeOnAbort: false },
  'waits even when nobody holds a reservation (deadlock)': { proceedWhenNoHolders: false },
};

describe('fleet budget: the property catches hand-made mutants', () => {
  it('the rule-switch copy with every rule on passes (so each mutant differs in one rule only)', async () => {
    await fc.assert(budgetProperty((total) => new RuleBudget(total, ALL_RULES)), { numRuns: MUTANT_RUNS });
  });
  for (const [name, off] of Object.entries(MUTANTS)) {
    it(`rejects: ${name}`, async () => {
      const result = await fc.check(budgetProperty((total) => new RuleBudget(total, { ...ALL_RULES, ...off })), { numRuns: MUTANT_RUNS });
      expect(result.failed, name).toBe(true);
    });
  }
});
