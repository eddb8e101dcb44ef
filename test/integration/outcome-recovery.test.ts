/**
 * Outcomes recovered (issue 10, item 4): the control plane loses the agent's answer and asks for
 * it (GET /v1/reaps/:runId), so the report stored is the real outcome, not an empty timeout.
 * Real parts: private engines (one per host, S10), real agents over HTTP with their state dirs,
 * dynalite, the real reaper; the faults are real too: a call limit shorter than the reap, a proxy
 * that forwards the command and cuts the answer, an agent restarted mid-reap, and a reap that
 * outlives the run (marked unknown, then filled in by the next run).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReapSettings } from '../../functions/reaper/config.js';
import { mayHaveActed, neverConnected } from '../../functions/reaper/recover.js';
import { AgentCallError, createAgentClient } from '../../lib/agent-client.js';
import { createStore, type Store } from '../../functions/store/index.js';
import { capturingLogger, startTestAgent, type TestAgent } from '../helpers/agent.js';
import { testReaper } from '../helpers/reaper.js';
import { makeContainers, stateOf, type MadeContainer } from '../helpers/containers.js';
import { startDynalite, type TestDynamo } from '../helpers/dynalite.js';
import { startEngine, type Engine } from '../helpers/engine.js';
import { closedPortUrl } from '../helpers/net.js';

const MASTER = randomBytes(32).toString('hex');
const HOSTS = { slow: 'or-slow', proxied: 'or-proxied', restarted: 'or-restarted', late: 'or-late' } as const;
type HostKey = keyof typeof HOSTS;

let dynamo: TestDynamo;
let store: Store;
const engines = {} as Record<HostKey, Engine>;
const agents = {} as Record<HostKey, TestAgent>;
const stateDirs: string[] = [];
let proxy: { url: string; cuts: () => number; close: () => Promise<void> };
const log = capturingLogger('info');

const reaper = (settings: Partial<ReapSettings> = {}) => testReaper({ store, masterKey: MASTER, logger: log.logger, settings: { agentAttempts: 3, ...settings } });

async function orphans(key: HostKey, n: number, kind: 'running' | 'exited'): Promise<MadeContainer[]> {
  const tag = randomUUID().slice(0, 6);
  const made = await makeContainers(engines[key].docker, Array.from({ length: n }, (_, i) => ({ clawboxId: `${tag}-${i}`, kind })), 4);
  // Older than the grace (0) on Docker's whole-second clock, whatever the signed timestamp's rounding.
  await sleep(2100);
  return made;
}

async function gone(key: HostKey, made: readonly MadeContainer[]): Promise<number> {
  let n = 0;
  for (const c of made) if ((await stateOf(engines[key].docker, c.id)) === undefined) n++;
  return n;
}

/**
 * Forwards every request to the agent; while cutting, a POST /v1/reap is forwarded whole, the
 * agent's answer read to its end, and the caller's connection then cut without a byte of it.
 */
