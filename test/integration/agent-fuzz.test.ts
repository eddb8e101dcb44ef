/**
 * Fuzzing the agent over real HTTP: generated malformed and mis-signed requests for every endpoint
 * (GET /healthz, GET /v1/containers, POST /v1/reap, GET /metrics, unknown paths), sent with fetch
 * and — for what fetch cannot send — as raw bytes on a socket. Every answer to a malformed or
 * mis-signed request must be a 4xx `{ error: { code, message } }`; nothing is ever a 5xx; every
 * answer to a request whose signature holds carries a valid answer signature, and no answer
 * carries a wrong one; the X-Reaper-Content-SHA256 header is fuzzed too (missing, wrong, not hex,
 * duplicated, of another body, signed for another body); the
 * engine's containers (full id + state) are unchanged afterwards although several of them are
 * old untracked orphans that any accepted command would remove; and the agent still answers.
 *
 * npm test: 1,000 cases per endpoint; STRESS=1: 5,000. AGENT_FUZZ_SEED=<n> replays a run.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorBody, Health, ReapRequest } from '../../lib/agent-contract.js';
import { createHash } from 'node:crypto';
import { decodeKey, deriveHostKey, sha256Hex, sign, verifyAnswerSignature } from '../../lib/signing.js';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { makeContainers } from '../helpers/containers.js';
import { startEngine, type Engine } from '../helpers/engine.js';
import { sendRaw, type RawAnswer } from '../helpers/raw-http.js';

const STRESS = process.env.STRESS === '1';
const PER_ENDPOINT = STRESS ? 5_000 : 1_000;
const SEED = Number(process.env.AGENT_FUZZ_SEED ?? Date.now() % 2 ** 31);
const BODY_LIMIT = 64 * 1024;
const RUN_LABEL = `agent-fuzz-${randomUUID().slice(0, 8)}`;

let engine: Engine;
let agent: TestAgent;
let port: number;
/** Another host's key from the same master: valid for that host, never for this one. */
let otherHostKey: Buffer;
export const fuzzTotals = { sent: 0, raw: 0, refused4xx: 0, ok2xx: 0, signedAnswers: 0, byStatus: {} as Record<number, number>, byCode: {} as Record<string, number> };

/** Every container on the engine: id → state. All of them were made by this file. */
async function engineState(): Promise<Map<string, string>> {
  return new Map((await engine.docker.listContainers({ all: true })).map((c) => [c.Id, c.State]));
}

beforeAll(async () => {
  engine = await startEngine();
  agent = await startTestAgent({ dockerHost: engine.dockerHost, hostId: 'fuzz-host', bodyLimitBytes: BODY_LIMIT });
  port = Number(new URL(agent.url).port);
  otherHostKey = decodeKey(deriveHostKey(agent.masterKey, 'fuzz-host-b'));
  // Old, untracked, labelled: any command the agent accepted would remove them.
  await makeContainers(engine.docker, [
    { clawboxId: 'orphan-created', kind: 'created', runLabel: RUN_LABEL },
    { clawboxId: 'orphan-exited', kind: 'exited', runLabel: RUN_LABEL },
    { clawboxId: 'orphan-running', kind: 'running', runLabel: RUN_LABEL },
    { clawboxId: 'orphan-dup', kind: 'created', runLabel: RUN_LABEL },
    { clawboxId: 'orphan-dup', kind: 'created', runLabel: RUN_LABEL },
    { clawboxId: undefined, kind: 'created', runLabel: RUN_LABEL },
  ]);
  await sleep(2_100);
});

afterAll(async () => {
  await agent?.close();
  await engine?.stop();
  process.stderr.write(`agent-fuzz: seed ${SEED}, ${JSON.stringify(fuzzTotals)}\n`);
});

// ---------------------------------------------------------------- generated cases

interface Case {
  what: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** Sent as these bytes on a socket instead (the request line onwards). */
  raw?: Buffer;
  /** Only for unsigned /healthz: a well-formed GET is answered 200 whatever else it carries. */
  mayBeOk?: boolean;
  /** Correctly signed for a route that exists: the refusal comes after the signature, so the answer must be signed. */
  expectSigned?: boolean;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

function validReap(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    runId: `fuzz-${randomUUID()}`,
    hostId: 'fuzz-host',
    tracked: [],
    snapshotAt: new Date(Date.now() - 1000).toISOString(),
    graceSeconds: 0,
    stopTimeoutSeconds: 0,
    maxReap: null,
    dryRun: false,
    ...over,
  };
}

/** Values of every JSON kind, hostile ones included. */
const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1.5, 1e308, '', ' ', '../../etc/passwd', '\u0000', '\u202e', 'ä', '😀', '%2e%2e%2f', '<script>', "'; DROP TABLE x;--"),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.integer(),
  fc.double(),
  fc.array(fc.integer(), { maxLength: 5 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.integer(), { maxKeys: 4 }),
);

