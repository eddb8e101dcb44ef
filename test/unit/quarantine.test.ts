/**
 * Quarantine before removal (S11) over generated TIMELINES of runs, end to end through the agent's
 * real decision and report code: `createReapService` (planReap + planQuarantine + checkGuards +
 * the removal, pause and unpause calls) over a fake Docker engine, with the control plane's record
 * keeping done exactly as functions/reaper/host-reap.ts `recordQuarantine` does it (a record for
 * every reported container with `quarantinedAt` unless its action is removed/vanished/restored;
 * a new record's `since` is that run's snapshot; records written only after an ok/partial,
 * non-dry run).
 *
 * A timeline: containers are created (label values reused by new Docker ids), stopped, deleted by
 * their manager; label values are tracked (with no dockerId, this one, another one), untracked,
 * leased (with the S12 allowance); runs come at increasing snapshot instants, some dry, some
 * capped by a guard, some forced, some on-demand `now`, some with engine faults (a pause, an
 * unpause or a removal failing).
 *
 * (A) Safety, on the true timeline, checked at every Docker remove call: the container is an
 *     orphan in the removing run (no live tracked item for its label value naming no dockerId or
 *     this one; created at or before snapshot − grace), and, with Q > 0, it was an orphan in an
 *     acting run at least Q earlier and has stayed in quarantine since: no acting run in between
 *     saw it tracked and left it unfrozen (restored). With Q = 0 / a `now` run: the first.
 * (B) The rules, as a model of S11 run alongside: a tracked container in quarantine is restored
 *     at the next acting run; with Q = 0 every orphan is removed at once (v1); an orphan is removed
 *     at the first acting run at least Q after its quarantine began; `quarantineSeconds` undefined
 *     ignores records (and pauses nothing); the control plane's records after each run are exactly
 *     the model's.
 * Mutants of planQuarantine must be caught: the reap service's import of it is routed through a
 * switch (vi.mock below) so that the same end-to-end property runs over the real decision and
 * over each mutant.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { QuarantineRef, ReapReport, ReapRequest, TrackedRef } from '../../lib/agent-contract.js';
import type { DockerPort } from '../../agent/docker.js';
import { isOldEnough, type LabelledContainer, type ReapPlan } from '../../agent/orphans.js';
import type * as QuarantineModule from '../../agent/quarantine.js';
import { anchoredCutoffMs, createReapService } from '../../agent/reap-service.js';
import { quarantineRecordChanges } from '../../functions/reaper/quarantine-records.js';
import { protects } from '../../functions/store/tracked.js';
import { silentLogger } from '../../lib/logger.js';

// The reap service's planQuarantine, switchable to a mutant (the real one when `decide` is unset).
const routed = vi.hoisted(() => ({ decide: undefined as undefined | ((...args: never[]) => unknown) }));
vi.mock('../../agent/quarantine.js', async (importOriginal) => {
  const actual = await importOriginal<typeof QuarantineModule>();
  return {
    ...actual,
    planQuarantine: (...args: Parameters<typeof actual.planQuarantine>) => ((routed.decide as typeof actual.planQuarantine | undefined) ?? actual.planQuarantine)(...args),
  };
});
const { planQuarantine } = await vi.importActual<typeof QuarantineModule>('../../agent/quarantine.js');

/** 10,000 in `npm test`; 100,000 under STRESS=1; SAFETY_PROPERTY_RUNS overrides both. */
const NUM_RUNS = Number(process.env.SAFETY_PROPERTY_RUNS ?? (process.env.STRESS === '1' ? 100_000 : 10_000));
const MUTANT_RUNS = 2_000;
const T0 = Date.parse('2026-11-27T12:00:00.000Z');
const HOST = 'q-host';
const LABELS = ['a', 'b', 'c', 'd'];
const iso = (ms: number) => new Date(ms).toISOString();

// ---------------------------------------------------------------------------------------------
// The generated timeline.

