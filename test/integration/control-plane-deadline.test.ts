/**
 * S8 under a slow registry: every host gets a report, written before the Lambda's deadline, even
 * when the per-host registry reads take longer than the whole run. Real parts: dynalite (the
 * slowness injected with SDK middleware on the reaper's own client), two real agents on a private
 * engine, a hung server and a closed port.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes, randomUUID } from 'node:crypto';
import { createStore, type Store } from '../../functions/store/index.js';
import { DEFAULT_REAP_SETTINGS } from '../../functions/reaper/config.js';
import { staticMasterKey } from '../../functions/reaper/master-key.js';
import { createReaper } from '../../functions/reaper/run.js';
import { startEngine, type Engine } from '../helpers/engine.js';
import { capturingLogger, startTestAgent, type TestAgent } from '../helpers/agent.js';
import { startDynalite, type TestDynamo } from '../helpers/dynalite.js';
import { closedPortUrl, startIdentityOnlyAgents } from '../helpers/net.js';
import { delayCalls, recordCompletions } from '../helpers/sdk-middleware.js';

const MASTER = randomBytes(32).toString('hex');
const HOSTS = 40;
const CONCURRENCY = 4;
const DEADLINE_MS = 5000;
const MARGIN_MS = 2000;
const READ_DELAY_MS = 8000;

let dynamo: TestDynamo;
let store: Store;
let engine: Engine;
let engine2: Engine;
let identityOnly: Awaited<ReturnType<typeof startIdentityOnlyAgents>>;
const agents: TestAgent[] = [];

/** Fast reads: a real agent and closed ports. Slow reads: a real agent and the rest, on a hung server. */
const FAST_AGENT = 'dl-fast-agent';
const SLOW_AGENT = 'dl-slow-agent';
const fastIds = [FAST_AGENT, 'dl-fast-down-0', 'dl-fast-down-1'];
const slowIds = [SLOW_AGENT, ...Array.from({ length: HOSTS - fastIds.length - 1 }, (_, i) => `dl-slow-${String(i).padStart(2, '0')}`)];

beforeAll(async () => {
  dynamo = await startDynalite({ prefix: 'dl-' });
  store = createStore({ client: dynamo.client, prefix: dynamo.prefix });
  // One engine per host record (S10: two records on one engine are refused).
  [engine, engine2] = await Promise.all([startEngine(), startEngine()]);
  agents.push(await startTestAgent({ dockerHost: engine.dockerHost, hostId: FAST_AGENT, masterKey: MASTER }));
  agents.push(await startTestAgent({ dockerHost: engine2.dockerHost, hostId: SLOW_AGENT, masterKey: MASTER }));
  // The slow hosts answer the identity step, so what is cut off is their registry read.
  identityOnly = await startIdentityOnlyAgents(MASTER);
  const down = await closedPortUrl();
  await store.hosts.put(FAST_AGENT, { agentUrl: agents[0]!.url, enabled: true });
  await store.hosts.put(SLOW_AGENT, { agentUrl: agents[1]!.url, enabled: true });
  for (const id of fastIds.slice(1)) await store.hosts.put(id, { agentUrl: down, enabled: true });
  for (const id of slowIds.slice(1)) await store.hosts.put(id, { agentUrl: identityOnly.urlFor(id), enabled: true });
  for (const id of [...fastIds, ...slowIds]) await store.tracked.track(id, `${id}-kept`);
});

afterAll(async () => {
  await Promise.allSettled(agents.map((agent) => agent.close()));
  await identityOnly?.close();
  await engine?.stop();
  await engine2?.stop();
  await dynamo?.close();
});

