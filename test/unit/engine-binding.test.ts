/**
 * Engine binding (S10) as properties: `bindEngines` over generated fleets of host records (pinned
 * or not; pins unique per engine, as the engines table's conditional put keeps them) and the
 * engines their agents reported in one run, against an oracle written from the rule:
 *  - a pinned host reporting its pinned engine is `bound`, another engine `engine_mismatch`;
 *  - an unpinned host reporting an engine pinned by another host (in the run or not, enabled or
 *    not), or claimed by another unpinned host of the same run, is `engine_claimed`;
 *  - otherwise it is to be pinned (`pin`).
 * And the safety invariant the rule exists for: no two hosts ever end up `bound`/`pin` on one engine.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bindEngines, type Binding, type HostPin } from '../../functions/reaper/engine-binding.js';

/** 10,000 in `npm test`; 100,000 under STRESS=1; SAFETY_PROPERTY_RUNS overrides both. */
const NUM_RUNS = Number(process.env.SAFETY_PROPERTY_RUNS ?? (process.env.STRESS === '1' ? 100_000 : 10_000));
const MUTANT_RUNS = 2_000;

type Bind = typeof bindEngines;

const ENGINES = ['e1', 'e2', 'e3', 'e4', 'e5', 'e6'];
const HOSTS = ['h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'h7', 'h8'];

interface Fleet {
  pins: HostPin[];
  reported: Map<string, string>;
}

const fleetArb: fc.Arbitrary<Fleet> = fc
  .record({
    hostCount: fc.integer({ min: 1, max: HOSTS.length }),
    /** Engines handed out to the pinned hosts in this order: pins are unique per engine. */
    engineOrder: fc.shuffledSubarray(ENGINES, { minLength: ENGINES.length, maxLength: ENGINES.length }),
    pinned: fc.array(fc.boolean(), { minLength: HOSTS.length, maxLength: HOSTS.length }),
    /** Hosts of this run (answered their identity call) and the engine each reported. */
    inRun: fc.array(fc.boolean(), { minLength: HOSTS.length, maxLength: HOSTS.length }),
    /** Per host: report its pinned engine (most often), or any engine. */
    reportsOwn: fc.array(fc.boolean(), { minLength: HOSTS.length, maxLength: HOSTS.length }),
    reportedEngine: fc.array(fc.constantFrom(...ENGINES), { minLength: HOSTS.length, maxLength: HOSTS.length }),
  })
  .map((g) => {
    const pins: HostPin[] = [];
    let next = 0;
    for (let i = 0; i < g.hostCount; i++) {
      const engineId = g.pinned[i] && next < g.engineOrder.length ? g.engineOrder[next++] : undefined;
      pins.push(engineId === undefined ? { hostId: HOSTS[i]! } : { hostId: HOSTS[i]!, engineId });
    }
    const reported = new Map<string, string>();
    pins.forEach((p, i) => {
      if (!g.inRun[i]) return;
      reported.set(p.hostId, g.reportsOwn[i] && p.engineId !== undefined ? p.engineId : g.reportedEngine[i]!);
    });
    return { pins, reported };
  });

/** The oracle, from the rule alone. */
function expected(fleet: Fleet, hostId: string, engineId: string): { kind: Binding['kind']; code?: string } {
  const mine = fleet.pins.find((p) => p.hostId === hostId)?.engineId;
  if (mine !== undefined) return mine === engineId ? { kind: 'bound' } : { kind: 'refused', code: 'engine_mismatch' };
  if (fleet.pins.some((p) => p.hostId !== hostId && p.engineId === engineId)) return { kind: 'refused', code: 'engine_claimed' };
  const rivals = [...fleet.reported].filter(([h, e]) => h !== hostId && e === engineId && fleet.pins.find((p) => p.hostId === h)?.engineId === undefined);
  if (rivals.length > 0) return { kind: 'refused', code: 'engine_claimed' };
  return { kind: 'pin' };
}

function bindingProperty(bind: Bind, seen?: Record<string, number>) {
  return fc.property(fleetArb, (fleet) => {
    const out = bind(fleet.pins, fleet.reported);
    if (out.size !== fleet.reported.size) throw new Error(`${out.size} bindings for ${fleet.reported.size} reporting hosts`);
    const owner = new Map<string, string>();
    for (const [hostId, engineId] of fleet.reported) {
      const got = out.get(hostId);
      if (got === undefined) throw new Error(`no binding for ${hostId}`);
      if (got.engineId !== engineId) throw new Error(`${hostId}: binding names ${got.engineId}, the agent reported ${engineId}`);
      const want = expected(fleet, hostId, engineId);
      const code = got.kind === 'refused' ? got.code : undefined;
      if (got.kind !== want.kind || code !== want.code) throw new Error(`${hostId} on ${engineId}: got ${got.kind}/${code ?? '-'}, want ${want.kind}/${want.code ?? '-'}`);
      if (got.kind === 'refused' && !got.message.includes(engineId)) throw new Error(`${hostId}: a refusal that does not name the engine`);
      if (seen) seen[code ?? got.kind] = (seen[code ?? got.kind] ?? 0) + 1;
      if (got.kind === 'refused') continue;
      // S10: one engine, one host. Pinned hosts not in the run still own their engine.
      const other = owner.get(engineId) ?? fleet.pins.find((p) => p.engineId === engineId && p.hostId !== hostId)?.hostId;
      if (other !== undefined) throw new Error(`${hostId} and ${other} both reap through engine ${engineId}`);
      owner.set(engineId, hostId);
    }
  });
}

describe('engine binding (S10)', () => {
  it(`binds each reporting host exactly as the rule says, and never two hosts to one engine (${NUM_RUNS} fleets)`, () => {
    const seen: Record<string, number> = {};
    fc.assert(bindingProperty(bindEngines, seen), { numRuns: NUM_RUNS });
    for (const outcome of ['bound', 'pin', 'engine_mismatch', 'engine_claimed']) expect(seen[outcome] ?? 0, outcome).toBeGreaterThan(NUM_RUNS / 10);
  });

  it('by hand: a claim by two unpinned hosts refuses both; a disabled host still owns its engine', () => {
    const out = bindEngines(
      [{ hostId: 'a' }, { hostId: 'b' }, { hostId: 'c' }, { hostId: 'off', engineId: 'e9' }],
      new Map([
        ['a', 'e1'],
        ['b', 'e1'],
        ['c', 'e9'],
      ]),
    );
    expect(out.get('a')).toMatchObject({ kind: 'refused', code: 'engine_claimed' });
    expect(out.get('b')).toMatchObject({ kind: 'refused', code: 'engine_claimed' });
    expect(out.get('c')).toMatchObject({ kind: 'refused', code: 'engine_claimed' });
    expect(out.has('off')).toBe(false);
  });
});

/** Hand-made mutants: the property must reject each. */
const MUTANTS: Record<string, Bind> = {
  'a pinned host is bound whatever it reports': (pins, reported) => {
    const out = bindEngines(pins, reported);
    for (const [h, b] of out) if (b.kind === 'refused' && b.code === 'engine_mismatch') out.set(h, { kind: 'bound', engineId: b.engineId });
    return out;
  },
  'pins of hosts outside the run are ignored': (pins, reported) => bindEngines(
    pins.filter((p) => reported.has(p.hostId)),
    reported,
  ),
  'the first unpinned claimant wins': (pins, reported) => {
    const out = bindEngines(pins, reported);
    const taken = new Set<string>();
    for (const [h, b] of out) {
      if (b.kind !== 'refused' || b.code !== 'engine_claimed' || pins.some((p) => p.engineId === b.engineId) || taken.has(b.engineId)) continue;
      taken.add(b.engineId);
      out.set(h, { kind: 'pin', engineId: b.engineId });
    }
    return out;
  },
  'rival unpinned claimants are all pinned': (pins, reported) => {
    const out = bindEngines(pins, reported);
    for (const [h, b] of out) if (b.kind === 'refused' && b.code === 'engine_claimed' && !pins.some((p) => p.engineId === b.engineId)) out.set(h, { kind: 'pin', engineId: b.engineId });
    return out;
  },
};

describe('engine binding: the property catches hand-made mutants', () => {
  for (const [name, mutant] of Object.entries(MUTANTS)) {
    it(`rejects: ${name}`, () => {
      expect(fc.check(bindingProperty(mutant), { numRuns: MUTANT_RUNS }).failed, name).toBe(true);
    });
  }
});
