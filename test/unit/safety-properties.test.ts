/**
 * "It cannot kill the wrong container", as a property over generated fleets: the lease rule of the
 * registry read COMBINED with the agent's orphan decision.
 *
 * Each case builds the tracked refs exactly as the reaper does — `store.tracked.readTracked(hostId,
 * floor(snapshotAt / 1000))` over the generated items, split into several Query pages — and then
 * runs the agent's `cutoffMs` + `planReap` with the clock offset the agent would observe. The lease
 * filter is not a pure exported function (it lives inside readTracked), so the smallest real path
 * is the store itself over a DynamoDBDocumentClient whose `send` answers the Query pages; only the
 * DynamoDB wire is faked.
 *
 * The oracle is written here, from the rules, on the TRUE timeline (not on any clock):
 *  - a container is protected when a tracked item with its label value, whose lease (if any) has
 *    not passed at the snapshot (a lease protects through its whole expiry second), names either no
 *    dockerId or this container's id (full, or a prefix as Docker abbreviates ids);
 *  - never selected: protected, or created at/after `snapshot - grace` on the true timeline. Only
 *    the command's transit time may be added to that bound when the clocks disagree: an agent
 *    cannot tell network delay from clock skew. With no skew the bound is exact;
 *  - always selected: unprotected and created more than grace + 2 s (the two whole-second
 *    truncations) + however far the agent's clock runs ahead, before the snapshot;
 *  - unlabelled containers never reach the plan (the daemon filters on the label), by construction.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { AnchorError, issueAnchor, MAX_ANCHOR_AGE_MS, verifyAnchor } from '../../agent/anchor.js';
import { cutoffMs, planReap, type LabelledContainer } from '../../agent/orphans.js';
import { anchoredCutoffMs } from '../../agent/reap-service.js';
import { createTrackedStore } from '../../functions/store/tracked.js';
import { MAX_CLOCK_SKEW_SECONDS } from '../../lib/signing.js';

/** 10,000 in `npm test`; 100,000 under STRESS=1; SAFETY_PROPERTY_RUNS overrides both. */
const NUM_RUNS = Number(process.env.SAFETY_PROPERTY_RUNS ?? (process.env.STRESS === '1' ? 100_000 : 10_000));
const T0 = Date.parse('2026-11-27T12:00:00.000Z');
const HOST = 'prop-host';

/** Valid clawbox ids (trackable) and label values the registry could never hold (untrackable). */
const TRACKABLE = ['a', 'b', 'c', 'd', 'job-1', 'x:y@z'];
const UNTRACKABLE = ['../etc', 'ä', ' a', 'a b', '-lead', 'α/β', ''];

const hexDigit = fc.constantFrom(...'0123456789abcdef');
const hexString = (n: number) => fc.array(hexDigit, { minLength: n, maxLength: n }).map((a) => a.join(''));
/** A few shared 12-digit prefixes, so abbreviated dockerIds can match more than one container. */
const PREFIXES = ['0123456789ab', 'fedcba987654', 'aaaaaaaaaaaa'];
const dockerIdArb = fc.oneof(hexString(64), fc.tuple(fc.constantFrom(...PREFIXES), hexString(52)).map(([p, s]) => p + s));

interface EngineContainer {
  /** undefined: unlabelled. */
  label: string | undefined;
  dockerId: string;
  state: string;
  /** ms relative to `snapshot - grace` on the true timeline (negative: older). */
  createdDelta: number;
}

const containerArb = fc.record({
  label: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...TRACKABLE) },
    { weight: 1, arbitrary: fc.constantFrom(...UNTRACKABLE) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  ),
  dockerId: dockerIdArb,
  state: fc.constantFrom('running', 'created', 'exited', 'paused', 'restarting', 'dead', 'removing'),
  createdDelta: fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: -5_000, max: 5_000 }) },
    { weight: 2, arbitrary: fc.integer({ min: -320_000, max: -2_000 }) },
    { weight: 1, arbitrary: fc.integer({ min: -86_400_000, max: -320_000 }) },
    // Created after the snapshot (young whatever the grace).
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 400_000 }) },
  ),
});

