/**
 * Signed answers (SPEC §4, issue 10 item 2) against a man in the middle: a real node:http proxy
 * between the reaper and a real agent (private engine, dynalite) that forwards every command and
 * alters, strips, replays or forges the answers. The agent acts on the command each time; what the
 * reaper stores must never be a forged outcome:
 * - an honest proxy changes nothing;
 * - counts altered on every reap answer, or every reap answer replaced by a forged unsigned 401:
 *   `refused`, `bad_answer_signature`, no counts (never the forged ones);
 * - the command's answer stripped of its signature, or replaced by an earlier genuine answer: not
 *   believed; either the real report is had after all (GET /v1/reaps/:runId, honest here) or the
 *   report is `refused`, `bad_answer_signature`; never the replayed counts;
 * - the client verifies error answers too (403, 409) and refuses an unsigned 401.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_REAP_SETTINGS } from '../../functions/reaper/config.js';
import type { HostOutcome } from '../../functions/reaper/host-reap.js';
import { staticMasterKey } from '../../functions/reaper/master-key.js';
import { createReaper } from '../../functions/reaper/run.js';
import { createStore, type Store } from '../../functions/store/index.js';
import { AgentCallError, createAgentClient } from '../../lib/agent-client.js';
import { startTestAgent, capturingLogger, type TestAgent } from '../helpers/agent.js';
import { makeContainers, stateOf, type MadeContainer } from '../helpers/containers.js';
import { startDynalite, type TestDynamo } from '../helpers/dynalite.js';
import { startEngine, type Engine } from '../helpers/engine.js';

const MASTER = randomBytes(32).toString('hex');
const HOST = 'mitm-host';

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}
/** What the man in the middle does to one answer; undefined: passes it on as it came. */
type Tamper = (request: { method: string; path: string }, answer: Answer) => Answer | undefined;

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'date']);

let engine: Engine;
let agent: TestAgent;
let dynamo: TestDynamo;
let store: Store;
let proxy: Server;
let proxyUrl: string;
let tamper: Tamper = () => undefined;
/** Every answer the proxy got from the agent, as it got it. */
const seen: { method: string; path: string; answer: Answer }[] = [];

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

beforeAll(async () => {
  engine = await startEngine();
  agent = await startTestAgent({ dockerHost: engine.dockerHost, hostId: HOST, masterKey: MASTER });
  dynamo = await startDynalite({ prefix: 'mitm-' });
  store = createStore({ client: dynamo.client, prefix: dynamo.prefix });
  // The man in the middle: forwards every request as it came, then does `tamper` to the answer.
  proxy = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(name) && name !== 'host' && typeof value === 'string') headers[name] = value;
      const upstream = await fetch(agent.url + (req.url ?? '/'), { method: req.method ?? 'GET', headers, ...(body.length ? { body: new Uint8Array(body) } : {}), redirect: 'manual' });
      const answer: Answer = { status: upstream.status, headers: {}, body: Buffer.from(await upstream.arrayBuffer()) };
      upstream.headers.forEach((value, name) => {
        if (!HOP_BY_HOP.has(name)) answer.headers[name] = value;
      });
      const request = { method: req.method ?? 'GET', path: req.url ?? '/' };
      seen.push({ ...request, answer });
      const out = tamper(request, answer) ?? answer;
      res.writeHead(out.status, { ...out.headers, 'content-length': String(out.body.length) });
      res.end(out.body);
    })().catch((error: unknown) => {
      res.writeHead(502);
      res.end(String(error));
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const address = proxy.address();
  proxyUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  await store.hosts.put(HOST, { agentUrl: proxyUrl, enabled: true });
});

afterAll(async () => {
  proxy?.closeAllConnections();
  await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
  await agent?.close();
  await dynamo?.close();
  await engine?.stop();
});

const isReapAnswer = (r: { method: string; path: string }) => (r.method === 'POST' && r.path === '/v1/reap') || (r.method === 'GET' && r.path.startsWith('/v1/reaps/'));
const isCommandAnswer = (r: { method: string; path: string }) => r.method === 'POST' && r.path === '/v1/reap';

async function orphans(n: number): Promise<MadeContainer[]> {
  const made = await makeContainers(engine.docker, Array.from({ length: n }, (_, i) => ({ clawboxId: `mitm-${randomUUID().slice(0, 8)}-${i}`, kind: 'created' as const })));
  await sleep(2_100);
  return made;
}

/** One reaper run over the proxy, the man in the middle doing `how`; this host's outcome. */
async function runThrough(how: Tamper, deadlineMs = 60_000): Promise<HostOutcome> {
  tamper = how;
  try {
    const reaper = createReaper({
      store,
      masterKey: staticMasterKey(MASTER),
      logger: capturingLogger('warn').logger,
      settings: { ...DEFAULT_REAP_SETTINGS, quarantineSeconds: 0, maxReapPercent: 100, graceSeconds: 0, stopTimeoutSeconds: 0, agentAttempts: 2, reportMarginMs: 1_000 },
    });
    const result = await reaper.run({ trigger: 'api', deadlineAt: Date.now() + deadlineMs });
    const outcome = result.hosts.find((h) => h.hostId === HOST);
    if (!outcome) throw new Error(`no outcome for ${HOST}: ${JSON.stringify(result)}`);
    return outcome;
  } finally {
    tamper = () => undefined;
  }
}

const gone = async (made: MadeContainer[]) => (await Promise.all(made.map((c) => stateOf(engine.docker, c.id)))).every((s) => s === undefined);

let firstCommandAnswer: Answer | undefined;

