/**
 * The AWS path of a sharded run (SPEC §10), through the real Lambda entry (functions/reaper.ts,
 * configured from the environment as deployed) and the SDK's real Lambda client against a
 * loopback stand-in for the Invoke API: an EventBridge scheduled event makes the planner send one
 * asynchronous invocation per shard to the worker function, with the shard event as its payload;
 * the stand-in runs each through the same handler. Every host gets exactly one outcome per run,
 * whatever is delivered twice, and a shard that cannot be sent is reported host by host.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReaperFromEnv } from '../../functions/reaper.js';
import { ShardEvent } from '../../functions/reaper/events.js';
import type { RunResult } from '../../functions/reaper/run.js';
import { createStore, type ReportItem, type Store } from '../../functions/store/index.js';
import { capturingLogger, startTestAgent, type TestAgent } from '../helpers/agent.js';
import { startDynalite, type TestDynamo } from '../helpers/dynalite.js';
import { startEngine, type Engine } from '../helpers/engine.js';
import { startFakeLambda, type Delivery, type FakeLambda, type Invocation } from '../helpers/fake-lambda.js';
import { closedPortUrl } from '../helpers/net.js';
import { DEPLOYED_AWS_ENV, processEnv, scheduledEvent } from '../helpers/aws-events.js';

const WORKER = 'clawbox-reaper-test-reaperWorker';
const MASTER = randomBytes(32).toString('hex');
const REAL = 'sd-real';
const DOWN = ['sd-down-1', 'sd-down-2', 'sd-down-3', 'sd-down-4', 'sd-down-5'];

let dynamo: TestDynamo;
let store: Store;
let engine: Engine;
let agent: TestAgent;
let lambda: FakeLambda;
let handler: ReturnType<typeof createReaperFromEnv>['handler'];
/** How the stand-in delivers each shard invocation; set per test. */
let decide: (invocation: Invocation) => Delivery = () => 'once';
const reaperLog = capturingLogger('info');
const env = processEnv();



const context = () => ({ getRemainingTimeInMillis: () => 60_000, awsRequestId: randomUUID() });

beforeAll(async () => {
  [dynamo, engine] = await Promise.all([startDynalite({ prefix: 'sd-' }), startEngine()]);
  store = createStore({ client: dynamo.client, prefix: dynamo.prefix });
  agent = await startTestAgent({ dockerHost: engine.dockerHost, hostId: REAL, masterKey: MASTER });
  await store.hosts.put(REAL, { agentUrl: agent.url, enabled: true });
  const down = await closedPortUrl();
  // Pinned already (as after their first contact), so they are sharded two by two.
  for (const [i, hostId] of DOWN.entries()) {
    await store.hosts.put(hostId, { agentUrl: down, enabled: true });
    expect(await store.hosts.pin(hostId, `docker:sd-fake-${i}/0000`, new Date().toISOString())).toBe('pinned');
  }
  ({ handler } = createReaperFromEnv({
    env: {
      REAPER_MASTER_KEY: MASTER,
      REAPER_TABLE_PREFIX: dynamo.prefix,
      REAPER_AGENT_ATTEMPTS: '1',
      REAPER_REPORT_MARGIN_SECONDS: '1',
      REAPER_SHARD_HOSTS: '2',
      REAPER_WORKER_FUNCTION: WORKER,
      REAPER_QUARANTINE_SECONDS: '0',
    },
    dynamo: dynamo.client,
    logger: reaperLog.logger,
  }));
  lambda = await startFakeLambda((event) => handler(event, context()), (invocation) => decide(invocation));
  // The Lambda client is the SDK's own, configured by the environment as on Lambda.
  env.set({
    ...DEPLOYED_AWS_ENV,
    AWS_ENDPOINT_URL_LAMBDA: lambda.url,
  });
}, 120_000);

afterAll(async () => {
  await Promise.allSettled(lambda?.runs ?? []);
  await lambda?.close().catch(() => undefined);
  await agent?.close();
  await engine?.stop();
  await dynamo?.close().catch(() => undefined);
  env.restore();
});

/** Runs the planner on a scheduled event and waits for every shard it sent. */
async function scheduledRun(): Promise<{ runId: string; planned: RunResult; shards: Invocation[]; results: RunResult[] }> {
  const before = lambda.invocations.length;
  const runsBefore = lambda.runs.length;
  const event = scheduledEvent();
  const planned = (await handler(event, context())) as RunResult;
  // Shards run after their 202, as Lambda runs queued events; wait for every delivery.
  await Promise.all(lambda.runs);
  const results = (await Promise.all(lambda.runs.slice(runsBefore))) as RunResult[];
  return { runId: event.id, planned, shards: lambda.invocations.slice(before), results };
}

