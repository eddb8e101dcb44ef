/**
 * The local stack's store (dynalite) has no authentication, so it must be unreachable to other
 * local users: it is served on a unix socket in a 0700 directory of the data dir (socket 0600),
 * never on a TCP port. Checked in process (lib/embedded-dynamo.ts) and on `clawbox-reaper local`
 * started as its own process: the TCP ports it listens on are the API's and the agent's only,
 * neither answers DynamoDB, and a connect to the socket as `nobody` is refused — with every
 * directory above the store's own left open to others, so only the store's own modes stand in
 * the way.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedDynamo, STORE_SOCKET } from '../../lib/embedded-dynamo.js';
import { startEngine, type Engine } from '../helpers/engine.js';

const root = resolve(import.meta.dirname, '../..');
const isRoot = process.getuid?.() === 0;
const hasSetpriv = spawnSync('setpriv', ['--version']).status === 0;

/** A temp dir that every user may traverse, so that only the store's own directory keeps `nobody` out. */
function openDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return dir;
}

/** Tries to connect to a unix socket as `nobody`: 'connected', or the error code (EACCES …). */
function connectAsNobody(path: string): string {
  const script = `const s=require('node:net').createConnection({path:process.argv[1]});s.on('connect',()=>{console.log('connected');s.destroy()});s.on('error',(e)=>console.log(e.code))`;
  const result = spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, '-e', script, path], { cwd: '/', encoding: 'utf8', timeout: 20_000 });
  if (result.status !== 0) throw new Error(`setpriv failed (${result.status}): ${result.stderr}`);
  return result.stdout.trim();
}

const client = (config: ReturnType<Awaited<ReturnType<typeof startEmbeddedDynamo>>['clientConfig']>) =>
  new DynamoDBClient({ ...config, region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });

describe('the embedded store on a unix socket', () => {
  let dir: string;
  beforeAll(() => {
    dir = openDir('cr-store-');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('serves the SDK on a 0600 socket in a 0700 directory, and binds no TCP port', async () => {
    const socketDir = join(dir, 'a', 'store');
    const db = await startEmbeddedDynamo({ socketDir });
    try {
      expect(db.socketPath).toBe(join(socketDir, STORE_SOCKET));
      expect(statSync(socketDir).mode & 0o777).toBe(0o700);
      expect(statSync(db.socketPath!).mode & 0o777).toBe(0o600);
      expect(statSync(db.socketPath!).isSocket()).toBe(true);
      expect(db.endpoint).toBe('http://localhost');
      const c = client(db.clientConfig());
      expect((await c.send(new ListTablesCommand({}))).TableNames).toEqual([]);
      c.destroy();
    } finally {
      await db.close();
    }
    // Closed: the socket file is gone, so a later start finds nothing in its way.
    expect(existsSync(join(socketDir, STORE_SOCKET))).toBe(false);
  });

  it.skipIf(!isRoot || !hasSetpriv)('refuses another local user: nobody gets EACCES (and connects where the modes allow it)', async () => {
    const db = await startEmbeddedDynamo({ socketDir: join(dir, 'b', 'store') });
    // The control: the same probe as nobody connects to a socket whose directory and mode let it.
    const open = join(dir, 'open');
    mkdirSync(open, { mode: 0o777 });
    chmodSync(open, 0o777);
    const control: Server = createServer((s) => s.destroy());
    await new Promise<void>((r) => control.listen(join(open, 'control.sock'), r));
    chmodSync(join(open, 'control.sock'), 0o666);
    try {
      expect(connectAsNobody(join(open, 'control.sock'))).toBe('connected');
      expect(connectAsNobody(db.socketPath!)).toBe('EACCES');
    } finally {
      await new Promise<void>((r) => control.close(() => r()));
      await db.close();
    }
  });

  it('tightens a loose directory, refuses one that is not its own or not a directory, clears a stale socket, refuses a live one', async () => {
    const loose = join(dir, 'loose');
    mkdirSync(loose, { mode: 0o755 });
    chmodSync(loose, 0o755);
    const first = await startEmbeddedDynamo({ socketDir: loose });
    expect(statSync(loose).mode & 0o777).toBe(0o700);
    // A second store on the same socket would take it from the first: refused.
    await expect(startEmbeddedDynamo({ socketDir: loose })).rejects.toThrow(/in use/);
    await first.close();

    // A socket left by a stack that was killed (its file stays, nobody answers) is replaced.
    const killed = spawnSync(process.execPath, ['-e', `require('node:net').createServer().listen(process.argv[1], () => process.kill(process.pid, 'SIGKILL'))`, join(loose, STORE_SOCKET)]);
    expect(killed.signal).toBe('SIGKILL');
    expect(statSync(join(loose, STORE_SOCKET)).isSocket()).toBe(true);
    const second = await startEmbeddedDynamo({ socketDir: loose });
    const c = client(second.clientConfig());
    await c.send(new ListTablesCommand({}));
    c.destroy();
    await second.close();

    const link = join(dir, 'link');
    symlinkSync(loose, link);
    await expect(startEmbeddedDynamo({ socketDir: link })).rejects.toThrow(/not a symlink/);
    if (isRoot) {
      const foreign = join(dir, 'foreign');
      mkdirSync(foreign, { mode: 0o700 });
      chownSync(foreign, 65534, 65534);
      await expect(startEmbeddedDynamo({ socketDir: foreign })).rejects.toThrow(/belongs to uid 65534/);
    }
  });

  it('without a socket dir (tests, benches) it still listens on a loopback port', async () => {
    const db = await startEmbeddedDynamo();
    try {
      expect(db.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(db.socketPath).toBeUndefined();
      const c = client(db.clientConfig());
      expect((await c.send(new ListTablesCommand({}))).TableNames).toEqual([]);
      c.destroy();
    } finally {
      await db.close();
    }
  });
});

/** TCP ports a process listens on: its socket inodes matched against /proc/net/tcp{,6} in LISTEN state. */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const match = /^socket:\[(\d+)\]$/.exec(target);
      if (match?.[1]) inodes.add(match[1]);
    } catch {
      // The fd closed meanwhile.
    }
  }
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(table)) continue;
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || cols[3] !== '0A' || !inodes.has(cols[9] ?? '')) continue;
      ports.push(Number.parseInt(cols[1]?.split(':')[1] ?? '', 16));
    }
  }
  return ports.sort((a, b) => a - b);
}

