/**
 * Alerts and metrics on real parts (issue 11): a real HTTP server receives the webhook alerts of
 * real reaper runs against real agents on private engines (one per host, S10) and dynalite; an
 * unreachable host is a closed port.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAlerter, type Alert } from '../../functions/reaper/alerts.js';
import { DEFAULT_REAP_SETTINGS } from '../../functions/reaper/config.js';
import { staticMasterKey } from '../../functions/reaper/master-key.js';
import { createReaper } from '../../functions/reaper/run.js';
import { createStore, type Store } from '../../functions/store/index.js';
import { capturingLogger, startTestAgent, type TestAgent } from '../helpers/agent.js';
import { makeContainers } from '../helpers/containers.js';
import { startDynalite, type TestDynamo } from '../helpers/dynalite.js';
import { startEngine, type Engine } from '../helpers/engine.js';
import { closedPortUrl } from '../helpers/net.js';

const MASTER = randomBytes(32).toString('hex');
const RUN_LABEL = `alerts-${randomUUID().slice(0, 8)}`;

let dynamo: TestDynamo;
let store: Store;
const engines: Engine[] = [];
const agents: TestAgent[] = [];
const log = capturingLogger('info');

/** The webhook receiver: answers as `mode` says and records every request it got. */
let mode: 'ok' | 'fail' | 'hang' = 'ok';
const received: Alert[] = [];
const hung: ServerResponse[] = [];
let hook: Server;
let hookUrl: string;

function reaper(options: { streak?: number; metrics?: string[] } = {}) {
  const alerter = createAlerter({ settings: { webhookUrl: hookUrl, failureStreak: options.streak ?? 3 }, logger: log.logger });
  return createReaper({
    store,
    masterKey: staticMasterKey(MASTER),
    logger: log.logger,
    settings: { ...DEFAULT_REAP_SETTINGS, graceSeconds: 0, quarantineSeconds: 0, stopTimeoutSeconds: 0, agentAttempts: 1, reportMarginMs: 1000, maxReapPercent: 50, maxReapPercentMin: 3, agentTimeoutMs: 5000 },
    alerter,
    ...(options.metrics ? { metrics: { write: (line: string) => void options.metrics!.push(line), stage: 'test' } } : {}),
  });
}

beforeAll(async () => {
  hook = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Alert);
      if (mode === 'hang') hung.push(res);
      else res.writeHead(mode === 'ok' ? 204 : 500).end();
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  const address = hook.address();
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  hookUrl = `http://127.0.0.1:${address.port}/hook`;

  dynamo = await startDynalite({ prefix: 'al-' });
  store = createStore({ client: dynamo.client, prefix: dynamo.prefix });
  engines.push(...(await Promise.all([startEngine(), startEngine()])));
  for (const [i, hostId] of ['al-cap', 'al-ok'].entries()) {
    agents.push(await startTestAgent({ dockerHost: engines[i]!.dockerHost, hostId, masterKey: MASTER }));
    await store.hosts.put(hostId, { agentUrl: agents[i]!.url, enabled: true });
  }
  await store.hosts.put('al-down', { agentUrl: await closedPortUrl(), enabled: true });
  await store.hosts.put('al-streak', { agentUrl: await closedPortUrl(), enabled: true });
  // 10 labelled, none tracked: more orphans than 50 % caps the host (S4 extended).
  await makeContainers(engines[0]!.docker, Array.from({ length: 10 }, (_, k) => ({ clawboxId: `c-${k}`, kind: 'created' as const, runLabel: RUN_LABEL })), 8);
  await sleep(2_100);
}, 180_000);

afterAll(async () => {
  for (const res of hung) res.destroy();
  hook?.close();
  for (const agent of agents) await agent.close();
  await Promise.all(engines.map((e) => e.stop()));
  await dynamo?.close();
});

const HOSTS = ['al-cap', 'al-ok', 'al-down'];

