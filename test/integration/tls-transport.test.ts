/**
 * The agent channel over real TLS (SPEC §4, Transport): a test CA made with openssl, real agents
 * serving HTTPS on private engines (one per host, S10), dynalite, and the reaper function built
 * from its environment exactly as Lambda builds it (REAPER_AGENT_CA_FILE, REAPER_AGENT_CLIENT_*).
 *
 * Covered: trust through the CA bundle only; client certificates required; SIGHUP reload of the
 * agent's certificate (a real `clawbox-reaper agent` process); redirects never followed;
 * connection and TLS session reuse; the URL rules at PUT and again at run time for items written
 * by hand; a name resolving to a metadata address refused at connect time; start-up validation.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { PutCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadAgentConfig } from '../../agent/config.js';
import { createApiApp } from '../../functions/api/app.js';
import { createReaperFromEnv } from '../../functions/reaper.js';
import { loadReaperConfig, ReaperConfigError } from '../../functions/reaper/config.js';
import type { RunResult } from '../../functions/reaper/run.js';
import { createStore, type Store } from '../../functions/store/index.js';
import { createAgentTransport } from '../../lib/agent-transport.js';
import { deriveHostKey } from '../../lib/signing.js';
import { capturingLogger, startTestAgent, type TestAgent } from '../helpers/agent.js';
import { makeContainer, stateOf, type MadeContainer } from '../helpers/containers.js';
import { startDynalite, type TestDynamo } from '../helpers/dynalite.js';
import { startEngine, type Engine } from '../helpers/engine.js';
import { makeTestCa, type IssuedCert, type TestCa } from '../helpers/tls-ca.js';

const MASTER = randomBytes(32).toString('hex');
const RUN_LABEL = `tls-${randomUUID().slice(0, 8)}`;
const H = { a: 'tls-a', m: 'tls-m', redirect: 'tls-redirect' } as const;

let ca: TestCa;
/** A CA nobody trusts: its client certificate is refused by the mTLS agent. */
let strangerCa: TestCa;
let serverCert: IssuedCert;
let clientCert: IssuedCert;
let dynamo: TestDynamo;
let store: Store;
const engines = {} as Record<'a' | 'm' | 't', Engine>;
/** a: HTTPS; m: HTTPS requiring client certificates; t: HTTPS, never registered (the redirect's target). */
const agents = {} as Record<'a' | 'm' | 't', TestAgent>;
let redirector: { url: string; requests: string[]; server: HttpsServer };
/** An HTTPS server that counts what reaches it (for URLs that must never be called). */
let counter: { url: string; requests: string[]; server: HttpsServer };
let targetRequests = 0;
const log = capturingLogger('info');

function reaperEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    REAPER_MASTER_KEY: MASTER,
    REAPER_TABLE_PREFIX: dynamo.prefix,
    REAPER_GRACE_SECONDS: '0',
    REAPER_QUARANTINE_SECONDS: '0',
    REAPER_STOP_TIMEOUT_SECONDS: '0',
    REAPER_MAX_REAP_PERCENT: '100',
    REAPER_AGENT_ATTEMPTS: '1',
    REAPER_AGENT_TIMEOUT_SECONDS: '10',
    REAPER_REPORT_MARGIN_SECONDS: '1',
    ...extra,
  };
}

/** The reaper function as Lambda builds it from its environment; one transport per build. */
function reaperFunction(extra: Record<string, string> = {}) {
  return createReaperFromEnv({ env: reaperEnv(extra), dynamo: dynamo.client, logger: log.logger }).handler;
}

async function run(handler: ReturnType<typeof reaperFunction>, hosts: string[]) {
  const runId = `tls-${randomUUID()}`;
  const result = (await handler({ runId, hosts }, { getRemainingTimeInMillis: () => 60_000 })) as RunResult;
  return Object.fromEntries(result.hosts.map((h) => [h.hostId, h]));
}

