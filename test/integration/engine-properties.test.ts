/**
 * The safety property on real engines through the real agent over HTTP, on a private Docker
 * engine and a private Podman service side by side (same seed, same rounds): rounds of random
 * containers (created / exited / a few running; labelled with duplicate values, unlabelled, under a
 * foreign label, with label values the registry could never hold) and random tracked sets (by label
 * value, by full or 12-digit dockerId, by a dockerId of another container), some created after the
 * snapshot. After each reap the engine's real state must be exactly the state before minus the
 * untracked labelled containers that were old enough — nothing else gone, nothing else changed.
 *
 * `npm test` runs a representative slice (3 rounds x 30 containers); STRESS=1 runs 20 x 50.
 * ENGINE_PROPERTY_SEED=<n> replays a failing run (the seed is in every failure message).
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import type { AnchorOptional } from '../../lib/agent-client.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReapRequest, TrackedRef } from '../../lib/agent-contract.js';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { LABEL, makeContainers, type Kind, type MakeOptions } from '../helpers/containers.js';
import type { Engine } from '../helpers/engine.js';
import { TEST_ENGINES, type EngineKind } from '../helpers/podman.js';

const STRESS = process.env.STRESS === '1';
const ROUNDS = STRESS ? 20 : 3;
const PER_ROUND = STRESS ? 50 : 30;
const SEED = Number(process.env.ENGINE_PROPERTY_SEED ?? Date.now() % 2 ** 31);
const RUN_LABEL = `engine-prop-${randomUUID().slice(0, 8)}`;
const FOREIGN_LABEL = 'other.container_id';

type LabelKind = 'pool' | 'weird' | 'unlabelled' | 'foreign';
interface Spec {
  kind: Kind;
  labelKind: LabelKind;
  value: number;
  young: boolean;
}
type TrackChoice = 'none' | 'id' | 'full' | 'prefix' | 'other-docker';
type Mode = 'reap' | 'dry-run' | 'capped';

const specArb: fc.Arbitrary<Spec> = fc.record({
  // Creation with start is ~30x slower than without: mostly created-not-started or exited.
  kind: fc.oneof({ weight: 14, arbitrary: fc.constant<Kind>('created') }, { weight: 4, arbitrary: fc.constant<Kind>('exited') }, { weight: 1, arbitrary: fc.constant<Kind>('running') }),
  labelKind: fc.oneof(
    { weight: 14, arbitrary: fc.constant<LabelKind>('pool') },
    { weight: 2, arbitrary: fc.constant<LabelKind>('weird') },
    { weight: 2, arbitrary: fc.constant<LabelKind>('unlabelled') },
    { weight: 2, arbitrary: fc.constant<LabelKind>('foreign') },
  ),
  // A small pool of values: duplicates are common.
  value: fc.integer({ min: 0, max: 11 }),
  young: fc.boolean().chain((b) => (b ? fc.boolean() : fc.constant(false))).chain((b) => (b ? fc.boolean() : fc.constant(false))),
});

const roundArb = fc.record({
  specs: fc.array(specArb, { minLength: PER_ROUND, maxLength: PER_ROUND }),
  /** Per label value of the pool: how the tracked set names it. */
  tracking: fc.array(fc.constantFrom<TrackChoice>('none', 'none', 'id', 'full', 'prefix', 'other-docker'), { minLength: 12, maxLength: 12 }),
  /** Which container of a value a dockerId-tracking names. */
  pick: fc.array(fc.nat(), { minLength: 12, maxLength: 12 }),
  /** Tracked ids with no container at all. */
  ghosts: fc.integer({ min: 0, max: 5 }),
  mode: fc.oneof({ weight: 8, arbitrary: fc.constant<Mode>('reap') }, { weight: 1, arbitrary: fc.constant<Mode>('dry-run') }, { weight: 1, arbitrary: fc.constant<Mode>('capped') }),
});

interface Made {
  id: string;
  spec: Spec;
  labels: Record<string, string>;
}