async function cuttingProxy(target: string): Promise<typeof proxy> {
  let cuts = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const upstream = httpRequest(`${target}${req.url ?? '/'}`, { method: req.method, headers: req.headers }, (answer) => {
        if (req.method === 'POST' && req.url === '/v1/reap') {
          answer.resume();
          answer.on('end', () => {
            cuts++;
            req.socket.destroy();
          });
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => req.socket.destroy());
      upstream.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    cuts: () => cuts,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function startAgentFor(key: HostKey, options: { stateDir?: string; port?: number } = {}): Promise<TestAgent> {
  return startTestAgent({ dockerHost: engines[key].dockerHost, hostId: HOSTS[key], masterKey: MASTER, ...options });
}

beforeAll(async () => {
  dynamo = await startDynalite({ prefix: 'or-' });
  store = createStore({ client: dynamo.client, prefix: dynamo.prefix });
  const keys = Object.keys(HOSTS) as HostKey[];
  const started = await Promise.all(keys.map(() => startEngine()));
  for (const [i, key] of keys.entries()) engines[key] = started[i]!;
  for (const key of keys) {
    const stateDir = mkdtempSync(join(tmpdir(), 'cre-or-state-'));
    stateDirs.push(stateDir);
    agents[key] = await startAgentFor(key, { stateDir });
  }
  proxy = await cuttingProxy(agents.proxied.url);
  for (const key of keys) await store.hosts.put(HOSTS[key], { agentUrl: key === 'proxied' ? proxy.url : agents[key].url, enabled: true });
  // Pins every host to its engine (S10) before the faults begin.
  const warm = await reaper().run({ trigger: 'api', hosts: Object.values(HOSTS), dryRun: true, deadlineAt: Date.now() + 30_000 });
  expect(warm.hosts.map((h) => h.status)).toEqual(['dry-run', 'dry-run', 'dry-run', 'dry-run']);
});

afterAll(async () => {
  await proxy?.close();
  for (const agent of Object.values(agents)) await agent?.close();
  await Promise.all(Object.values(engines).map((e) => e.stop()));
  await dynamo?.close();
  for (const dir of stateDirs) rmSync(dir, { recursive: true, force: true });
});

describe('an answer lost is asked for, and the real outcome stored', () => {
  it('a call limit shorter than the reap (1 s against a 3 s stop): the outcome is recovered within the run', async () => {
    const made = await orphans('slow', 2, 'running');
    const runId = `or-slow-${randomUUID()}`;
    const started = Date.now();
    const result = await reaper({ agentTimeoutMs: 1000, stopTimeoutSeconds: 3 }).run({ runId, trigger: 'api', hosts: [HOSTS.slow], deadlineAt: Date.now() + 30_000 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(3000);
    expect(result.hosts[0]).toMatchObject({ status: 'ok', outcome: 'recovered', attempts: 1, counts: { orphans: 2, removed: 2 } });
    expect(await gone('slow', made)).toBe(2);
    const [report] = await store.reports.reportsForRun(runId);
    expect(report).toMatchObject({ hostId: HOSTS.slow, status: 'ok', outcome: 'recovered', lostStatus: 'timeout', counts: { removed: 2, stopped: 2 }, containersTotal: 2 });
    expect(report?.lostError).toMatch(/did not answer in time/);
    expect(report?.error).toBeUndefined();
    expect(report?.recoveredBy).toBeUndefined();
    expect((await store.hosts.get(HOSTS.slow))?.lastReap).toMatchObject({ runId, status: 'ok', counts: { removed: 2 } });
  });

  it('a proxy that forwards the command and cuts the answer: the stored report is what the agent did, not an empty failure', async () => {
    const made = await orphans('proxied', 3, 'exited');
    const runId = `or-proxy-${randomUUID()}`;
    const cutsBefore = proxy.cuts();
    const result = await reaper().run({ runId, trigger: 'api', hosts: [HOSTS.proxied], deadlineAt: Date.now() + 30_000 });
    expect(proxy.cuts()).toBe(cutsBefore + 1);
    expect(result.hosts[0]).toMatchObject({ status: 'ok', outcome: 'recovered', attempts: 1 });
    const [report] = await store.reports.reportsForRun(runId);
    // The counts match the engine: exactly the containers that are gone.
    expect(await gone('proxied', made)).toBe(3);
    expect(report).toMatchObject({ status: 'ok', outcome: 'recovered', lostStatus: 'unreachable', counts: { orphans: 3, removed: 3 } });
    expect(report?.containers.map((c) => c.dockerId).sort()).toEqual(made.map((c) => c.id).sort());
  });

  it('an agent restarted mid-reap (answer cut, reap finished and kept, agent back on its state dir): the outcome is recovered', async () => {
    const made = await orphans('restarted', 2, 'running');
    const runId = `or-restart-${randomUUID()}`;
    const stateDir = stateDirs[2]!;
    const port = Number(new URL(agents.restarted.url).port);
    const run = reaper({ stopTimeoutSeconds: 3 }).run({ runId, trigger: 'api', hosts: [HOSTS.restarted], deadlineAt: Date.now() + 40_000 });
    // Once the agent is reaping: cut every connection (the command's answer with them), let the
    // reap finish and keep its report, then start a new agent process on the same port and dir.
    for (let i = 0; ; i++) {
      const asked = await agents.restarted.client.reapResult(runId).catch(() => undefined);
      if (asked?.status === 'running') break;
      if (i > 100) throw new Error('the command never reached the agent');
      await sleep(50);
    }
    const old = agents.restarted;
    (old.server as Server).closeAllConnections();
    await old.close();
    await sleep(700);
    agents.restarted = await startAgentFor('restarted', { stateDir, port });
    const result = await run;
    expect(result.hosts[0]).toMatchObject({ status: 'ok', outcome: 'recovered', counts: { removed: 2 } });
    expect(await gone('restarted', made)).toBe(2);
    const [report] = await store.reports.reportsForRun(runId);
    expect(report).toMatchObject({ status: 'ok', outcome: 'recovered', counts: { orphans: 2, removed: 2 } });
    expect(['unreachable', 'timeout']).toContain(report?.lostStatus);
  });
});

describe('an outcome still unknown at the deadline', () => {
  it('is stored marked unknown (the grant spent), and the next run asks the agent and fills it in', async () => {
    const made = await orphans('late', 1, 'running');
    const first = `or-late-${randomUUID()}`;
    // The run ends (work deadline ~2 s) long before the agent's 6 s stop does.
    const result = await reaper({ agentTimeoutMs: 1000, stopTimeoutSeconds: 6 }).run({ runId: first, trigger: 'api', hosts: [HOSTS.late], deadlineAt: Date.now() + 3500 });
    expect(result.hosts[0]).toMatchObject({ status: 'timeout', outcome: 'unknown', counts: null, reportWritten: true });
    const [unknown] = await store.reports.reportsForRun(first);
    expect(unknown).toMatchObject({ status: 'timeout', outcome: 'unknown', counts: null, attempts: 1 });
    expect(unknown?.error).toMatch(/outcome unknown/);
    const host = await store.hosts.get(HOSTS.late);
    expect(host?.lastReap).toMatchObject({ runId: first, status: 'timeout', outcome: 'unknown', unknownRuns: [{ runId: first, startedAt: unknown?.startedAt }] });

    // The agent finishes its reap meanwhile.
    for (let i = 0; (await agents.late.client.reapResult(first)).status === 'running'; i++) {
      if (i > 200) throw new Error('the agent never finished');
      await sleep(100);
    }
    expect(await gone('late', made)).toBe(1);

    const second = `or-late2-${randomUUID()}`;
    const next = await reaper().run({ runId: second, trigger: 'api', hosts: [HOSTS.late], deadlineAt: Date.now() + 30_000 });
    expect(next.hosts[0]).toMatchObject({ status: 'ok' });
    expect(next.hosts[0]?.outcome).toBeUndefined();
    const [filled] = await store.reports.reportsForRun(first);
    expect(filled).toMatchObject({
      hostId: HOSTS.late,
      runId: first,
      sk: unknown?.sk,
      startedAt: unknown?.startedAt,
      status: 'ok',
      outcome: 'recovered',
      recoveredBy: second,
      lostStatus: 'timeout',
      counts: { orphans: 1, removed: 1 },
      containersTotal: 1,
      attempts: 1,
    });
    expect(filled?.error).toBeUndefined();
    expect(filled?.lostError).toMatch(/outcome unknown/);
    expect(filled?.containers.map((c) => c.dockerId)).toEqual([made[0]!.id]);
    // Nothing left to fill in, and still one report per host per run.
    expect((await store.hosts.get(HOSTS.late))?.lastReap).toMatchObject({ runId: second, status: 'ok' });
    expect((await store.hosts.get(HOSTS.late))?.lastReap?.unknownRuns).toBeUndefined();
    expect(await store.reports.reportsForRun(first)).toHaveLength(1);

    // A recovered report is never rewritten.
    const again = await store.reports.fillInReport({ hostId: HOSTS.late, runId: first, startedAt: unknown!.startedAt }, await agents.late.client.reapResult(first).then((r) => {
      if (r.status === 'running') throw new Error('running');
      return { ...r, counts: { ...r.counts, removed: 99 } };
    }), { at: new Date().toISOString(), byRunId: second });
    expect(again).toBe(false);
    expect((await store.reports.reportsForRun(first))[0]?.counts?.removed).toBe(1);
  });
});

describe('which failed calls may have reached the agent (ask) and which cannot (retry or stop)', () => {
  it('a refused connection never carried the command; a timeout, a 5xx, a cut connection may have', async () => {
    const client = createAgentClient({ baseUrl: await closedPortUrl(), hostKey: randomBytes(32) });
    const refused = await client.reapResult('run-closed-port').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(AgentCallError);
    expect([neverConnected(refused), mayHaveActed(refused)]).toEqual([true, false]);

    expect(mayHaveActed(new AgentCallError('timeout', 'agent did not answer in time'))).toBe(true);
    expect(mayHaveActed(new AgentCallError('unreachable', 'agent dropped the answer', 200))).toBe(true);
    expect(mayHaveActed(new AgentCallError('unreachable', 'other side closed', undefined, undefined, { cause: Object.assign(new Error('fetch failed'), { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) }) }))).toBe(true);
    expect(mayHaveActed(new AgentCallError('error', 'agent refused (502 bad gateway)', 502))).toBe(true);
    expect(mayHaveActed(new AgentCallError('bad-answer', 'not the contract', 200))).toBe(true);
    // Answered refusals: nothing began.
    expect(mayHaveActed(new AgentCallError('refused', 'bad signature', 401, 'bad_signature'))).toBe(false);
    expect(mayHaveActed(new AgentCallError('refused', 'answer signature missing', undefined, 'bad_answer_signature', { claimedStatus: 200 }))).toBe(true);
    expect(mayHaveActed(new AgentCallError('error', 'busy', 409, 'reap_in_progress'))).toBe(false);
    expect(mayHaveActed(new AgentCallError('error', 'too large', 413, 'payload_too_large'))).toBe(false);
    expect(mayHaveActed(new AgentCallError('refused', 'unsigned 401', undefined, 'bad_answer_signature', { claimedStatus: 401 }))).toBe(false);
    // …but the agent saying it began the run and never finished it is an unknown outcome.
    expect(mayHaveActed(new AgentCallError('error', 'interrupted', 409, 'run_interrupted'))).toBe(true);
    // A TLS handshake refused: no request went out.
    expect(mayHaveActed(new AgentCallError('error', 'untrusted certificate', undefined, 'agent_tls_untrusted'))).toBe(false);
  });
});
