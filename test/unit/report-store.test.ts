/**
 * The agent's state dir (agent/report-store.ts) and its replay memory (agent/run-registry.ts):
 * reports kept on disk across a restart (atomic files, mode 0600), a run cut short by a crash
 * known as interrupted, and the bounds: age, bytes (oldest first), count, and never a run young
 * enough to be retried. Real files in a temp dir; the clock is injected.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReapReport } from '../../lib/agent-contract.js';
import { MIN_KEEP_MS, ReportStore, StateDirError } from '../../agent/report-store.js';
import { openRunRegistry, RunRegistry } from '../../agent/run-registry.js';
import { defaultStateDir, loadAgentConfig } from '../../agent/config.js';
import { AppError } from '../../lib/errors.js';
import { silentLogger } from '../../lib/logger.js';

const T0 = Date.parse('2026-11-27T12:00:00.000Z');
const HOUR = 3600_000;

function report(runId: string, extra: Partial<ReapReport> = {}, containers = 0): ReapReport {
  return {
    runId,
    hostId: 'host-a',
    engineId: 'engine-1',
    clockOffsetMs: -12.5,
    status: 'ok',
    startedAt: new Date(T0).toISOString(),
    finishedAt: new Date(T0 + 1500).toISOString(),
    durationMs: 1500,
    dryRun: false,
    counts: { labelled: containers, tracked: 0, orphans: containers, young: 0, stopped: 0, removed: containers, vanished: 0, failed: 0 },
    containers: Array.from({ length: containers }, (_, i) => ({
      clawboxId: `box-${runId}-${i}`,
      // Random-looking ids, so that gzip cannot make every report the same small size.
      dockerId: Buffer.from(`${runId}/${i}/${'x'.repeat(20)}`).toString('hex').slice(0, 64).padEnd(64, '0'),
      state: 'running',
      createdAt: new Date(T0 - HOUR).toISOString(),
      action: 'removed' as const,
    })),
    ...extra,
  };
}

let dir: string;
let clock: number;
const now = () => clock;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cre-store-'));
  clock = T0;
});
afterEach(() => {
  chmodSync(dir, 0o700);
  rmSync(dir, { recursive: true, force: true });
});

describe('the state dir survives a restart', () => {
  it('keeps each report in its own file (0600, in a 0700 dir, no temp file left) and a new store on the dir answers it exactly', async () => {
    const stateDir = join(dir, 'host-a');
    const first = await ReportStore.open({ dir: stateDir, now });
    const original = report('run-persist-1', {}, 3);
    await first.begin(original.runId);
    expect(readdirSync(stateDir)).toEqual(['run-persist-1.running']);
    await first.finish(original);
    expect(readdirSync(stateDir)).toEqual(['run-persist-1.report.gz']);
    expect(statSync(join(stateDir, 'run-persist-1.report.gz')).mode & 0o777).toBe(0o600);
    expect(statSync(stateDir).mode & 0o777).toBe(0o700);

    const second = await ReportStore.open({ dir: stateDir, now });
    expect(second.has('run-persist-1')).toBe(true);
    const stored = await second.get('run-persist-1');
    expect(stored).toEqual({ state: 'finished', report: original });
    // The answer is byte for byte the one POST /v1/reap gave (engineId and clockOffsetMs as they were).
    expect(JSON.stringify(stored?.state === 'finished' ? stored.report : null)).toBe(JSON.stringify(original));
    expect(second.has('run-never-here')).toBe(false);
    expect(await second.get('run-never-here')).toBeUndefined();
  });

  it('a run begun and never finished (a crash) is interrupted after a restart: never run again, never taken for one that never ran', async () => {
    const stateDir = join(dir, 'host-a');
    const crashed = await ReportStore.open({ dir: stateDir, now });
    await crashed.begin('run-crashed-1');
    // A write cut short by the crash leaves a temp file: it is cleaned up and ignored.
    writeFileSync(join(stateDir, 'run-other-1.report.gz.tmp-1-abcd'), 'partial');

    const registry = new RunRegistry(await ReportStore.open({ dir: stateDir, now }));
    expect(readdirSync(stateDir)).toEqual(['run-crashed-1.running']);
    expect(registry.knows('run-crashed-1')).toBe(true);
    expect(await registry.lookup('run-crashed-1')).toEqual({ state: 'interrupted' });
    let executed = false;
    const retry = registry.run('run-crashed-1', async () => {
      executed = true;
      return report('run-crashed-1');
    });
    await expect(retry).rejects.toMatchObject({ status: 409, code: 'run_interrupted' });
    expect(executed).toBe(false);
    expect(await registry.lookup('run-other-1')).toEqual({ state: 'unknown' });
  });

  it('a report that was written but whose marker was not yet removed is the outcome', async () => {
    const stateDir = join(dir, 'host-a');
    const store = await ReportStore.open({ dir: stateDir, now });
    await store.begin('run-both-1');
    await store.finish(report('run-both-1'));
    writeFileSync(join(stateDir, 'run-both-1.running'), '{}');
    const reopened = await ReportStore.open({ dir: stateDir, now });
    expect((await reopened.get('run-both-1'))?.state).toBe('finished');
    expect(readdirSync(stateDir)).toEqual(['run-both-1.report.gz']);
  });

  it('a stored report that does not read back (corrupt) leaves the run known and its outcome unknown', async () => {
    const stateDir = join(dir, 'host-a');
    const store = await ReportStore.open({ dir: stateDir, now, memoryBytes: 0 });
    await store.finish(report('run-corrupt-1'));
    writeFileSync(join(stateDir, 'run-corrupt-1.report.gz'), 'not gzip');
    const registry = new RunRegistry(await ReportStore.open({ dir: stateDir, now }));
    expect(await registry.lookup('run-corrupt-1')).toEqual({ state: 'interrupted' });
    await expect(registry.run('run-corrupt-1', async () => report('run-corrupt-1'))).rejects.toMatchObject({ code: 'run_interrupted' });
  });
});

describe('bounds: age, bytes, count', () => {
  it('drops reports past the retention (at start and as reports are added), keeping every younger one', async () => {
    const stateDir = join(dir, 'host-a');
    const store = await ReportStore.open({ dir: stateDir, now, retentionMs: 24 * HOUR });
    await store.finish(report('run-age-old1'));
    clock += 2 * HOUR;
    await store.finish(report('run-age-mid1'));
    clock += 23 * HOUR; // the first is now 25 h old, the second 23 h
    await store.finish(report('run-age-new1'));
    expect([store.has('run-age-old1'), store.has('run-age-mid1'), store.has('run-age-new1')]).toEqual([false, true, true]);
    expect(readdirSync(stateDir).sort()).toEqual(['run-age-mid1.report.gz', 'run-age-new1.report.gz']);

    // At start, by the files' own times.
    clock += 2 * HOUR;
    const reopened = await ReportStore.open({ dir: stateDir, now: () => Date.now() + 24.5 * HOUR, retentionMs: 24 * HOUR });
    expect(reopened.stats.runs).toBe(0);
    expect(readdirSync(stateDir)).toEqual([]);
  });

  it('keeps the bytes on disk within the budget, oldest first, but never drops a run young enough to be retried', async () => {
    const stateDir = join(dir, 'host-a');
    const budget = 2 * 1024;
    const store = await ReportStore.open({ dir: stateDir, now, budgetBytes: budget, memoryBytes: 1024 });
    const ids = Array.from({ length: 12 }, (_, i) => `run-budget-${String(i).padStart(2, '0')}`);
    for (const id of ids) {
      await store.finish(report(id, {}, 20));
      clock += MIN_KEEP_MS + 1000;
    }
    const kept = ids.filter((id) => store.has(id));
    // The newest are kept, the oldest dropped, and what is kept fits the budget.
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.length).toBeLessThan(ids.length);
    expect(kept).toEqual(ids.slice(ids.length - kept.length));
    expect(store.stats.bytes).toBeLessThanOrEqual(budget);
    const onDisk = readdirSync(stateDir);
    expect(onDisk.sort()).toEqual(kept.map((id) => `${id}.report.gz`));
    expect(onDisk.reduce((sum, f) => sum + statSync(join(stateDir, f)).size, 0)).toBe(store.stats.bytes);

    // Reports younger than MIN_KEEP_MS stay even when they alone are over the budget.
    const young = Array.from({ length: 8 }, (_, i) => `run-young-${String(i).padStart(2, '0')}`);
    for (const id of young) {
      await store.finish(report(id, {}, 20));
      clock += 1000;
    }
    for (const id of young) expect(store.has(id)).toBe(true);
    expect(store.stats.bytes).toBeGreaterThan(budget);
    // Once they are old enough, the budget holds again.
    clock += MIN_KEEP_MS;
    await store.finish(report('run-young-last', {}, 20));
    expect(store.stats.bytes).toBeLessThanOrEqual(budget);
    expect(store.has('run-young-00')).toBe(false);
  });

  it('bounds the count of runs as well', async () => {
    const store = ReportStore.memory({ now, maxRuns: 3 });
    for (let i = 0; i < 6; i++) {
      await store.finish(report(`run-count-${i}0000`));
      clock += MIN_KEEP_MS + 1;
    }
    expect(store.stats.runs).toBe(3);
    expect(store.has('run-count-20000')).toBe(false);
    expect(store.has('run-count-30000')).toBe(true);
  });

  it('a memory-only store (no state dir) has the same bounds, in bytes of JSON', async () => {
    const store = ReportStore.memory({ now, budgetBytes: 8 * 1024 });
    for (let i = 0; i < 20; i++) {
      await store.finish(report(`run-memory-${String(i).padStart(2, '0')}`, {}, 10));
      clock += MIN_KEEP_MS + 1;
    }
    expect(store.stats.bytes).toBeLessThanOrEqual(8 * 1024);
    expect(store.stats.memoryBytes).toBe(store.stats.bytes);
    expect(store.has('run-memory-19')).toBe(true);
    expect(store.has('run-memory-00')).toBe(false);
    expect(await store.get('run-memory-19')).toEqual({ state: 'finished', report: report('run-memory-19', {}, 10) });
  });
});

describe('the replay memory (S6)', () => {
  it('joins a retry of the run in flight, replays a finished one, refuses another run while one is in flight, and forgets a run that failed before acting', async () => {
    const registry = new RunRegistry(await ReportStore.open({ dir: join(dir, 'host-a'), now }));
    let release: (r: ReapReport) => void = () => undefined;
    let executions = 0;
    const first = registry.run('run-s6-00001', () => {
      executions++;
      return new Promise<ReapReport>((resolve) => (release = resolve));
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(await registry.lookup('run-s6-00001')).toEqual({ state: 'running' });
    const joined = registry.run('run-s6-00001', async () => {
      executions++;
      return report('run-s6-00001');
    });
    await expect(registry.run('run-s6-00002', async () => report('run-s6-00002'))).rejects.toMatchObject({ status: 409, code: 'reap_in_progress' });
    release(report('run-s6-00001', {}, 2));
    expect((await first).replayed).toBe(false);
    expect(await joined).toEqual({ report: report('run-s6-00001', {}, 2), replayed: true });
    expect(await registry.run('run-s6-00001', async () => report('run-s6-00001'))).toEqual({ report: report('run-s6-00001', {}, 2), replayed: true });
    expect(executions).toBe(1);

    // Failed before acting (the engine did not answer): forgotten, so a retry runs it.
    await expect(registry.run('run-s6-00003', async () => Promise.reject(new AppError(503, 'docker_unavailable', 'down')))).rejects.toMatchObject({ status: 503 });
    expect(registry.knows('run-s6-00003')).toBe(false);
    expect(readdirSync(join(dir, 'host-a')).sort()).toEqual(['run-s6-00001.report.gz']);
    expect((await registry.run('run-s6-00003', async () => report('run-s6-00003'))).replayed).toBe(false);
  });

  it('refuses to start a run it could not record (503 state_unwritable), touching nothing', async () => {
    const stateDir = join(dir, 'host-a');
    const registry = new RunRegistry(await ReportStore.open({ dir: stateDir, now }));
    chmodSync(stateDir, 0o500);
    let executed = false;
    try {
      const attempt = registry.run('run-readonly-1', async () => {
        executed = true;
        return report('run-readonly-1');
      });
      // root ignores directory permissions: then the run simply goes ahead.
      if (process.getuid?.() === 0) await attempt;
      else {
        await expect(attempt).rejects.toMatchObject({ status: 503, code: 'state_unwritable' });
        expect(executed).toBe(false);
      }
    } finally {
      chmodSync(stateDir, 0o700);
    }
  });

  it('a state dir given explicitly must be usable; the default one falls back to memory, loudly', async () => {
    const file = join(dir, 'not-a-dir');
    writeFileSync(file, 'x');
    await expect(openRunRegistry({ stateDir: file, hostId: 'host-a', logger: silentLogger() })).rejects.toBeInstanceOf(StateDirError);
    const registry = await openRunRegistry({ stateDir: file, hostId: 'host-a', isDefault: true, logger: silentLogger() });
    expect(registry.store.dir).toBeUndefined();
    // One directory per host id: two agents sharing a state dir never answer each other's runs.
    const a = await openRunRegistry({ stateDir: join(dir, 'shared'), hostId: 'host-a', logger: silentLogger() });
    const b = await openRunRegistry({ stateDir: join(dir, 'shared'), hostId: 'host-b', logger: silentLogger() });
    await a.run('run-shared-01', async () => report('run-shared-01'));
    expect(b.knows('run-shared-01')).toBe(false);
    expect(readdirSync(join(dir, 'shared')).sort()).toEqual(['host-a', 'host-b']);
  });
});

describe('--state-dir', () => {
  const env = { REAPER_HOST_ID: 'host-a', REAPER_AGENT_KEY: 'ab'.repeat(32) };

  it('flag over REAPER_AGENT_STATE_DIR over systemd\'s $STATE_DIRECTORY over ~/.clawbox-reaper-agent', () => {
    expect(loadAgentConfig({ stateDir: 'rel/state' }, { ...env, REAPER_AGENT_STATE_DIR: '/srv/a' })).toMatchObject({ stateDir: join(process.cwd(), 'rel/state'), stateDirIsDefault: false });
    expect(loadAgentConfig({}, { ...env, REAPER_AGENT_STATE_DIR: '/srv/a', STATE_DIRECTORY: '/var/lib/x' })).toMatchObject({ stateDir: '/srv/a', stateDirIsDefault: false });
    expect(loadAgentConfig({}, { ...env, STATE_DIRECTORY: '/var/lib/clawbox-reaper-agent:/var/lib/other' })).toMatchObject({ stateDir: '/var/lib/clawbox-reaper-agent', stateDirIsDefault: false });
    expect(loadAgentConfig({}, env)).toMatchObject({ stateDir: join(homedir(), '.clawbox-reaper-agent'), stateDirIsDefault: true, stateBudgetBytes: 64 * 1024 * 1024 });
    expect(defaultStateDir({})).toBe(join(homedir(), '.clawbox-reaper-agent'));
  });

  it('the byte budget is validated at start', () => {
    expect(loadAgentConfig({}, { ...env, REAPER_AGENT_STATE_BUDGET_BYTES: '2097152' }).stateBudgetBytes).toBe(2097152);
    expect(() => loadAgentConfig({}, { ...env, REAPER_AGENT_STATE_BUDGET_BYTES: '1000' })).toThrow(/REAPER_AGENT_STATE_BUDGET_BYTES/);
  });
});