describe('run deadline with a slow registry (S8)', () => {
  it('every host gets a report written before the deadline; a read cut off sends nothing and is a timeout', async () => {
    const client = dynamo.newClient();
    const slow = new Set(slowIds);
    const delay = delayCalls(client, (call) => call.command === 'QueryCommand' && call.hostId !== undefined && slow.has(call.hostId), READ_DELAY_MS);
    const completions = recordCompletions(client);
    const log = capturingLogger('info');
    const reaper = createReaper({
      store: createStore({ client, prefix: dynamo.prefix }),
      masterKey: staticMasterKey(MASTER),
      logger: log.logger,
      settings: { ...DEFAULT_REAP_SETTINGS, quarantineSeconds: 0, maxReapPercent: 100, hostConcurrency: CONCURRENCY, reportMarginMs: MARGIN_MS, agentAttempts: 2, agentTimeoutMs: 60_000 },
    });
    const runId = `deadline-${randomUUID()}`;
    const deadlineAt = Date.now() + DEADLINE_MS;
    const workDeadline = deadlineAt - MARGIN_MS;
    try {
      const result = await reaper.run({ runId, trigger: 'schedule', deadlineAt });
      const returnedAt = Date.now();
      expect(returnedAt).toBeLessThanOrEqual(deadlineAt);

      // Every host has a report, and every write came back before the deadline.
      expect(result.hosts).toHaveLength(HOSTS);
      expect(result.hosts.every((h) => h.reportWritten)).toBe(true);
      const reports = await store.reports.reportsForRun(runId);
      expect(reports.map((r) => r.hostId).sort()).toEqual([...fastIds, ...slowIds].sort());
      // A full report item for every host where something happened; the quiet one (the fast agent
      // had nothing to do) is recorded in the shard item, written before the deadline too.
      const puts = completions.filter((c) => c.command === 'PutItemCommand' && c.table === dynamo.tables.reports);
      expect(puts.map((p) => p.hostId).sort()).toEqual([...fastIds, ...slowIds].filter((h) => h !== FAST_AGENT).sort());
      expect(reports.find((r) => r.hostId === FAST_AGENT)).toMatchObject({ status: 'ok', compact: true });
      const shardPuts = completions.filter((c) => c.command === 'PutItemCommand' && c.table === dynamo.tables.runs);
      expect(shardPuts.length).toBeGreaterThanOrEqual(2); // the header and the shard item
      for (const put of [...puts, ...shardPuts]) expect(put.completedAt).toBeLessThanOrEqual(deadlineAt);
      for (const report of reports) expect(Date.parse(report.finishedAt)).toBeLessThanOrEqual(deadlineAt);

      // The slow reads held every slot until the work deadline and were cut off there: `timeout`,
      // nothing sent. The hosts queued behind them were not reached and were reported at once.
      const cutOff = reports.filter((r) => /registry read not finished before the run deadline/.test(r.error ?? ''));
      const notReached = reports.filter((r) => /not reached before the run deadline/.test(r.error ?? ''));
      expect(cutOff).toHaveLength(CONCURRENCY);
      expect(notReached.length).toBeGreaterThan(0);
      expect(cutOff.length + notReached.length + reports.filter((r) => fastIds.includes(r.hostId) && !notReached.includes(r)).length).toBe(HOSTS);
      for (const r of cutOff) {
        expect(slow.has(r.hostId)).toBe(true);
        expect(r).toMatchObject({ status: 'timeout', attempts: 0, counts: null });
        expect(r.trackedSent).toBeUndefined();
        expect(Date.parse(r.finishedAt)).toBeGreaterThanOrEqual(workDeadline);
      }
      for (const r of notReached) {
        expect(r).toMatchObject({ status: 'timeout', attempts: 0, counts: null });
        expect(r.snapshotAt).toBeUndefined();
      }
      for (const r of reports.filter((x) => slow.has(x.hostId))) expect(r.status).toBe('timeout');
      // A fast host reached in time got its real verdict.
      const fastReached = reports.filter((r) => fastIds.includes(r.hostId) && !notReached.includes(r));
      for (const r of fastReached) expect(r.status).toBe(r.hostId === FAST_AGENT ? 'ok' : 'unreachable');
      // Each slow host's tracked and quarantine reads (made together) were held.
      expect(delay.delayed()).toBe(CONCURRENCY * 2);

      // No command reached a host whose read was slow: past the identity step the slow hosts'
      // server saw no request, and the slow host's real agent logged nothing about this run.
      expect(identityOnly.commands()).toBe(0);
      expect(agents[1]!.logLines.some((l) => l.includes(runId))).toBe(false);

      // lastReap, a convenience copy, is not written past the work deadline.
      for (const r of cutOff) expect((await store.hosts.get(r.hostId))?.lastReap?.runId).not.toBe(runId);
      expect(log.lines.some((l) => l.includes('REPORT NOT STORED'))).toBe(false);
    } finally {
      delay.release();
    }
  });

  it('a report write still pending at the deadline is abandoned and the report logged whole; the run still ends in time', async () => {
    const client = dynamo.newClient();
    const stuck = 'dl-fast-down-0';
    const delay = delayCalls(client, (call) => call.command === 'PutItemCommand' && call.hostId === stuck, READ_DELAY_MS);
    const log = capturingLogger('info');
    const reaper = createReaper({
      store: createStore({ client, prefix: dynamo.prefix }),
      masterKey: staticMasterKey(MASTER),
      logger: log.logger,
      settings: { ...DEFAULT_REAP_SETTINGS, quarantineSeconds: 0, maxReapPercent: 100, hostConcurrency: CONCURRENCY, reportMarginMs: 1000, agentAttempts: 1 },
    });
    const runId = `stuck-${randomUUID()}`;
    const deadlineAt = Date.now() + 3000;
    try {
      const result = await reaper.run({ runId, trigger: 'api', hosts: [FAST_AGENT, stuck], deadlineAt });
      expect(Date.now()).toBeLessThanOrEqual(deadlineAt);
      expect(Object.fromEntries(result.hosts.map((h) => [h.hostId, [h.status, h.reportWritten]]))).toEqual({ [FAST_AGENT]: ['ok', true], [stuck]: ['unreachable', false] });
      expect(delay.delayed()).toBe(1);
      type Logged = { msg: string; report?: { runId: string; hostId: string; status: string } };
      const line = log.lines.map((l) => JSON.parse(l) as Logged).find((l) => l.msg.startsWith('REPORT NOT STORED'));
      expect(line?.report).toMatchObject({ runId, hostId: stuck, status: 'unreachable' });
      // The run still names the stuck host, with its status, and says its report was not stored.
      const reports = await store.reports.reportsForRun(runId);
      expect(reports.map((r) => r.hostId)).toEqual([FAST_AGENT, stuck]);
      expect(reports[1]).toMatchObject({ status: 'unreachable', counts: null, compact: true });
      expect(reports[1]!.error).toMatch(/REPORT NOT STORED/);
    } finally {
      delay.release();
    }
  });
});