interface ItemSpec {
  /** Index into the fleet (its label), or a trackable id. */
  target: number;
  idFromTarget: boolean;
  id: string;
  docker: 'none' | 'full' | 'prefix' | 'other';
  prefixLength: number;
  otherDockerId: string;
  lease: 'none' | 'edge' | 'far-past' | 'far-future';
  /** Seconds from the snapshot's second. */
  leaseEdge: number;
}

const itemArb: fc.Arbitrary<ItemSpec> = fc.record({
  target: fc.nat(),
  idFromTarget: fc.boolean(),
  id: fc.constantFrom(...TRACKABLE),
  docker: fc.constantFrom('none', 'full', 'prefix', 'other'),
  prefixLength: fc.integer({ min: 12, max: 63 }),
  otherDockerId: dockerIdArb,
  lease: fc.constantFrom('none', 'edge', 'edge', 'far-past', 'far-future'),
  leaseEdge: fc.integer({ min: -3, max: 3 }),
});

const fleetArb = fc.record({
  containers: fc.array(containerArb, { maxLength: 30 }),
  items: fc.array(itemArb, { maxLength: 15 }),
  graceSeconds: fc.oneof(fc.constantFrom(0, 1, 2, 120), fc.integer({ min: 0, max: 600 })),
  /** The true snapshot instant, ms. */
  snapshotJitter: fc.integer({ min: 0, max: 10_000 }),
  /** Control plane and agent clocks minus true time, ms. */
  controlSkew: fc.integer({ min: -300_000, max: 300_000 }),
  agentSkewVsControl: fc.oneof(fc.constant(0), fc.integer({ min: -299_000, max: 299_000 })),
  /** Snapshot → signing (the registry read), and signing → the agent's receipt (transit). */
  readMs: fc.integer({ min: 0, max: 5_000 }),
  transitMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2_000 })),
  pageSize: fc.integer({ min: 1, max: 6 }),
});

interface RawItem {
  containerId: string;
  dockerId?: string;
  leaseExpiresAt?: number;
}

/** The Query pages the fake wire answers with: the current case's items, `pageSize` per page. */
const wire = { items: [] as RawItem[], pageSize: 1 };
const pagedDoc = (() => {
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } }));
  const send = async (command: { input: { ExclusiveStartKey?: { index: number }; ConsistentRead?: boolean } }) => {
    // The reaper's read must be consistent (S5 / track-before-create).
    if (command.input.ConsistentRead !== true) throw new Error('readTracked must read with ConsistentRead');
    const start = command.input.ExclusiveStartKey?.index ?? 0;
    const end = start + wire.pageSize;
    return { Items: wire.items.slice(start, end), ...(end < wire.items.length ? { LastEvaluatedKey: { index: end } } : {}) };
  };
  (doc as unknown as { send: typeof send }).send = send;
  return doc;
})();
const store = createTrackedStore(pagedDoc, 'tracked');

/** Reads the items the way the reaper does (host-reap.ts): all pages, leases judged at the snapshot's second. */
function readAsReaper(items: RawItem[], pageSize: number, snapshotSecond: number, leaseSkewSeconds?: number) {
  wire.items = items;
  wire.pageSize = pageSize;
  return store.readTracked(HOST, snapshotSecond, leaseSkewSeconds === undefined ? {} : { leaseSkewSeconds });
}

/** A failed check, with the case's story (cheaper than expect() in the hot loop). */
function check(ok: boolean, message: string): void {
  if (!ok) throw new Error(message);
}

function buildItem(spec: ItemSpec, fleet: EngineContainer[], snapshotSecond: number): RawItem {
  const target = fleet.length > 0 ? fleet[spec.target % fleet.length] : undefined;
  const targetId = target?.label !== undefined && TRACKABLE.includes(target.label) ? target.label : undefined;
  const item: RawItem = { containerId: spec.idFromTarget && targetId !== undefined ? targetId : spec.id };
  if (spec.docker === 'full' && target) item.dockerId = target.dockerId;
  else if (spec.docker === 'prefix' && target) item.dockerId = target.dockerId.slice(0, spec.prefixLength);
  else if (spec.docker === 'other') item.dockerId = spec.otherDockerId;
  if (spec.lease === 'edge') item.leaseExpiresAt = snapshotSecond + spec.leaseEdge;
  else if (spec.lease === 'far-past') item.leaseExpiresAt = snapshotSecond - 86_400;
  else if (spec.lease === 'far-future') item.leaseExpiresAt = snapshotSecond + 86_400;
  return item;
}