const eventArb = fc.oneof(
  { weight: 4, arbitrary: fc.record({ type: fc.constant('create' as const), label: fc.constantFrom(...LABELS), track: fc.constantFrom('never', 'never', 'before', 'after'), running: fc.boolean() }) },
  {
    weight: 3,
    arbitrary: fc.record({
      type: fc.constant('track' as const),
      label: fc.constantFrom(...LABELS),
      docker: fc.constantFrom('none', 'newest', 'oldest', 'other'),
      leaseSeconds: fc.option(fc.oneof(fc.constantFrom(1, 60), fc.integer({ min: 1, max: 1_200 })), { nil: undefined }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ type: fc.constant('untrack' as const), label: fc.constantFrom(...LABELS) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('kill' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('stop' as const), pick: fc.nat() }) },
);
type TimelineEvent = typeof eventArb extends fc.Arbitrary<infer T> ? T : never;

const runArb = fc.record({
  events: fc.array(fc.record({ dtMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 90_000 })), event: eventArb }), { maxLength: 5 }),
  /** Gap before the run, as a kind: exactly Q, Q − 1 ms, Q + 1 ms after the previous run, or any. */
  gap: fc.constantFrom('q', 'q-1', 'q+1', 'any', 'any', 'small'),
  gapAny: fc.integer({ min: 1, max: 1_500_000 }),
  mode: fc.constantFrom('normal', 'normal', 'normal', 'dry', 'force', 'now'),
  maxReap: fc.oneof(fc.constant(1_000), fc.integer({ min: 0, max: 4 })),
  percent: fc.option(fc.record({ percent: fc.constantFrom(50, 100), min: fc.constantFrom(3, 1_000) }), { nil: undefined }),
  fleetBudget: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
  /** Identity round trip before the snapshot (the anchor is that much older). */
  rttMs: fc.integer({ min: 0, max: 2_000 }),
  /** Engine faults in this run: [kind, container pick]. */
  faults: fc.array(fc.tuple(fc.constantFrom('remove', 'pause', 'unpause'), fc.nat()), { maxLength: 2 }),
});
type RunSpec = typeof runArb extends fc.Arbitrary<infer T> ? T : never;

const timelineArb = fc.record({
  quarantineSeconds: fc.constantFrom(undefined, 0, 1, 60, 600, 600),
  graceSeconds: fc.constantFrom(0, 5, 120),
  leaseSkewSeconds: fc.constantFrom(0, 60),
  /** With Q undefined: quarantine records to send anyway (they must be ignored). */
  junkRecords: fc.array(fc.tuple(fc.nat(), fc.constantFrom(-1e9, 0, 1e9)), { maxLength: 3 }),
  runs: fc.array(runArb, { minLength: 2, maxLength: 7 }),
});
type Timeline = typeof timelineArb extends fc.Arbitrary<infer T> ? T : never;

// ---------------------------------------------------------------------------------------------
// The world: an engine, a registry, the control plane's quarantine records.

interface Box {
  dockerId: string;
  label: string;
  createdMs: number;
  state: 'running' | 'exited' | 'paused';
  alive: boolean;
  /** Per acting run: its snapshot and whether the box was an orphan then (true timeline). */
  history: Array<{ snapshotMs: number; protected: boolean; orphan: boolean; frozenAfter: boolean }>;
}

interface Item {
  dockerId?: string;
  leaseExpiresAt?: number;
}

type Decide = typeof planQuarantine;

class World {
  now = T0;
  boxes: Box[] = [];
  registry = new Map<string, Item>();
  records: QuarantineRef[] = [];
  private serial = 0;
  /** Faults for the run in progress. */
  failing = { remove: new Set<string>(), pause: new Set<string>(), unpause: new Set<string>() };
  calls = { remove: [] as string[], pause: [] as string[], unpause: [] as string[] };

  newDockerId(): string {
    this.serial++;
    return this.serial.toString(16).padStart(12, '0') + 'f'.repeat(52);
  }

  byDockerId(dockerId: string): Box | undefined {
    return this.boxes.find((b) => b.dockerId === dockerId);
  }