/**
 * After the command's answer was not believed, the real report may still be had (the reaper asks
 * GET /v1/reaps/:runId when the agent may have acted: functions/reaper/recover.ts); otherwise the
 * report is refused for the bad answer signature. Never anything the man in the middle sent.
 */
function expectRealOrRefused(outcome: HostOutcome, removed: number) {
  if (outcome.status === 'ok') expect(outcome).toMatchObject({ counts: { removed }, outcome: 'recovered' });
  else expect(outcome).toMatchObject({ status: 'refused', errorCode: 'bad_answer_signature', counts: null });
}

describe('a man in the middle cannot forge or alter a host report', () => {
  it('an honest proxy: the run is ok with the real counts', async () => {
    const made = await orphans(1);
    const outcome = await runThrough(() => undefined);
    expect(outcome).toMatchObject({ status: 'ok', counts: { removed: 1 } });
    expect(await gone(made)).toBe(true);
    firstCommandAnswer = seen.filter(isCommandAnswer).at(-1)?.answer;
    expect(firstCommandAnswer?.headers['x-reaper-answer-signature']).toMatch(/^v1=[0-9a-f]{64}$/);
  });

  it('counts altered on every reap answer ("removed":N -> "removed":0, signature kept): refused, bad_answer_signature, never the forged counts', async () => {
    const made = await orphans(2);
    const outcome = await runThrough((request, answer) => {
      if (!isReapAnswer(request) || answer.status !== 200) return undefined;
      return { ...answer, body: Buffer.from(answer.body.toString('utf8').replace(/"removed":\d+/, '"removed":0')) };
    }, 8_000);
    expect(outcome).toMatchObject({ status: 'refused', errorCode: 'bad_answer_signature', counts: null });
    expect(outcome.error).toMatch(/x-reaper-answer-signature/i);
    // The agent did act; the report does not believe "removed":0.
    expect(await gone(made)).toBe(true);
    expect(outcome.outcome).not.toBe('recovered');
  });

  it("a forged unsigned 401 in place of every reap answer (the command went through): bad_answer_signature, the claimed refusal not taken at its word", async () => {
    const made = await orphans(1);
    const forged = { status: 401, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ error: { code: 'bad_signature', message: 'signature does not match this host key' } })) };
    const outcome = await runThrough((request) => (isReapAnswer(request) ? forged : undefined), 8_000);
    expect(outcome).toMatchObject({ status: 'refused', errorCode: 'bad_answer_signature', counts: null });
    expect(outcome.error).toContain('claims 401 bad_signature');
    expect(await gone(made)).toBe(true);
  });

  it("the command's answer stripped of its signature: not believed (the real report, asked for, or bad_answer_signature)", async () => {
    const made = await orphans(1);
    const outcome = await runThrough((request, answer) => {
      if (!isCommandAnswer(request)) return undefined;
      const { 'x-reaper-answer-signature': _stripped, ...headers } = answer.headers;
      return { ...answer, headers };
    });
    expectRealOrRefused(outcome, 1);
    expect(await gone(made)).toBe(true);
  });

  it("an earlier genuine, signed answer replayed for this run's command: not believed, it answers another request (the real report, or bad_answer_signature)", async () => {
    expect(firstCommandAnswer).toBeDefined();
    const made = await orphans(2);
    const outcome = await runThrough((request) => (isCommandAnswer(request) ? firstCommandAnswer : undefined));
    // Run 1's answer said removed 1; this run removed 2.
    expectRealOrRefused(outcome, 2);
    expect(await gone(made)).toBe(true);
  });
});

describe("the control plane's client verifies every answer of a signed request", () => {
  const client = () => createAgentClient({ baseUrl: proxyUrl, hostKey: agent.hostKey });

  it('error answers too: an honest 403 is the agent refusal; the same with its code altered is bad_answer_signature', async () => {
    const restore = { hostId: 'another-host', clawboxId: 'c-1', dockerIds: ['a'.repeat(64)] };
    tamper = () => undefined;
    await expect(client().restore(restore)).rejects.toMatchObject({ kind: 'refused', httpStatus: 403, code: 'host_mismatch' });
    tamper = (_request, answer) => (answer.status === 403 ? { ...answer, body: Buffer.from(answer.body.toString().replace('host_mismatch', 'engine_mismatch')) } : undefined);
    try {
      const error = await client().restore(restore).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AgentCallError);
      expect(error).toMatchObject({ kind: 'refused', code: 'bad_answer_signature', httpStatus: undefined });
    } finally {
      tamper = () => undefined;
    }
  });

  it('a 2xx answer whose body was swapped for another genuine answer (identity for containers) is refused; /healthz stays unsigned', async () => {
    tamper = (request, answer) => {
      if (request.path !== '/v1/containers') return undefined;
      const identity = seen.filter((s) => s.path === '/v1/identity').at(-1)?.answer;
      return identity ? { ...answer, body: identity.body, headers: identity.headers } : undefined;
    };
    try {
      await client().identity();
      await expect(client().containers()).rejects.toMatchObject({ kind: 'refused', code: 'bad_answer_signature' });
      expect((await client().health()).ok).toBe(true);
    } finally {
      tamper = () => undefined;
    }
    expect((await client().containers()).containers).toBeInstanceOf(Array);
  });

  it('an agent that cannot verify the command (another host key) answers an unsigned 401: refused as bad_answer_signature, the claim named', async () => {
    const stranger = createAgentClient({ baseUrl: proxyUrl, hostKey: randomBytes(32) });
    const error = await stranger.identity().catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'refused', code: 'bad_answer_signature' });
    expect((error as Error).message).toMatch(/claims 401 bad_signature.*another host key/);
  });
});