/** Ids the contract refuses: path tricks, unicode, control characters, lengths. */
const badId = fc.oneof(
  fc.constantFrom('', '.', '..', '../etc', '/abs', 'a/b', 'a\\b', 'a b', 'ä', '😀', 'a\u0000', 'a\n', '-lead', '_lead', '%2e%2e', 'x'.repeat(256), 'a'.repeat(300)),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 10 }).map((s) => `\u00e9${s}`),
  fc.integer(),
  fc.constant(null),
);
const badDockerId = fc.oneof(
  fc.constantFrom('', 'ABCDEF012345', 'abcdef01234', 'g'.repeat(12), 'a'.repeat(65), '../'.repeat(5), 'abcdef012345 ', 'äbcdef012345'),
  fc.integer(),
  fc.constant(null),
);

/** Per field: values the contract must refuse (maxReap: null is valid — a forced reap — so never here). */
const badFieldValue: Record<string, fc.Arbitrary<unknown>> = {
  runId: fc.oneof(badId, fc.constantFrom('short', 'a'.repeat(65), 'run id with spaces')),
  hostId: fc.oneof(badId, fc.constantFrom('fuzz-host-b', 'FUZZ-HOST', 'fuzz-host ', 'host-a')),
  tracked: fc.oneof(
    fc.constantFrom(null, {}, 'all', 0, [null], [1], [[]], [{}], [{ dockerId: 'a'.repeat(64) }]),
    fc.array(fc.record({ id: badId }), { minLength: 1, maxLength: 3 }),
    fc.array(fc.record({ id: fc.constant('ok-id'), dockerId: badDockerId }), { minLength: 1, maxLength: 3 }),
    fc.array(fc.record({ id: fc.constant('ok-id'), extra: anyJson }), { minLength: 1, maxLength: 3 }),
  ),
  snapshotAt: fc.oneof(
    fc.constantFrom(null, 0, '', 'yesterday', '2026-13-01T00:00:00.000Z', '2026-11-27T12:00:00+02:00', '2026-11-27', '2026-11-27T12:00:00.000Z\u0000'),
    fc.integer(),
    // In the future: a command that would shrink the grace.
    fc.integer({ min: 5_000, max: 10 ** 9 }).map((ms) => new Date(Date.now() + ms).toISOString()),
  ),
  graceSeconds: fc.constantFrom(-1, 1.5, '0', null, 30 * 24 * 3600 + 1, 1e21, true, []),
  stopTimeoutSeconds: fc.constantFrom(-1, 0.5, '5', null, 301, false, {}),
  maxReap: fc.constantFrom(-1, 2.5, '100', 1_000_001, true, [], {}),
  dryRun: fc.constantFrom('false', 'true', 0, 1, null, [], {}),
};
const FIELDS = Object.keys(badFieldValue);

/** A POST /v1/reap body that the agent must refuse, and why. */
const badReapBody: fc.Arbitrary<{ body: string; why: string }> = fc.oneof(
  fc.constantFrom(...FIELDS).map((field) => {
    const b = validReap();
    delete b[field];
    return { body: JSON.stringify(b), why: `missing ${field}` };
  }),
  fc.tuple(fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !FIELDS.includes(k) && k !== '__proto__'), anyJson).map(([k, v]) => ({
    body: JSON.stringify({ ...validReap(), [k]: v }),
    why: `extra field ${JSON.stringify(k)}`,
  })),
  fc.constantFrom(...FIELDS).chain((field) =>
    badFieldValue[field]!.map((v) => ({ body: JSON.stringify({ ...validReap(), [field]: v }), why: `bad ${field}: ${JSON.stringify(v)?.slice(0, 60)}` })),
  ),
  // Several faults at once.
  fc.array(fc.constantFrom(...FIELDS), { minLength: 2, maxLength: 5 }).chain((fields) =>
    fc.tuple(...fields.map((f) => badFieldValue[f]!)).map((values) => {
      const b = validReap();
      fields.forEach((f, i) => (b[f] = values[i]));
      return { body: JSON.stringify(b), why: `bad ${fields.join('+')}` };
    }),
  ),
  fc.constantFrom('', ' ', 'null', 'true', '0', '"reap"', '[]', '[{}]', '{', '{"runId":', '\ufeff{}', '{"a":1}{"b":2}', 'NaN', "{'runId':'x'}").map((body) => ({
    body,
    why: `not a request object: ${body}`,
  })),
  // Valid JSON with a duplicated key: the last one wins in JSON.parse, so the agent must judge that one.
  fc.constant(0).map(() => ({ body: `{"hostId":"fuzz-host",${JSON.stringify(validReap({ hostId: 'fuzz-host-b' })).slice(1)}`, why: 'duplicate hostId key (the last, another host, wins)' })),
  // Deeply nested, just under the body limit, at the top and inside a field.
  fc.integer({ min: 1_000, max: 30_000 }).map((depth) => ({ body: '['.repeat(depth) + ']'.repeat(depth), why: `nested ${depth}` })),
  fc.integer({ min: 1_000, max: 20_000 }).map((depth) => ({
    body: JSON.stringify(validReap()).replace('"tracked":[]', `"tracked":${'['.repeat(depth)}${']'.repeat(depth)}`),
    why: `nested tracked ${depth}`,
  })),
  fc.integer({ min: 1_000, max: 10_000 }).map((depth) => ({ body: '{"a":'.repeat(depth) + '1' + '}'.repeat(depth), why: `nested objects ${depth}` })),
  // Over the size limit (several shapes).
  fc.integer({ min: BODY_LIMIT + 1, max: BODY_LIMIT * 4 }).map((size) => ({
    body: JSON.stringify(validReap({ tracked: Array.from({ length: Math.ceil(size / 16) }, (_, i) => ({ id: `t-${i}-xxxxx` })) })),
    why: `huge tracked (~${size} bytes)`,
  })),
  fc.integer({ min: BODY_LIMIT + 1, max: BODY_LIMIT * 4 }).map((size) => ({ body: 'x'.repeat(size), why: `huge junk ${size}` })),
  // Unicode and path tricks in ids inside tracked refs.
  fc.array(fc.record({ id: badId, dockerId: fc.option(badDockerId, { nil: undefined }) }), { minLength: 1, maxLength: 20 }).map((tracked) => ({
    body: JSON.stringify(validReap({ tracked })),
    why: 'bad tracked ids',
  })),
);

