/**
 * The CLI against the AWS API (SPEC §7): the real CLI, run as a process from a directory outside
 * the project, signs its requests with SigV4 (service execute-api) with credentials from the AWS
 * SDK's default chain, and a local HTTP server verifies every signature independently, with
 * node:crypto, following AWS's documented algorithm (canonical request, string to sign, signing
 * key derivation): it answers like the API only when the signature verifies, else 403 as API
 * Gateway does. Token mode still sends the bearer.
 *
 * The CLI is laid out as installed: bin/clawbox-reaper.js next to a dist/ bundled from this
 * checkout's source, inside the project so that the bundle's bare imports resolve from its
 * node_modules (as an `npm link`ed or `npm i -g`ed checkout's do).
 */
import { spawn } from 'node:child_process';
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

const AKID = 'AKIDEXAMPLETEST00001';
const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const SESSION = 'FwoGZXIvYXdzEXAMPLESESSIONTOKEN//test+token=';
const PROFILE_AKID = 'AKIDPROFILETEST00002';
const PROFILE_SECRET = 'profileSecretKeyForTestsOnly/0123456789ab';
const TOKEN = 'test-bearer-token';
const KEYS: Record<string, string> = { [AKID]: SECRET, [PROFILE_AKID]: PROFILE_SECRET };

let installDir: string;
let BIN: string;
let cwd: string;
let server: Server;
let base: string;
/** The region the server expects in the credential scope. */
let expectedRegion = 'eu-west-1';

interface Seen {
  method: string;
  url: string;
  body: string;
  auth: 'sigv4' | 'bearer' | 'refused';
  why?: string;
  accessKeyId?: string;
  authorization?: string;
}
let seen: Seen[] = [];

// --- SigV4 verification, from AWS's documentation, with node:crypto only ---------------------

