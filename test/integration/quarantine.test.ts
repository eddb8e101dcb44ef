/**
 * S11 on real parts: a private engine, a real agent over HTTP, dynalite, the real reaper and the
 * API's restore route. Quarantine is short here (Q = 4 s) so a whole timeline fits in a test.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiApp } from '../../functions/api/app.js';
import type { ReapSettings } from '../../functions/reaper/config.js';
import { staticMasterKey } from '../../functions/reaper/master-key.js';
import { createRestorer } from '../../functions/reaper/restore.js';
import { createStore, type Store } from '../../functions/store/index.js';
import { capturingLogger, startTestAgent, type TestAgent } from '../helpers/agent.js';
import { testReaper } from '../helpers/reaper.js';
import { makeContainer, stateOf } from '../helpers/containers.js';
import { startDynalite, type TestDynamo } from '../helpers/dynalite.js';
import { startEngine, type Engine } from '../helpers/engine.js';

const MASTER = randomBytes(32).toString('hex');
const HOST = 'q-host';
const Q = 4;
const RUN_LABEL = `quarantine-${randomUUID().slice(0, 8)}`;

let dynamo: TestDynamo;
let store: Store;
let engine: Engine;
let agent: TestAgent;
const log = capturingLogger('info');

const reaper = (settings: Partial<ReapSettings> = {}) => testReaper({ store, masterKey: MASTER, logger: log.logger, settings: { quarantineSeconds: Q, ...settings } });

const run = (options: { now?: boolean; dryRun?: boolean } = {}) => reaper().run({ trigger: 'api', hosts: [HOST], deadlineAt: Date.now() + 60_000, ...options });
const age = () => sleep(2_100);
const records = async () => (await store.quarantine.list(HOST)).map((r) => r.dockerId).sort();

/** Everything this file made is tracked except what a test names: earlier tests' leftovers never count. */
async function onlyOrphans(...ids: string[]): Promise<void> {
  const all = await engine.docker.listContainers({ all: true, filters: { label: [`clawbox-reaper.test-run=${RUN_LABEL}`] } });
  for (const c of all) {
    const value = c.Labels['clawbox.container_id'];
    if (value !== undefined && !ids.includes(c.Id)) await store.tracked.track(HOST, value, { dockerId: c.Id });
  }
}

beforeAll(async () => {
  dynamo = await startDynalite({ prefix: 'q-' });
  store = createStore({ client: dynamo.client, prefix: dynamo.prefix });
  engine = await startEngine();
  agent = await startTestAgent({ dockerHost: engine.dockerHost, hostId: HOST, masterKey: MASTER });
  await store.hosts.put(HOST, { agentUrl: agent.url, enabled: true });
});

afterAll(async () => {
  await agent?.close();
  await engine?.stop();
  await dynamo?.close();
});