type Signer = (method: string, path: string, body: string) => { headers: Record<string, string>; why: string };

const hexArb = (n: number) => fc.array(fc.constantFrom(...'0123456789abcdef'), { minLength: n, maxLength: n }).map((a) => a.join(''));

/** Signatures that must be refused: absent, stale, malformed, for other parts, under other keys. */
const badSigner: fc.Arbitrary<Signer> = fc.oneof(
  fc.constant<Signer>(() => ({ headers: {}, why: 'unsigned' })),
  fc.constant<Signer>(() => ({ headers: { 'x-reaper-timestamp': String(nowSeconds()) }, why: 'timestamp only' })),
  fc.constant<Signer>((m, p, b) => ({ headers: { 'x-reaper-signature': sign(agent.hostKey, { timestamp: nowSeconds(), method: m, path: p, body: b }) }, why: 'signature only' })),
  // Well outside the window (the exact 301 s edge is in agent-safety.test.ts): a chunk of cases is
  // sent within seconds of being generated.
  fc.oneof(fc.integer({ min: 330, max: 10 ** 7 }), fc.integer({ min: -(10 ** 7), max: -330 })).map<Signer>((delta) => (m, p, b) => {
    const timestamp = nowSeconds() + delta;
    return { headers: { 'x-reaper-timestamp': String(timestamp), 'x-reaper-signature': sign(agent.hostKey, { timestamp, method: m, path: p, body: b }) }, why: `stale by ${delta}s` };
  }),
  fc.constantFrom('', 'abc', '-5', '1.5', '1e9', '0x10', '\u00b9\u00b2\u00b3', '9'.repeat(13), 'now', '+1700000000', '00', '0'.repeat(12)).map<Signer>((ts) => (m, p, b) => ({
    headers: { 'x-reaper-timestamp': ts, 'x-reaper-signature': sign(agent.hostKey, { timestamp: nowSeconds(), method: m, path: p, body: b }) },
    why: `timestamp ${JSON.stringify(ts)}`,
  })),
  fc.constantFrom('wrong-key', 'other-host', 'other-body', 'other-path', 'other-method', 'other-timestamp', 'query-added').map<Signer>((kind) => (m, p, b) => {
    const timestamp = nowSeconds();
    const parts = { timestamp, method: m, path: p, body: b };
    let signature: string;
    switch (kind) {
      case 'wrong-key':
        signature = sign(randomBytes(32), parts);
        break;
      case 'other-host':
        signature = sign(otherHostKey, parts);
        break;
      case 'other-body':
        signature = sign(agent.hostKey, { ...parts, body: `${b} ` });
        break;
      case 'other-path':
        signature = sign(agent.hostKey, { ...parts, path: p === '/v1/reap' ? '/v1/containers' : '/v1/reap' });
        break;
      case 'other-method':
        signature = sign(agent.hostKey, { ...parts, method: m === 'POST' ? 'GET' : 'POST' });
        break;
      case 'other-timestamp':
        signature = sign(agent.hostKey, { ...parts, timestamp: timestamp - 1 });
        break;
      default:
        signature = sign(agent.hostKey, { ...parts, path: `${p}?x=1` });
    }
    return { headers: { 'x-reaper-timestamp': String(timestamp), 'x-reaper-signature': signature }, why: kind };
  }),
  fc.constantFrom('flip', 'truncate', 'extend', 'upper', 'v2', 'bare', 'double', 'empty', 'latin1').chain((kind) =>
    hexArb(64).map<Signer>((hex) => (m, p, b) => {
      const timestamp = nowSeconds();
      const good = sign(agent.hostKey, { timestamp, method: m, path: p, body: b });
      const last = good.at(-1) === '0' ? '1' : '0';
      const mangled = {
        flip: good.slice(0, -1) + last,
        truncate: good.slice(0, -2),
        extend: `${good}0`,
        upper: `v1=${good.slice(3).toUpperCase()}`,
        v2: `v2=${good.slice(3)}`,
        bare: good.slice(3),
        double: `${good},${good}`,
        empty: 'v1=',
        latin1: `v1=${hex.slice(0, 63)}\u00e9`,
      }[kind]!;
      return { headers: { 'x-reaper-timestamp': String(timestamp), 'x-reaper-signature': mangled }, why: `signature ${kind}` };
    }),
  ),
  hexArb(64).map<Signer>((hex) => () => ({ headers: { 'x-reaper-timestamp': String(nowSeconds()), 'x-reaper-signature': `v1=${hex}` }, why: 'random signature' })),
  // The content hash header (SPEC §4): the signature covers its value, the body must match it.
  fc.constantFrom('missing', 'empty', 'short', 'long', 'upper', 'not-hex', 'duplicated', 'prefixed', 'sha1', 'other-body', 'other-body-signed', 'empty-body-signed').map<Signer>((kind) => (m, p, b) => {
    const timestamp = nowSeconds();
    const real = sha256Hex(b);
    const other = sha256Hex(`${b} `);
    const signFor = (bodyHash: string) => sign(agent.hostKey, { timestamp, method: m, path: p, bodyHash });
    let signature = signFor(real);
    let hash: string | undefined;
    switch (kind) {
      case 'missing':
        // Without a body a missing header is right: signed then for another body instead.
        if (!b) signature = signFor(other);
        break;
      case 'empty':
        hash = '';
        break;
      case 'short':
        hash = real.slice(0, 63);
        break;
      case 'long':
        hash = `${real}0`;
        break;
      case 'upper':
        hash = real.toUpperCase();
        signature = signFor(hash);
        break;
      case 'not-hex':
        hash = `${real.slice(0, 63)}g`;
        signature = signFor(hash);
        break;
      case 'duplicated':
        // As node joins a header sent twice.
        hash = `${real}, ${real}`;
        break;
      case 'prefixed':
        hash = `sha256=${real}`;
        break;
      case 'sha1':
        hash = createHash('sha1').update(b).digest('hex');
        signature = signFor(hash);
        break;
      case 'other-body':
        hash = other;
        break;
      case 'other-body-signed':
        // The signature holds; the body is not the one it covers.
        hash = other;
        signature = signFor(other);
        break;
      default:
        hash = sha256Hex('');
        signature = signFor(hash);
        if (!b) signature = signFor(other);
    }
    return { headers: { 'x-reaper-timestamp': String(timestamp), 'x-reaper-signature': signature, ...(hash === undefined ? {} : { 'x-reaper-content-sha256': hash }) }, why: `content hash ${kind}` };
  }),
);

