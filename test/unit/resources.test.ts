/**
 * The network and volume decisions (agent/resources.ts), pure: examples of each rule, and the
 * property that nothing tracked, young, of unknown age or in use is ever removable.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planResources, usageOf, type ContainerUse, type LabelledResource } from '../../agent/resources.js';

const NOW = Date.parse('2026-03-10T12:34:56Z');

describe('resource decisions', () => {
  const cutoff = NOW;
  const old = NOW - 10_000;
  const r = (name: string, clawboxId: string, createdMs: number | undefined, kind: LabelledResource['kind'] = 'volume'): LabelledResource => ({ kind, name, clawboxId, createdMs, ...(kind === 'network' ? { id: `id-${name}` } : {}) });

  it('tracked, young (or of unknown age), in use, or removable: exactly the rules', () => {
    const usage = usageOf([
      { dockerId: 'a', networks: ['id-n-used'], volumes: ['v-used'] },
      { dockerId: 'leaving', networks: [], volumes: ['v-of-leaving'] },
    ], new Set(['leaving']));
    const plan = planResources(
      [r('v-tracked', 'kept', old), r('v-young', 'x', NOW + 500), r('v-unknown', 'x', undefined), r('v-used', 'x', old), r('n-used', 'x', old, 'network'), r('v-of-leaving', 'x', old), r('v-free', 'x', old)],
      [{ id: 'kept' }],
      cutoff,
      usage,
    );
    expect(plan.tracked.map((x) => x.name)).toEqual(['v-tracked']);
    expect(plan.young.map((x) => x.name)).toEqual(['v-young', 'v-unknown']);
    expect(plan.inUse.map((x) => x.name)).toEqual(['v-used', 'n-used']);
    expect(plan.candidates.map((x) => x.name)).toEqual(['v-of-leaving', 'v-free']);
  });

  it('a container whose listing does not say what it uses makes that kind\'s usage unknown: nothing of it is removable', () => {
    const usage = usageOf([{ dockerId: 'a', networks: [], volumes: null }]);
    const plan = planResources([r('v', 'x', old), r('n', 'x', old, 'network')], [], cutoff, usage);
    expect(plan.inUse.map((x) => x.name)).toEqual(['v']);
    expect(plan.candidates.map((x) => x.name)).toEqual(['n']);
  });
});

describe('property: never a tracked, young, unknown-age or used resource', () => {
  it('holds for any resources, tracked set and container uses', () => {
    const name = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f');
    const resource = fc.record({
      kind: fc.constantFrom('network' as const, 'volume' as const),
      name,
      id: fc.option(name, { nil: undefined }),
      clawboxId: fc.constantFrom('x', 'y', 'z'),
      createdMs: fc.option(fc.integer({ min: NOW - 10_000, max: NOW + 10_000 }), { nil: undefined }),
    });
    const use = fc.record({
      dockerId: fc.constantFrom('c1', 'c2', 'c3'),
      networks: fc.option(fc.array(name, { maxLength: 3 }), { nil: null }),
      volumes: fc.option(fc.array(name, { maxLength: 3 }), { nil: null }),
    });
    fc.assert(
      fc.property(fc.array(resource, { maxLength: 12 }), fc.subarray(['x', 'y', 'z']), fc.array(use, { maxLength: 5 }), fc.subarray(['c1', 'c2', 'c3']), (resources, tracked, uses: ContainerUse[], leaving) => {
        const plan = planResources(resources as LabelledResource[], tracked.map((id) => ({ id })), NOW, usageOf(uses, new Set(leaving)));
        expect(plan.tracked.length + plan.young.length + plan.inUse.length + plan.candidates.length).toBe(resources.length);
        for (const r of plan.candidates) {
          expect(tracked).not.toContain(r.clawboxId);
          expect(r.createdMs).toBeDefined();
          expect(Math.floor(r.createdMs! / 1000) * 1000 + 1000).toBeLessThanOrEqual(NOW);
          for (const u of uses.filter((x) => !leaving.includes(x.dockerId))) {
            const names = r.kind === 'network' ? u.networks : u.volumes;
            expect(names).not.toBeNull();
            expect(names).not.toContain(r.name);
            if (r.id !== undefined) expect(names).not.toContain(r.id);
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
