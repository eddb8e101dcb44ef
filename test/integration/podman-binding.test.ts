/**
 * S10 and S11 on Podman's Docker-compatible API (a private rootful service): its /info answers a
 * new random ID on every call, so the agent derives the engine's identity from its own data; it
 * must stay the same across calls and agent restarts, and differ from a Docker engine's. A
 * quarantine (pause, then removal after Q) goes through Podman's API too.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_REAP_SETTINGS } from '../../functions/reaper/config.js';
import { staticMasterKey } from '../../functions/reaper/master-key.js';
import { createReaper } from '../../functions/reaper/run.js';
import { createStore, type Store } from '../../functions/store/index.js';
import { capturingLogger, startTestAgent, type TestAgent } from '../helpers/agent.js';
import { makeContainer, stateOf } from '../helpers/containers.js';
import { startDynalite, type TestDynamo } from '../helpers/dynalite.js';
import { startEngine, type Engine } from '../helpers/engine.js';
import { podmanInstalled, startPodman } from '../helpers/podman.js';

const MASTER = randomBytes(32).toString('hex');
const Q = 3;

let podman: Engine;
let docker: Engine;
let dynamo: TestDynamo;
let store: Store;
const agents: TestAgent[] = [];

beforeAll(async () => {
  if (!podmanInstalled()) throw new Error('podman is not installed: apt-get install -y podman (.ci/run does)');
  [podman, docker, dynamo] = await Promise.all([startPodman(), startEngine(), startDynalite({ prefix: 'pm-' })]);
  store = createStore({ client: dynamo.client, prefix: dynamo.prefix });
});

afterAll(async () => {
  for (const agent of agents) await agent.close();
  await Promise.all([podman?.stop(), docker?.stop(), dynamo?.close()]);
});

describe('Podman: engine identity and quarantine', () => {
  it('the engine id is stable across calls and agent restarts, and not a Docker engine’s', async () => {
    const raw = new Set<string>();
    for (let i = 0; i < 3; i++) raw.add(((await podman.docker.info()) as { ID: string }).ID);
    expect(raw.size).toBe(3); // what the agent must not use as it is

    const first = await startTestAgent({ dockerHost: podman.dockerHost, hostId: 'pod-a', masterKey: MASTER });
    const ids = new Set<string>();
    for (let i = 0; i < 3; i++) ids.add((await first.client.identity()).engineId);
    await first.close();
    const second = await startTestAgent({ dockerHost: podman.dockerHost, hostId: 'pod-a', masterKey: MASTER });
    agents.push(second);
    ids.add((await second.client.identity()).engineId);
    expect(ids.size).toBe(1);
    expect([...ids][0]).toMatch(/^podman:[0-9a-f]{32}$/);

    const onDocker = await startTestAgent({ dockerHost: docker.dockerHost, hostId: 'dock-a', masterKey: MASTER });
    agents.push(onDocker);
    expect((await onDocker.client.identity()).engineId).toMatch(/^docker:/);
  });

  it('a Podman host is pinned, its orphan paused, then removed after Q; its tracked container kept', async () => {
    const agent = agents[0]!;
    await store.hosts.put('pod-a', { agentUrl: agent.url, enabled: true });
    const tag = randomUUID().slice(0, 6);
    const orphan = await makeContainer(podman.docker, { clawboxId: `${tag}-orphan` });
    const kept = await makeContainer(podman.docker, { clawboxId: `${tag}-kept` });
    await store.tracked.track('pod-a', `${tag}-kept`);
    await sleep(2_100);
    const reaper = createReaper({
      store,
      masterKey: staticMasterKey(MASTER),
      logger: capturingLogger('warn').logger,
      settings: { ...DEFAULT_REAP_SETTINGS, graceSeconds: 0, quarantineSeconds: Q, maxReapPercent: 100, stopTimeoutSeconds: 1, agentAttempts: 1, reportMarginMs: 1000 },
    });
    const run = () => reaper.run({ trigger: 'api', hosts: ['pod-a'], deadlineAt: Date.now() + 60_000 });

    const first = await run();
    expect(first.hosts[0]).toMatchObject({ status: 'ok', counts: { quarantined: 1, removed: 0 } });
    expect((await store.hosts.get('pod-a'))?.engineId).toMatch(/^podman:/);
    expect(await stateOf(podman.docker, orphan.id)).toBe('paused');
    await sleep(Q * 1000);
    // Due: thawed, stopped and removed without a spurious error (Podman answers 500 to a stop of a paused container).
    const second = await run();
    expect(second.hosts[0]).toMatchObject({ status: 'ok', counts: { removed: 1, failed: 0 } });
    expect(await stateOf(podman.docker, orphan.id)).toBeUndefined();
    expect(await stateOf(podman.docker, kept.id)).toBe('running');
  });
});