describe.skipIf(!isRoot || !hasSetpriv)('clawbox-reaper local: the store is unreachable to other local users', () => {
  let engine: Engine;
  let dir: string;
  let child: ChildProcess | undefined;
  let stderr = '';

  async function start(): Promise<{ apiPort: number; agentPort: number }> {
    stderr = '';
    child = spawn(process.execPath, ['--import', 'tsx', join(root, 'cli/main.ts'), 'local', '--data-dir', join(dir, 'data'), '--api-listen', '127.0.0.1:0', '--agent-listen', '127.0.0.1:0', '--host-id', 'store-host', '--interval', '1h'], {
      cwd: root,
      env: { ...process.env, DOCKER_HOST: engine.dockerHost, REAPER_LOG_LEVEL: 'warn', REAPER_API_TOKEN: undefined, REAPER_MASTER_KEY: undefined },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const deadline = Date.now() + 60_000;
    while (!/API\s+http:\/\/\S+/.test(stderr) || !/agent\s+http:\/\/\S+/.test(stderr)) {
      if (child.exitCode !== null) throw new Error(`local exited with ${child.exitCode}: ${stderr}`);
      if (Date.now() > deadline) throw new Error(`local did not start: ${stderr}`);
      await sleep(50);
    }
    const port = (name: string) => Number(new RegExp(`${name}\\s+http://127\\.0\\.0\\.1:(\\d+)`).exec(stderr)?.[1]);
    return { apiPort: port('API'), agentPort: port('agent') };
  }

  async function stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return running?.exitCode ?? null;
    const exited = new Promise<number | null>((r) => running.once('exit', (code) => r(code)));
    running.kill(signal);
    return exited;
  }

  beforeAll(async () => {
    engine = await startEngine();
    dir = openDir('cr-local-store-');
    // The data dir readable and traversable by everyone: only the store's own directory may keep others out.
    mkdirSync(join(dir, 'data'), { mode: 0o755 });
    chmodSync(join(dir, 'data'), 0o755);
  });

  afterAll(async () => {
    await stop();
    await engine?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('listens on TCP for the API and the agent only, and neither answers DynamoDB; the store is a socket only its user can open', async () => {
    const { apiPort, agentPort } = await start();
    const socketPath = join(dir, 'data', 'store', STORE_SOCKET);
    expect(stderr).toContain(`store        ${socketPath}`);
    expect(listeningPorts(child!.pid!)).toEqual([apiPort, agentPort].sort((a, b) => a - b));
    // The old way in: a DynamoDB call to every port the stack listens on.
    for (const port of [apiPort, agentPort]) {
      const response = await fetch(`http://127.0.0.1:${port}/`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.ListTables' },
        body: '{}',
      });
      expect(response.status, `port ${port}`).toBeGreaterThanOrEqual(400);
      expect(await response.text()).not.toContain('TableNames');
    }
    expect(statSync(join(dir, 'data', 'store')).mode & 0o777).toBe(0o700);
    expect(statSync(socketPath).mode & 0o777).toBe(0o600);
    expect(connectAsNobody(socketPath)).toBe('EACCES');
    // The store works for the stack itself: the local host was registered through it.
    const token = readFileSync(join(dir, 'data', 'api-token'), 'utf8').trim();
    const hosts = (await (await fetch(`http://127.0.0.1:${apiPort}/v1/hosts`, { headers: { authorization: `Bearer ${token}` } })).json()) as { hosts: { hostId: string }[] };
    expect(hosts.hosts.map((h) => h.hostId)).toEqual(['store-host']);
  });

  it('starts again after being killed (the stale socket is replaced) with its data kept; a clean stop removes the socket', async () => {
    expect(await stop('SIGKILL')).toBeNull();
    const socketPath = join(dir, 'data', 'store', STORE_SOCKET);
    expect(existsSync(socketPath)).toBe(true);
    const { apiPort } = await start();
    const token = readFileSync(join(dir, 'data', 'api-token'), 'utf8').trim();
    const hosts = (await (await fetch(`http://127.0.0.1:${apiPort}/v1/hosts`, { headers: { authorization: `Bearer ${token}` } })).json()) as { hosts: { hostId: string }[] };
    expect(hosts.hosts.map((h) => h.hostId)).toEqual(['store-host']);
    expect(connectAsNobody(socketPath)).toBe('EACCES');
    expect(await stop()).toBe(0);
    expect(existsSync(socketPath)).toBe(false);
  });
});
