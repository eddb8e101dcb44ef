/**
 * S4 extended and S12 on real parts: private engines (one per host, S10), real agents over HTTP,
 * dynalite, the real reaper and the API.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiApp } from '../../functions/api/app.js';
import { DEFAULT_REAP_SETTINGS, loadReaperConfig, type ReapSettings } from '../../functions/reaper/config.js';
import { staticMasterKey } from '../../functions/reaper/master-key.js';
import { createReaper } from '../../functions/reaper/run.js';
import { createStore, type Store } from '../../functions/store/index.js';
import { capturingLogger, startTestAgent, type TestAgent } from '../helpers/agent.js';
import { makeContainers, stateOf, type MadeContainer } from '../helpers/containers.js';
import { startDynalite, type TestDynamo } from '../helpers/dynalite.js';
import { startEngine, type Engine } from '../helpers/engine.js';

const MASTER = randomBytes(32).toString('hex');
const RUN_LABEL = `guards-${randomUUID().slice(0, 8)}`;
const HOSTS = ['g-0', 'g-1', 'g-2'] as const;

let dynamo: TestDynamo;
let store: Store;
const engines: Engine[] = [];
const agents: TestAgent[] = [];
const log = capturingLogger('info');

function reaper(overrides: Partial<ReapSettings> = {}, now?: () => number) {
  return createReaper({
    store,
    masterKey: staticMasterKey(MASTER),
    logger: log.logger,
    settings: { ...DEFAULT_REAP_SETTINGS, graceSeconds: 0, quarantineSeconds: 0, stopTimeoutSeconds: 0, agentAttempts: 1, reportMarginMs: 1000, ...overrides },
    ...(now ? { now } : {}),
  });
}

const run = (hosts: readonly string[], overrides: Partial<ReapSettings> = {}, extra: { force?: boolean } = {}) =>
  reaper(overrides).run({ trigger: 'api', hosts, deadlineAt: Date.now() + 60_000, ...extra });
const age = () => sleep(2_100);

/** n labelled containers on host i's engine; the first `tracked` of them tracked. */
async function fleet(i: number, n: number, tracked: number): Promise<MadeContainer[]> {
  const tag = randomUUID().slice(0, 6);
  const made = await makeContainers(engines[i]!.docker, Array.from({ length: n }, (_, k) => ({ clawboxId: `${tag}-${k}`, kind: 'created' as const, runLabel: RUN_LABEL })), 8);
  for (const c of made.slice(0, tracked)) await store.tracked.track(HOSTS[i]!, c.clawboxId!);
  return made;
}

async function alive(i: number, containers: readonly MadeContainer[]): Promise<number> {
  let n = 0;
  for (const c of containers) if ((await stateOf(engines[i]!.docker, c.id)) !== undefined) n++;
  return n;
}

async function clear(i: number): Promise<void> {
  const all = await engines[i]!.docker.listContainers({ all: true });
  await Promise.all(all.map((c) => engines[i]!.docker.getContainer(c.Id).remove({ force: true })));
}

beforeAll(async () => {
  dynamo = await startDynalite({ prefix: 'g-' });
  store = createStore({ client: dynamo.client, prefix: dynamo.prefix });
  engines.push(...(await Promise.all(HOSTS.map(() => startEngine()))));
  for (const [i, hostId] of HOSTS.entries()) {
    agents.push(await startTestAgent({ dockerHost: engines[i]!.dockerHost, hostId, masterKey: MASTER }));
    await store.hosts.put(hostId, { agentUrl: agents[i]!.url, enabled: true });
  }
});

afterAll(async () => {
  for (const agent of agents) await agent.close();
  await Promise.all(engines.map((e) => e.stop()));
  await dynamo?.close();
});

