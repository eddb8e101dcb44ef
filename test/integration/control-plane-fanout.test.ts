/**
 * The reaper's fan-out against real parts: four private Docker engines, each with its own real
 * agent on 127.0.0.1, a closed port and a hung server for the failing hosts, and dynalite for the
 * registry and the audit trail.
 *
 * Every test scopes what it may reap through the registry itself: containers that a later test
 * needs as orphans are tracked until that test untracks them, so earlier full-fleet runs keep them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { deriveHostKey } from '../../lib/signing.js';
import { createStore, type ReportItem, type Store } from '../../functions/store/index.js';
import { DEFAULT_REAP_SETTINGS, type ReapSettings } from '../../functions/reaper/config.js';
import { createReaperHandler } from '../../functions/reaper/handler.js';
import { InvalidEventError } from '../../functions/reaper/events.js';
import { staticMasterKey, type MasterKeyProvider } from '../../functions/reaper/master-key.js';
import { createReaper, ForceNotAllowedError } from '../../functions/reaper/run.js';
import { startEngine, type Engine } from '../helpers/engine.js';
import { capturingLogger, startTestAgent, type TestAgent } from '../helpers/agent.js';
import { makeContainer, stateOf, type Kind, type MadeContainer } from '../helpers/containers.js';
import { startDynalite, type TestDynamo } from '../helpers/dynalite.js';
import { closedPortUrl, startBlackHole } from '../helpers/net.js';
import { injectFailures, recordCalls, sdkError } from '../helpers/sdk-middleware.js';
import { seedTracked, trackedItems } from '../helpers/seed.js';
import { scheduledEvent } from '../helpers/aws-events.js';

const MASTER = randomBytes(32).toString('hex');
const OTHER_MASTER = randomBytes(32).toString('hex');
const H = { a: 'fleet-a', b: 'fleet-b', c: 'fleet-c', w: 'fleet-w', down: 'fleet-down', off: 'fleet-off' } as const;
type EngineName = 'a' | 'b' | 'c' | 'w';
const RUN_LABEL = `cp-fanout-${randomUUID().slice(0, 8)}`;
/** Containers older than this (plus Docker's 1 s truncation and the agent's 1 s correction) are judged. */
const GRACE_SECONDS = 2;

let dynamo: TestDynamo;
let store: Store;
const engines = {} as Record<EngineName, Engine>;
const agents = {} as Record<EngineName, TestAgent>;
const made: Record<string, MadeContainer> = {};
const reaperLog = capturingLogger('info');
let downUrl: string;

function settings(overrides: Partial<ReapSettings> = {}): ReapSettings {
  return { ...DEFAULT_REAP_SETTINGS, quarantineSeconds: 0, maxReapPercent: 100, leaseSkewSeconds: 0, graceSeconds: GRACE_SECONDS, stopTimeoutSeconds: 1, agentAttempts: 2, reportMarginMs: 1000, ...overrides };
}

function makeReaper(options: { overrides?: Partial<ReapSettings>; store?: Store; masterKey?: MasterKeyProvider } = {}) {
  return createReaper({
    store: options.store ?? store,
    masterKey: options.masterKey ?? staticMasterKey(MASTER),
    logger: reaperLog.logger,
    settings: settings(options.overrides),
  });
}

const deadline = (ms = 90_000) => Date.now() + ms;

async function make(engine: EngineName, clawboxId: string | undefined, kind: Kind = 'created', key = clawboxId ?? 'unlabelled'): Promise<MadeContainer> {
  const container = await makeContainer(engines[engine].docker, { clawboxId, kind, runLabel: RUN_LABEL });
  made[key] = container;
  return container;
}

async function exists(engine: EngineName, key: string): Promise<boolean> {
  const container = made[key];
  if (!container) throw new Error(`test bug: no container ${key}`);
  return (await stateOf(engines[engine].docker, container.id)) !== undefined;
}


function byHost(reports: ReportItem[]): Record<string, ReportItem> {
  return Object.fromEntries(reports.map((r) => [r.hostId, r]));
}