const goodSigner: Signer = (m, p, b) => ({
  headers: { 'x-reaper-timestamp': String(nowSeconds()), 'x-reaper-signature': sign(agent.hostKey, { timestamp: nowSeconds(), method: m, path: p, body: b }), ...(b ? { 'x-reaper-content-sha256': sha256Hex(b) } : {}) },
  why: 'signed',
});

const wrongMethod = fc.constantFrom('POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS');
const contentTypes = fc.constantFrom(
  'application/json',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/jsonp',
  'application/json-patch+json',
  'json',
  '',
  'application/xml',
);

/** Raw-socket requests: what fetch will not send. `path` and `method` are the target's. */
function rawCases(route: { method: string; path: string }): fc.Arbitrary<Case> {
  const line = (method: string, target: string, headers: string[], body = '') =>
    Buffer.concat([Buffer.from(`${method} `), Buffer.from(target, 'utf8'), Buffer.from(` HTTP/1.1\r\n${['Host: 127.0.0.1', ...headers, 'Connection: close'].join('\r\n')}\r\n\r\n`), Buffer.from(body)]);
  const sig = (method: string, path: string, body = '') => {
    const timestamp = nowSeconds();
    return [`x-reaper-timestamp: ${timestamp}`, `x-reaper-signature: ${sign(agent.hostKey, { timestamp, method, path, body })}`, ...(body ? [`x-reaper-content-sha256: ${sha256Hex(body)}`] : [])];
  };
  const c = (what: string, raw: Buffer): Case => ({ what, method: route.method, path: route.path, headers: {}, raw });
  return fc.oneof(
    fc.constantFrom('ä', '\u00e9', '😀', '%00', '%2e%2e/', '\u202e', ';x', '//', '/..', '/.', '%2F..%2Fhealthz').map((suffix) => c(`raw path ${route.path}${suffix}`, line(route.method, route.path + suffix, sig(route.method, route.path + suffix)))),
    fc.constantFrom('\\', '\\..\\', '\\v1\\reap').map((s) => c(`backslash ${s}`, line(route.method, route.path + s, []))),
    fc.constantFrom('evil host', 'a@b', '[::1', '127.0.0.1:99999', '..', 'exa mple', '\u00e9.com', '', 'localhost:0x50').map((host) =>
      c(`bad host ${JSON.stringify(host)}`, Buffer.from(`${route.method} ${route.path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`, 'latin1')),
    ),
    fc.constant(c('no host, HTTP/1.0', Buffer.from(`${route.method} ${route.path} HTTP/1.0\r\n\r\n`))),
    fc.constant(c('absolute-form, unsigned', line(route.method, `http://127.0.0.1:${port}${route.path}`, []))),
    fc.constant(c('absolute-form to another host, signed for another path', line(route.method, `http://evil.example${route.path}`, sig(route.method, '/healthz')))),
    fc.constantFrom('FOO', 'GETT', 'get', 'CONNECT', 'TRACE', 'M-SEARCH', 'PROPFIND').map((method) => c(`method ${method}`, line(method, route.path, sig(method, route.path)))),
    fc.constantFrom('Bad Header: x', 'X-Ok\u0000: y', 'X-Ok: a\u0001b', 'x-reaper-signature: v1=\u00ff\u00fe', ': empty-name').map((h) => c(`bad header ${JSON.stringify(h)}`, line(route.method, route.path, [h]))),
    fc.integer({ min: 17_000, max: 40_000 }).map((n) => c(`header of ${n} bytes`, line(route.method, route.path, [`x-junk: ${'a'.repeat(n)}`]))),
    fc.constant(c('content-length and chunked', line(route.method, route.path, ['Content-Length: 5', 'Transfer-Encoding: chunked'], '0\r\n\r\n'))),
    fc.constant(c('two content-lengths', line(route.method, route.path, ['Content-Length: 2', 'Content-Length: 3'], '{}'))),
    fc.constant(c('negative content-length', line(route.method, route.path, ['Content-Length: -1']))),
    fc.constant(c('bad chunk size', line(route.method, route.path, [...sig(route.method, route.path, '{}'), 'Content-Type: application/json', 'Transfer-Encoding: chunked'], 'zz\r\n{}\r\n0\r\n\r\n'))),
    fc.constantFrom('foo', '100-continue-please', '200-ok').map((e) => c(`expect ${e}`, line(route.method, route.path, [`Expect: ${e}`]))),
    // A body the signature does not cover (signed as empty). GET bodies are never read, so only
    // for POST is this a mis-signed request.
    ...(route.method === 'POST' ? [fc.constant(c('a body outside the signature', line(route.method, route.path, [...sig(route.method, route.path, ''), 'Content-Type: application/json', 'Content-Length: 7'], '{"x":1}')))] : []),
    fc.constant(c('upgrade to websocket', line(route.method, route.path, ['Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13']))),
    fc.constant(c('CONNECT', Buffer.from(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`))),
    fc.constant(c('UTF-8 timestamp header', line(route.method, route.path, ['x-reaper-timestamp: \u0661\u0662\u0663', `x-reaper-signature: v1=${'0'.repeat(64)}`]))),
    // The content hash header sent twice (the same value, or two values), and a chunked body that is not the one signed.
    fc.constantFrom('same', 'different').map((kind) => {
      const body = JSON.stringify(validReap());
      const [ts = '', signature = '', hash = ''] = sig(route.method, route.path, body);
      const second = kind === 'same' ? hash : `x-reaper-content-sha256: ${sha256Hex(`${body} `)}`;
      return c(`content hash header twice (${kind})`, line(route.method, route.path, [ts, signature, hash, second, 'Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`], body));
    }),
    fc.constant(0).map(() => {
      const signed = JSON.stringify(validReap({ dryRun: true, hostId: 'fuzz-host-b' }));
      const sent = JSON.stringify(validReap({ hostId: 'fuzz-host-b' }));
      const chunk = `${Buffer.byteLength(sent).toString(16)}\r\n${sent}\r\n0\r\n\r\n`;
      return c('chunked body other than the signed one', line(route.method, route.path, [...sig(route.method, route.path, signed), 'Content-Type: application/json', 'Transfer-Encoding: chunked'], chunk));
    }),
  );
}

