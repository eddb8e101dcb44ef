/**
 * Exactly one report per host per run (issue 10, item 5; SPEC §10), however often an event is
 * delivered: the same scheduled event delivered twice, one after the other and at the same time,
 * through the real reaper handler against real agents (one private engine each) and dynalite. One
 * report per host, totals not doubled, containers removed once; the duplicate's outcomes are
 * logged as duplicates and not counted. An on-demand run delivered twice is the same run too.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReaperHandler } from '../../functions/reaper/handler.js';
import type { RunResult } from '../../functions/reaper/run.js';
import { createStore, type Store } from '../../functions/store/index.js';
import { capturingLogger, startTestAgent, type TestAgent } from '../helpers/agent.js';
import { testReaper } from '../helpers/reaper.js';
import { makeContainers, stateOf, type MadeContainer } from '../helpers/containers.js';
import { startDynalite, type TestDynamo } from '../helpers/dynalite.js';
import { startEngine, type Engine } from '../helpers/engine.js';
import { scheduledEvent } from '../helpers/aws-events.js';

const MASTER = randomBytes(32).toString('hex');
const HOSTS = ['od-a', 'od-b'] as const;

let dynamo: TestDynamo;
let store: Store;
const engines: Engine[] = [];
const agents: TestAgent[] = [];
const log = capturingLogger('info');

const reaper = () => testReaper({ store, masterKey: MASTER, logger: log.logger, settings: { stopTimeoutSeconds: 1, agentAttempts: 3 } });
// Each delivery is its own Lambda invocation: its own handler instance, as on AWS.
const handler = () => createReaperHandler({ reaper: reaper(), logger: log.logger });
const context = { getRemainingTimeInMillis: () => 60_000, awsRequestId: 'test' };


async function orphans(perHost: number): Promise<MadeContainer[][]> {
  const tag = randomUUID().slice(0, 6);
  const made = await Promise.all(engines.map((engine, h) => makeContainers(engine.docker, Array.from({ length: perHost }, (_, i) => ({ clawboxId: `${tag}-${h}-${i}`, kind: i === 0 ? ('running' as const) : ('exited' as const) })), 4)));
  await sleep(2100);
  return made;
}

async function alive(made: MadeContainer[][]): Promise<number> {
  let n = 0;
  for (const [h, list] of made.entries()) for (const c of list) if ((await stateOf(engines[h]!.docker, c.id)) !== undefined) n++;
  return n;
}

/** Agent log lines of reaps actually carried out (a replay logs none). */
const reapsDone = (agent: TestAgent) => agent.logLines.filter((l) => l.includes('"msg":"reap finished"')).length;

const removedIn = (result: RunResult) => result.hosts.filter((h) => !h.duplicate).reduce((sum, h) => sum + (h.counts?.removed ?? 0), 0);

beforeAll(async () => {
  dynamo = await startDynalite({ prefix: 'od-' });
  store = createStore({ client: dynamo.client, prefix: dynamo.prefix });
  engines.push(...(await Promise.all(HOSTS.map(() => startEngine()))));
  for (const [i, hostId] of HOSTS.entries()) {
    agents.push(await startTestAgent({ dockerHost: engines[i]!.dockerHost, hostId, masterKey: MASTER }));
    await store.hosts.put(hostId, { agentUrl: agents[i]!.url, enabled: true });
  }
  // Pins both hosts (S10) so that two deliveries at once do not race for the pins.
  await reaper().run({ trigger: 'api', hosts: [...HOSTS], dryRun: true, deadlineAt: Date.now() + 30_000 });
});

afterAll(async () => {
  for (const agent of agents) await agent.close();
  await Promise.all(engines.map((e) => e.stop()));
  await dynamo?.close();
});