describe('alerts on a real run', () => {
  it('a capped and an unreachable host get one alert each, an ok host none; the run emits one EMF line', async () => {
    mode = 'ok';
    received.length = 0;
    const metrics: string[] = [];
    const result = await reaper({ metrics }).run({ trigger: 'api', hosts: HOSTS, deadlineAt: Date.now() + 60_000 });
    expect(Object.fromEntries(result.hosts.map((h) => [h.hostId, h.status]))).toEqual({ 'al-cap': 'capped', 'al-ok': 'ok', 'al-down': 'unreachable' });
    const mine = received.filter((a) => a.runId === result.runId);
    expect(mine.map((a) => [a.kind, a.hostId, a.status]).sort()).toEqual([
      ['host-status', 'al-cap', 'capped'],
      ['host-status', 'al-down', 'unreachable'],
    ]);
    for (const a of mine) {
      expect(Object.keys(a).sort()).toEqual(['counts', 'hostId', 'kind', 'message', 'runId', 'status', 'text']);
      expect(a.text).toMatch(new RegExp(`^clawbox-reaper: host ${a.hostId} is ${a.status} in run ${result.runId}: .+`));
      expect(JSON.stringify(a)).not.toContain(MASTER);
    }
    expect(mine.find((a) => a.hostId === 'al-cap')!.message).toContain('capped by max-reap-percent');

    expect(metrics).toHaveLength(1);
    const emf = JSON.parse(metrics[0]!) as Record<string, unknown> & { _aws: { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string; Unit: string }> }> } };
    expect(emf._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: 'ClawboxReaper', Dimensions: [['Stage']] });
    for (const m of emf._aws.CloudWatchMetrics[0]!.Metrics) expect(typeof emf[m.Name], m.Name).toBe('number');
    expect(emf).toMatchObject({ Stage: 'test', runId: result.runId, OrphansRemoved: 0, HostsCapped: 1, HostsFailing: 1, ReportsNotStored: 0 });
  }, 60_000);

  for (const failing of ['fail', 'hang'] as const) {
    it(`a webhook that ${failing === 'fail' ? 'answers 500' : 'hangs'} loses no report and does not hold the run past its deadline`, async () => {
      mode = failing;
      received.length = 0;
      const deadlineAt = Date.now() + 9_000;
      const result = await reaper().run({ trigger: 'api', hosts: HOSTS, deadlineAt });
      expect(Date.now()).toBeLessThanOrEqual(deadlineAt);
      expect(result.hosts.every((h) => h.reportWritten)).toBe(true);
      expect((await store.reports.reportsForRun(result.runId)).map((r) => r.hostId).sort()).toEqual([...HOSTS].sort());
      // Two tries per alert (al-down's third failure in a row here also brings its streak alert).
      const tries = new Map<string, number>();
      for (const a of received.filter((x) => x.runId === result.runId)) tries.set(`${a.kind} ${a.hostId}`, (tries.get(`${a.kind} ${a.hostId}`) ?? 0) + 1);
      expect(tries.get('host-status al-cap')).toBeGreaterThanOrEqual(1);
      expect(tries.get('host-status al-down')).toBeGreaterThanOrEqual(1);
      // A refused answer is retried at once; a hung one after its 3 s try limit, within the budget.
      for (const n of tries.values()) expect([...(failing === 'fail' ? [2] : [1, 2])]).toContain(n);
      expect(log.lines.some((l) => l.includes('alert not delivered') && l.includes(result.runId))).toBe(true);
      expect(log.lines.join('\n')).not.toContain(hookUrl);
    }, 30_000);
  }

  it('the streak alert fires on the third failure in a row and not before or after', async () => {
    mode = 'ok';
    const streaks: number[] = [];
    for (let i = 0; i < 4; i++) {
      received.length = 0;
      const result = await reaper({ streak: 3 }).run({ trigger: 'api', hosts: ['al-streak'], deadlineAt: Date.now() + 30_000 });
      const mine = received.filter((a) => a.runId === result.runId);
      expect(mine.filter((a) => a.kind === 'host-status')).toHaveLength(1);
      streaks.push(mine.filter((a) => a.kind === 'failure-streak').length);
      if (i === 2) expect(mine.find((a) => a.kind === 'failure-streak')!.text).toContain('host al-streak has failed 3 runs in a row');
    }
    expect(streaks).toEqual([0, 0, 1, 0]);
  }, 60_000);
});
