/**
 * Nothing read before authentication (issue 10, item 3; SPEC §4), on the agent as its own process
 * (the CLI, from source) against a private engine, over real sockets:
 * - a bad or missing signature is answered 401 from the headers alone: the answer comes though the
 *   body is never sent, and 16 callers streaming 15 MiB each all get theirs without the agent's
 *   memory growing by their bodies;
 * - a signed command whose body is not the one its X-Reaper-Content-SHA256 names is refused 400
 *   (signed) and nothing is touched; with its own body it is carried out;
 * - an early refusal is answered, then the connection drained within a bound and closed: a 12 MiB
 *   body to an unknown route gets its 404 (it used to get EPIPE), a body over the limit its 413,
 *   a caller that never stops sending is cut off after its answer;
 * - `Expect: 100-continue` is answered 100 only once the signature holds;
 * - past REAPER_AGENT_MAX_CONNECTIONS new connections are closed at once;
 * - over HTTPS (an agent in this process) the same early refusals are answered and drained.
 */
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReapReport } from '../../lib/agent-contract.js';
import { AgentCallError } from '../../lib/agent-client.js';
import { sha256Hex, sign, signedHeaders, verifyAnswerSignature } from '../../lib/signing.js';
import { rssMiB, startAgentProcess, type AgentProcess } from '../../bench/agent-process.js';
import { attack, badSignatureHeaders, largestCommand } from '../../bench/preauth-attack.js';
import { startTestAgent } from '../helpers/agent.js';
import { makeContainer, stateOf } from '../helpers/containers.js';
import { makeTestCa } from '../helpers/tls-ca.js';
import { startEngine, type Engine } from '../helpers/engine.js';

const MiB = 1024 * 1024;
const HOST = 'preauth-host';
const MAX_CONNECTIONS = 24;

let engine: Engine;
let agent: AgentProcess;
let port: number;

beforeAll(async () => {
  engine = await startEngine();
  agent = await startAgentProcess({ dockerHost: engine.dockerHost, hostId: HOST, fromSource: true, env: { REAPER_AGENT_MAX_CONNECTIONS: String(MAX_CONNECTIONS) } });
  port = Number(new URL(agent.url).port);
});

afterAll(async () => {
  agent?.stop();
  await agent?.exited;
  await engine?.stop();
});

/** A signed head (request line onwards, without the blank line) for this body, as the control plane signs it. */
function signedHead(method: string, path: string, body: string, extra: string[] = []): string[] {
  const headers = signedHeaders(agent.hostKey, { method, path, body });
  return [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), 'Content-Type: application/json', ...extra];
}

async function reapBody(over: Record<string, unknown> = {}) {
  const { anchor } = await agent.client.identity();
  return JSON.stringify({ runId: `pre-${randomUUID()}`, hostId: HOST, tracked: [], snapshotAt: new Date().toISOString(), graceSeconds: 0, stopTimeoutSeconds: 0, maxReap: 10, dryRun: false, anchor, ...over });
}

/** Writes raw bytes and collects everything until the agent closes (or `ms` pass). */
function exchange(write: (socket: Socket) => void, ms = 10_000): Promise<{ text: string; closedAfterMs: number; error?: string }> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = connect({ host: '127.0.0.1', port });
    let text = '';
    let error: string | undefined;
    const timer = setTimeout(() => socket.destroy(), ms);
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closedAfterMs: performance.now() - started, ...(error ? { error } : {}) });
    });
    socket.on('connect', () => write(socket));
  });
}