beforeAll(async () => {
  dynamo = await startDynalite({ prefix: 'fan-' });
  store = createStore({ client: dynamo.client, prefix: dynamo.prefix });
  const started = await Promise.allSettled((['a', 'b', 'c', 'w'] as const).map(async (name) => [name, await startEngine()] as const));
  for (const s of started) if (s.status === 'fulfilled') engines[s.value[0]] = s.value[1];
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) throw failed.reason;
  for (const name of ['a', 'b', 'c'] as const) agents[name] = await startTestAgent({ dockerHost: engines[name].dockerHost, hostId: H[name], masterKey: MASTER });
  // This agent holds a key derived from another master key: every command to it is refused.
  agents.w = await startTestAgent({ dockerHost: engines.w.dockerHost, hostId: H.w, masterKey: OTHER_MASTER });
  downUrl = await closedPortUrl();

  for (const name of ['a', 'b', 'c', 'w'] as const) await store.hosts.put(H[name], { agentUrl: agents[name].url, enabled: true });
  await store.hosts.put(H.down, { agentUrl: downUrl, enabled: true });
  await store.hosts.put(H.off, { agentUrl: agents.b.url, enabled: false });

  await Promise.all([
    (async () => {
      await make('a', 'a-keep', 'graceful');
      await make('a', 'a-orphan', 'graceful');
      await make('a', 'a-expired');
      await make('a', 'a-live');
      await make('a', 'a-dup');
      await make('a', 'a-sched');
      await make('a', undefined, 'created', 'a-unlabelled');
    })(),
    (async () => {
      await make('b', 'b-keep');
      await make('b', 'b-orphan', 'exited');
      await make('b', 'b-cap-1');
      await make('b', 'b-cap-2');
      await make('b', 'b-dry');
    })(),
    (async () => {
      for (const id of ['c-big-00010', 'c-big-02500', 'c-big-04999', 'c-orphan']) await make('c', id);
    })(),
    make('w', 'w-orphan'),
  ]);
  for (const id of ['a-keep', 'a-sched', 'b-keep', 'b-cap-1', 'b-cap-2', 'b-dry', 'c-orphan']) {
    const hostId = id.startsWith('a-') ? H.a : id.startsWith('b-') ? H.b : H.c;
    await store.tracked.track(hostId, id, { owner: 'manager' });
  }
  await store.tracked.track(H.a, 'a-expired', { leaseSeconds: 1 });
  await store.tracked.track(H.a, 'a-live', { leaseSeconds: 3600 });
  // Tracked under another Docker container: this one is a duplicate of the label value (S2).
  await store.tracked.track(H.a, 'a-dup', { dockerId: 'f'.repeat(64) });
  // 5,000 items (about 1.5 MB: several Query pages) on host C; three real containers among them.
  const bigIds = Array.from({ length: 5000 }, (_, i) => `c-big-${String(i).padStart(5, '0')}`);
  await seedTracked(dynamo.client, dynamo.tables.tracked, trackedItems(H.c, bigIds, { owner: `manager-${'x'.repeat(200)}` }));
  // Old enough: grace + Docker's whole-second Created + the agent's clock correction, with room.
  await sleep((GRACE_SECONDS + 2.5) * 1000);
});

afterAll(async () => {
  await Promise.allSettled(Object.values(agents).map((agent) => agent.close()));
  await Promise.allSettled(Object.values(engines).map((engine) => engine.stop()));
  await dynamo?.close();
});

