/**
 * A tracked set too large for a command (issue 10, item 7): the host gets an `error` report
 * (`tracked_set_too_large`) that says how many items, the limit and how to fix it, instead of an
 * opaque 413 every run. Over the contract's limit (MAX_COMMAND_BYTES, LIMITS.trackedItems) nothing
 * is sent at all; an agent whose own body limit is lower refuses it (413), and the report says
 * which setting to raise. Real parts: private engines, real agents, dynalite with a seeded registry.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIMITS, MAX_COMMAND_BYTES, type ReapRequest } from '../../lib/agent-contract.js';
import { commandSizeProblem } from '../../functions/reaper/command-size.js';
import { DEFAULT_REAP_SETTINGS } from '../../functions/reaper/config.js';
import { staticMasterKey } from '../../functions/reaper/master-key.js';
import { createReaper } from '../../functions/reaper/run.js';
import { createStore, type Store } from '../../functions/store/index.js';
import { capturingLogger, startTestAgent, type TestAgent } from '../helpers/agent.js';
import { makeContainer, stateOf } from '../helpers/containers.js';
import { startDynalite, type TestDynamo } from '../helpers/dynalite.js';
import { startEngine, type Engine } from '../helpers/engine.js';
import { seedTracked, trackedItems } from '../helpers/seed.js';

const MASTER = randomBytes(32).toString('hex');
const HUGE = 'ot-huge';
const LOW_LIMIT = 'ot-low-limit';

let dynamo: TestDynamo;
let store: Store;
const engines: Engine[] = [];
const agents: TestAgent[] = [];
const log = capturingLogger('info');

const reaper = () =>
  createReaper({
    store,
    masterKey: staticMasterKey(MASTER),
    logger: log.logger,
    settings: { ...DEFAULT_REAP_SETTINGS, graceSeconds: 0, quarantineSeconds: 0, maxReapPercent: 100, stopTimeoutSeconds: 0, reportMarginMs: 1000 },
  });

beforeAll(async () => {
  dynamo = await startDynalite({ prefix: 'ot-' });
  store = createStore({ client: dynamo.client, prefix: dynamo.prefix });
  engines.push(...(await Promise.all([startEngine(), startEngine()])));
  agents.push(await startTestAgent({ dockerHost: engines[0]!.dockerHost, hostId: HUGE, masterKey: MASTER }));
  // An agent whose body limit was lowered below what its registry needs.
  agents.push(await startTestAgent({ dockerHost: engines[1]!.dockerHost, hostId: LOW_LIMIT, masterKey: MASTER, bodyLimitBytes: 64 * 1024 }));
  await store.hosts.put(HUGE, { agentUrl: agents[0]!.url, enabled: true });
  await store.hosts.put(LOW_LIMIT, { agentUrl: agents[1]!.url, enabled: true });
});

afterAll(async () => {
  for (const agent of agents) await agent.close();
  await Promise.all(engines.map((e) => e.stop()));
  await dynamo?.close();
});

describe('a tracked set too large for one command', () => {
  it('over the contract limit: an error report saying how many, the limit and the fix; nothing is sent', async () => {
    // 70,000 ids of 250 characters: an 18 MB command, over the 16 MiB any agent accepts.
    const ids = Array.from({ length: 70_000 }, (_, i) => `${String(i).padStart(6, '0')}-${'t'.repeat(243)}`);
    await seedTracked(dynamo.client, dynamo.tables.tracked, trackedItems(HUGE, ids), 16);
    const orphan = await makeContainer(engines[0]!.docker, { clawboxId: `orphan-${randomUUID().slice(0, 6)}`, kind: 'exited' });
    await sleep(2100);
    const runId = `ot-huge-${randomUUID()}`;
    const result = await reaper().run({ runId, trigger: 'api', hosts: [HUGE], deadlineAt: Date.now() + 100_000 });
    expect(result.hosts[0]).toMatchObject({ status: 'error', errorCode: 'tracked_set_too_large', attempts: 0 });
    const [report] = await store.reports.reportsForRun(runId);
    expect(report).toMatchObject({ status: 'error', errorCode: 'tracked_set_too_large', counts: null });
    expect(report?.error).toContain('70000 tracked items');
    expect(report?.error).toContain(`${(MAX_COMMAND_BYTES / 1024 / 1024).toFixed(1)} MiB`);
    expect(report?.error).toMatch(/untrack/);
    expect(report?.error).toMatch(/lease/);
    expect(report?.error).toMatch(/nothing was sent/);
    // The agent saw the identity call only: no command, nothing touched.
    expect(agents[0]!.logLines.some((l) => l.includes(runId))).toBe(false);
    expect(await stateOf(engines[0]!.docker, orphan.id)).toBe('exited');
    expect((await store.hosts.get(HUGE))?.lastReap).toMatchObject({ runId, status: 'error', errorCode: 'tracked_set_too_large' });
  }, 240_000);

  it('an agent whose body limit is lower (413): the report says so and names the setting to raise', async () => {
    // ~110 KB of tracked ids against the agent's 64 KiB.
    const ids = Array.from({ length: 1500 }, (_, i) => `low-${String(i).padStart(5, '0')}-${'l'.repeat(60)}`);
    await seedTracked(dynamo.client, dynamo.tables.tracked, trackedItems(LOW_LIMIT, ids));
    const orphan = await makeContainer(engines[1]!.docker, { clawboxId: `orphan-${randomUUID().slice(0, 6)}`, kind: 'exited' });
    await sleep(2100);
    const runId = `ot-low-${randomUUID()}`;
    const result = await reaper().run({ runId, trigger: 'api', hosts: [LOW_LIMIT], deadlineAt: Date.now() + 30_000 });
    expect(result.hosts[0]).toMatchObject({ status: 'error', errorCode: 'tracked_set_too_large', attempts: 1 });
    const [report] = await store.reports.reportsForRun(runId);
    expect(report?.error).toContain('1500 tracked items');
    expect(report?.error).toContain('REAPER_AGENT_BODY_LIMIT_BYTES');
    expect(report?.error).toMatch(/untrack/);
    expect(report?.outcome).toBeUndefined();
    expect(await stateOf(engines[1]!.docker, orphan.id)).toBe('exited');
  });

  it('counts past LIMITS.trackedItems are refused before anything is measured', () => {
    const base: Omit<ReapRequest, 'fleetBudget'> = {
      runId: 'run-count-limit',
      hostId: 'h',
      tracked: Array.from({ length: LIMITS.trackedItems + 1 }, (_, i) => ({ id: `c${i}` })),
      snapshotAt: new Date().toISOString(),
      graceSeconds: 0,
      stopTimeoutSeconds: 0,
      maxReap: 1,
      dryRun: false,
      anchor: 'x',
    };
    expect(commandSizeProblem(base)).toMatch(new RegExp(`${LIMITS.trackedItems + 1} tracked items on this host, more than the ${LIMITS.trackedItems}`));
    expect(commandSizeProblem({ ...base, tracked: base.tracked.slice(0, 1000) })).toBeUndefined();
  });
});
