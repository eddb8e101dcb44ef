/**
 * The pre-authentication attack of issue 10, item 3: N connections (16) each announce a large
 * body (15 MiB) under a bad signature and stream it as fast as the agent takes it, not stopping
 * when answered, as a hostile caller would. Reports the agent's RSS before, at its peak during the
 * attack, and after; whether every connection got its 401 answer, and how much of its body had
 * been sent by then. Then, for sizing the unit's MemoryMax, the peak RSS while the agent takes the
 * largest legitimate command (a correctly signed body of the default body limit).
 *
 * The agent runs as its own process on a private engine (bench/agent-process.ts), so its memory is
 * measured alone.
 *
 *   npx tsx bench/preauth-attack.ts [--connections 16] [--mib 15] [--source] [--no-build] [--root DIR] [--no-legit]
 *
 * --source runs cli/main.ts through tsx (no build); otherwise dist/ is built first (--no-build
 * skips that). --root runs the agent of another checkout, e.g. an export of an older commit:
 *   mkdir /tmp/base && git archive HEAD | tar -x -C /tmp/base && ln -s "$PWD/node_modules" /tmp/base/
 *   (cd /tmp/base && node scripts/build.mjs) && npx tsx bench/preauth-attack.ts --root /tmp/base --no-build --no-legit
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { cpus, totalmem } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_BODY_LIMIT_BYTES, LARGEST_TRACKED_REF_JSON } from '../agent/body-limit.js';
import { sha256Hex, signedHeaders } from '../lib/signing.js';
import { startEngine } from '../test/helpers/engine.js';
import { rssMiB, startAgentProcess } from './agent-process.js';

export interface AttackOutcome {
  /** The answer's status; 0: none came. */
  status: number;
  /** The answer's error code, if it had one. */
  code?: string;
  /** The answer's head (status line and headers, lowercase names) and body, as received. */
  headers?: Record<string, string>;
  body?: string;
  /** Body bytes written when the answer arrived (of `bodyBytes`); undefined without an answer. */
  sentWhenAnswered?: number;
  /** Milliseconds from connecting to the answer. */
  answeredMs?: number;
  /** Body bytes written in all. */
  sent: number;
  /** How the connection ended, when it ended in an error. */
  error?: string;
}

export interface AttackOptions {
  port: number;
  connections: number;
  bodyBytes: number;
  path?: string;
  /** Header lines (without CRLF) in place of the default bad signature. */
  headers?: string[];
  /** Give up on a connection after this long (default 30 s). */
  timeoutMs?: number;
  /** Send the request head only and never the body (the answer must come without it). */
  headOnly?: boolean;
  /** The body to send (default: `bodyBytes` spaces). */
  body?: Buffer;
}

/** A bad signature, well-formed, fresh, for a body the caller claims: all the headers need, nothing verifies. */
export function badSignatureHeaders(bodyBytes: number): string[] {
  return [
    `x-reaper-timestamp: ${Math.floor(Date.now() / 1000)}`,
    `x-reaper-signature: v1=${'0'.repeat(64)}`,
    `x-reaper-content-sha256: ${sha256Hex(`${bodyBytes}`)}`,
    'content-type: application/json',
  ];
}

/** One attacking connection: the head, then the body as fast as the socket takes it; the answer read as it comes. */
function attackOne(options: AttackOptions): Promise<AttackOutcome> {
  return new Promise((resolve) => {
    const started = performance.now();
    // Half-open allowed: the agent's FIN after its answer does not stop the sending (a hostile caller keeps on).
    const socket = connect({ host: '127.0.0.1', port: options.port, allowHalfOpen: true });
    const outcome: AttackOutcome = { status: 0, sent: 0 };
    let received = Buffer.alloc(0);
    let settled = false;
    let doneSending = false;
    // Once it has its answer and has sent what it meant to, the caller closes its side too.
    const endIfDone = () => {
      if (doneSending && outcome.status > 0 && !socket.destroyed) socket.end();
    };
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => {
      outcome.error ??= 'timeout';
      finish();
    }, options.timeoutMs ?? 30_000);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const text = received.toString('latin1');
      const headEnd = text.indexOf('\r\n\r\n');
      if (outcome.status === 0 && headEnd > 0) {
        outcome.status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
        outcome.sentWhenAnswered = outcome.sent;
        outcome.answeredMs = Math.round(performance.now() - started);
      }
      if (headEnd > 0) {
        outcome.body = text.slice(headEnd + 4);
        outcome.code ??= /"code":"([^"]+)"/.exec(outcome.body)?.[1];
        outcome.headers ??= Object.fromEntries(
          text
            .slice(0, headEnd)
            .split('\r\n')
            .slice(1)
            .map((line) => [line.slice(0, line.indexOf(':')).trim().toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
        );
      }
      endIfDone();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      outcome.error = error.code ?? error.message;
    });
    socket.on('close', finish);
    socket.on('connect', () => {
      void (async () => {
        const head = [`POST ${options.path ?? '/v1/reap'} HTTP/1.1`, 'Host: 127.0.0.1', `Content-Length: ${options.bodyBytes}`, ...(options.headers ?? badSignatureHeaders(options.bodyBytes))];
        socket.write(`${head.join('\r\n')}\r\n\r\n`);
        if (options.headOnly) {
          doneSending = true;
          return endIfDone();
        }
        const spaces = Buffer.alloc(64 * 1024, 0x20);
        while (outcome.sent < options.bodyBytes && !socket.destroyed && socket.writable) {
          const part = options.body ? options.body.subarray(outcome.sent, outcome.sent + spaces.length) : spaces.subarray(0, Math.min(spaces.length, options.bodyBytes - outcome.sent));
          outcome.sent += part.length;
          if (!socket.write(part)) {
            await new Promise<void>((next) => {
              const go = () => {
                socket.off('drain', go).off('close', go);
                next();
              };
              socket.on('drain', go).on('close', go);
            });
          }
        }
        doneSending = true;
        endIfDone();
      })();
    });
  });
}