describe('control plane fan-out over real agents', () => {
  it('reaps a mixed fleet: one report per host, orphans gone, tracked/live/young/unlabelled kept, failures isolated (S8)', async () => {
    await make('a', 'a-young');
    const client = dynamo.newClient();
    const calls = recordCalls(client);
    const reaper = makeReaper({ store: createStore({ client, prefix: dynamo.prefix }) });
    const runId = `mixed-${randomUUID()}`;
    const result = await reaper.run({ runId, trigger: 'schedule', deadlineAt: deadline() });

    const statuses = Object.fromEntries(result.hosts.map((h) => [h.hostId, h.status]));
    expect(statuses).toEqual({ [H.a]: 'ok', [H.b]: 'ok', [H.c]: 'ok', [H.w]: 'refused', [H.down]: 'unreachable' });
    expect(result.hosts.every((h) => h.reportWritten)).toBe(true);

    const reports = byHost(await store.reports.reportsForRun(runId));
    expect(Object.keys(reports).sort()).toEqual([H.a, H.b, H.c, H.down, H.w]);
    for (const r of Object.values(reports)) expect(r).toMatchObject({ trigger: 'schedule', runId, dryRun: false, force: false, runHosts: 5 });

    // Host A: untracked, expired-lease and duplicate-label containers removed; the rest kept.
    expect(reports[H.a]).toMatchObject({
      status: 'ok',
      trackedSent: 4,
      maxReap: 100,
      counts: { labelled: 7, tracked: 3, orphans: 3, young: 1, removed: 3, stopped: 1, failed: 0 },
      truncated: false,
    });
    expect(reports[H.a]!.containers.map((c) => `${c.clawboxId}:${c.action}`).sort()).toEqual(['a-dup:removed', 'a-expired:removed', 'a-orphan:removed', 'a-young:skipped-young']);
    for (const gone of ['a-orphan', 'a-expired', 'a-dup']) expect(await exists('a', gone)).toBe(false);
    for (const kept of ['a-keep', 'a-live', 'a-sched', 'a-young', 'a-unlabelled']) expect(await exists('a', kept)).toBe(true);

    expect(reports[H.b]).toMatchObject({ status: 'ok', counts: { removed: 1, tracked: 4 } });
    expect(await exists('b', 'b-orphan')).toBe(false);
    for (const kept of ['b-keep', 'b-cap-1', 'b-cap-2', 'b-dry']) expect(await exists('b', kept)).toBe(true);

    // Host C: 5,001 tracked items read over several pages; none of its tracked containers touched.
    expect(reports[H.c]).toMatchObject({ status: 'ok', trackedSent: 5001, counts: { labelled: 4, tracked: 4, orphans: 0, removed: 0 } });
    expect(calls.filter((c) => c.command === 'QueryCommand' && c.hostId === H.c).length).toBeGreaterThan(1);
    for (const kept of ['c-big-00010', 'c-big-02500', 'c-big-04999', 'c-orphan']) expect(await exists('c', kept)).toBe(true);

    // Refused (wrong key) and unreachable hosts: reported, nothing touched.
    expect(reports[H.w]).toMatchObject({ status: 'refused', counts: null, attempts: 1 });
    expect(reports[H.w]!.error).toMatch(/401/);
    expect(await exists('w', 'w-orphan')).toBe(true);
    expect(reports[H.down]).toMatchObject({ status: 'unreachable', counts: null, attempts: 2 });

    // lastReap follows the report; the disabled host is neither contacted nor reported.
    for (const hostId of [H.a, H.b, H.c, H.w, H.down]) expect((await store.hosts.get(hostId))?.lastReap).toMatchObject({ runId, status: statuses[hostId] });
    expect((await store.hosts.get(H.off))?.lastReap).toBeUndefined();

    // One summary line for the run; no secret anywhere in logs or reports (S9).
    const summary = reaperLog.lines.filter((l) => l.includes(runId) && l.includes('reap run finished'));
    expect(summary).toHaveLength(1);
    expect(JSON.parse(summary[0]!)).toMatchObject({ hosts: 5, statuses: { ok: 3, refused: 1, unreachable: 1 }, removed: 4 });
    const secrets = [MASTER, OTHER_MASTER, ...Object.values(H).map((h) => deriveHostKey(MASTER, h)), deriveHostKey(OTHER_MASTER, H.w)];
    const everything = reaperLog.lines.join('\n') + JSON.stringify(Object.values(reports));
    for (const secret of secrets) expect(everything).not.toContain(secret);
    expect(everything).not.toMatch(/v1=[0-9a-f]{64}/);
  });

  it('S4 end to end: a host over its maxReap is capped and untouched; only an on-demand force lifts it', async () => {
    await store.tracked.untrack(H.b, 'b-cap-1');
    await store.tracked.untrack(H.b, 'b-cap-2');
    await store.hosts.put(H.b, { agentUrl: agents.b.url, enabled: true, maxReap: 1 });
    try {
      const reaper = makeReaper();
      const capped = await reaper.run({ runId: `cap-${randomUUID()}`, trigger: 'schedule', hosts: [H.b], deadlineAt: deadline() });
      expect(capped.hosts).toMatchObject([{ hostId: H.b, status: 'capped' }]);
      const [cappedReport] = await store.reports.reportsForRun(capped.runId);
      expect(cappedReport).toMatchObject({ status: 'capped', maxReap: 1, counts: { orphans: 2, removed: 0 } });
      expect(await exists('b', 'b-cap-1')).toBe(true);
      expect(await exists('b', 'b-cap-2')).toBe(true);

      await expect(reaper.run({ trigger: 'schedule', hosts: [H.b], force: true, deadlineAt: deadline() })).rejects.toBeInstanceOf(ForceNotAllowedError);

      const forced = await reaper.run({ runId: `force-${randomUUID()}`, trigger: 'api', hosts: [H.b, 'no-such-host', H.off], force: true, deadlineAt: deadline() });
      expect(forced.hosts).toMatchObject([{ hostId: H.b, status: 'ok', counts: { removed: 2 } }]);
      expect(forced.skipped).toEqual([
        { hostId: 'no-such-host', reason: 'not-registered' },
        { hostId: H.off, reason: 'disabled' },
      ]);
      const [forcedReport] = await store.reports.reportsForRun(forced.runId);
      expect(forcedReport).toMatchObject({ force: true, maxReap: null, trigger: 'api' });
      expect(await exists('b', 'b-cap-1')).toBe(false);
      expect(await exists('b', 'b-cap-2')).toBe(false);
    } finally {
      await store.hosts.put(H.b, { agentUrl: agents.b.url, enabled: true });
    }
  });

  it('S5: a registry read that fails on a later page sends nothing to that host and records an error; the others go on', async () => {
    await store.tracked.untrack(H.c, 'c-orphan');
    const client = dynamo.newClient();
    const injected = injectFailures(client, (call) => call.command === 'QueryCommand' && call.hostId === H.c && call.continued, () => sdkError('InternalServerError', 500));
    const broken = makeReaper({ store: createStore({ client, prefix: dynamo.prefix }) });
    const runId = `s5-${randomUUID()}`;
    const result = await broken.run({ runId, trigger: 'schedule', hosts: [H.c, H.b], deadlineAt: deadline() });

    expect(injected.failures).toBe(1);
    expect(Object.fromEntries(result.hosts.map((h) => [h.hostId, h.status]))).toEqual({ [H.b]: 'ok', [H.c]: 'error' });
    const reports = byHost(await store.reports.reportsForRun(runId));
    expect(reports[H.c]).toMatchObject({ status: 'error', attempts: 0, counts: null });
    expect(reports[H.c]!.error).toMatch(/registry read failed/);
    expect(reports[H.c]!.trackedSent).toBeUndefined();
    // No command reached agent C: it logged nothing about this run, and the orphan is still there.
    expect(agents.c.logLines.some((l) => l.includes(runId))).toBe(false);
    expect(await exists('c', 'c-orphan')).toBe(true);

    // With the registry healthy again, the orphan goes and the 5,000-strong tracked set still protects the rest.
    const healthy = await makeReaper().run({ runId: `s5-ok-${randomUUID()}`, trigger: 'schedule', hosts: [H.c], deadlineAt: deadline() });
    expect(healthy.hosts).toMatchObject([{ hostId: H.c, status: 'ok', counts: { tracked: 3, orphans: 1, removed: 1 } }]);
    expect(await exists('c', 'c-orphan')).toBe(false);
    for (const kept of ['c-big-00010', 'c-big-02500', 'c-big-04999']) expect(await exists('c', kept)).toBe(true);
  });

  it('a report that cannot be written is logged whole, for recovery; the other hosts are unaffected', async () => {
    await store.tracked.untrack(H.b, 'b-lost');
    await make('b', 'b-lost');
    const client = dynamo.newClient();
    const injected = injectFailures(client, (call) => /^Put(Item)?Command$/.test(call.command) && call.hostId === H.b, () => sdkError('InternalServerError', 500));
    const reaper = makeReaper({ store: createStore({ client, prefix: dynamo.prefix }) });
    const runId = `lost-${randomUUID()}`;
    const result = await reaper.run({ runId, trigger: 'schedule', hosts: [H.a, H.b], deadlineAt: deadline() });

    expect(injected.failures).toBeGreaterThan(1); // retried before giving up
    expect(Object.fromEntries(result.hosts.map((h) => [h.hostId, h.reportWritten]))).toEqual({ [H.a]: true, [H.b]: false });
    // The run still lists B (its shard item has its status), and says its full report was not stored.
    const listed = byHost(await store.reports.reportsForRun(runId));
    expect(Object.keys(listed)).toEqual([H.a, H.b]);
    expect(listed[H.b]).toMatchObject({ status: 'ok', counts: null, containers: [], compact: true });
    expect(listed[H.b]!.error).toMatch(/REPORT NOT STORED/);
    type Logged = { msg: string; report?: { runId: string; hostId: string; status: string; agentReport?: { counts: unknown; containers: { clawboxId: string }[] } } };
    const line = reaperLog.lines.map((l) => JSON.parse(l) as Logged).find((l) => l.msg.startsWith('REPORT NOT STORED') && l.report?.runId === runId);
    // Everything the stored item would have held: the agent's counts and its per-container list.
    expect(line?.report).toMatchObject({ hostId: H.b, runId, status: 'ok' });
    expect(line?.report?.agentReport?.counts).toEqual(result.hosts.find((h) => h.hostId === H.b)?.counts);
    expect(line?.report?.agentReport?.containers.map((c) => c.clawboxId)).toContain('b-lost');
    await engines.b.docker.getContainer(made['b-lost']!.id).remove({ force: true });
  });

  it('the Lambda handler runs an EventBridge scheduled event and an async on-demand payload', async () => {
    await store.tracked.untrack(H.a, 'a-sched');
    const handler = createReaperHandler({ reaper: makeReaper(), logger: reaperLog.logger });
    const context = { getRemainingTimeInMillis: () => 60_000, awsRequestId: randomUUID() };
    const scheduled = scheduledEvent();
    const scheduledResult = await handler(scheduled, context);
    expect(scheduledResult).toMatchObject({ runId: scheduled.id, trigger: 'schedule', dryRun: false });
    const scheduledReports = byHost(await store.reports.reportsForRun(scheduled.id));
    expect(Object.keys(scheduledReports).sort()).toEqual([H.a, H.b, H.c, H.down, H.w]);
    expect(Object.values(scheduledReports).every((r) => r.trigger === 'schedule')).toBe(true);
    expect(await exists('a', 'a-sched')).toBe(false);

    await store.tracked.untrack(H.b, 'b-dry');
    const onDemand = { runId: `api-${randomUUID()}`, hosts: [H.b], dryRun: true };
    const onDemandResult = await handler(onDemand, context);
    expect(onDemandResult).toMatchObject({ runId: onDemand.runId, trigger: 'api', dryRun: true, hosts: [{ hostId: H.b, status: 'dry-run' }] });
    const [dryReport] = await store.reports.reportsForRun(onDemand.runId);
    expect(dryReport).toMatchObject({ status: 'dry-run', dryRun: true, trigger: 'api', counts: { orphans: 1, removed: 0 } });
    expect(dryReport!.containers).toEqual([expect.objectContaining({ clawboxId: 'b-dry', action: 'would-remove' })]);
    expect(await exists('b', 'b-dry')).toBe(true);
    await store.tracked.track(H.b, 'b-dry');

    await expect(handler({ runId: 'x' }, context)).rejects.toBeInstanceOf(InvalidEventError);
    await expect(handler({ runId: `api-${randomUUID()}`, hosts: [H.b], force: 'yes' }, context)).rejects.toBeInstanceOf(InvalidEventError);
    await expect(handler({ 'detail-type': 'Something Else', source: 'aws.events', id: 'x', time: 'y' }, context)).rejects.toBeInstanceOf(InvalidEventError);
  });

  it('the deployed entry (functions/reaper.ts handler) builds itself from the environment and runs a scheduled event', async () => {
    const env = {
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      // The SDK's own convention for pointing one service at another endpoint (SPEC §3).
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      REAPER_TABLE_PREFIX: dynamo.prefix,
      REAPER_MASTER_KEY: MASTER,
      REAPER_GRACE_SECONDS: String(GRACE_SECONDS),
      REAPER_STOP_TIMEOUT_SECONDS: '1',
      REAPER_AGENT_ATTEMPTS: '1',
      // S12: an agent call must not outlast the grace.
      REAPER_AGENT_TIMEOUT_SECONDS: '1',
      REAPER_QUARANTINE_SECONDS: '0',
      REAPER_MAX_REAP_PERCENT: '100',
      REAPER_LEASE_SKEW_SECONDS: '0',
      REAPER_LOG_LEVEL: 'silent',
    };
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    try {
      const { handler } = await import('../../functions/reaper.js');
      const event = scheduledEvent();
      const result = await handler(event, { getRemainingTimeInMillis: () => 60_000 });
      expect(result).toMatchObject({ runId: event.id, trigger: 'schedule' });
      const reports = byHost(await store.reports.reportsForRun(event.id));
      expect(Object.fromEntries(Object.values(reports).map((r) => [r.hostId, r.status]))).toEqual({
        [H.a]: 'ok',
        [H.b]: 'ok',
        [H.c]: 'ok',
        [H.w]: 'refused',
        [H.down]: 'unreachable',
      });
      expect(reports[H.a]).toMatchObject({ maxReap: 100, expiresAt: expect.any(Number) as number });
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('a master key that cannot be had gives every host an error report and sends nothing', async () => {
    const reaper = makeReaper({ masterKey: () => Promise.reject(new Error('ParameterNotFound')) });
    const result = await reaper.run({ runId: `nokey-${randomUUID()}`, trigger: 'schedule', hosts: [H.a, H.b], deadlineAt: deadline() });
    expect(result.hosts.map((h) => [h.hostId, h.status, h.attempts])).toEqual([
      [H.a, 'error', 0],
      [H.b, 'error', 0],
    ]);
    const reports = await store.reports.reportsForRun(result.runId);
    expect(reports.map((r) => r.error)).toEqual([expect.stringMatching(/master key unavailable.*ParameterNotFound/), expect.stringMatching(/master key unavailable/)]);
  });

  it('a deadline too short to reach every host still writes a timeout report for each, before the deadline', async () => {
    const hole = await startBlackHole();
    const ids = ['dl-0-hung', 'dl-1', 'dl-2', 'dl-3'];
    try {
      await store.hosts.put(ids[0]!, { agentUrl: hole.url, enabled: true });
      await store.hosts.put(ids[1]!, { agentUrl: agents.a.url, enabled: true });
      await store.hosts.put(ids[2]!, { agentUrl: agents.b.url, enabled: true });
      await store.hosts.put(ids[3]!, { agentUrl: downUrl, enabled: true });
      // One host at a time: the hung agent holds the only slot until the work deadline.
      const reaper = makeReaper({ overrides: { hostConcurrency: 1, reportMarginMs: 1000, agentTimeoutMs: 60_000 } });
      const deadlineAt = Date.now() + 2500;
      const result = await reaper.run({ runId: `deadline-${randomUUID()}`, trigger: 'api', hosts: ids, deadlineAt });
      expect(Date.now()).toBeLessThanOrEqual(deadlineAt);
      expect(result.hosts.map((h) => [h.hostId, h.status, h.attempts, h.reportWritten])).toEqual([
        ['dl-0-hung', 'timeout', 1, true],
        ['dl-1', 'timeout', 0, true],
        ['dl-2', 'timeout', 0, true],
        ['dl-3', 'timeout', 0, true],
      ]);
      expect(hole.connections()).toBeGreaterThanOrEqual(1);
      const reports = byHost(await store.reports.reportsForRun(result.runId));
      expect(Object.keys(reports).sort()).toEqual(ids);
      expect(reports['dl-0-hung']!.error).toMatch(/did not answer in time/);
      expect(reports['dl-1']!.error).toMatch(/not reached before the run deadline/);
      expect(reports['dl-1']!.snapshotAt).toBeUndefined();
    } finally {
      for (const id of ids) await store.hosts.delete(id);
      await hole.close();
    }
  });
});