  readonly docker: DockerPort = {
    version: async () => '27.0.0',
    engineId: async () => 'engine-q',
    listLabelled: async () =>
      this.boxes
        .filter((b) => b.alive)
        .map((b): LabelledContainer => ({ clawboxId: b.label, dockerId: b.dockerId, state: b.state, createdSeconds: Math.floor(b.createdMs / 1000), name: b.label, image: 'img' })),
    stopInfo: async (dockerId) => {
      const b = this.byDockerId(dockerId);
      return b?.alive ? { signal: 'SIGTERM', state: b.state } : 'gone';
    },
    // Every container here exits on its stop signal.
    kill: async (dockerId) => {
      const b = this.byDockerId(dockerId);
      if (!b?.alive) return 'gone';
      if (b.state !== 'running') return 'not-running';
      b.state = 'exited';
      return 'signalled';
    },
    remove: async (dockerId) => {
      this.calls.remove.push(dockerId);
      const b = this.byDockerId(dockerId);
      if (!b?.alive) return 'gone';
      if (this.failing.remove.has(dockerId)) throw new Error('remove: HTTP 500: injected');
      b.alive = false;
      return 'removed';
    },
    pause: async (dockerId) => {
      this.calls.pause.push(dockerId);
      const b = this.byDockerId(dockerId);
      if (!b?.alive) return 'gone';
      if (this.failing.pause.has(dockerId)) throw new Error('pause: HTTP 500: injected');
      if (b.state !== 'running') return 'unchanged';
      b.state = 'paused';
      return 'done';
    },
    unpause: async (dockerId) => {
      this.calls.unpause.push(dockerId);
      const b = this.byDockerId(dockerId);
      if (!b?.alive) return 'gone';
      if (this.failing.unpause.has(dockerId)) throw new Error('unpause: HTTP 500: injected');
      if (b.state !== 'paused') return 'unchanged';
      b.state = 'running';
      return 'done';
    },
  };

  apply(event: TimelineEvent): void {
    const alive = this.boxes.filter((b) => b.alive);
    switch (event.type) {
      case 'create': {
        const dockerId = this.newDockerId();
        if (event.track === 'before') this.registry.set(event.label, {});
        this.boxes.push({ dockerId, label: event.label, createdMs: this.now, state: event.running ? 'running' : 'exited', alive: true, history: [] });
        if (event.track === 'before' || event.track === 'after') this.registry.set(event.label, { dockerId });
        return;
      }
      case 'track': {
        const mine = alive.filter((b) => b.label === event.label);
        const pick = event.docker === 'newest' ? mine.at(-1) : event.docker === 'oldest' ? mine[0] : undefined;
        const item: Item = {};
        if (event.docker === 'other') item.dockerId = this.newDockerId();
        else if (pick) item.dockerId = pick.dockerId;
        // As store.track stamps it: the writer's second plus the lease.
        if (event.leaseSeconds !== undefined) item.leaseExpiresAt = Math.floor(this.now / 1000) + event.leaseSeconds;
        this.registry.set(event.label, item);
        return;
      }
      case 'untrack':
        this.registry.delete(event.label);
        return;
      case 'kill':
      case 'stop': {
        const b = alive.length > 0 ? alive[event.pick % alive.length] : undefined;
        if (!b) return;
        if (event.type === 'kill') b.alive = false;
        else if (b.state === 'running') b.state = 'exited';
        return;
      }
    }
  }

  /** The oracle's protection rule (S2, S12), from the registry as it is. */
  isProtected(b: Box, snapshotSecond: number, skew: number): boolean {
    const item = this.registry.get(b.label);
    if (item === undefined) return false;
    const live = item.leaseExpiresAt === undefined || snapshotSecond <= item.leaseExpiresAt + skew;
    return live && (item.dockerId === undefined || item.dockerId === b.dockerId);
  }

  /** The registry read (host-reap.ts): leases judged at the snapshot's second with the allowance. */
  trackedRefs(snapshotSecond: number, skew: number): TrackedRef[] {
    const refs: TrackedRef[] = [];
    for (const [id, item] of this.registry) {
      if (!protects(item, snapshotSecond, skew)) continue;
      refs.push(item.dockerId === undefined ? { id } : { id, dockerId: item.dockerId });
    }
    return refs;
  }
}