function signedCases(route: { method: 'GET' | 'POST'; path: string }): fc.Arbitrary<Case> {
  const fetchCases: fc.Arbitrary<Case>[] = [
    // Mis-signed, with an otherwise valid request.
    fc.tuple(badSigner, fc.boolean()).map(([signer, hostile]) => {
      const body = route.method === 'POST' ? JSON.stringify(validReap()) : '';
      const { headers, why } = signer(route.method, route.path, body);
      return { what: `${route.method} ${route.path} ${why}${hostile ? ' (+ x-forwarded headers)' : ''}`, method: route.method, path: route.path, headers: { ...headers, 'content-type': 'application/json', ...(hostile ? { 'x-forwarded-for': '10.0.0.1', 'x-original-url': '/healthz', 'x-http-method-override': 'GET' } : {}) }, ...(body ? { body } : {}) };
    }),
    // Correctly signed, wrong method (signed for the method sent).
    fc.tuple(wrongMethod.filter((m) => m !== route.method), fc.option(fc.string({ maxLength: 50 }), { nil: undefined })).map(([method, body]) => ({
      what: `${method} ${route.path} (signed)`,
      method,
      path: route.path,
      headers: goodSigner(method, route.path, body ?? '').headers,
      ...(body === undefined ? {} : { body }),
    })),
    // Correctly signed for a path that is not the route.
    fc.constantFrom('/', '//', '/x', 'x', '.', '..', '/..', '/.', '%20', '%00', ';', '.json', '/../reap', '?', '#').map((suffix) => {
      const path = suffix.startsWith('?') || suffix.startsWith('#') ? `${route.path}${suffix}` : `${route.path}${suffix}`;
      return { what: `${route.method} ${path} (signed for it)`, method: route.method, path, headers: goodSigner(route.method, path, route.method === 'POST' ? JSON.stringify(validReap()) : '').headers, ...(route.method === 'POST' ? { body: JSON.stringify(validReap()) } : {}) };
    }),
    fc.constantFrom('/V1/CONTAINERS', '/v1/Reap', '/v2/reap', '/v1/containers/../reap', '/v1%2freap', '/v1/reap/', '/%76%31/reap').map((path) => ({
      what: `${route.method} ${path} (signed for it)`,
      method: route.method,
      path,
      headers: goodSigner(route.method, path, route.method === 'POST' ? JSON.stringify(validReap()) : '').headers,
      ...(route.method === 'POST' ? { body: JSON.stringify(validReap()) } : {}),
    })),
  ];
  if (route.method === 'POST') {
    // Correctly signed, malformed body or content type: the agent must judge the body, not the signature.
    fetchCases.push(
      badReapBody.map(({ body, why }) => ({ what: `reap body: ${why}`, method: 'POST', path: route.path, headers: { ...goodSigner('POST', route.path, body).headers, 'content-type': 'application/json' }, body, expectSigned: true })),
      badReapBody.map(({ body, why }) => ({ what: `reap body: ${why}`, method: 'POST', path: route.path, headers: { ...goodSigner('POST', route.path, body).headers, 'content-type': 'application/json' }, body, expectSigned: true })),
      contentTypes
        .filter((t) => t !== 'application/json')
        .map((type) => {
          const body = JSON.stringify(validReap());
          return { what: `content-type ${JSON.stringify(type)}`, method: 'POST', path: route.path, headers: { ...goodSigner('POST', route.path, body).headers, 'content-type': type }, body, expectSigned: true };
        }),
      // A valid body with a bad signature, then the same body on another host's command.
      badSigner.map((signer) => {
        const body = JSON.stringify(validReap({ hostId: 'fuzz-host-b' }));
        return { what: `other host's command, ${signer('POST', route.path, body).why}`, method: 'POST', path: route.path, headers: { ...signer('POST', route.path, body).headers, 'content-type': 'application/json' }, body };
      }),
    );
  }
  return fc.oneof({ weight: 12, arbitrary: fc.oneof(...fetchCases) }, { weight: 2, arbitrary: rawCases(route) });
}