describe('safety: lease rule + orphan decision over generated fleets', () => {
  it(`never selects a protected, young or unlabelled container, and always selects the clear orphans (${NUM_RUNS} fleets)`, async () => {
    const seen = { cases: 0, containers: 0, selected: 0, protectedKept: 0, expiredLeaseSelected: 0, youngKept: 0, skewed: 0 };
    await fc.assert(
      fc.asyncProperty(fleetArb, async (f) => {
        const S = T0 + f.snapshotJitter;
        const cp = f.controlSkew;
        const ag = cp + f.agentSkewVsControl;
        const G = f.graceSeconds * 1000;

        // The control plane: snapshot first (its clock), then the registry read.
        const snapshotAtMs = S + cp;
        const snapshotSecond = Math.floor(snapshotAtMs / 1000);
        const fleet: EngineContainer[] = f.containers;
        const items = f.items.map((spec) => buildItem(spec, fleet, snapshotSecond));
        const { refs, expired } = await readAsReaper(items, f.pageSize, snapshotSecond);

        // The signed command leaves after the read and reaches the agent after its transit.
        const timestamp = Math.floor((S + f.readMs + cp) / 1000);
        const agentNow = S + f.readMs + f.transitMs + ag;
        const clockOffsetMs = agentNow - timestamp * 1000;
        // The agent refuses anything further away than this (auth.ts); such a command never plans.
        fc.pre(Math.abs(clockOffsetMs) <= MAX_CLOCK_SKEW_SECONDS * 1000);

        // The agent: Docker's own Created, on the host's clock, in whole seconds; only labelled ones.
        const trueCreated = (c: EngineContainer) => S - G + c.createdDelta;
        const inventory: (LabelledContainer & { source: EngineContainer })[] = fleet
          .filter((c) => c.label !== undefined)
          .map((c) => ({
            clawboxId: c.label as string,
            dockerId: c.dockerId,
            state: c.state,
            createdSeconds: Math.floor((trueCreated(c) + ag) / 1000),
            name: 'n',
            image: 'i',
            source: c,
          }));
        const plan = planReap(inventory, refs, cutoffMs(Date.parse(new Date(snapshotAtMs).toISOString()), f.graceSeconds, clockOffsetMs));

        // ---- the oracle ----
        const leaseLive = (item: RawItem) => item.leaseExpiresAt === undefined || snapshotSecond <= item.leaseExpiresAt;
        const protects = (item: RawItem, c: EngineContainer) =>
          leaseLive(item) && item.containerId === c.label && (item.dockerId === undefined || c.dockerId.slice(0, item.dockerId.length) === item.dockerId);
        const isProtected = (c: EngineContainer) => items.some((item) => protects(item, c));
        const skewed = ag !== cp;
        const youngBound = S - G + (skewed ? f.transitMs : 0);
        const clearlyOld = (c: EngineContainer) => trueCreated(c) <= S - G - 2_000 - Math.max(0, ag - cp);

        check(expired === items.filter((i) => !leaseLive(i)).length, `expired count ${expired}`);
        const orphans = new Set(plan.orphans);
        const trackedBucket = new Set(plan.tracked);
        check(plan.orphans.length + plan.tracked.length + plan.young.length === inventory.length, 'every labelled container in exactly one bucket');
        for (const c of inventory) {
          const selected = orphans.has(c);
          const prot = isProtected(c.source);
          if (selected) {
            check(!prot, `selected a protected container ${c.clawboxId}/${c.dockerId}`);
            check(trueCreated(c.source) < youngBound, `selected a young container ${c.clawboxId}: created ${trueCreated(c.source) - youngBound} ms after the bound`);
            seen.selected++;
          }
          // The tracked bucket is exactly the protected set (a lapsed lease protects nothing).
          check(trackedBucket.has(c) === prot, `tracked bucket for ${c.clawboxId}/${c.dockerId}: expected ${prot}`);
          if (!prot && clearlyOld(c.source)) check(selected, `missed a clear orphan ${c.clawboxId}/${c.dockerId}`);
          if (prot) seen.protectedKept++;
          if (selected && items.some((i) => i.containerId === c.clawboxId && !leaseLive(i))) seen.expiredLeaseSelected++;
          if (!selected && !prot) seen.youngKept++;
        }
        // Unlabelled containers are never in the plan at all.
        for (const c of [...plan.orphans, ...plan.tracked, ...plan.young]) check(typeof c.clawboxId === 'string', 'an unlabelled container reached the plan');
        seen.cases++;
        seen.containers += fleet.length;
        if (skewed) seen.skewed++;
      }),
      { numRuns: NUM_RUNS },
    );
    // The generator must actually reach every branch, or the property proves little.
    expect(seen.cases).toBeGreaterThan(NUM_RUNS * 0.9);
    for (const [name, count] of Object.entries(seen)) expect(count, name).toBeGreaterThan(NUM_RUNS / 20);
  });

  it('the lease edge: an item protects through its whole expiry second and not a millisecond after', async () => {
    const fleet: EngineContainer[] = [{ label: 'a', dockerId: 'a'.repeat(64), state: 'running', createdDelta: -60_000 }];
    const at = async (snapshotAtMs: number, leaseExpiresAt: number) => {
      const { refs } = await readAsReaper([{ containerId: 'a', leaseExpiresAt }], 1, Math.floor(snapshotAtMs / 1000));
      const inventory = fleet.map((c) => ({ clawboxId: 'a', dockerId: c.dockerId, state: c.state, createdSeconds: Math.floor((snapshotAtMs - 60_000) / 1000), name: 'n', image: 'i' }));
      return planReap(inventory, refs, cutoffMs(snapshotAtMs, 0, 0)).orphans.length;
    };
    const lease = Math.floor(T0 / 1000);
    expect(await at(lease * 1000, lease)).toBe(0);
    expect(await at(lease * 1000 + 999, lease)).toBe(0);
    expect(await at(lease * 1000 + 1000, lease)).toBe(1);
  });
});