async function startCountingServer(handler: (path: string, res: import('node:http').ServerResponse) => void) {
  const requests: string[] = [];
  const server = createHttpsServer({ cert: serverCert.cert, key: serverCert.key }, (req, res) => {
    requests.push(`${req.method} ${req.url}`);
    req.resume();
    handler(req.url ?? '/', res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return { url: `https://127.0.0.1:${address.port}`, requests, server };
}

async function orphanOn(engine: Engine, id: string): Promise<MadeContainer> {
  return makeContainer(engine.docker, { clawboxId: id, kind: 'created', runLabel: RUN_LABEL });
}

const exists = async (engine: Engine, c: MadeContainer) => (await stateOf(engine.docker, c.id)) !== undefined;
/** Old enough for a grace of 0: Docker's whole-second Created plus the agent's clock correction. */
const age = () => sleep(2_100);

/** The serial number of the certificate a fresh TLS connection (no session resumption) is given. */
async function servedSerial(port: number): Promise<string> {
  const socket: TLSSocket = tlsConnect({ host: '127.0.0.1', port, ca: ca.ca, servername: undefined });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    return socket.getPeerCertificate().serialNumber;
  } finally {
    socket.destroy();
  }
}

beforeAll(async () => {
  ca = makeTestCa();
  strangerCa = makeTestCa('stranger CA');
  serverCert = ca.server('agent');
  clientCert = ca.client('reaper');
  dynamo = await startDynalite({ prefix: 'tls-' });
  store = createStore({ client: dynamo.client, prefix: dynamo.prefix });
  const [a, m, t] = await Promise.all([startEngine(), startEngine(), startEngine()]);
  Object.assign(engines, { a, m, t });
  const tls = { certFile: serverCert.certFile, keyFile: serverCert.keyFile };
  agents.a = await startTestAgent({ dockerHost: engines.a.dockerHost, hostId: H.a, masterKey: MASTER, tls });
  agents.m = await startTestAgent({ dockerHost: engines.m.dockerHost, hostId: H.m, masterKey: MASTER, tls: { ...tls, clientCaFile: ca.caFile } });
  // The redirect's target serves host H.redirect's key: a followed redirect would be obeyed.
  agents.t = await startTestAgent({ dockerHost: engines.t.dockerHost, hostId: H.redirect, masterKey: MASTER, tls });
  agents.t.server.on('request', () => targetRequests++);
  redirector = await startCountingServer((path, res) => {
    res.writeHead(307, { location: `${agents.t.url}${path}` });
    res.end();
  });
  counter = await startCountingServer((_path, res) => {
    res.writeHead(500, { 'content-type': 'application/json' });
    res.end('{"error":{"code":"internal","message":"must never be called"}}');
  });
  await store.hosts.put(H.a, { agentUrl: agents.a.url, enabled: true });
  await store.hosts.put(H.m, { agentUrl: agents.m.url, enabled: true });
  await store.hosts.put(H.redirect, { agentUrl: redirector.url, enabled: true });
});

afterAll(async () => {
  await Promise.allSettled(Object.values(agents).map((agent) => agent.close()));
  for (const s of [redirector?.server, counter?.server]) s?.closeAllConnections();
  await Promise.allSettled([redirector, counter].map((s) => s && new Promise((resolve) => s.server.close(resolve))));
  await Promise.allSettled(Object.values(engines).map((engine) => engine.stop()));
  await dynamo?.close();
  ca?.remove();
  strangerCa?.remove();
});

describe('agents over HTTPS, trusted through the CA bundle', () => {
  it('without the CA bundle an HTTPS agent is not trusted: the report says so plainly and nothing is touched', async () => {
    const orphan = await orphanOn(engines.a, 'a-untrusted');
    await age();
    const hosts = await run(reaperFunction(), [H.a]);
    expect(hosts[H.a]).toMatchObject({ status: 'error', errorCode: 'agent_tls_untrusted', counts: null });
    expect(hosts[H.a]!.error).toMatch(/TLS certificate is not trusted \(unable to verify the first certificate\); give the CA that issued it in REAPER_AGENT_CA_FILE/);
    expect(await exists(engines.a, orphan)).toBe(true);
    expect((await store.hosts.get(H.a))?.lastReap).toMatchObject({ status: 'error', errorCode: 'agent_tls_untrusted' });
  });

  it('with REAPER_AGENT_CA_FILE the reaper reaps through TLS: orphans removed, tracked kept; one connection per host, TLS sessions resumed', async () => {
    const orphan = await orphanOn(engines.a, 'a-orphan');
    const kept = await orphanOn(engines.a, 'a-kept');
    await store.tracked.track(H.a, 'a-kept', { owner: 'manager' });
    await age();
    const connections: TLSSocket[] = [];
    const onSecure = (socket: TLSSocket) => connections.push(socket);
    agents.a.server.on('secureConnection', onSecure);
    try {
      const reaper = reaperFunction({ REAPER_AGENT_CA_FILE: ca.caFile });
      const first = await run(reaper, [H.a]);
      expect(first[H.a]).toMatchObject({ status: 'ok', counts: { removed: 2, tracked: 1 } });
      expect(await exists(engines.a, orphan)).toBe(false);
      expect(await exists(engines.a, kept)).toBe(true);
      // The identity call, then the command: one TLS connection, kept alive.
      expect(connections).toHaveLength(1);
      expect(connections[0]!.isSessionReused()).toBe(false);

      // The next run of this reaper: the idle connection is gone (as between ticks), the TLS
      // session is resumed, not negotiated afresh.
      (agents.a.server as HttpsServer).closeIdleConnections();
      await sleep(50);
      const second = await run(reaper, [H.a]);
      expect(second[H.a]).toMatchObject({ status: 'ok', counts: { removed: 0, tracked: 1 } });
      expect(connections).toHaveLength(2);
      expect(connections[1]!.isSessionReused()).toBe(true);
    } finally {
      agents.a.server.off('secureConnection', onSecure);
    }
  });

  it('an agent that requires client certificates refuses a reaper without one (refused, nothing touched) and serves one with it', async () => {
    const orphan = await orphanOn(engines.m, 'm-orphan');
    await age();
    const without = await run(reaperFunction({ REAPER_AGENT_CA_FILE: ca.caFile }), [H.m]);
    expect(without[H.m]).toMatchObject({ status: 'refused', errorCode: 'agent_tls_client_refused', counts: null });
    expect(without[H.m]!.error).toMatch(/refused the TLS connection \(TLS alert "certificate required"\).*REAPER_AGENT_CLIENT_CERT/);
    expect(await exists(engines.m, orphan)).toBe(true);

    // A certificate from a CA the agent does not trust: the connection is closed, nothing sent.
    const stranger = strangerCa.client('stranger');
    const wrong = await run(reaperFunction({ REAPER_AGENT_CA_FILE: ca.caFile, REAPER_AGENT_CLIENT_CERT: stranger.certFile, REAPER_AGENT_CLIENT_KEY: stranger.keyFile }), [H.m]);
    expect(wrong[H.m]?.status).toMatch(/^(unreachable|refused)$/);
    expect(await exists(engines.m, orphan)).toBe(true);

    const withCert = await run(reaperFunction({ REAPER_AGENT_CA_FILE: ca.caFile, REAPER_AGENT_CLIENT_CERT: clientCert.certFile, REAPER_AGENT_CLIENT_KEY: clientCert.keyFile }), [H.m]);
    expect(withCert[H.m]).toMatchObject({ status: 'ok', counts: { removed: 1 } });
    expect(await exists(engines.m, orphan)).toBe(false);
  });

  it('a redirect (307 to another agent) is never followed: the report says so and the other agent gets nothing', async () => {
    const orphan = await orphanOn(engines.t, 't-orphan');
    await age();
    const hosts = await run(reaperFunction({ REAPER_AGENT_CA_FILE: ca.caFile }), [H.redirect]);
    expect(hosts[H.redirect]).toMatchObject({ status: 'error', errorCode: 'agent_redirect', counts: null });
    expect(hosts[H.redirect]!.error).toMatch(/answered HTTP 307, a redirect to https:\/\/127\.0\.0\.1:\d+\/v1\/identity: not followed, the command goes only to the registered URL/);
    // Only the first call reached the redirector; no command was sent anywhere.
    expect(redirector.requests).toEqual(['GET /v1/identity']);
    expect(targetRequests).toBe(0);
    expect(await exists(engines.t, orphan)).toBe(true);
  });

  it('the transport sends nothing outside the registered URL, and refuses a name that resolves to a metadata address', async () => {
    const transport = createAgentTransport({ ca: ca.ca });
    const bound = transport.forUrl(`${counter.url}/agent`);
    await expect(bound(`${counter.url}/elsewhere/v1/reap`, { method: 'POST' })).rejects.toThrow(/not under the host's registered URL/);
    await expect(bound(`${redirector.url}/agent/v1/reap`, { method: 'POST' })).rejects.toThrow(/not under the host's registered URL/);
    expect(counter.requests).toEqual([]);
    expect(redirector.requests).toEqual(['GET /v1/identity']);

    const port = new URL(counter.url).port;
    const rebinding = createAgentTransport({
      ca: ca.ca,
      lookup: ((_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) =>
        options.all ? callback(null, [{ address: '169.254.169.254', family: 4 }]) : callback(null, '169.254.169.254', 4)) as never,
    });
    const error = await rebinding.fetch(`https://agent.example:${port}/v1/identity`).catch((e: unknown) => e);
    expect(((error as Error).cause as Error).message).toMatch(/agent\.example resolves to 169\.254\.169\.254, a link-local or cloud metadata address: refused/);
    await Promise.all([transport.close(), rebinding.close()]);
  });
});

describe('agent URL rules', () => {
  it('PUT /v1/hosts/:hostId refuses plain http off loopback, link-local and metadata addresses, credentials, a query or a fragment (400, clear message); allowances are stored', async () => {
    const app = createApiApp({ store, startRun: () => Promise.resolve(), logger: log.logger });
    const put = async (hostId: string, body: Record<string, unknown>) => {
      const response = await app.request(`/v1/hosts/${hostId}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: response.status, json: (await response.json()) as { error?: { code: string; details?: Array<{ message: string }> }; allowPlainHttp?: boolean; allowLinkLocal?: boolean } };
    };
    const refused: Array<[string, RegExp]> = [
      ['http://10.20.30.40:8788', /plain http:\/\/ except on loopback/],
      ['http://agent-b.internal:8788', /plain http:\/\/ except on loopback/],
      ['https://169.254.169.254/', /link-local or cloud metadata address \(169\.254\.169\.254\)/],
      ['https://[fd00:ec2::254]/', /link-local or cloud metadata address/],
      ['https://[fe80::1]:8788', /link-local or cloud metadata address/],
      ['https://metadata.google.internal/', /link-local or cloud metadata address/],
      ['https://admin:pw@agent-b.internal:8788', /user name or password/],
      ['https://agent-b.internal:8788/?debug=1', /must not have a query/],
      ['https://agent-b.internal:8788/#x', /must not have a fragment/],
    ];
    for (const [agentUrl, message] of refused) {
      const answer = await put('rules-1', { agentUrl });
      expect(answer.status, agentUrl).toBe(400);
      expect(answer.json.error?.code).toBe('validation_failed');
      expect(answer.json.error?.details?.map((d) => d.message).join(' '), agentUrl).toMatch(message);
    }
    expect(await store.hosts.get('rules-1')).toBeUndefined();

    const plain = await put('rules-1', { agentUrl: 'http://10.20.30.40:8788', allowPlainHttp: true });
    expect(plain).toMatchObject({ status: 200, json: { allowPlainHttp: true } });
    const linkLocal = await put('rules-2', { agentUrl: 'https://169.254.10.20:8788', allowLinkLocal: true });
    expect(linkLocal).toMatchObject({ status: 200, json: { allowLinkLocal: true } });
    expect(await store.hosts.get('rules-2')).toMatchObject({ allowLinkLocal: true });
    // A PUT replaces the settings: an allowance left out is gone, and the URL must then pass without it.
    expect((await put('rules-1', { agentUrl: 'https://agent-b.internal:8788' })).json.allowPlainHttp).toBeUndefined();
    expect((await store.hosts.get('rules-1'))?.allowPlainHttp).toBeUndefined();
    await store.hosts.delete('rules-1');
    await store.hosts.delete('rules-2');
  });

  it('a host item written by hand that breaks the rules is refused at run time (agent_url_refused) and nothing is sent', async () => {
    const doc = DynamoDBDocumentClient.from(dynamo.client);
    const at = new Date().toISOString();
    const items = {
      'hand-plain': 'http://10.255.255.1:8788',
      'hand-metadata': 'https://169.254.169.254/',
      'hand-query': `${counter.url}/?x=1`,
      'hand-fragment': `${counter.url}/#x`,
      'hand-mapped': `https://[::ffff:169.254.169.254]:${new URL(counter.url).port}`,
    };
    for (const [hostId, agentUrl] of Object.entries(items)) {
      await doc.send(new PutCommand({ TableName: dynamo.tables.hosts, Item: { hostId, agentUrl, enabled: true, createdAt: at, updatedAt: at } }));
    }
    const hosts = await run(reaperFunction({ REAPER_AGENT_CA_FILE: ca.caFile }), Object.keys(items));
    for (const hostId of Object.keys(items)) {
      expect(hosts[hostId], hostId).toMatchObject({ status: 'refused', errorCode: 'agent_url_refused', attempts: 0, counts: null });
      expect(hosts[hostId]!.error).toMatch(/^agent URL refused, nothing was sent: the agent URL must not /);
    }
    expect(hosts['hand-plain']!.error).toMatch(/plain http/);
    expect(hosts['hand-metadata']!.error).toMatch(/169\.254\.169\.254/);
    expect(counter.requests).toEqual([]);
    expect((await store.hosts.get('hand-plain'))?.lastReap).toMatchObject({ status: 'refused', errorCode: 'agent_url_refused' });
    for (const hostId of Object.keys(items)) await store.hosts.delete(hostId);
  });
});

describe('the agent process: HTTPS flags, SIGHUP reload, start-up validation', () => {
  let child: ChildProcess | undefined;
  let dir: string;
  afterAll(() => {
    child?.kill('SIGKILL');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('`clawbox-reaper agent --tls-cert --tls-key` serves HTTPS; SIGHUP loads a renewed certificate for new connections; a bad one is refused and the old one kept', async () => {
    dir = mkdtempSync(join(tmpdir(), 'cr-tls-agent-'));
    const certFile = join(dir, 'agent.pem');
    const keyFile = join(dir, 'agent.key');
    copyFileSync(serverCert.certFile, certFile);
    copyFileSync(serverCert.keyFile, keyFile);
    child = spawn(
      process.execPath,
      ['--import', 'tsx', 'cli/main.ts', 'agent', '--host-id', 'tls-proc', '--listen', '127.0.0.1:0', '--state-dir', join(dir, 'state'), '--tls-cert', certFile, '--tls-key', keyFile],
      { cwd: process.cwd(), env: { ...process.env, REAPER_AGENT_KEY: deriveHostKey(MASTER, 'tls-proc'), DOCKER_HOST: engines.t.dockerHost, REAPER_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const waitFor = async (pattern: RegExp, count = 1) => {
      const deadline = Date.now() + 30_000;
      while ((out.match(new RegExp(pattern.source, 'g')) ?? []).length < count) {
        if (child!.exitCode !== null) throw new Error(`agent exited with ${child!.exitCode}: ${out}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}: ${out}`);
        await sleep(25);
      }
    };
    await waitFor(/"msg":"agent listening"/);
    const url = /"url":"(https:\/\/127\.0\.0\.1:(\d+))"/.exec(out);
    expect(url, out).not.toBeNull();
    const port = Number(url![2]);
    expect(await servedSerial(port)).toBe(serverCert.serial);

    // Renewed on disk, then SIGHUP: the next connection gets the new certificate.
    const renewed = ca.server('agent-renewed');
    writeFileSync(certFile, renewed.cert);
    writeFileSync(keyFile, renewed.key);
    child.kill('SIGHUP');
    await waitFor(/"msg":"TLS certificate reloaded"/);
    expect(out).toContain(`"serialNumber":"${renewed.serial}"`);
    expect(await servedSerial(port)).toBe(renewed.serial);

    // A key that does not match: refused with a log line; the certificate in use stays.
    writeFileSync(keyFile, ca.server('other').key);
    child.kill('SIGHUP');
    await waitFor(/TLS certificate NOT reloaded, the one in use is kept: --tls-key .* does not match the certificate/);
    expect(await servedSerial(port)).toBe(renewed.serial);
    // Plain HTTP to it is not answered as HTTP (the agent speaks TLS only).
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();

    const exited = new Promise((resolve) => child!.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  });

  it('refuses to start with a missing, unreadable or mismatched certificate or key, saying which', () => {
    const base = { hostId: 'tls-cfg', listen: '127.0.0.1:0' };
    const env = { REAPER_AGENT_KEY: deriveHostKey(MASTER, 'tls-cfg') };
    const problem = (flags: Record<string, string>, extraEnv: Record<string, string> = {}) => {
      try {
        loadAgentConfig({ ...base, ...flags }, { ...env, ...extraEnv });
        return undefined;
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as Error).message;
      }
    };
    expect(problem({ tlsCert: serverCert.certFile })).toMatch(/--tls-key \/ REAPER_AGENT_TLS_KEY is not set: HTTPS needs both a certificate and its key/);
    expect(problem({ tlsKey: serverCert.keyFile })).toMatch(/--tls-cert \/ REAPER_AGENT_TLS_CERT is not set/);
    expect(problem({ tlsClientCa: ca.caFile })).toMatch(/is not set: .*--tls-client-ca needs them too/);
    expect(problem({ tlsCert: join(ca.dir, 'nope.pem'), tlsKey: serverCert.keyFile })).toMatch(/--tls-cert .*nope\.pem: cannot read it \(ENOENT\)/);
    expect(problem({ tlsCert: serverCert.keyFile, tlsKey: serverCert.keyFile })).toMatch(/--tls-cert .*: holds no PEM certificate/);
    expect(problem({ tlsCert: serverCert.certFile, tlsKey: serverCert.certFile })).toMatch(/--tls-key .*: holds no usable PEM private key/);
    expect(problem({ tlsCert: serverCert.certFile, tlsKey: clientCert.keyFile })).toMatch(/--tls-key .* does not match the certificate in --tls-cert/);
    expect(problem({ tlsCert: serverCert.certFile, tlsKey: serverCert.keyFile, tlsClientCa: serverCert.keyFile })).toMatch(/--tls-client-ca .*: holds no PEM certificate/);
    // The environment works as the flags do; flags win.
    expect(problem({}, { REAPER_AGENT_TLS_CERT: serverCert.certFile, REAPER_AGENT_TLS_KEY: serverCert.keyFile })).toBeUndefined();
    expect(loadAgentConfig(base, { ...env, REAPER_AGENT_TLS_CERT: serverCert.certFile, REAPER_AGENT_TLS_KEY: serverCert.keyFile, REAPER_AGENT_TLS_CLIENT_CA: ca.caFile }).tls).toEqual({
      certFile: serverCert.certFile,
      keyFile: serverCert.keyFile,
      clientCaFile: ca.caFile,
    });
    expect(loadAgentConfig(base, env).tls).toBeUndefined();
  });

  it('the reaper refuses to start with a bad CA bundle or client certificate, saying which', () => {
    const problem = (extra: Record<string, string>) => {
      try {
        loadReaperConfig(reaperEnv(extra));
        return undefined;
      } catch (error) {
        expect(error).toBeInstanceOf(ReaperConfigError);
        return (error as Error).message;
      }
    };
    expect(problem({ REAPER_AGENT_CA_FILE: join(ca.dir, 'missing.pem') })).toMatch(/REAPER_AGENT_CA_FILE: .*missing\.pem: cannot read it \(ENOENT\)/);
    expect(problem({ REAPER_AGENT_CA_FILE: clientCert.keyFile })).toMatch(/REAPER_AGENT_CA_FILE: .*holds no PEM certificate/);
    expect(problem({ REAPER_AGENT_CLIENT_CERT: clientCert.certFile })).toMatch(/set both REAPER_AGENT_CLIENT_CERT and REAPER_AGENT_CLIENT_KEY, or neither/);
    expect(problem({ REAPER_AGENT_CLIENT_CERT: clientCert.certFile, REAPER_AGENT_CLIENT_KEY: serverCert.keyFile })).toMatch(/REAPER_AGENT_CLIENT_KEY .* does not match the certificate in REAPER_AGENT_CLIENT_CERT/);
    expect(problem({ REAPER_AGENT_CA_FILE: ca.caFile, REAPER_AGENT_CLIENT_CERT: clientCert.certFile, REAPER_AGENT_CLIENT_KEY: clientCert.keyFile })).toBeUndefined();
  });
});