describe('a refused signature is answered from the headers alone', () => {
  it('answers 401 to a bad, a missing and a hash-less signature announcing 15 MiB, though the body is never sent', async () => {
    const cases: [string[], string][] = [
      [badSignatureHeaders(15 * MiB), 'bad_signature'],
      [[`x-reaper-timestamp: ${Math.floor(Date.now() / 1000)}`, 'content-type: application/json'], 'unsigned'],
      [badSignatureHeaders(15 * MiB).filter((h) => !h.startsWith('x-reaper-content-sha256')), 'missing_content_hash'],
      [[...badSignatureHeaders(15 * MiB).filter((h) => !h.startsWith('x-reaper-content-sha256')), `x-reaper-content-sha256: ${'A'.repeat(64)}`], 'bad_content_hash'],
    ];
    for (const [headers, code] of cases) {
      const outcomes = await attack({ port, connections: 4, bodyBytes: 15 * MiB, headers, headOnly: true, timeoutMs: 5_000 });
      for (const o of outcomes) {
        expect(o, code).toMatchObject({ status: 401, code, sent: 0 });
        expect(o.answeredMs!, code).toBeLessThan(2_000);
        // Not verified, so not signed.
        expect(o.headers?.['x-reaper-answer-signature'], code).toBeUndefined();
      }
    }
  });

  it('16 callers streaming 15 MiB under a bad signature all get their 401 before their body is sent, and the agent does not buffer the bodies', async () => {
    const before = rssMiB(agent.pid);
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMiB(agent.pid));
    }, 10);
    const outcomes = await attack({ port, connections: 16, bodyBytes: 15 * MiB, timeoutMs: 20_000 });
    await sleep(500);
    clearInterval(sampler);
    for (const o of outcomes) {
      expect(o).toMatchObject({ status: 401, code: 'bad_signature' });
      // Answered while the body was still on its way (what had been sent sat in socket buffers).
      expect(o.sentWhenAnswered!).toBeLessThan(15 * MiB);
    }
    // Buffering them took 240 MiB and more (81 -> 505 MiB before the change); draining them,
    // unread, a few tens of MiB of garbage at most.
    expect(peak - before, `RSS ${before} -> ${peak} MiB`).toBeLessThan(100);
  });
});

describe('the body must be the one signed', () => {
  it('refuses a command whose body is not the one its content hash names (400, signed) and touches nothing; with its own body it is carried out', async () => {
    const orphan = await makeContainer(engine.docker, { clawboxId: `pre-orphan-${randomUUID().slice(0, 6)}`, kind: 'created' });
    await sleep(2_100);
    const signedFor = await reapBody({ dryRun: true });
    const sent = JSON.stringify({ ...JSON.parse(signedFor), dryRun: false });
    const head = signedHead('POST', '/v1/reap', signedFor);
    const signature = head.find((h) => h.startsWith('x-reaper-signature: '))!.slice('x-reaper-signature: '.length);

    // Content-Length framing and chunked framing alike.
    for (const framing of ['length', 'chunked'] as const) {
      const { text } = await exchange((socket) => {
        if (framing === 'length') socket.write(`${[...head, `Content-Length: ${Buffer.byteLength(sent)}`, 'Connection: close'].join('\r\n')}\r\n\r\n${sent}`);
        else socket.write(`${[...head, 'Transfer-Encoding: chunked', 'Connection: close'].join('\r\n')}\r\n\r\n${Buffer.byteLength(sent).toString(16)}\r\n${sent}\r\n0\r\n\r\n`);
      });
      const [headText = '', body = ''] = text.split('\r\n\r\n');
      expect(headText, framing).toMatch(/^HTTP\/1\.1 400 /);
      expect(JSON.parse(body)).toMatchObject({ error: { code: 'content_hash_mismatch' } });
      const answerSignature = /\r\nx-reaper-answer-signature: (\S+)/i.exec(headText)?.[1];
      expect(verifyAnswerSignature(agent.hostKey, signature, 400, body, answerSignature), framing).toBe(true);
      expect(await stateOf(engine.docker, orphan.id)).toBe('created');
    }

    // The same signature, the body it was made for: carried out (a dry run: still nothing removed).
    const { text } = await exchange((socket) => socket.write(`${[...head, `Content-Length: ${Buffer.byteLength(signedFor)}`, 'Connection: close'].join('\r\n')}\r\n\r\n${signedFor}`));
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    expect((JSON.parse(text.split('\r\n\r\n')[1]!) as ReapReport).status).toBe('dry-run');
    expect(await stateOf(engine.docker, orphan.id)).toBe('created');
    await engine.docker.getContainer(orphan.id).remove({ force: true });
  });
});