/** All connections at once. */
export function attack(options: AttackOptions): Promise<AttackOutcome[]> {
  return Promise.all(Array.from({ length: options.connections }, () => attackOne(options)));
}

/** A correctly signed command of about `bytes` (valid JSON, the largest tracked entries), for another host: parsed in full, then refused 403. */
export function largestCommand(hostKey: Buffer, bytes: number): { head: string[]; body: string } {
  const entry = JSON.parse(LARGEST_TRACKED_REF_JSON) as object;
  const base = { runId: `legit-${randomUUID()}`, hostId: 'another-host', snapshotAt: new Date().toISOString(), graceSeconds: 0, stopTimeoutSeconds: 0, maxReap: 0, dryRun: true, anchor: `v1.1.1.${'a'.repeat(16)}.${'b'.repeat(64)}` };
  const count = Math.floor((bytes - 4096) / (LARGEST_TRACKED_REF_JSON.length + 1));
  const body = JSON.stringify({ ...base, tracked: Array.from({ length: count }, () => entry) });
  const headers = signedHeaders(hostKey, { method: 'POST', path: '/v1/reap', body });
  return { head: [...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), 'content-type: application/json'], body };
}

export interface PreauthAttackBench {
  date: string;
  machine: string;
  agent: string;
  connections: number;
  bodyMiB: number;
  rssMiB: { before: number; peakDuring: number; after: number };
  answered: number;
  statuses: Record<string, number>;
  /** Of the answered: the most body any had sent before its answer came (MiB). */
  maxSentWhenAnsweredMiB: number;
  attackSeconds: number;
  /** The largest legitimate command, correctly signed: the agent's peak RSS while taking it. */
  legit?: { bodyMiB: number; status: number; rssPeakMiB: number };
}

export async function benchPreauthAttack(options: { connections?: number; mib?: number; source?: boolean; build?: boolean; root?: string; legit?: boolean } = {}): Promise<PreauthAttackBench> {
  const connections = options.connections ?? 16;
  const bodyBytes = Math.round((options.mib ?? 15) * 1024 * 1024);
  if (!options.source && options.build !== false) execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit', cwd: options.root ?? '.' });
  const engine = await startEngine();
  const agent = await startAgentProcess({ dockerHost: engine.dockerHost, hostId: 'attack-host', ...(options.source ? { fromSource: true } : {}), ...(options.root ? { root: options.root } : {}) });
  try {
    const port = Number(new URL(agent.url).port);
    const before = rssMiB(agent.pid);
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMiB(agent.pid));
    }, 10);
    const t0 = performance.now();
    const outcomes = await attack({ port, connections, bodyBytes, timeoutMs: 30_000 });
    const attackSeconds = Math.round(performance.now() - t0) / 1000;
    await sleep(2_000);
    clearInterval(sampler);
    const after = rssMiB(agent.pid);
    const statuses: Record<string, number> = {};
    for (const o of outcomes) {
      const key = o.status ? `${o.status}${o.code ? ` ${o.code}` : ''}` : `no answer (${o.error ?? 'closed'})`;
      statuses[key] = (statuses[key] ?? 0) + 1;
    }
    const answered = outcomes.filter((o) => o.status > 0);
    let legit: PreauthAttackBench['legit'];
    if (options.legit !== false) {
      const command = largestCommand(agent.hostKey, DEFAULT_BODY_LIMIT_BYTES);
      const idle = rssMiB(agent.pid);
      let legitPeak = idle;
      const legitSampler = setInterval(() => {
        legitPeak = Math.max(legitPeak, rssMiB(agent.pid));
      }, 10);
      const body = Buffer.from(command.body);
      const [answer] = await attack({ port, connections: 1, bodyBytes: body.length, body, headers: command.head, timeoutMs: 60_000 });
      clearInterval(legitSampler);
      legit = { bodyMiB: Math.round((Buffer.byteLength(command.body) / 2 ** 20) * 10) / 10, status: answer?.status ?? 0, rssPeakMiB: legitPeak };
    }
    return {
      date: new Date().toISOString(),
      machine: `${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, dockerd private engine`,
      agent: options.root ? `the agent of ${options.root}` : options.source ? 'this checkout, from source (tsx)' : 'this checkout, dist/',
      connections,
      bodyMiB: bodyBytes / 2 ** 20,
      rssMiB: { before, peakDuring: peak, after },
      answered: answered.length,
      statuses,
      maxSentWhenAnsweredMiB: Math.round((Math.max(0, ...answered.map((o) => o.sentWhenAnswered ?? 0)) / 2 ** 20) * 100) / 100,
      attackSeconds,
      ...(legit ? { legit } : {}),
    };
  } finally {
    agent.stop();
    await agent.exited;
    await engine.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const result = await benchPreauthAttack({
    ...(arg('connections') ? { connections: Number(arg('connections')) } : {}),
    ...(arg('mib') ? { mib: Number(arg('mib')) } : {}),
    ...(arg('root') ? { root: arg('root') } : {}),
    source: process.argv.includes('--source'),
    build: !process.argv.includes('--no-build'),
    legit: !process.argv.includes('--no-legit'),
  });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  if (result.answered < result.connections) process.exitCode = 1;
}
