/**
 * bench/cost.ts on the items the project really builds: the new run records cost less than a
 * full report per host per run, the lean tracked layout less than today's, and the floor's
 * arithmetic holds. Sizes come from the real builders, so an item that grows shows up here.
 */
import { describe, expect, it } from 'vitest';
import { computeCost, PRICES, TICKS_PER_MONTH } from '../../bench/cost.js';

const line = (design: { lines: { what: string; units: number; dollarsPerMonth: number }[] }, prefix: string) => {
  const found = design.lines.find((l) => l.what.startsWith(prefix));
  if (!found) throw new Error(`no line starting with ${prefix}`);
  return found;
};

describe('cost per host per month', () => {
  const result = computeCost();

  it('with the default parameters, the new design costs less than the old one, and the lean tracked layout less still', () => {
    expect(result.current.total).toBeLessThan(result.old.total);
    expect(result.lean.total).toBeLessThan(result.current.total);
    // Both are the same design but for the tracked items: the difference is their read and their storage.
    const tracked = (d: typeof result.lean) => line(d, 'tracked Query').dollarsPerMonth + line(d, 'tracked items').dollarsPerMonth;
    expect(result.current.total - result.lean.total).toBeCloseTo(tracked(result.current) - tracked(result.lean), 10);
  });

  it('bills the old design at least 4 write units a host a run: report, two ALL indexes, lastReap', () => {
    const writes = result.old.lines.filter((l) => l.what.includes('report item') || l.what.includes('index') || l.what.includes('lastReap'));
    expect(writes.reduce((a, l) => a + l.units, 0)).toBeGreaterThanOrEqual(4);
  });

  it('sizes the items the builders make: a quiet host costs its shard item share, an eventful report is more than its day-index entry', () => {
    expect(result.sizes.eventfulDayIndexEntry).toBeLessThan(result.sizes.eventfulReport);
    // Every quiet host is one short entry: the shard item holds 200 of them in a few KB.
    expect(result.sizes.shardItem / result.params.shardHosts).toBeLessThan(60);
    expect(result.sizes.trackedLeanAvg).toBeLessThan(result.sizes.trackedCurrentAvg);
  });

  it('grows with the tracked set: twice the items, about twice the tracked read', () => {
    const twice = computeCost({ tracked: 100 });
    const before = line(result.current, 'tracked Query').units;
    const after = line(twice.current, 'tracked Query').units;
    expect(after).toBeGreaterThanOrEqual(2 * before - 1);
    expect(after).toBeLessThanOrEqual(2 * before + 1);
  });

  it('shows the floor of the consistent tracked read with its arithmetic, and the lean layout reaches it', () => {
    const f = result.floor;
    expect(f.readUnits).toBe(Math.ceil(f.queryBytes / 4096));
    expect(f.dollarsPerMonth).toBeCloseTo((f.readUnits * TICKS_PER_MONTH * PRICES.readPerMillion) / 1e6, 12);
    expect(line(result.lean, 'tracked Query').dollarsPerMonth).toBeCloseTo(f.dollarsPerMonth, 12);
    expect(f.reachable).toBe(f.dollarsPerMonth < 0.01);
    // With 50 items the keys and a binary Docker id alone pass the 4 KB a unit allows them.
    expect(f.keysAndDockerIdBytes).toBeGreaterThan(f.maxItemBytesForOneUnit);
    expect(f.arithmetic.length).toBeGreaterThan(2);
  });

  it('refuses parameters that are not shares or counts', () => {
    expect(() => computeCost({ eventful: 1.5 })).toThrow(RangeError);
    expect(() => computeCost({ shardHosts: 0 })).toThrow(RangeError);
    expect(() => computeCost({ cpuMs: Number.NaN })).toThrow(RangeError);
    expect(() => computeCost({ tracked: -1 })).toThrow(RangeError);
  });
});