const byHost = (reports: ReportItem[]) => Object.fromEntries(reports.map((r) => [r.hostId, r]));

describe('a sharded run on the AWS path', () => {
  it('the planner sends one asynchronous shard event per shard to the worker, and every host gets one outcome', async () => {
    decide = () => 'once';
    const { runId, planned, shards } = await scheduledRun();
    expect(planned).toMatchObject({ runId, dispatched: true, shards: 4, hosts: [] });
    expect(shards.map((s) => [s.functionName, s.invocationType])).toEqual(Array.from({ length: 4 }, () => [WORKER, 'Event']));
    const events = shards.map((s) => ShardEvent.parse(s.payload).shard).sort((a, b) => a.index - b.index);
    // The new host alone (judged with the other new ones, S10), then the pinned ones two by two.
    expect(events.map((e) => e.hosts.map((h) => h.hostId))).toEqual([[REAL], DOWN.slice(0, 2), DOWN.slice(2, 4), DOWN.slice(4)]);
    expect(events.every((e) => e.runId === runId && e.count === 4 && e.runHosts === 6 && e.trigger === 'schedule')).toBe(true);
    // S4: the shards' parts of the fleet budget never add up to more than it.
    expect(events.reduce((sum, e) => sum + (e.fleetBudget ?? 0), 0)).toBeLessThanOrEqual(1000);

    const progress = await store.reports.runProgress(runId);
    expect(progress).toEqual({ hosts: [...DOWN, REAL].sort(), runHosts: 6 });
    const reports = byHost(await store.reports.reportsForRun(runId));
    // The real agent had nothing to do: a quiet outcome, recorded in its shard item only.
    expect(reports[REAL]).toMatchObject({ status: 'ok', compact: true, counts: { labelled: 0, orphans: 0 } });
    for (const hostId of DOWN) expect(reports[hostId]).toMatchObject({ status: 'unreachable' });
    expect((await store.hosts.get(REAL))?.engineId).toBeDefined();
  });

  it('a shard delivered twice counts its hosts once; a shard Lambda refuses is reported by the planner, nothing sent', async () => {
    let shardNo = 0;
    decide = (invocation) => {
      const index = ShardEvent.parse(invocation.payload).shard.index;
      shardNo++;
      if (index === 0) return 'twice';
      if (index === 1) return { status: 429, type: 'TooManyRequestsException' };
      return 'once';
    };
    const { runId, planned, results } = await scheduledRun();
    expect(shardNo).toBeGreaterThanOrEqual(3);
    // Every host is pinned now: [down-1, down-2], [down-3, down-4], [down-5, real].
    // Shard 1 (sd-down-3, sd-down-4) never reached a worker: the planner reported its hosts.
    expect(Object.fromEntries(planned.hosts.map((h) => [h.hostId, h.status]))).toEqual({ 'sd-down-3': 'error', 'sd-down-4': 'error' });
    expect(planned.hosts.every((h) => /could not be sent to a worker, nothing was sent/.test(h.error ?? ''))).toBe(true);
    // Shard 0 ran twice: one delivery counted it, the other found it recorded.
    const counted = results.flatMap((r) => r.hosts.filter((h) => !h.duplicate).map((h) => h.hostId));
    expect(counted.filter((h) => h === 'sd-down-1')).toHaveLength(1);
    expect(results.flatMap((r) => r.duplicates).sort()).toEqual(['sd-down-1', 'sd-down-2']);

    const progress = await store.reports.runProgress(runId);
    expect(progress).toEqual({ hosts: [...DOWN, REAL].sort(), runHosts: 6 });
    const reports = await store.reports.reportsForRun(runId);
    expect(reports.map((r) => r.hostId)).toEqual([...DOWN, REAL].sort());
    // The planner wrote those hosts' full reports itself.
    expect(byHost(reports)['sd-down-3']).toMatchObject({ status: 'error', attempts: 0, counts: null });
    expect(byHost(reports)['sd-down-3']!.compact).toBeUndefined();
    expect(byHost(reports)['sd-down-3']!.error).toMatch(/shard 2 of 3 could not be sent to a worker/);
  });
});