describe('early refusals are answered, then the connection is drained within a bound and closed', () => {
  it('a 12 MiB body to an unknown route: fetch and node:http callers read their 404 every time (no EPIPE)', async () => {
    const body = Buffer.alloc(12 * MiB, 0x7b);
    const outcomes: Record<string, number> = {};
    const count = (key: string) => (outcomes[key] = (outcomes[key] ?? 0) + 1);
    for (let i = 0; i < 15; i++) {
      try {
        const response = await fetch(`${agent.url}/nope`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
        count(`fetch ${response.status} ${((await response.json()) as { error: { code: string } }).error.code}`);
      } catch (error) {
        count(`fetch ${((error as Error).cause as NodeJS.ErrnoException | undefined)?.code ?? (error as Error).message}`);
      }
      count(
        await new Promise<string>((resolve) => {
          const req = httpRequest(`${agent.url}/nope`, { method: 'POST', headers: { 'content-length': body.length } }, (res) => {
            let text = '';
            res.on('data', (chunk: Buffer) => (text += chunk.toString()));
            res.on('end', () => resolve(`http ${res.statusCode} ${(JSON.parse(text) as { error: { code: string } }).error.code}`));
          });
          req.on('error', (error: NodeJS.ErrnoException) => resolve(`http ${error.code}`));
          req.end(body);
        }),
      );
    }
    expect(outcomes).toEqual({ 'fetch 404 not_found': 15, 'http 404 not_found': 15 });
  });

  it('a signed body over the limit: the control plane reads its signed 413 and says so', async () => {
    const command = largestCommand(agent.hostKey, 17 * MiB);
    const body = Buffer.from(command.body);
    const [outcome] = await attack({ port, connections: 1, bodyBytes: body.length, body, headers: command.head, timeoutMs: 20_000 });
    expect(outcome).toMatchObject({ status: 413, code: 'payload_too_large' });
    const signature = command.head.find((h) => h.startsWith('x-reaper-signature: '))!.slice('x-reaper-signature: '.length);
    expect(verifyAnswerSignature(agent.hostKey, signature, 413, outcome!.body!, outcome!.headers?.['x-reaper-answer-signature'])).toBe(true);

    // Through the control plane's client: a refusal it can trust, with its status.
    const { anchor } = await agent.client.identity();
    const tracked = Array.from({ length: 60_000 }, (_, i) => ({ id: `t-${i}-${'x'.repeat(280)}` }));
    const error = await agent.client
      .reap({ runId: `pre-${randomUUID()}`, hostId: HOST, tracked, snapshotAt: new Date().toISOString(), graceSeconds: 0, stopTimeoutSeconds: 0, maxReap: 10, dryRun: true, anchor })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AgentCallError);
    expect(error).toMatchObject({ kind: 'error', httpStatus: 413, code: 'payload_too_large' });
  });

  it('a caller that keeps sending after its 401 gets the answer and is cut off within the drain bound (1 s)', async () => {
    let answeredAt = 0;
    const started = performance.now();
    const result = await exchange((socket) => {
      socket.write(`${['POST /v1/reap HTTP/1.1', 'Host: 127.0.0.1', 'Content-Length: 1073741824', ...badSignatureHeaders(1)].join('\r\n')}\r\n\r\n`);
      socket.once('data', () => (answeredAt = performance.now() - started));
      // A trickle that would take hours: the agent must not wait for it.
      const trickle = setInterval(() => {
        if (socket.writable) socket.write(Buffer.alloc(1024, 0x20));
      }, 50);
      socket.once('close', () => clearInterval(trickle));
    }, 15_000);
    expect(result.text).toMatch(/^HTTP\/1\.1 401 /);
    expect(result.text.toLowerCase()).toContain('connection: close');
    expect(answeredAt).toBeLessThan(1_000);
    expect(result.closedAfterMs - answeredAt).toBeLessThan(3_000);
  });

  it('Expect: 100-continue: a refused request gets its 401 and no invitation; a signed one is invited, then answered (signed)', async () => {
    const refused = await exchange((socket) => socket.write(`${['POST /v1/reap HTTP/1.1', 'Host: 127.0.0.1', 'Content-Length: 1048576', 'Expect: 100-continue', ...badSignatureHeaders(1)].join('\r\n')}\r\n\r\n`));
    expect(refused.text).toMatch(/^HTTP\/1\.1 401 /);
    expect(refused.text).not.toContain('100 Continue');

    const body = await reapBody({ hostId: 'another-host' });
    const head = signedHead('POST', '/v1/reap', body, [`Content-Length: ${Buffer.byteLength(body)}`, 'Expect: 100-continue', 'Connection: close']);
    let invited = false;
    const accepted = await exchange((socket) => {
      socket.write(`${head.join('\r\n')}\r\n\r\n`);
      socket.once('data', (chunk: Buffer) => {
        invited = chunk.toString('latin1').startsWith('HTTP/1.1 100 Continue');
        socket.write(body);
      });
    });
    expect(invited).toBe(true);
    const final = accepted.text.slice(accepted.text.indexOf('\r\n\r\n') + 4);
    expect(final).toMatch(/^HTTP\/1\.1 403 /);
    expect(final.toLowerCase()).toContain('x-reaper-answer-signature: v1=');
  });
});