describe('S4 extended: proportional and fleet guards', () => {
  it('an emptied registry: more orphans than 50% of the labelled (and ≥ 3) caps the host and touches nothing', async () => {
    const made = await fleet(0, 10, 4);
    await age();
    const result = await run(['g-0'], { maxReapPercent: 50, maxReapPercentMin: 3 });
    expect(result.hosts[0]).toMatchObject({ status: 'capped', cap: { guard: 'max-reap-percent', limit: 5, orphans: 6, labelled: 10 } });
    expect(await alive(0, made)).toBe(10);
    const report = (await store.reports.reportsForRun(result.runId))[0];
    expect(report?.cap).toEqual({ guard: 'max-reap-percent', limit: 5, orphans: 6, labelled: 10 });
    expect(agents[0]!.logLines.some((l) => l.includes('REAP CAPPED by max-reap-percent'))).toBe(true);

    // At the share or under it, or fewer orphans than the minimum, the reap goes ahead.
    const ok = await run(['g-0'], { maxReapPercent: 60, maxReapPercentMin: 3 });
    expect(ok.hosts[0]).toMatchObject({ status: 'ok', counts: { removed: 6 } });
    expect(await alive(0, made)).toBe(4);
    await clear(0);
  });

  it('a small host below the minimum is reaped even when all its containers are orphans', async () => {
    const made = await fleet(1, 2, 0);
    await age();
    const result = await run(['g-1'], { maxReapPercent: 50, maxReapPercentMin: 3 });
    expect(result.hosts[0]).toMatchObject({ status: 'ok', counts: { removed: 2 } });
    expect(await alive(1, made)).toBe(0);
  });

  it('the fleet budget is never exceeded while hosts run in parallel; hosts past it are capped and untouched', async () => {
    const made = await Promise.all(HOSTS.map((_, i) => fleet(i, 4, 0)));
    await age();
    const result = await run(HOSTS, { maxReapPercent: 100, fleetMaxReap: 6, maxReap: 10, hostConcurrency: 3 });
    const removed = result.hosts.reduce((sum, h) => sum + (h.counts?.removed ?? 0), 0);
    const stillThere = (await Promise.all(made.map((m, i) => alive(i, m)))).reduce((a, b) => a + b, 0);
    expect(removed).toBeLessThanOrEqual(6);
    expect(12 - stillThere).toBe(removed);
    const capped = result.hosts.filter((h) => h.status === 'capped');
    expect(capped.length).toBeGreaterThan(0);
    for (const h of capped) expect(h.cap?.guard).toBe('fleet-max-reap');
    for (const [i] of HOSTS.entries()) await clear(i);
  });

  it('a host whose first grant is too small is not capped when the budget can afford it: it waits and is sent again', async () => {
    const made = await Promise.all([fleet(0, 3, 0), fleet(1, 3, 0)]);
    await age();
    // Both hosts start together: the first takes the whole budget of 6, the second gets 0, is
    // capped by the agent (touching nothing), waits for the first to give back 3, and goes again.
    const result = await run(['g-0', 'g-1'], { maxReapPercent: 100, fleetMaxReap: 6, maxReap: 6, hostConcurrency: 2 });
    expect(result.hosts.map((h) => [h.hostId, h.status, h.counts?.removed])).toEqual([
      ['g-0', 'ok', 3],
      ['g-1', 'ok', 3],
    ]);
    // One of them went twice: first capped by its grant of 0, then with the 3 it needed.
    expect(result.hosts.map((h) => h.attempts).sort()).toEqual([1, 2]);
    expect((await Promise.all(made.map((m, i) => alive(i, m)))).reduce((a, b) => a + b, 0)).toBe(0);
  });

  it('a host refused by its shard’s share of the fleet budget is given what it asked for in the next run', async () => {
    const settings = { maxReapPercent: 100, fleetMaxReap: 6, maxReap: 10, shardHosts: 1, hostConcurrency: 1 };
    // Pinned hosts go one a shard (unpinned ones are judged together, S10): three shards of 2.
    await run(HOSTS, settings);
    for (const hostId of HOSTS) expect((await store.hosts.get(hostId))?.engineId).toBeDefined();
    const made = await fleet(0, 4, 0);
    await age();
    const first = await run(HOSTS, settings);
    expect(first.hosts.find((h) => h.hostId === 'g-0')).toMatchObject({ status: 'capped', cap: { guard: 'fleet-max-reap', limit: 2, removals: 4 } });
    expect(await alive(0, made)).toBe(4);
    expect((await store.hosts.get('g-0'))?.lastReap).toMatchObject({ status: 'capped', budgetNeed: 4 });
    // The next plan sets the 4 aside for g-0's shard; the other 2 are shared (0 each, rounded down).
    const second = await run(HOSTS, settings);
    expect(second.hosts.find((h) => h.hostId === 'g-0')).toMatchObject({ status: 'ok', counts: { removed: 4 } });
    expect(await alive(0, made)).toBe(0);
    expect((await store.hosts.get('g-0'))?.lastReap?.budgetNeed).toBeUndefined();
  });

  it('force lifts the guards only for named hosts: without names the API answers 400 force_needs_hosts and starts nothing', async () => {
    let started = 0;
    const app = createApiApp({ store, startRun: () => Promise.resolve(void started++), logger: log.logger });
    const refused = await app.request('/v1/reaps', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ force: true }) });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: { code: 'force_needs_hosts' } });
    expect(started).toBe(0);
    const named = await app.request('/v1/reaps', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ force: true, hosts: ['g-0'] }) });
    expect(named.status).toBe(202);
    expect(started).toBe(1);
    await expect(reaper().run({ trigger: 'api', force: true, deadlineAt: Date.now() + 10_000 })).rejects.toMatchObject({ code: 'force_needs_hosts' });

    const tooBig = await app.request('/v1/hosts/g-0', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agentUrl: agents[0]!.url, maxReap: 10_001 }) });
    expect(tooBig.status).toBe(400);
    expect((await store.hosts.get('g-0'))?.maxReap).toBeUndefined();
  });

  it('a forced run on a named host lifts the percent guard', async () => {
    const made = await fleet(0, 5, 1);
    await age();
    expect((await run(['g-0'], { maxReapPercent: 50 })).hosts[0]?.status).toBe('capped');
    const forced = await run(['g-0'], { maxReapPercent: 50 }, { force: true });
    expect(forced.hosts[0]).toMatchObject({ status: 'ok', counts: { removed: 4 } });
    expect(await alive(0, made)).toBe(1);
    await clear(0);
  });
});

