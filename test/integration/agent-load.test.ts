/**
 * A slice of bench/load-agent.ts in the suite: 50 concurrent clients for 3 s against one real
 * agent (health, signed inventory, signed dry-run reaps and replays). No 5xx, no dropped
 * connection, one reap at a time (the rest 409), replays answered from the stored report, and the
 * engine exactly as it was. No timing assertions: the machine is shared.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAgent } from '../../bench/load-agent.js';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { makeContainers } from '../helpers/containers.js';
import { startEngine, type Engine } from '../helpers/engine.js';

let engine: Engine;
let agent: TestAgent;

beforeAll(async () => {
  engine = await startEngine();
  agent = await startTestAgent({ dockerHost: engine.dockerHost, hostId: 'load-host' });
  const runLabel = `agent-load-${randomUUID().slice(0, 8)}`;
  await makeContainers(engine.docker, Array.from({ length: 40 }, (_, i) => ({ clawboxId: `load-${i}`, kind: 'created' as const, runLabel })), 8);
  await makeContainers(engine.docker, [{ clawboxId: 'load-running', kind: 'running', runLabel }]);
  await sleep(2_100);
});

afterAll(async () => {
  await agent?.close();
  await engine?.stop();
});

describe('agent under concurrent load', () => {
  it('50 clients for 3 s: no 5xx, no dropped connection, dry runs only, engine unchanged', async () => {
    const state = async () => new Map((await engine.docker.listContainers({ all: true })).map((c) => [c.Id, c.State]));
    const before = await state();
    const figures = await loadAgent({ url: agent.url, hostKey: agent.hostKey, hostId: agent.hostId, clients: 50, durationMs: 3_000 });
    process.stderr.write(`agent-load: ${JSON.stringify(figures)}\n`);

    expect(figures.serverErrors).toBe(0);
    expect(figures.networkErrors).toBe(0);
    expect(figures.reapsRun).toBeGreaterThan(0);
    expect(Object.keys(figures.routes.healthz.statuses)).toEqual(['200']);
    expect(Object.keys(figures.routes.containers.statuses)).toEqual(['200']);
    for (const status of Object.keys(figures.routes.reap.statuses)) expect(['200', '409']).toContain(status);
    // A repeated runId is always answered from the stored report (header x-reaper-replayed).
    for (const status of Object.keys(figures.routes['reap-replay'].statuses)) expect(status).toBe('200');
    expect([...(await state())].sort()).toEqual([...before].sort());
  });
});