/** The records after an ok/partial, non-dry run: the control plane's own rule (functions/reaper/quarantine-records.ts), applied as its store would. */
function recordQuarantine(before: readonly QuarantineRef[], report: ReapReport): QuarantineRef[] {
  const { put, remove } = quarantineRecordChanges(before, report);
  const gone = new Set([...remove, ...put.map((r) => r.dockerId)]);
  return [...before.filter((r) => !gone.has(r.dockerId)), ...put];
}

// ---------------------------------------------------------------------------------------------
// The property.

function fail(message: string): never {
  throw new Error(message);
}

function gapMs(run: RunSpec, q: number | undefined): number {
  const qMs = (q ?? 60) * 1000;
  switch (run.gap) {
    case 'q':
      return Math.max(1, qMs);
    case 'q-1':
      return Math.max(1, qMs - 1);
    case 'q+1':
      return qMs + 1;
    case 'small':
      return 1 + (run.gapAny % 5_000);
    default:
      return run.gapAny;
  }
}

async function runTimeline(tl: Timeline, seen?: Record<string, number>): Promise<void> {
  const bump = (key: string, n = 1) => {
    if (seen) seen[key] = (seen[key] ?? 0) + n;
  };
  const world = new World();
  const service = createReapService({ docker: world.docker, concurrency: 4, logger: silentLogger(), now: () => world.now });
  const Q = tl.quarantineSeconds;
  const G = tl.graceSeconds * 1000;
  const skew = tl.leaseSkewSeconds;
  /** The model (B): when each container's quarantine began, by dockerId. */
  const model = new Map<string, number>();
  let lastSnapshot = T0;

  for (const [k, run] of tl.runs.entries()) {
    for (const { dtMs, event } of run.events) {
      world.now += dtMs;
      world.apply(event);
      if (event.type === 'create' && world.boxes.filter((b) => b.label === event.label).length > 1) bump('labelReused');
    }
    const S = Math.max(world.now + 1, lastSnapshot + gapMs(run, Q));
    world.now = S;
    lastSnapshot = S;
    const snapshotSecond = Math.floor(S / 1000);
    const runQ = Q === undefined ? undefined : run.mode === 'now' ? 0 : Q;
    const dryRun = run.mode === 'dry';
    const force = run.mode === 'force';

    const listed = world.boxes.filter((b) => b.alive);
    world.failing = { remove: new Set(), pause: new Set(), unpause: new Set() };
    for (const [kind, pick] of run.faults) if (listed.length > 0) world.failing[kind as 'remove' | 'pause' | 'unpause'].add(listed[pick % listed.length]!.dockerId);
    world.calls = { remove: [], pause: [], unpause: [] };

    const records =
      Q === undefined
        ? tl.junkRecords.flatMap(([pick, offset]) => (listed.length === 0 ? [] : [{ dockerId: listed[pick % listed.length]!.dockerId, clawboxId: listed[pick % listed.length]!.label, since: iso(S + offset) }]))
        : world.records;
    const anchorMs = S - run.rttMs;
    const request: ReapRequest = {
      runId: `run-${k}`,
      hostId: HOST,
      tracked: world.trackedRefs(snapshotSecond, skew),
      snapshotAt: iso(S),
      graceSeconds: tl.graceSeconds,
      stopTimeoutSeconds: 0,
      maxReap: force ? null : run.maxReap,
      dryRun,
      anchor: 'v1.0.0',
      ...(force || run.percent === undefined ? {} : { maxReapPercent: run.percent }),
      ...(force || run.fleetBudget === undefined ? {} : { fleetBudget: run.fleetBudget }),
      ...(runQ === undefined ? {} : { quarantineSeconds: runQ, quarantine: records }),
    };

    // The oracle's view before the run (true timeline), and the model's expectations.
    const before = new Map(listed.map((b) => [b.dockerId, { state: b.state }]));
    const prot = new Map(listed.map((b) => [b.dockerId, world.isProtected(b, snapshotSecond, skew)]));
    const trulyOld = (b: Box) => b.createdMs <= S - G;
    // The service's rule (anchor, bounded by the snapshot; clocks agree here), proven sound in anchor.test.ts.
    const judgedOld = (b: Box) => isOldEnough(Math.floor(b.createdMs / 1000), anchoredCutoffMs(anchorMs, tl.graceSeconds, { snapshotAtMs: S, clockOffsetMs: 0 }));

    const report = await service(request, { clockOffsetMs: 0, anchorMs, engineId: 'engine-q' });
    const acting = !dryRun && (report.status === 'ok' || report.status === 'partial');
    bump(acting ? 'actingRuns' : report.status === 'capped' ? 'cappedRuns' : 'dryRuns');
    if (run.mode === 'now' && acting) bump('nowRuns');

    // (A) every remove call, on the true timeline.
    for (const dockerId of new Set(world.calls.remove)) {
      const b = world.byDockerId(dockerId) ?? fail(`removed an unknown container ${dockerId}`);
      if (!acting) fail(`run ${k} (${report.status}${dryRun ? ', dry' : ''}) called remove on ${dockerId}`);
      if (prot.get(dockerId)) fail(`run ${k}: removed ${b.label}/${dockerId.slice(0, 12)}, which is tracked`);
      if (!trulyOld(b)) fail(`run ${k}: removed ${b.label}/${dockerId.slice(0, 12)} created ${b.createdMs - (S - G)} ms after snapshot − grace`);
      if (runQ !== undefined && runQ > 0) {
        // An acting run at least Q earlier where it was an orphan, and no restore since.
        const h = b.history;
        let ok = false;
        for (let j = h.length - 1; j >= 0; j--) {
          const entry = h[j]!;
          if (entry.protected && !entry.frozenAfter) break; // restored: the quarantine ended there
          if (entry.orphan && S - entry.snapshotMs >= runQ * 1000) {
            ok = true;
            break;
          }
        }
        if (!ok) fail(`run ${k}: removed ${b.label}/${dockerId.slice(0, 12)} without ${runQ} s of quarantine as an orphan (history ${JSON.stringify(h.map((e) => [e.snapshotMs - S, e.protected, e.orphan, e.frozenAfter]))})`);
        bump('removedAfterQuarantine');
      } else bump('removedAtOnce');
    }
    // Nothing is paused, unpaused or removed outside an acting run (a capped or dry run touches nothing).
    if (!acting && (world.calls.pause.length || world.calls.unpause.length)) fail(`run ${k} (${report.status}) touched containers`);
    if (Q === undefined && world.calls.pause.length) fail('paused a container with quarantineSeconds undefined');

    // (B) the model of S11, for acting runs.
    if (acting) {
      const expectRemove = new Set<string>();
      const expectRestore = new Set<string>();
      for (const b of listed) {
        const isProt = prot.get(b.dockerId) === true;
        const old = judgedOld(b);
        const since = model.get(b.dockerId);
        if (Q === undefined || runQ === undefined) {
          if (!isProt && old) expectRemove.add(b.dockerId);
          continue;
        }
        if (isProt) {
          if (since !== undefined) {
            expectRestore.add(b.dockerId);
            const frozen = before.get(b.dockerId)?.state === 'paused' && world.failing.unpause.has(b.dockerId);
            if (!frozen) model.delete(b.dockerId);
            bump('restored');
          }
        } else if (old) {
          if (since === undefined && runQ === 0) expectRemove.add(b.dockerId);
          else if (since === undefined) {
            model.set(b.dockerId, S);
            bump('quarantined');
          } else if (S - since >= runQ * 1000) {
            expectRemove.add(b.dockerId);
            if (S - since === runQ * 1000) bump('removedExactlyAtQ');
          } else bump(S - since === runQ * 1000 - 1 ? 'heldOneMsShort' : 'held');
        }
      }
      // Removals: exactly the expected set; a failed one keeps its record, a done one drops it.
      const removed = new Set(world.calls.remove);
      for (const id of expectRemove) if (!removed.has(id)) fail(`run ${k}: expected ${id.slice(0, 12)} removed (Q ${runQ ?? 'undefined'})`);
      for (const id of removed) if (!expectRemove.has(id)) fail(`run ${k}: unexpected removal of ${id.slice(0, 12)}`);
      for (const id of expectRemove) if (!world.failing.remove.has(id)) model.delete(id);
      // Restores: each one reported (or failed), a paused one unpaused.
      for (const id of expectRestore) {
        const entry = report.containers.find((c) => c.dockerId === id);
        if (entry?.action !== 'restored' && entry?.action !== 'failed') fail(`run ${k}: tracked ${id.slice(0, 12)} in quarantine not restored (${entry?.action ?? 'absent'})`);
        if (before.get(id)?.state === 'paused' && !world.calls.unpause.includes(id)) fail(`run ${k}: ${id.slice(0, 12)} restored without an unpause`);
      }
      for (const c of report.containers) if ((c.action === 'restored') !== expectRestore.has(c.dockerId) && c.action === 'restored') fail(`run ${k}: restored ${c.dockerId.slice(0, 12)} unexpectedly`);
      // Containers gone from the engine leave the model.
      for (const id of [...model.keys()]) if (!listed.some((b) => b.dockerId === id)) model.delete(id);

      // The control plane's records after this run, as host-reap.ts keeps them.
      if (Q !== undefined) world.records = recordQuarantine(world.records, report);
      const recorded = new Map(world.records.map((r) => [r.dockerId, Date.parse(r.since)]));
      for (const [id, since] of model) if (recorded.get(id) !== since) fail(`run ${k}: record of ${id.slice(0, 12)} is ${recorded.get(id)}, model says ${since}`);
      for (const id of recorded.keys()) if (!model.has(id)) fail(`run ${k}: stray record for ${id.slice(0, 12)}`);
      for (const r of world.records) if (world.byDockerId(r.dockerId)?.label !== r.clawboxId) fail(`record ${r.dockerId} names the wrong label value`);

      // History for (A): acting runs only (only they can start or end a quarantine).
      for (const b of listed) b.history.push({ snapshotMs: S, protected: prot.get(b.dockerId) === true, orphan: !prot.get(b.dockerId) && trulyOld(b), frozenAfter: b.state === 'paused' });
    }
    bump('runs');
  }
  bump('timelines');
  if (Q !== undefined && Q > 0) bump('timelinesWithQuarantine');
}

