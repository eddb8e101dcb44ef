/**
 * S10 on real parts: private Docker engines, real agents over HTTP, dynalite, the real reaper.
 * The first test is the scenario a new user hit: a second host record whose agent runs on the
 * same engine as the first removed the first host's tracked containers on the next tick.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReapSettings } from '../../functions/reaper/config.js';
import { createStore, type Store } from '../../functions/store/index.js';
import { AgentCallError } from '../../lib/agent-client.js';
import { capturingLogger, startTestAgent, type TestAgent } from '../helpers/agent.js';
import { testReaper } from '../helpers/reaper.js';
import { makeContainer, stateOf } from '../helpers/containers.js';
import { startDynalite, type TestDynamo } from '../helpers/dynalite.js';
import { startEngine, type Engine } from '../helpers/engine.js';

const MASTER = randomBytes(32).toString('hex');
const RUN_LABEL = `binding-${randomUUID().slice(0, 8)}`;

let dynamo: TestDynamo;
let store: Store;
let e1: Engine;
let e2: Engine;
let e3: Engine;
const agents: TestAgent[] = [];
const log = capturingLogger('info');

// v1 removal (no quarantine) so that a wrong decision would show as a removed container.
const reaper = (settings: Partial<ReapSettings> = {}) => testReaper({ store, masterKey: MASTER, logger: log.logger, settings });

async function agentOn(engine: Engine, hostId: string): Promise<TestAgent> {
  const agent = await startTestAgent({ dockerHost: engine.dockerHost, hostId, masterKey: MASTER });
  agents.push(agent);
  return agent;
}

const run = (hosts?: string[]) => reaper().run({ trigger: 'api', deadlineAt: Date.now() + 60_000, ...(hosts ? { hosts } : {}) });
/** Containers must be older than the grace (0 s) plus Docker's 1 s truncation. */
const age = () => new Promise((r) => setTimeout(r, 2_100));

beforeAll(async () => {
  dynamo = await startDynalite({ prefix: 'bind-' });
  store = createStore({ client: dynamo.client, prefix: dynamo.prefix });
  [e1, e2, e3] = await Promise.all([startEngine(), startEngine(), startEngine()]);
});

afterAll(async () => {
  for (const agent of agents) await agent.close();
  await Promise.all([e1, e2, e3].map((e) => e?.stop()));
  await dynamo?.close();
});