describe('a cap on connections in flight', () => {
  it(`past ${MAX_CONNECTIONS} open connections a new one is closed at once without an answer; once they close, the agent answers again`, async () => {
    // Kept-alive connections of earlier tests count too: let the agent close them first (5 s idle).
    await sleep(5_500);
    const idle: Socket[] = [];
    try {
      for (let i = 0; i < MAX_CONNECTIONS; i++) {
        const socket = connect({ host: '127.0.0.1', port });
        socket.on('error', () => undefined);
        await new Promise((resolve) => socket.once('connect', resolve));
        idle.push(socket);
      }
      await sleep(300);
      const refused = await exchange((socket) => socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'), 5_000);
      expect(refused.text).toBe('');
      expect(refused.closedAfterMs).toBeLessThan(2_000);
    } finally {
      for (const socket of idle) socket.destroy();
    }
    await sleep(300);
    expect((await agent.client.containers()).containers).toBeInstanceOf(Array);
    const health = await exchange((socket) => socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'));
    expect(health.text).toMatch(/^HTTP\/1\.1 200 /);
  });
});

// A hand-signed request without the helpers, as the contract describes it (SPEC §4), keeps working.
describe('the contract by hand', () => {
  it('a request signed over X-Reaper-Content-SHA256 is accepted and its answer signed over the request signature, status and body', async () => {
    const path = '/v1/identity';
    const timestamp = Math.floor(Date.now() / 1000);
    const signature = sign(agent.hostKey, { timestamp, method: 'GET', path, bodyHash: sha256Hex('') });
    const response = await fetch(agent.url + path, { headers: { 'x-reaper-timestamp': String(timestamp), 'x-reaper-signature': signature } });
    const body = await response.text();
    expect(response.status).toBe(200);
    expect(verifyAnswerSignature(agent.hostKey, signature, 200, body, response.headers.get('x-reaper-answer-signature'))).toBe(true);
    // /healthz stays unsigned both ways.
    const health = await fetch(`${agent.url}/healthz`);
    expect(health.headers.get('x-reaper-answer-signature')).toBeNull();
  });
});

describe('over HTTPS too', () => {
  it('a 12 MiB body to an unknown route gets its 404, and a caller streaming 15 MiB under a bad signature its 401', async () => {
    const ca = makeTestCa();
    const cert = ca.server('agent');
    const tlsAgent = await startTestAgent({ dockerHost: engine.dockerHost, hostId: 'preauth-tls', tls: { certFile: cert.certFile, keyFile: cert.keyFile } });
    try {
      const url = new URL(tlsAgent.url);
      const body = Buffer.alloc(12 * MiB, 0x7b);
      for (let i = 0; i < 5; i++) {
        const status = await new Promise<string>((resolve) => {
          const req = httpsRequest({ host: '127.0.0.1', port: url.port, path: '/nope', method: 'POST', ca: ca.ca, headers: { 'content-length': body.length } }, (res) => {
            res.resume();
            res.on('end', () => resolve(String(res.statusCode)));
          });
          req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
          req.end(body);
        });
        expect(status).toBe('404');
      }
      const answer = await new Promise<string>((resolve) => {
        const socket = tlsConnect({ host: '127.0.0.1', port: Number(url.port), ca: ca.ca });
        let text = '';
        socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
        socket.on('error', () => undefined);
        socket.on('close', () => resolve(text));
        socket.on('secureConnect', () => {
          socket.write(`${['POST /v1/reap HTTP/1.1', 'Host: 127.0.0.1', `Content-Length: ${15 * MiB}`, ...badSignatureHeaders(15 * MiB)].join('\r\n')}\r\n\r\n`);
          const chunk = Buffer.alloc(64 * 1024, 0x20);
          let sent = 0;
          const pump = () => {
            while (sent < 15 * MiB && socket.writable) {
              sent += chunk.length;
              if (!socket.write(chunk)) return void socket.once('drain', pump);
            }
            if (text) socket.end();
          };
          pump();
          setTimeout(() => socket.destroy(), 10_000);
        });
      });
      expect(answer).toMatch(/^HTTP\/1\.1 401 /);
    } finally {
      await tlsAgent.close();
      ca.remove();
    }
  });
});