/** RFC 3986 encoding as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~ as %XX (upper case). */
const uriEncode = (s: string) =>
  [...Buffer.from(s, 'utf8')].map((b) => (/[A-Za-z0-9\-_.~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
const sha256Hex = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();

/** Whether the request's signature verifies (and whose key made it), else why not. */
function verifySigV4(req: IncomingMessage, body: string): { ok: true; accessKeyId: string } | { ok: false; why: string } {
  const header = req.headers.authorization ?? '';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(header);
  if (!m) return { ok: false, why: 'no SigV4 Authorization header' };
  const [, accessKeyId, date, region, service, signedHeaderList, signature] = m as unknown as [string, string, string, string, string, string, string];
  const secret = KEYS[accessKeyId];
  if (!secret) return { ok: false, why: 'unknown access key' };
  if (service !== 'execute-api') return { ok: false, why: `service ${service}` };
  if (region !== expectedRegion) return { ok: false, why: `region ${region}` };
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  if (!/^\d{8}T\d{6}Z$/.test(amzDate) || amzDate.slice(0, 8) !== date) return { ok: false, why: 'x-amz-date' };
  const when = Date.parse(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`);
  if (Math.abs(Date.now() - when) > 5 * 60_000) return { ok: false, why: 'clock skew' };
  const signedHeaders = signedHeaderList.split(';');
  if (!signedHeaders.includes('host') || !signedHeaders.includes('x-amz-date')) return { ok: false, why: 'host and x-amz-date must be signed' };
  if (accessKeyId === AKID && (req.headers['x-amz-security-token'] !== SESSION || !signedHeaders.includes('x-amz-security-token'))) return { ok: false, why: 'session token' };
  const payloadHash = sha256Hex(body);
  const claimed = req.headers['x-amz-content-sha256'];
  if (claimed !== undefined && claimed !== payloadHash) return { ok: false, why: 'payload hash' };

  const url = new URL(req.url ?? '/', 'http://x');
  // Canonical URI: every segment of the (already encoded) path URI-encoded again (all services but S3).
  const canonicalUri = url.pathname.split('/').map(uriEncode).join('/') || '/';
  const canonicalQuery = [...url.searchParams]
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonicalHeaders = signedHeaders
    .map((name) => {
      const value = req.headers[name];
      const text = Array.isArray(value) ? value.join(',') : (value ?? '');
      return `${name}:${text.trim().replace(/\s+/g, ' ')}\n`;
    })
    .join('');
  const canonicalRequest = [req.method, canonicalUri, canonicalQuery, canonicalHeaders, signedHeaderList, payloadHash].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
  const expected = createHmac('sha256', signingKey).update(stringToSign, 'utf8').digest();
  if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) return { ok: false, why: 'signature mismatch' };
  return { ok: true, accessKeyId };
}

// --- a stand-in for the API behind API Gateway ------------------------------------------------

function answer(method: string, path: string, body: string): [number, unknown] {
  const now = new Date().toISOString();
  if (method === 'GET' && path === '/v1/hosts') return [200, { hosts: [] }];
  if (method === 'GET' && path === '/v1/reports') return [200, { items: [] }];
  const track = /^\/v1\/hosts\/([^/]+)\/containers\/([^/]+)$/.exec(path);
  if (method === 'PUT' && track) {
    const input = JSON.parse(body || '{}') as Record<string, unknown>;
    return [200, { hostId: decodeURIComponent(track[1]!), containerId: decodeURIComponent(track[2]!), ...input, createdAt: now, updatedAt: now }];
  }
  return [404, { error: { code: 'not_found', message: `no route ${method} ${path}` } }];
}

function startServer(host: string): Promise<Server> {
  const s = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const record: Seen = { method: req.method ?? '', url: req.url ?? '', body, auth: 'refused', ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) };
      seen.push(record);
      let ok = false;
      if (req.headers.authorization === `Bearer ${TOKEN}`) {
        record.auth = 'bearer';
        ok = true;
      } else {
        const v = verifySigV4(req, body);
        if (v.ok) {
          record.auth = 'sigv4';
          record.accessKeyId = v.accessKeyId;
          ok = true;
        } else record.why = v.why;
      }
      const [status, json] = ok ? answer(req.method ?? '', new URL(req.url ?? '/', 'http://x').pathname, body) : [403, { message: 'The request signature we calculated does not match the signature you provided.' }];
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
    });
  });
  return new Promise((resolve) => s.listen(0, host, () => resolve(s)));
}

/** A clean environment: no AWS or REAPER settings of the machine running the tests, no ~/.aws. */
function cleanEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(AWS_|REAPER_)/.test(k)) env[k] = v;
  return { ...env, HOME: cwd, USERPROFILE: cwd, AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: join(cwd, 'no-config'), AWS_SHARED_CREDENTIALS_FILE: join(cwd, 'no-credentials'), ...extra };
}

/** The CLI as a process (asynchronously: the server answering it runs in this process). */
function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const envCreds = { AWS_ACCESS_KEY_ID: AKID, AWS_SECRET_ACCESS_KEY: SECRET, AWS_SESSION_TOKEN: SESSION };

beforeAll(async () => {
  mkdirSync(join(process.cwd(), '.tmp'), { recursive: true });
  installDir = mkdtempSync(join(process.cwd(), '.tmp', 'cli-sigv4-'));
  mkdirSync(join(installDir, 'bin'));
  copyFileSync('bin/clawbox-reaper.js', join(installDir, 'bin', 'clawbox-reaper.js'));
  copyFileSync('package.json', join(installDir, 'package.json'));
  await build({
    bundle: true, platform: 'node', target: 'node20', format: 'esm', logLevel: 'warning',
    entryPoints: { cli: 'cli/main.ts' }, outdir: join(installDir, 'dist'), splitting: true, chunkNames: 'cli-chunks/[name]-[hash]', packages: 'external',
  });
  BIN = join(installDir, 'bin', 'clawbox-reaper.js');
  cwd = mkdtempSync(join(tmpdir(), 'cr-sigv4-'));
  server = await startServer('127.0.0.1');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  if (cwd) rmSync(cwd, { recursive: true, force: true });
  if (installDir) rmSync(installDir, { recursive: true, force: true });
});

beforeEach(() => {
  seen = [];
  expectedRegion = 'eu-west-1';
});

describe('clawbox-reaper against an IAM-authorized API (SigV4)', () => {
  it('prints its version, from any directory', async () => {
    const r = await cli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe((JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version);
  });

  it('signs GET, GET with a query and PUT with a body with credentials from the environment (session token included)', async () => {
    const env = { ...envCreds, AWS_REGION: 'eu-west-1', REAPER_API_AUTH: 'sigv4' };
    const hosts = await cli(['hosts', '--json', '--api', base], env);
    expect(hosts.stderr).toBe('');
    expect(hosts.code).toBe(0);
    expect(JSON.parse(hosts.stdout)).toEqual([]);
    const reports = await cli(['reports', '--json', '--since', '1h', '--api', base], env);
    expect(reports.code, reports.stderr).toBe(0);
    const tracked = await cli(['track', 'host-a', 'sandbox-42', '--owner', 'ops team', '--json', '--api', base], env);
    expect(tracked.code, tracked.stderr).toBe(0);
    expect(seen.map((s) => [s.method, s.url.split('?')[0], s.auth, s.why])).toEqual([
      ['GET', '/v1/hosts', 'sigv4', undefined],
      ['GET', '/v1/reports', 'sigv4', undefined],
      ['PUT', '/v1/hosts/host-a/containers/sandbox-42', 'sigv4', undefined],
    ]);
    expect(seen[1]!.url).toContain('since=');
    expect(JSON.parse(seen[2]!.body)).toMatchObject({ owner: 'ops team' });
    expect(seen.every((s) => s.accessKeyId === AKID)).toBe(true);
  });

  it('takes credentials and region from a profile in the shared files with --profile', async () => {
    writeFileSync(join(cwd, 'credentials'), `[default]\naws_access_key_id = AKIDWRONGDEFAULT0000\naws_secret_access_key = nope\n\n[ops]\naws_access_key_id = ${PROFILE_AKID}\naws_secret_access_key = ${PROFILE_SECRET}\n`);
    writeFileSync(join(cwd, 'config'), '[default]\nregion = us-east-1\n\n[profile ops]\nregion = eu-west-3\n');
    expectedRegion = 'eu-west-3';
    const files = { AWS_SHARED_CREDENTIALS_FILE: join(cwd, 'credentials'), AWS_CONFIG_FILE: join(cwd, 'config'), REAPER_API_AUTH: 'sigv4' };
    const r = await cli(['--profile', 'ops', 'hosts', '--json', '--api', base], files);
    expect(r.code, r.stderr).toBe(0);
    expect(seen.map((s) => [s.auth, s.accessKeyId])).toEqual([['sigv4', PROFILE_AKID]]);
    // --region wins over the profile's.
    expectedRegion = 'ap-south-1';
    expect((await cli(['--profile', 'ops', '--region', 'ap-south-1', 'hosts', '--api', base], files)).code).toBe(0);
    // AWS_PROFILE does what --profile does.
    expectedRegion = 'eu-west-3';
    expect((await cli(['hosts', '--api', base], { ...files, AWS_PROFILE: 'ops' })).code).toBe(0);
    expect(seen.map((s) => s.auth)).toEqual(['sigv4', 'sigv4', 'sigv4']);
  });

  it('says the API refused the request (exit 3) when the signature does not verify', async () => {
    const r = await cli(['hosts', '--api', base], { ...envCreds, AWS_SECRET_ACCESS_KEY: 'not-the-secret', AWS_REGION: 'eu-west-1', REAPER_API_AUTH: 'sigv4' });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('the API refused the request (403');
    expect(seen.map((s) => [s.auth, s.why])).toEqual([['refused', 'signature mismatch']]);
  });

  it('is a configuration error (exit 2) without a region or without credentials', async () => {
    const noRegion = await cli(['hosts', '--api', base], { ...envCreds, REAPER_API_AUTH: 'sigv4' });
    expect(noRegion.code).toBe(2);
    expect(noRegion.stderr).toContain('no AWS region');
    const noCreds = await cli(['hosts', '--api', base], { AWS_REGION: 'eu-west-1', REAPER_API_AUTH: 'sigv4' });
    expect(noCreds.code).toBe(2);
    expect(noCreds.stderr).toContain('no AWS credentials');
    const bad = await cli(['hosts', '--api', base], { REAPER_API_AUTH: 'iam' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('REAPER_API_AUTH');
    expect(seen).toEqual([]);
  });

  it('signs by default when no token is known and the API is not the local stack', async () => {
    // Nothing listens there; the missing region shows which strategy was chosen before any request.
    const r = await cli(['hosts', '--api', 'https://abc123.execute-api.invalid'], envCreds);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no AWS region');
  });

  it('token mode sends the bearer (from the environment or the data dir), never a signature', async () => {
    const fromEnv = await cli(['hosts', '--api', base], { ...envCreds, AWS_REGION: 'eu-west-1', REAPER_API_TOKEN: TOKEN });
    expect(fromEnv.code, fromEnv.stderr).toBe(0);
    mkdirSync(join(cwd, 'data'), { recursive: true });
    writeFileSync(join(cwd, 'data', 'api-token'), `${TOKEN}\n`);
    const fromDir = await cli(['hosts', '--api', base, '--data-dir', join(cwd, 'data')], { ...envCreds, AWS_REGION: 'eu-west-1' });
    expect(fromDir.code, fromDir.stderr).toBe(0);
    const forced = await cli(['hosts', '--api', base], { ...envCreds, AWS_REGION: 'eu-west-1', REAPER_API_TOKEN: TOKEN, REAPER_API_AUTH: 'token' });
    expect(forced.code, forced.stderr).toBe(0);
    expect(seen.map((s) => [s.auth, s.authorization])).toEqual([
      ['bearer', `Bearer ${TOKEN}`],
      ['bearer', `Bearer ${TOKEN}`],
      ['bearer', `Bearer ${TOKEN}`],
    ]);
    // REAPER_API_AUTH=sigv4 signs although a token is known.
    const signed = await cli(['hosts', '--api', base], { ...envCreds, AWS_REGION: 'eu-west-1', REAPER_API_TOKEN: TOKEN, REAPER_API_AUTH: 'sigv4' });
    expect(signed.code, signed.stderr).toBe(0);
    expect(seen.at(-1)!.auth).toBe('sigv4');
  });
});