describe('S10: one engine, one host', () => {
  it('two host records on one engine: neither reaps the other’s tracked containers, both are refused engine_claimed', async () => {
    const a = await agentOn(e1, 'same-a');
    const b = await agentOn(e1, 'same-b');
    await store.hosts.put('same-a', { agentUrl: a.url, enabled: true });
    await store.hosts.put('same-b', { agentUrl: b.url, enabled: true });
    const tracked = await Promise.all([1, 2].map((i) => makeContainer(e1.docker, { clawboxId: `sa-${i}`, runLabel: RUN_LABEL })));
    for (const [i] of tracked.entries()) await store.tracked.track('same-a', `sa-${i + 1}`);
    await age();

    const result = await run(['same-a', 'same-b']);
    const byHost = Object.fromEntries(result.hosts.map((h) => [h.hostId, h]));
    expect(byHost['same-a']).toMatchObject({ status: 'refused', errorCode: 'engine_claimed' });
    expect(byHost['same-b']).toMatchObject({ status: 'refused', errorCode: 'engine_claimed' });
    for (const c of tracked) expect(await stateOf(e1.docker, c.id)).toBe('running');
    // Neither was pinned: the operator decides which record owns the engine.
    expect((await store.hosts.get('same-a'))?.engineId).toBeUndefined();
    expect((await store.hosts.get('same-b'))?.engineId).toBeUndefined();
    const reports = await store.reports.reportsForRun(result.runId);
    expect(reports.map((r) => [r.hostId, r.status, r.errorCode])).toEqual(
      expect.arrayContaining([
        ['same-a', 'refused', 'engine_claimed'],
        ['same-b', 'refused', 'engine_claimed'],
      ]),
    );
    expect(reports.every((r) => r.engineId !== undefined && r.engineId.length > 0)).toBe(true);

    // The operator removes the wrong record: the owner is pinned and reaps, its tracked ones kept.
    await store.hosts.delete('same-b');
    const orphan = await makeContainer(e1.docker, { clawboxId: 'sa-orphan', runLabel: RUN_LABEL });
    await age();
    const next = await run(['same-a']);
    expect(next.hosts[0]).toMatchObject({ hostId: 'same-a', status: 'ok' });
    expect((await store.hosts.get('same-a'))?.engineId).toBe(reports[0]?.engineId);
    for (const c of tracked) expect(await stateOf(e1.docker, c.id)).toBe('running');
    expect(await stateOf(e1.docker, orphan.id)).toBeUndefined();
  });

  it('a host registered later on an engine another host has pinned is refused and touches nothing (the reported scenario)', async () => {
    const a = await agentOn(e2, 'owner');
    await store.hosts.put('owner', { agentUrl: a.url, enabled: true });
    const mine = await makeContainer(e2.docker, { clawboxId: 'owned-1', runLabel: RUN_LABEL });
    await store.tracked.track('owner', 'owned-1');
    await age();
    expect((await run(['owner'])).hosts[0]).toMatchObject({ status: 'ok' });
    const pinned = (await store.hosts.get('owner'))?.engineId;
    expect(pinned).toBeTruthy();

    // hosts add host-b --url <an agent on the same engine>, default label: the next scheduled tick.
    const b = await agentOn(e2, 'interloper');
    await store.hosts.put('interloper', { agentUrl: b.url, enabled: true });
    const tick = await reaper().run({ trigger: 'schedule', deadlineAt: Date.now() + 60_000 });
    const interloper = tick.hosts.find((h) => h.hostId === 'interloper');
    expect(interloper).toMatchObject({ status: 'refused', errorCode: 'engine_claimed' });
    expect(interloper?.counts).toBeNull();
    expect(await stateOf(e2.docker, mine.id)).toBe('running');
    expect((await store.hosts.get('interloper'))?.engineId).toBeUndefined();
    expect((await store.hosts.get('owner'))?.engineId).toBe(pinned);
    await store.hosts.delete('interloper');
  });

  it('a pinned host whose agent now reports another engine is refused engine_mismatch until re-pinned', async () => {
    const first = await agentOn(e3, 'moving');
    await store.hosts.put('moving', { agentUrl: first.url, enabled: true });
    expect((await run(['moving'])).hosts[0]).toMatchObject({ status: 'ok' });
    const pinned = (await store.hosts.get('moving'))?.engineId;

    // The host's agent is now pointed at another engine (e1, pinned by same-a).
    const moved = await agentOn(e1, 'moving');
    await store.hosts.put('moving', { agentUrl: moved.url, enabled: true });
    const victim = await makeContainer(e1.docker, { clawboxId: 'mv-orphan', runLabel: RUN_LABEL });
    await age();
    const result = await run(['moving']);
    expect(result.hosts[0]).toMatchObject({ status: 'refused', errorCode: 'engine_mismatch' });
    expect(result.hosts[0]?.error).toContain('hosts repin moving');
    expect(await stateOf(e1.docker, victim.id)).toBe('running');
    expect((await store.hosts.get('moving'))?.engineId).toBe(pinned);

    // Re-pin: the next run pins the engine the agent reports; e1 belongs to same-a, so refused.
    await store.hosts.put('moving', { agentUrl: moved.url, enabled: true, repin: true });
    expect((await store.hosts.get('moving'))?.engineId).toBeUndefined();
    const after = await run(['moving']);
    expect(after.hosts[0]).toMatchObject({ status: 'refused', errorCode: 'engine_claimed' });
    expect(await stateOf(e1.docker, victim.id)).toBe('running');
    await e1.docker.getContainer(victim.id).remove({ force: true });
  });

  it('the agent itself refuses a reap for another engine (409 engine_mismatch) and touches nothing', async () => {
    const agent = await agentOn(e3, 'direct');
    const victim = await makeContainer(e3.docker, { clawboxId: 'direct-orphan', runLabel: RUN_LABEL });
    await age();
    const identity = await agent.client.identity();
    const refused = await agent.client
      .reap({ runId: randomUUID(), hostId: 'direct', tracked: [], snapshotAt: new Date().toISOString(), graceSeconds: 0, stopTimeoutSeconds: 0, maxReap: 10, dryRun: false, engineId: `not-${identity.engineId}` })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(AgentCallError);
    expect(refused).toMatchObject({ httpStatus: 409, code: 'engine_mismatch' });
    expect(await stateOf(e3.docker, victim.id)).toBe('running');
    // With the right engine the same command goes through.
    const report = await agent.client.reap({ runId: randomUUID(), hostId: 'direct', tracked: [], snapshotAt: new Date().toISOString(), graceSeconds: 0, stopTimeoutSeconds: 0, maxReap: 10, dryRun: true, engineId: identity.engineId });
    expect(report.engineId).toBe(identity.engineId);
    expect(report.containers.map((c) => c.dockerId)).toContain(victim.id);
    await e3.docker.getContainer(victim.id).remove({ force: true });
  });

  it('an engine keeps its identity across agent restarts and calls', async () => {
    const one = await agentOn(e2, 'ident-1');
    const ids = new Set<string>();
    for (let i = 0; i < 3; i++) ids.add((await one.client.identity()).engineId);
    await one.close();
    const two = await agentOn(e2, 'ident-1');
    ids.add((await two.client.identity()).engineId);
    expect(ids.size).toBe(1);
    expect((await (await agentOn(e3, 'ident-2')).client.identity()).engineId).not.toEqual([...ids][0]);
  });
});