const healthCases = (): fc.Arbitrary<Case> => fc.oneof(
  { weight: 5, arbitrary: fc.tuple(wrongMethod, fc.option(fc.string({ maxLength: 100 }), { nil: undefined }), badSigner).map(([method, body, signer]) => ({ what: `${method} /healthz`, method, path: '/healthz', headers: signer(method, '/healthz', body ?? '').headers, ...(body === undefined ? {} : { body }) })) },
  { weight: 3, arbitrary: fc.constantFrom('/healthz/', '/healthz/x', '/HEALTHZ', '/healthz%20', '/healthz.json', '//healthz', '/v1/healthz', '/healthz;', '/healthz%2f', '/health', '/healthzz').map((path) => ({ what: `GET ${path}`, method: 'GET', path, headers: {} })) },
  // Well-formed GETs carrying junk: 200 is right (no auth on /healthz); they must never be a 5xx.
  { weight: 2, arbitrary: fc.tuple(badSigner, contentTypes).map(([signer, type]) => ({ what: 'GET /healthz with junk headers', method: 'GET', path: '/healthz', headers: { ...signer('GET', '/healthz', '').headers, 'content-type': type }, mayBeOk: true })) },
  { weight: 2, arbitrary: rawCases({ method: 'GET', path: '/healthz' }).map((c) => ({ ...c, mayBeOk: true })) },
);