/**
 * The same safety property for the anchored protocol (S2, S12): the registry read with the lease
 * allowance (REAPER_LEASE_SKEW_SECONDS), and the agent's cutoff as the reap service computes it
 * (`anchoredCutoffMs` with the snapshot bound) from an anchor the agent issued before the
 * snapshot. The agent's clock lags true time by anything in ±600 s, the command may take up to the
 * anchor's 10 min age bound to arrive (verified with the real verifyAnchor), and none of it may
 * make a protected or post-snapshot container an orphan. The oracle is on the true timeline again.
 */
const KEY = randomBytes(32);
const anchoredFleetArb = fc.record({
  containers: fc.array(containerArb, { maxLength: 30 }),
  items: fc.array(itemArb, { maxLength: 15 }),
  graceSeconds: fc.oneof(fc.constantFrom(0, 1, 2, 120), fc.integer({ min: 0, max: 600 })),
  leaseSkewSeconds: fc.constantFrom(0, 1, 60),
  snapshotJitter: fc.integer({ min: 0, max: 10_000 }),
  /** The agent's clock minus true time, ms (the control plane's clock is true here). */
  agentLagMs: fc.oneof(fc.constantFrom(0, -150_000, 150_000), fc.integer({ min: -600_000, max: 600_000 })),
  /** Identity round trip before the snapshot; registry read; command delivery. */
  identityMs: fc.integer({ min: 0, max: 5_000 }),
  readMs: fc.integer({ min: 0, max: 5_000 }),
  deliveryMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: MAX_ANCHOR_AGE_MS })),
  pageSize: fc.integer({ min: 1, max: 6 }),
});