describe('one report per host per run, however often the event is delivered', () => {
  it('the same scheduled event delivered twice, one after the other', async () => {
    const made = await orphans(2);
    const event = scheduledEvent();
    const before = agents.map(reapsDone);
    const first = (await handler()(event, context)) as RunResult;
    const second = (await handler()(structuredClone(event), context)) as RunResult;
    expect(second.runId).toBe(first.runId);
    expect(first.startedAt).toBe(new Date(String(event.time)).toISOString());
    expect(second.startedAt).toBe(first.startedAt);

    const reports = await store.reports.reportsForRun(first.runId);
    expect(reports.map((r) => r.hostId)).toEqual([...HOSTS]);
    const total = reports.reduce((sum, r) => sum + (r.counts?.removed ?? 0), 0);
    expect(total).toBe(4);
    expect(await alive(made)).toBe(0);
    // The agents reaped once; the second delivery got their replayed reports.
    expect(agents.map(reapsDone)).toEqual(before.map((n) => n + 1));

    expect(first.duplicates).toEqual([]);
    expect(first.hosts.every((h) => h.reportWritten && !h.duplicate)).toBe(true);
    expect(removedIn(first)).toBe(4);
    expect(second.duplicates).toEqual([...HOSTS]);
    expect(second.hosts.every((h) => h.duplicate && !h.reportWritten)).toBe(true);
    expect(second.statuses).toEqual({});
    expect(removedIn(second)).toBe(0);
    const summary = log.lines.map((l) => JSON.parse(l) as { msg: string; runId?: string; removed?: number; hosts?: number }).filter((l) => l.runId === first.runId && l.msg.startsWith('reap run finished'));
    expect(summary.map((l) => [l.hosts, l.removed])).toEqual([
      [2, 4],
      [0, 0],
    ]);
    expect(log.lines.some((l) => l.includes(first.runId) && l.includes('duplicate delivery'))).toBe(true);
  });

  it('the same scheduled event delivered twice at the same time', async () => {
    const made = await orphans(3);
    const event = scheduledEvent();
    const before = agents.map(reapsDone);
    const results = (await Promise.all([handler()(event, context), handler()(structuredClone(event), context)])) as RunResult[];
    const runId = results[0]!.runId;
    expect(results[1]!.runId).toBe(runId);

    const reports = await store.reports.reportsForRun(runId);
    expect(reports.map((r) => r.hostId)).toEqual([...HOSTS]);
    expect(reports.reduce((sum, r) => sum + (r.counts?.removed ?? 0), 0)).toBe(6);
    expect(await alive(made)).toBe(0);
    expect(agents.map(reapsDone)).toEqual(before.map((n) => n + 1));
    // Each host was written by exactly one delivery, and counted once over both.
    for (const hostId of HOSTS) {
      const outcomes = results.map((r) => r.hosts.find((h) => h.hostId === hostId)!);
      expect(outcomes.filter((o) => o.reportWritten)).toHaveLength(1);
      expect(outcomes.filter((o) => o.duplicate)).toHaveLength(1);
    }
    expect(removedIn(results[0]!) + removedIn(results[1]!)).toBe(6);
  });

  it('an on-demand run delivered twice (the API gives its start in the payload) is one run too', async () => {
    const made = await orphans(1);
    const payload = { runId: `od-api-${randomUUID()}`, startedAt: new Date().toISOString(), hosts: [...HOSTS] };
    const first = (await handler()(payload, context)) as RunResult;
    const second = (await handler()({ ...payload }, context)) as RunResult;
    expect(first.startedAt).toBe(payload.startedAt);
    const reports = await store.reports.reportsForRun(payload.runId);
    expect(reports).toHaveLength(2);
    expect(reports.every((r) => r.startedAt === payload.startedAt && r.trigger === 'api')).toBe(true);
    expect(reports.reduce((sum, r) => sum + (r.counts?.removed ?? 0), 0)).toBe(2);
    expect(second.duplicates).toEqual([...HOSTS]);
    expect(await alive(made)).toBe(0);
  });
});