const ROUTES = ['/healthz', '/v1/containers', '/v1/reap', '/metrics'];
const unknownPathCases = (): fc.Arbitrary<Case> => fc.oneof(
  fc.tuple(fc.webPath(), fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'), fc.boolean()).map(([p, method, signed]) => {
    const path = p.startsWith('/') ? p : `/${p}`;
    const body = method === 'GET' ? '' : '{}';
    return { what: `${method} ${path}`, method, path, headers: signed ? goodSigner(method, path, body).headers : {}, ...(body ? { body } : {}) };
  }),
  fc.tuple(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }), fc.boolean()).map(([s, signed]) => {
    const path = `/${encodeURIComponent(s)}`;
    return { what: `GET ${path}`, method: 'GET', path, headers: signed ? goodSigner('GET', path, '').headers : {} };
  }),
  fc.constantFrom('/v1', '/v1/', '/v0/reap', '/v1/containers/abc', '/v1/containers/..%2f..%2fetc', '/v1/hosts', '/admin', '/.env', '/%2e%2e/%2e%2e/etc/passwd', '/v1/reap/../../metrics/x', '/' + 'a'.repeat(8000)).map((path) => ({ what: `GET ${path.slice(0, 60)}`, method: 'GET', path, headers: goodSigner('GET', path, '').headers })),
  rawCases({ method: 'GET', path: '/nope' }),
).filter((c: Case) => c.raw !== undefined || !ROUTES.includes(routedPath(c.path) ?? ''));

/** The normalized pathname the server routes on (dot segments resolved). */
const routedPath = (path: string) => {
  try {
    return new URL(path, 'http://127.0.0.1').pathname;
  } catch {
    return undefined;
  }
};

async function send(c: Case): Promise<RawAnswer & { transport: 'fetch' | 'raw' }> {
  if (c.raw) {
    fuzzTotals.raw++;
    return { ...(await sendRaw(port, c.raw)), transport: 'raw' };
  }
  const response = await fetch(agent.url + c.path, {
    method: c.method,
    headers: c.headers,
    ...(c.body !== undefined && c.method !== 'GET' && c.method !== 'HEAD' ? { body: c.body } : {}),
  });
  const body = await response.text();
  return { status: response.status, headers: Object.fromEntries(response.headers), body, transport: 'fetch' };
}