const timelineProperty = (decide: Decide, seen?: Record<string, number>) =>
  fc.asyncProperty(timelineArb, async (tl) => {
    routed.decide = decide === planQuarantine ? undefined : (decide as (...args: never[]) => unknown);
    await runTimeline(tl, seen);
  });

afterEach(() => {
  routed.decide = undefined;
});

describe('quarantine timelines (S11) through the real reap service', () => {
  it(`0 wrong deletions, and the S11 model holds, over ${NUM_RUNS} generated timelines`, async () => {
    const seen: Record<string, number> = {};
    await fc.assert(timelineProperty(planQuarantine, seen), { numRuns: NUM_RUNS });
    for (const key of ['timelinesWithQuarantine', 'actingRuns', 'cappedRuns', 'dryRuns', 'nowRuns', 'labelReused', 'quarantined', 'held', 'restored', 'removedAfterQuarantine', 'removedAtOnce', 'removedExactlyAtQ', 'heldOneMsShort']) {
      expect(seen[key] ?? 0, key).toBeGreaterThan(NUM_RUNS / 200);
    }
  });
});

/** Hand-made mutants of planQuarantine: each breaks one S11 rule; the property must reject each. */
const sameLabel = (plan: ReapPlan, records: readonly QuarantineRef[] | undefined): QuarantineRef[] =>
  (records ?? []).flatMap((r) => [...plan.orphans, ...plan.tracked].filter((c) => c.clawboxId === r.clawboxId).map((c) => ({ ...r, dockerId: c.dockerId })));