describe('safety: lease allowance + anchored cutoff over generated fleets', () => {
  it(`never selects a protected or post-snapshot container, whatever the agent clock and delivery delay (${NUM_RUNS} fleets)`, async () => {
    const seen = { cases: 0, selected: 0, protectedBySkewOnly: 0, postSnapshotKept: 0, bigLag: 0, lateDelivery: 0 };
    await fc.assert(
      fc.asyncProperty(anchoredFleetArb, async (f) => {
        const S = T0 + f.snapshotJitter;
        const G = f.graceSeconds * 1000;
        const agentClock = (trueMs: number) => trueMs - f.agentLagMs;
        // Identity (the anchor) first, then the snapshot, then the registry read, then the command.
        const tIssue = S - f.identityMs;
        const snapshotSecond = Math.floor(S / 1000);
        const items = f.items.map((spec) => buildItem(spec, f.containers, snapshotSecond));
        const { refs } = await readAsReaper(items, f.pageSize, snapshotSecond, f.leaseSkewSeconds);
        const tSign = S + f.readMs;
        const tArrive = tSign + f.deliveryMs;
        let anchorMs: number;
        try {
          anchorMs = verifyAnchor(KEY, issueAnchor(KEY, agentClock(tIssue), tIssue), agentClock(tArrive), tArrive);
        } catch (error) {
          if (error instanceof AnchorError && error.code === 'anchor_expired') return;
          throw error;
        }
        const clockOffsetMs = agentClock(tArrive) - Math.floor(tSign / 1000) * 1000;

        const trueCreated = (c: EngineContainer) => S - G + c.createdDelta;
        const inventory = f.containers
          .filter((c) => c.label !== undefined && trueCreated(c) <= tArrive)
          .map((c) => ({ clawboxId: c.label as string, dockerId: c.dockerId, state: c.state, createdSeconds: Math.floor(agentClock(trueCreated(c)) / 1000), name: 'n', image: 'i', source: c }));
        const plan = planReap(inventory, refs, anchoredCutoffMs(anchorMs, f.graceSeconds, { snapshotAtMs: S, clockOffsetMs }));

        // ---- the oracle (true timeline; the lease allowance as S12 states it) ----
        const leaseLive = (item: RawItem, skew: number) => item.leaseExpiresAt === undefined || snapshotSecond <= item.leaseExpiresAt + skew;
        const matches = (item: RawItem, c: EngineContainer) => item.containerId === c.label && (item.dockerId === undefined || c.dockerId.startsWith(item.dockerId));
        const isProtected = (c: EngineContainer) => items.some((item) => leaseLive(item, f.leaseSkewSeconds) && matches(item, c));
        const orphans = new Set(plan.orphans);
        for (const c of inventory) {
          const prot = isProtected(c.source);
          if (orphans.has(c)) {
            check(!prot, `selected a protected container ${c.clawboxId}/${c.dockerId}`);
            check(trueCreated(c.source) <= S - G, `selected ${c.clawboxId} created ${trueCreated(c.source) - (S - G)} ms after snapshot − grace (lag ${f.agentLagMs}, delivery ${f.deliveryMs})`);
            seen.selected++;
          }
          check(plan.tracked.includes(c) === prot, `tracked bucket for ${c.clawboxId}/${c.dockerId}: expected ${prot}`);
          // Liveness: the anchor costs at most the identity round trip; an agent clock ahead widens the grace by its lead.
          const mustBeOld = Math.min(tIssue - G - 1_000, S - G - 2_000 + Math.min(0, f.agentLagMs));
          if (!prot && trueCreated(c.source) <= mustBeOld) check(orphans.has(c), `missed a clear orphan ${c.clawboxId}/${c.dockerId}`);
          if (prot && !items.some((item) => leaseLive(item, 0) && matches(item, c.source))) seen.protectedBySkewOnly++;
          if (trueCreated(c.source) > S && !orphans.has(c)) seen.postSnapshotKept++;
        }
        seen.cases++;
        if (Math.abs(f.agentLagMs) >= 300_000) seen.bigLag++;
        if (f.deliveryMs >= 300_000) seen.lateDelivery++;
      }),
      { numRuns: NUM_RUNS },
    );
    for (const [name, count] of Object.entries(seen)) expect(count, name).toBeGreaterThan(NUM_RUNS / 50);
  });
});