describe('S12: clocks', () => {
  it('a lease protects until leaseExpiresAt + REAPER_LEASE_SKEW_SECONDS', async () => {
    const [skewed, expired] = await fleet(2, 2, 0);
    // Written by a manager whose clock is 30 s ahead: expired by our clock, within the skew.
    await store.tracked.track('g-2', skewed!.clawboxId!, { leaseSeconds: 1 });
    await store.tracked.track('g-2', expired!.clawboxId!, { leaseSeconds: 1 });
    await age();
    const bySkew = await run(['g-2'], { maxReapPercent: 100, leaseSkewSeconds: 60 });
    expect(bySkew.hosts[0]).toMatchObject({ status: 'ok', counts: { removed: 0, tracked: 2 } });
    const noSkew = await run(['g-2'], { maxReapPercent: 100, leaseSkewSeconds: 0 });
    expect(noSkew.hosts[0]).toMatchObject({ status: 'ok', counts: { removed: 2 } });
  });

  it('a command whose snapshot is later than the registry read it carries never reaps a container created after that read', async () => {
    // What an agent lagging 150 s behind plus a command delivered 150 s late look like to the
    // agent: a snapshotAt later than the read. The anchor, taken before the read, bounds the cutoff.
    const agent = agents[2]!;
    const before = await agent.client.identity();
    const tracked: Array<{ id: string }> = []; // the registry as read: nothing tracked yet
    const [late] = await makeContainers(engines[2]!.docker, [{ clawboxId: 'created-after-read', kind: 'created', runLabel: RUN_LABEL }]);
    await sleep(4_000);
    const report = await agent.client.reap({
      runId: randomUUID(),
      hostId: 'g-2',
      tracked,
      snapshotAt: new Date().toISOString(),
      graceSeconds: 1,
      stopTimeoutSeconds: 0,
      maxReap: 100,
      dryRun: false,
      anchor: before.anchor,
      engineId: before.engineId,
    });
    expect(report.containers.find((c) => c.dockerId === late!.id)?.action).toBe('skipped-young');
    expect(await stateOf(engines[2]!.docker, late!.id)).toBe('created');
    await clear(2);
  });

  it('every answer reports the clock offset; a host off by more than 5 s is flagged in its report', async () => {
    // The control plane's clock 9 s ahead: the agent looks 9 s behind.
    const ahead = () => Date.now() + 9_000;
    const result = await reaper({}, ahead).run({ trigger: 'api', hosts: ['g-1'], deadlineAt: ahead() + 60_000 });
    const report = (await store.reports.reportsForRun(result.runId))[0];
    expect(report?.clockOffsetMs).toBeLessThan(-8_000);
    expect(report?.clockOffsetMs).toBeGreaterThan(-10_000);
    expect(report?.clockFlag).toBe(true);
    expect((await store.hosts.get('g-1'))?.lastReap?.clockOffsetMs).toBe(report?.clockOffsetMs);
    const synced = await run(['g-1']);
    const fine = (await store.reports.reportsForRun(synced.runId))[0];
    expect(Math.abs(fine?.clockOffsetMs ?? 99_999)).toBeLessThan(1_000);
    expect(fine?.clockFlag).toBe(false);
  });

  it('an agent call time limit not below the grace is refused at start', () => {
    expect(() => loadReaperConfig({ REAPER_MASTER_KEY: MASTER, REAPER_GRACE_SECONDS: '60', REAPER_AGENT_TIMEOUT_SECONDS: '60' })).toThrow(/REAPER_AGENT_TIMEOUT_SECONDS: must be less than REAPER_GRACE_SECONDS/);
    expect(loadReaperConfig({ REAPER_MASTER_KEY: MASTER, REAPER_GRACE_SECONDS: '60', REAPER_AGENT_TIMEOUT_SECONDS: '59' }).agentTimeoutMs).toBe(59_000);
  });
});