describe('S11: quarantine before removal', () => {
  it('a running orphan is paused, kept while Q runs, and removed by the first run at least Q later', async () => {
    const orphan = await makeContainer(engine.docker, { clawboxId: 'q-run', runLabel: RUN_LABEL });
    await onlyOrphans(orphan.id);
    await age();

    const first = await run();
    expect(first.hosts[0]).toMatchObject({ status: 'ok' });
    expect(await stateOf(engine.docker, orphan.id)).toBe('paused');
    expect(await records()).toEqual([orphan.id]);
    const report = (await store.reports.reportsForRun(first.runId))[0];
    const entry = report?.containers.find((c) => c.dockerId === orphan.id);
    expect(entry).toMatchObject({ action: 'quarantined', paused: true });
    expect(Date.parse(entry?.removeAfter ?? '') - Date.parse(entry?.quarantinedAt ?? '')).toBe(Q * 1000);
    expect(report?.counts).toMatchObject({ quarantined: 1, removed: 0 });

    const second = await run();
    expect(second.hosts[0]?.counts).toMatchObject({ quarantined: 1, removed: 0 });
    expect(await stateOf(engine.docker, orphan.id)).toBe('paused');

    await sleep(Q * 1000);
    const third = await run();
    expect(third.hosts[0]?.counts).toMatchObject({ removed: 1, quarantined: 0 });
    expect(await stateOf(engine.docker, orphan.id)).toBeUndefined();
    expect(await records()).toEqual([]);
  });

  it('a stopped orphan is left as it is while quarantined, then removed', async () => {
    const orphan = await makeContainer(engine.docker, { clawboxId: 'q-exited', kind: 'exited', runLabel: RUN_LABEL });
    await onlyOrphans(orphan.id);
    await age();
    await run();
    expect(await stateOf(engine.docker, orphan.id)).toBe('exited');
    expect((await store.quarantine.get(HOST, orphan.id))?.paused).toBe(false);
    await sleep(Q * 1000);
    await run();
    expect(await stateOf(engine.docker, orphan.id)).toBeUndefined();
  });

  it('a quarantined container tracked again is unpaused at the next run and never removed', async () => {
    const orphan = await makeContainer(engine.docker, { clawboxId: 'q-back', runLabel: RUN_LABEL });
    await onlyOrphans(orphan.id);
    await age();
    await run();
    expect(await stateOf(engine.docker, orphan.id)).toBe('paused');
    await store.tracked.track(HOST, 'q-back');
    await sleep(Q * 1000);
    const next = await run();
    expect(next.hosts[0]?.counts).toMatchObject({ restored: 1, removed: 0 });
    expect(await stateOf(engine.docker, orphan.id)).toBe('running');
    expect(await records()).toEqual([]);
  });

  it('POST …/restore tracks it and unpauses it at once through the agent; a container not in quarantine is a 404 that changes nothing', async () => {
    const orphan = await makeContainer(engine.docker, { clawboxId: 'q-api', runLabel: RUN_LABEL });
    await onlyOrphans(orphan.id);
    await age();
    await run();
    expect(await stateOf(engine.docker, orphan.id)).toBe('paused');

    const restore = createRestorer({ store, masterKey: staticMasterKey(MASTER), logger: log.logger });
    const app = createApiApp({ store, startRun: () => Promise.resolve(), logger: log.logger, restore });
    const answer = await app.request(`/v1/hosts/${HOST}/containers/q-api/restore`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ owner: 'manager' }) });
    expect(answer.status).toBe(200);
    expect(await answer.json()).toMatchObject({ tracked: { containerId: 'q-api', owner: 'manager' }, restore: { status: 'restored', containers: [{ dockerId: orphan.id, outcome: 'unpaused' }] } });
    expect(await stateOf(engine.docker, orphan.id)).toBe('running');
    expect(await records()).toEqual([]);
    await sleep(Q * 1000);
    await run();
    expect(await stateOf(engine.docker, orphan.id)).toBe('running');

    const none = await app.request(`/v1/hosts/${HOST}/containers/never-quarantined/restore`, { method: 'POST' });
    expect(none.status).toBe(404);
    expect(await none.json()).toMatchObject({ error: { code: 'not_quarantined' } });
    expect(await store.tracked.get(HOST, 'never-quarantined')).toBeUndefined();
  });

  it('the agent route unpauses only a paused container with that label value and a recorded Docker id', async () => {
    const paused = await makeContainer(engine.docker, { clawboxId: 'q-route', runLabel: RUN_LABEL });
    const other = await makeContainer(engine.docker, { clawboxId: 'q-route-other', runLabel: RUN_LABEL });
    await engine.docker.getContainer(paused.id).pause();
    await engine.docker.getContainer(other.id).pause();
    // The other container's Docker id under this label value: not that container.
    const result = await agent.client.restore({ hostId: HOST, clawboxId: 'q-route', dockerIds: [paused.id, other.id] });
    expect(result.containers).toEqual([
      { dockerId: paused.id, outcome: 'unpaused' },
      { dockerId: other.id, outcome: 'gone' },
    ]);
    expect(await stateOf(engine.docker, paused.id)).toBe('running');
    expect(await stateOf(engine.docker, other.id)).toBe('paused');
    await engine.docker.getContainer(other.id).unpause();
  });

  it('a new container reusing a quarantined label value starts its own quarantine', async () => {
    const old = await makeContainer(engine.docker, { clawboxId: 'q-reuse', runLabel: RUN_LABEL });
    await onlyOrphans(old.id);
    await age();
    await run();
    await sleep(Q * 1000);
    const reused = await makeContainer(engine.docker, { clawboxId: 'q-reuse', runLabel: RUN_LABEL });
    await onlyOrphans(old.id, reused.id);
    await age();
    await run();
    expect(await stateOf(engine.docker, old.id)).toBeUndefined();
    expect(await stateOf(engine.docker, reused.id)).toBe('paused');
    await engine.docker.getContainer(reused.id).remove({ force: true });
    await run();
  });

  it('the quarantine survives an agent restart (records live with the registry)', async () => {
    const orphan = await makeContainer(engine.docker, { clawboxId: 'q-restart', runLabel: RUN_LABEL });
    await onlyOrphans(orphan.id);
    await age();
    await run();
    await agent.close();
    agent = await startTestAgent({ dockerHost: engine.dockerHost, hostId: HOST, masterKey: MASTER });
    await store.hosts.put(HOST, { agentUrl: agent.url, enabled: true });
    const early = await run();
    expect(early.hosts[0]?.counts).toMatchObject({ quarantined: 1, removed: 0 });
    await sleep(Q * 1000);
    await run();
    expect(await stateOf(engine.docker, orphan.id)).toBeUndefined();
  });

  it('now: true removes at once; a dry run shows would-quarantine and touches nothing', async () => {
    const orphan = await makeContainer(engine.docker, { clawboxId: 'q-now', runLabel: RUN_LABEL });
    await onlyOrphans(orphan.id);
    await age();
    const dry = await run({ dryRun: true });
    const report = (await store.reports.reportsForRun(dry.runId))[0];
    expect(report?.containers.find((c) => c.dockerId === orphan.id)?.action).toBe('would-quarantine');
    expect(await stateOf(engine.docker, orphan.id)).toBe('running');
    expect(await records()).toEqual([]);
    const now = await run({ now: true });
    expect(now.hosts[0]?.counts).toMatchObject({ removed: 1 });
    expect(await stateOf(engine.docker, orphan.id)).toBeUndefined();
  });
});
