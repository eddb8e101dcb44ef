/**
 * CPU per agent call over TLS, as the control plane pays it (lib/agent-transport.ts): a kept-alive
 * connection against a new connection per call, with the TLS session resumed or negotiated afresh.
 * The agent-like server (HTTPS with a test CA made by openssl, a ~300-byte JSON answer) runs in a
 * child process, so this process's CPU is the client's alone: the transport's fetch, undici and
 * TLS. Modes run interleaved, round after round; medians are reported.
 *
 *   npx tsx bench/tls-transport.ts [--calls 300] [--rounds 5] [--key ec|rsa]
 *
 * Modes: `keep-alive` (one connection reused: what a host's identity call and command share);
 * `resumed` (a new TCP+TLS connection per call, the TLS session resumed: a later tick's first
 * call); `fresh` (a new connection and a full handshake per call: no reuse at all); `http` (plain
 * HTTP keep-alive on loopback, the floor: fetch alone).
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { createAgentTransport, type AgentTransport } from '../lib/agent-transport.js';
import { makeTestCa } from '../test/helpers/tls-ca.js';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '300' }, rounds: { type: 'string', default: '5' }, key: { type: 'string', default: 'ec' } } });
const CALLS = Number(values.calls);
const ROUNDS = Number(values.rounds);
const KEY = values.key === 'rsa' ? 'rsa' : 'ec';

const SERVER = `
import { createServer as https } from 'node:https';
import { createServer as http } from 'node:http';
import { readFileSync } from 'node:fs';
const body = JSON.stringify({ hostId: 'bench', engineId: 'e'.repeat(64), clockOffsetMs: 0, agentTimeMs: Date.now(), anchor: 'a'.repeat(160) });
const handler = (req, res) => {
  req.resume();
  const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
  if (req.url.startsWith('/close')) headers.connection = 'close';
  res.writeHead(200, headers);
  res.end(body);
};
const s = https({ cert: readFileSync(process.env.CERT), key: readFileSync(process.env.KEY) }, handler);
const p = http(handler);
await new Promise((r) => s.listen(0, '127.0.0.1', r));
await new Promise((r) => p.listen(0, '127.0.0.1', r));
process.stdout.write(JSON.stringify({ https: s.address().port, http: p.address().port }) + '\\n');
`;

type Mode = 'keep-alive' | 'resumed' | 'fresh' | 'http';

async function main() {
  const ca = makeTestCa('bench CA', { keyType: KEY });
  const cert = ca.server('bench-agent');
  const child = spawn(process.execPath, ['--input-type=module', '-e', SERVER], { env: { ...process.env, CERT: cert.certFile, KEY: cert.keyFile }, stdio: ['ignore', 'pipe', 'inherit'] });
  const ports = await new Promise<{ https: number; http: number }>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(JSON.parse(out) as { https: number; http: number });
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });

  const transports: Record<Mode, AgentTransport> = {
    'keep-alive': createAgentTransport({ ca: ca.ca }),
    resumed: createAgentTransport({ ca: ca.ca }),
    fresh: createAgentTransport({ ca: ca.ca, maxCachedSessions: 0 }),
    http: createAgentTransport(),
  };
  const urls: Record<Mode, string> = {
    'keep-alive': `https://127.0.0.1:${ports.https}/v1/identity`,
    resumed: `https://127.0.0.1:${ports.https}/close/v1/identity`,
    fresh: `https://127.0.0.1:${ports.https}/close/v1/identity`,
    http: `http://127.0.0.1:${ports.http}/v1/identity`,
  };

  async function measure(mode: Mode, calls: number): Promise<{ cpuMs: number; wallMs: number }> {
    const cpu = process.cpuUsage();
    const began = performance.now();
    for (let i = 0; i < calls; i++) {
      const response = await transports[mode].fetch(urls[mode], { method: 'GET', headers: { 'x-reaper-timestamp': '0' } });
      await response.text();
    }
    const used = process.cpuUsage(cpu);
    return { cpuMs: (used.user + used.system) / 1000 / calls, wallMs: (performance.now() - began) / calls };
  }

  const modes: Mode[] = ['keep-alive', 'resumed', 'fresh', 'http'];
  // Warm-up: JIT, the undici import, the first handshake and session of each transport.
  for (const mode of modes) await measure(mode, 300);
  const rounds: Record<Mode, Array<{ cpuMs: number; wallMs: number }>> = { 'keep-alive': [], resumed: [], fresh: [], http: [] };
  for (let r = 0; r < ROUNDS; r++) for (const mode of modes) rounds[mode].push(await measure(mode, CALLS));

  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)] as number;
  };
  const summary = (mode: Mode) => ({
    cpuMsPerCall: Number(median(rounds[mode].map((x) => x.cpuMs)).toFixed(3)),
    wallMsPerCall: Number(median(rounds[mode].map((x) => x.wallMs)).toFixed(3)),
    cpuMsPerCallRounds: rounds[mode].map((x) => Number(x.cpuMs.toFixed(3))),
  });
  const result = {
    node: process.version,
    key: KEY === 'rsa' ? 'RSA 2048' : 'EC P-256',
    calls: CALLS,
    rounds: ROUNDS,
    modes: { 'keep-alive': summary('keep-alive'), resumed: summary('resumed'), fresh: summary('fresh'), http: summary('http') },
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  const { 'keep-alive': k, resumed: r, fresh: f, http: h } = result.modes;
  process.stderr.write(
    `client CPU per call (median of ${ROUNDS} × ${CALLS}, ${result.key}): keep-alive ${k.cpuMsPerCall} ms, resumed ${r.cpuMsPerCall} ms, fresh handshake ${f.cpuMsPerCall} ms, plain http ${h.cpuMsPerCall} ms; a fresh handshake costs ${(f.cpuMsPerCall - k.cpuMsPerCall).toFixed(2)} ms more than keep-alive\n`,
  );

  await Promise.all(Object.values(transports).map((t) => t.close()));
  child.kill();
  ca.remove();
}

await main();