/** Checks one answer; returns a problem description or undefined. */
function judge(c: Case, answer: RawAnswer): string | undefined {
  fuzzTotals.sent++;
  fuzzTotals.byStatus[answer.status] = (fuzzTotals.byStatus[answer.status] ?? 0) + 1;
  if (answer.noAnswer) return 'no answer (connection closed)';
  if (answer.status >= 500) return `5xx: ${answer.status} ${answer.body.slice(0, 200)}`;
  // An answer signature, where there is one, is right for this request; a signed request's refusal carries one.
  const answerSignature = answer.headers['x-reaper-answer-signature'];
  if (answerSignature !== undefined) {
    fuzzTotals.signedAnswers++;
    const requestSignature = c.headers['x-reaper-signature'] ?? /\r\nx-reaper-signature: ([^\r]*)\r\n/i.exec(c.raw?.toString('latin1') ?? '')?.[1] ?? '';
    if (!verifyAnswerSignature(agent.hostKey, requestSignature, answer.status, Buffer.from(answer.body, 'utf8'), answerSignature)) return `wrong answer signature on ${answer.status} ${answer.body.slice(0, 100)}`;
  } else if (c.expectSigned) return `unsigned answer to a signed request: ${answer.status} ${answer.body.slice(0, 100)}`;
  if (answer.status >= 200 && answer.status < 300) {
    fuzzTotals.ok2xx++;
    // Only a plain GET of /healthz may succeed; and then with the health body.
    const okAllowed = c.mayBeOk && (c.raw ? true : c.method === 'GET' && routedPath(c.path) === '/healthz');
    if (!okAllowed) return `accepted: ${answer.status} ${answer.body.slice(0, 200)}`;
    if (!Health.safeParse(safeJson(answer.body)).success) return `2xx without a health body: ${answer.body.slice(0, 200)}`;
    return undefined;
  }
  if (answer.status < 400) return `unexpected ${answer.status}`;
  fuzzTotals.refused4xx++;
  if (!/^application\/json/i.test(answer.headers['content-type'] ?? '')) return `4xx not JSON: ${answer.status} content-type ${answer.headers['content-type']} ${answer.body.slice(0, 100)}`;
  const parsed = ErrorBody.safeParse(safeJson(answer.body));
  if (!parsed.success) return `4xx without { error: { code, message } }: ${answer.status} ${answer.body.slice(0, 200)}`;
  fuzzTotals.byCode[parsed.data.error.code] = (fuzzTotals.byCode[parsed.data.error.code] ?? 0) + 1;
  return undefined;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Cases are generated in chunks just before they are sent, so signed timestamps cannot age into (or out of) the window. */
const CHUNK = 200;

async function fuzz(name: string, arb: fc.Arbitrary<Case>, seedOffset: number) {
  const problems: string[] = [];
  let count = 0;
  for (let chunk = 0; count < PER_ENDPOINT; chunk++) {
    const cases = fc.sample(arb, { numRuns: Math.min(CHUNK, PER_ENDPOINT - count), seed: SEED + seedOffset * 1_000 + chunk });
    count += cases.length;
    // The generator must never produce a command this agent could accept (it would reap the orphans).
    for (const c of cases) {
      if (c.method === 'POST' && routedPath(c.path) === '/v1/reap' && c.body !== undefined && !c.raw) {
        const parsed = ReapRequest.safeParse(safeJson(c.body));
        const ts = Number(c.headers['x-reaper-timestamp']);
        const signedOk = c.headers['x-reaper-signature'] === goodSignatureFor(c) && c.headers['x-reaper-content-sha256'] === sha256Hex(c.body) && Math.abs(ts - nowSeconds()) <= 300;
        if (parsed.success && parsed.data.hostId === agent.hostId && signedOk && /^application\/json\s*(;|$)/i.test(c.headers['content-type'] ?? '') && Date.parse(parsed.data.snapshotAt) <= Date.now() && c.path === '/v1/reap' && Buffer.byteLength(c.body) <= BODY_LIMIT) {
          throw new Error(`test bug: generated a valid command (${c.what})`);
        }
      }
    }
    const limit = pLimit(16);
    await Promise.all(
      cases.map((c) =>
        limit(async () => {
          let problem: string | undefined;
          try {
            problem = judge(c, await send(c));
          } catch (error) {
            const cause = (error as Error).cause as (Error & { code?: string }) | undefined;
            problem = `send failed: ${(error as Error).message}${cause ? ` (${cause.code ?? ''} ${cause.message})` : ''}`;
          }
          if (problem) problems.push(`${c.what}: ${problem}`);
        }),
      ),
    );
  }
  expect(count).toBe(PER_ENDPOINT);
  expect(problems.slice(0, 15), `${name}: ${problems.length} of ${count} answers wrong (seed ${SEED})`).toEqual([]);
}

function goodSignatureFor(c: Case): string {
  const ts = Number(c.headers['x-reaper-timestamp']);
  return sign(agent.hostKey, { timestamp: ts, method: c.method, path: c.path, body: c.body ?? '' });
}

describe(`agent fuzz: ${PER_ENDPOINT} generated malformed requests per endpoint (seed ${SEED})`, () => {
  let before: Map<string, string>;
  beforeAll(async () => {
    before = await engineState();
    expect(before.size).toBe(6);
  });

  it('GET /healthz: wrong methods and paths are 4xx JSON, plain GETs with junk are 200, never a 5xx', () => fuzz('healthz', healthCases(), 1));
  it('GET /v1/containers: every mis-signed or malformed request is a 4xx JSON error', () => fuzz('containers', signedCases({ method: 'GET', path: '/v1/containers' }), 2));
  it('POST /v1/reap: every mis-signed or malformed command is a 4xx JSON error', () => fuzz('reap', signedCases({ method: 'POST', path: '/v1/reap' }), 3));
  it('GET /metrics: every mis-signed or malformed request is a 4xx JSON error', () => fuzz('metrics', signedCases({ method: 'GET', path: '/metrics' }), 4));
  it('unknown paths: 4xx JSON errors, signed or not', () => fuzz('unknown', unknownPathCases(), 5));

  it('afterwards: the engine is exactly as it was and the agent is up', async () => {
    const after = await engineState();
    expect([...after.entries()].sort()).toEqual([...before.entries()].sort());
    const health = await fetch(`${agent.url}/healthz`);
    expect(health.status).toBe(200);
    expect(Health.parse(await health.json()).ok).toBe(true);
    // And a real signed call still works (the fuzz left no reap stuck in flight).
    const list = await agent.client.containers();
    expect(list.containers).toHaveLength(5);
    // The content hash header was fuzzed in every way the agent tells apart, and signed refusals were judged.
    for (const code of ['missing_content_hash', 'bad_content_hash', 'content_hash_mismatch', 'bad_signature', 'validation_failed']) expect(fuzzTotals.byCode[code] ?? 0, code).toBeGreaterThan(0);
    expect(fuzzTotals.signedAnswers).toBeGreaterThan(100);
  });
});