const MUTANTS: Record<string, Decide> = {
  'no quarantine: every orphan removed at once': (plan, records, q, at) => planQuarantine(plan, records, q === undefined ? q : 0, at),
  'due 1 ms early (>= Q − 1 ms)': (plan, records, q, at) => planQuarantine(plan, records, q, at + 1),
  'a record matches any container of its label value (ignores the Docker id)': (plan, records, q, at) => planQuarantine(plan, sameLabel(plan, records), q, at),
  'a tracked container in quarantine is not restored': (plan, records, q, at) => ({ ...planQuarantine(plan, records, q, at), restore: [] }),
  'a due record is removed even when tracked again': (plan, records, q, at) => {
    const out = planQuarantine(plan, records, q, at);
    const due = out.restore.filter((r) => q !== undefined && at - r.sinceMs >= q * 1000);
    return { ...out, restore: out.restore.filter((r) => !due.includes(r)), remove: [...out.remove, ...due] };
  },
  'quarantineSeconds undefined still honours records': (plan, records, q, at) => (q === undefined ? planQuarantine(plan, records, 600, at) : planQuarantine(plan, records, q, at)),
};

describe('quarantine timelines: the property catches hand-made mutants of planQuarantine', () => {
  for (const [name, mutant] of Object.entries(MUTANTS)) {
    it(`rejects: ${name}`, async () => {
      const result = await fc.check(timelineProperty(mutant), { numRuns: MUTANT_RUNS });
      expect(result.failed, name).toBe(true);
    });
  }
});

