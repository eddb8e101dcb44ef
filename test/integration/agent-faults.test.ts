/**
 * Faults a real engine can be made to produce: the engine killed (SIGKILL) in the middle of a
 * reap, and an engine that is down. The agent answers with a report or a clear 503, stays up, and
 * the next run after the engine is back converges.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentCallError } from '../../lib/agent-client.js';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { existingIds, makeContainers } from '../helpers/containers.js';
import { startEngine, type Engine } from '../helpers/engine.js';

let engine: Engine;
let agent: TestAgent;

beforeAll(async () => {
  engine = await startEngine();
  agent = await startTestAgent({ dockerHost: engine.dockerHost, concurrency: 4 });
});

afterAll(async () => {
  await agent?.close();
  await engine?.stop();
});

const request = (over: object = {}) => ({
  runId: randomUUID(),
  hostId: agent.hostId,
  tracked: [] as { id: string }[],
  snapshotAt: new Date().toISOString(),
  graceSeconds: 0,
  stopTimeoutSeconds: 2,
  maxReap: 100,
  dryRun: false,
  ...over,
});

describe('engine faults', () => {
  it('survives the engine being killed mid-reap, and the next run converges', async () => {
    const keep = await makeContainers(engine.docker, [{ clawboxId: 'keep-a' }, { clawboxId: 'keep-b' }]);
    const orphans = await makeContainers(engine.docker, Array.from({ length: 20 }, (_, i) => ({ clawboxId: `fault-${i}`, kind: 'running' as const })), 6);
    await sleep(2_100);
    const tracked = [{ id: 'keep-a' }, { id: 'keep-b' }];

    const inFlight = agent.client.reap(request({ tracked })).then(
      (report) => ({ report }),
      (error: unknown) => ({ error }),
    );
    // Every orphan ignores SIGTERM: the stops wait 2 s; the engine dies in the middle.
    await sleep(700);
    await engine.kill();
    const outcome = await inFlight;
    if ('report' in outcome) {
      // The agent answered with what it knows: some removals failed.
      expect(['partial', 'ok']).toContain(outcome.report.status);
      expect(outcome.report.counts.orphans).toBe(20);
      expect(outcome.report.counts.removed + outcome.report.counts.failed + outcome.report.counts.vanished).toBe(20);
    } else {
      expect(outcome.error).toBeInstanceOf(AgentCallError);
      expect((outcome.error as AgentCallError).httpStatus).toBe(503);
    }

    // Engine down: health says so, a reap is a clear 503, and the agent is still up.
    const health = await fetch(`${agent.url}/healthz`);
    expect(health.status).toBe(503);
    expect(await health.json()).toEqual({ ok: false, docker: { reachable: false, version: null } });
    const down = await agent.client.reap(request({ tracked })).catch((error: unknown) => error);
    expect(down).toBeInstanceOf(AgentCallError);
    expect((down as AgentCallError).httpStatus).toBe(503);
    expect((down as AgentCallError).code).toBe('docker_unavailable');

    await engine.restart();
    const after = await agent.client.reap(request({ tracked }));
    expect(after.status).toBe('ok');
    const ids = await existingIds(engine.docker);
    for (const c of orphans) expect(ids.has(c.id)).toBe(false);
    for (const c of keep) expect(ids.has(c.id)).toBe(true);
  });
});