function labelsOf(spec: Spec, tag: string): MakeOptions {
  switch (spec.labelKind) {
    case 'pool':
      return { clawboxId: `${tag}-v${spec.value}` };
    case 'weird':
      // Valid Docker label values the registry's id pattern refuses: never trackable, still reapable.
      return { clawboxId: [`${tag}/../v${spec.value}`, `${tag}-ä${spec.value}`, ` ${tag} ${spec.value}`][spec.value % 3] };
    case 'foreign':
      return { clawboxId: `${tag}-v${spec.value}`, label: FOREIGN_LABEL };
    case 'unlabelled':
      return { clawboxId: undefined };
  }
}


// The same rounds (same seed) on both engines, side by side: the file's time is the slower engine's.
for (const [kind, start] of TEST_ENGINES) {
  describe.concurrent(kind, () => {
    describe.sequential(`engine properties on ${kind}`, () => propertySuite(kind, start));
  });
}

function propertySuite(kind: EngineKind, start: () => Promise<Engine>): void {
  let engine: Engine;
  let agent: TestAgent;
  const totals = { rounds: 0, containers: 0, removed: 0, kept: 0, wrongDeletions: 0 };

  beforeAll(async () => {
    engine = await start();
    agent = await startTestAgent({ dockerHost: engine.dockerHost, hostId: `prop-${kind}`, concurrency: 8 });
  });

  afterAll(async () => {
    await agent?.close();
    await engine?.stop();
    process.stderr.write(`engine-properties (${kind}): seed ${SEED}, ${JSON.stringify(totals)}\n`);
  });

  async function create(specs: Spec[], tag: string): Promise<Made[]> {
    const options = specs.map((spec) => ({ ...labelsOf(spec, tag), kind: spec.kind, runLabel: RUN_LABEL }));
    const made = await makeContainers(engine.docker, options, 8);
    return made.map((m, i) => {
      const o = options[i]!;
      const labels: Record<string, string> = {};
      if (o.clawboxId !== undefined) labels[o.label ?? LABEL] = o.clawboxId;
      return { id: m.id, spec: specs[i]!, labels };
    });
  }

  /** Every container on the engine (all of them were made by this file): id → state. */
  async function engineState(): Promise<Map<string, string>> {
    const all = await engine.docker.listContainers({ all: true });
    return new Map(all.map((c) => [c.Id, c.State]));
  }

  describe(`${kind}: real engine, real agent: ${ROUNDS} rounds x ${PER_ROUND} random containers (seed ${SEED})`, () => {
    it.each(Array.from({ length: ROUNDS }, (_, i) => i))('round %i removes exactly the untracked old labelled containers', async (round) => {
      const [r] = fc.sample(roundArb, { numRuns: 1, seed: SEED + round });
      if (!r) throw new Error('no sample');
      const where = `seed ${SEED} round ${round}`;
      const tag = `r${round}-${randomUUID().slice(0, 6)}`;
      const madeIds: string[] = [];
      try {
        const old = await create(r.specs.filter((s) => !s.young), tag);
        madeIds.push(...old.map((m) => m.id));
        // Old enough for a grace of 0: Docker's whole-second Created plus the agent's 1 s allowance.
        await sleep(2_100);
        const snapshotAtMs = Date.now();
        const young = await create(r.specs.filter((s) => s.young), tag);
        madeIds.push(...young.map((m) => m.id));
        const all = [...old, ...young];

        // The tracked set: per pool value, by id, by one container's full or 12-digit id, or by a
        // dockerId that is none of them (so every container with that value is a duplicate).
        const tracked: TrackedRef[] = [];
        for (let v = 0; v < 12; v++) {
          const value = `${tag}-v${v}`;
          const holders = all.filter((m) => m.labels[LABEL] === value);
          const target = holders.length ? holders[r.pick[v]! % holders.length]! : undefined;
          const choice = r.tracking[v]!;
          if (choice === 'id') tracked.push({ id: value });
          else if (choice === 'full' && target) tracked.push({ id: value, dockerId: target.id });
          else if (choice === 'prefix' && target) tracked.push({ id: value, dockerId: target.id.slice(0, 12) });
          else if (choice === 'other-docker') tracked.push({ id: value, dockerId: 'f'.repeat(12) + '0'.repeat(52) });
        }
        for (let g = 0; g < r.ghosts; g++) tracked.push({ id: `${tag}-ghost-${g}` });

        // The oracle, from the rules: carries the label, not protected by any ref, created before the snapshot.
        const protectedBy = (m: Made) => {
          const value = m.labels[LABEL];
          return tracked.some((t) => t.id === value && (t.dockerId === undefined || m.id.startsWith(t.dockerId)));
        };
        const labelled = all.filter((m) => m.labels[LABEL] !== undefined);
        const expectedOrphans = labelled.filter((m) => !protectedBy(m) && !m.spec.young);
        const expectedYoung = labelled.filter((m) => !protectedBy(m) && m.spec.young);
        const mode: Mode = r.mode === 'capped' && expectedOrphans.length === 0 ? 'reap' : r.mode;

        const before = await engineState();
        const request: AnchorOptional<ReapRequest> = {
          runId: randomUUID(),
          hostId: agent.hostId,
          tracked,
          snapshotAt: new Date(snapshotAtMs).toISOString(),
          graceSeconds: 0,
          // Busybox sleep ignores SIGTERM: every other round kills at once, the others go through
          // the signal-and-wait path (a 1 s wait).
          stopTimeoutSeconds: round % 2,
          maxReap: mode === 'capped' ? expectedOrphans.length - 1 : r.mode === 'reap' && round % 2 ? null : PER_ROUND,
          dryRun: mode === 'dry-run',
        };
        const report = await agent.client.reap(request);
        const after = await engineState();

        // The engine's real state: exactly the expected orphans gone (when acting), the rest as they were.
        const gone = new Set(mode === 'reap' ? expectedOrphans.map((m) => m.id) : []);
        for (const [id, state] of before) {
          const m = all.find((x) => x.id === id);
          const what = `${where}: ${id.slice(0, 12)} ${JSON.stringify(m?.labels)} ${m?.spec.kind}${m?.spec.young ? ' young' : ''}`;
          if (gone.has(id)) expect(after.has(id), `${what} should be removed`).toBe(false);
          else {
            if (!after.has(id)) totals.wrongDeletions++;
            expect(after.get(id), `${what} should be untouched`).toBe(state);
          }
        }
        expect([...after.keys()].filter((id) => !before.has(id)), `${where}: nothing new`).toEqual([]);

        // The report agrees with the engine.
        const expectedStatus = { reap: 'ok', 'dry-run': 'dry-run', capped: 'capped' }[mode];
        expect(report.status, where).toBe(expectedStatus);
        expect(report.counts, where).toEqual({
          labelled: labelled.length,
          tracked: labelled.length - expectedOrphans.length - expectedYoung.length,
          orphans: expectedOrphans.length,
          young: expectedYoung.length,
          stopped: mode === 'reap' ? expectedOrphans.filter((m) => m.spec.kind === 'running').length : 0,
          removed: mode === 'reap' ? expectedOrphans.length : 0,
          vanished: 0,
          failed: 0,
        });
        const actions = new Map(report.containers.map((c) => [c.dockerId, c.action]));
        for (const m of expectedOrphans) expect(actions.get(m.id), where).toBe(mode === 'reap' ? 'removed' : 'would-remove');
        for (const m of expectedYoung) expect(actions.get(m.id), where).toBe('skipped-young');
        expect(report.containers.length, where).toBe(expectedOrphans.length + expectedYoung.length);

        totals.rounds++;
        totals.containers += all.length;
        totals.removed += gone.size;
        totals.kept += all.length - gone.size;
      } finally {
        // Only what this round made; every one of them, whatever happened.
        await Promise.all(madeIds.map((id) => engine.docker.getContainer(id).remove({ force: true, v: true }).catch(() => undefined)));
      }
    });
  });
}
