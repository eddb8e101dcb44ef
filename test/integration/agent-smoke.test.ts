import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { startEngine, type Engine } from '../helpers/engine.js';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { existingIds, makeContainers } from '../helpers/containers.js';

let engine: Engine;
let agent: TestAgent;

beforeAll(async () => {
  engine = await startEngine();
  agent = await startTestAgent({ dockerHost: engine.dockerHost });
});

afterAll(async () => {
  await agent?.close();
  await engine?.stop();
});

describe('agent smoke', () => {
  it('reaps an untracked running container and keeps a tracked one', async () => {
    const [tracked, orphan] = await makeContainers(engine.docker, [{ clawboxId: 'keep-1' }, { clawboxId: 'orphan-1' }]);
    const report = await agent.client.reap({
      runId: randomUUID(),
      hostId: agent.hostId,
      tracked: [{ id: 'keep-1' }],
      snapshotAt: new Date(Date.now() + 5_000).toISOString(),
      graceSeconds: 0,
      stopTimeoutSeconds: 1,
      maxReap: 100,
      dryRun: false,
    });
    expect(report.status).toBe('ok');
    expect(report.counts).toMatchObject({ labelled: 2, tracked: 1, orphans: 1, removed: 1, stopped: 1, failed: 0 });
    const ids = await existingIds(engine.docker);
    expect(ids.has(tracked!.id)).toBe(true);
    expect(ids.has(orphan!.id)).toBe(false);
  });
});