describe('quarantine records when their write fails (host-reap.ts recordQuarantine)', () => {
  // host-reap.ts keeps the records it had when the write fails ("the containers are quarantined
  // afresh next run"). That holds for a NEW record, but not for the DELETE of a restored one: the
  // container is running again, its old record survives, and the first run after it is untracked
  // removes it at once, with no new quarantine (it was never frozen again). Marked `fails` so
  // that it stays visible; it passes once a restored container can no longer be removed on a
  // record from before its restore.
  it('a restored container whose record delete failed is quarantined afresh, not removed (was a gap: removed at once)', async () => {
    const Q = 600;
    const world = new World();
    const service = createReapService({ docker: world.docker, concurrency: 1, logger: silentLogger(), now: () => world.now });
    const run = async (k: number, writeFails: boolean) => {
      world.calls = { remove: [], pause: [], unpause: [] };
      const S = world.now;
      const report = await service(
        {
          runId: `r${k}`,
          hostId: HOST,
          tracked: world.trackedRefs(Math.floor(S / 1000), 60),
          snapshotAt: iso(S),
          graceSeconds: 0,
          stopTimeoutSeconds: 0,
          maxReap: 100,
          dryRun: false,
          anchor: 'v1.0.0',
          quarantineSeconds: Q,
          quarantine: world.records,
        },
        { clockOffsetMs: 0, anchorMs: S, engineId: 'engine-q' },
      );
      // The write of this run's changes fails: the table keeps what it had (host-reap.ts catch).
      if (!writeFails) world.records = recordQuarantine(world.records, report);
      return report;
    };

    world.apply({ type: 'create', label: 'a', track: 'never', running: true });
    const box = world.boxes[0]!;
    world.now += 10_000;
    expect((await run(1, false)).containers[0]?.action).toBe('quarantined'); // paused, record since run 1
    expect(box.state).toBe('paused');
    world.apply({ type: 'track', label: 'a', docker: 'none', leaseSeconds: undefined });
    world.now += 60_000;
    expect((await run(2, true)).containers[0]?.action).toBe('restored'); // unpaused; the record delete fails
    expect(box.state).toBe('running');
    world.apply({ type: 'untrack', label: 'a' });
    world.now += Q * 1000 - 60_000; // Q after run 1, only 540 s after it was restored and running again
    await run(3, false);
    // S11: an orphan is first quarantined; this one has been running, untracked, for one run only.
    expect(world.calls.remove).toEqual([]);
    expect(box.alive).toBe(true);
  });
});
