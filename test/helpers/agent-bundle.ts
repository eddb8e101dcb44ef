/**
 * The one-file agent (dist/agent.mjs) as deployed: built by the real scripts/build.mjs into a temp
 * dir (dist/ is left alone), copied alone into another temp dir with no node_modules near it, and
 * run there with plain `node`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAgentClient, type AgentClient } from '../../lib/agent-client.js';
import { decodeKey, deriveHostKey } from '../../lib/signing.js';
import { startEngine, type Engine } from './engine.js';

export interface BuiltAgentBundle {
  /** A temp dir holding agent.mjs and nothing else. */
  dir: string;
  bundle: string;
  /** esbuild's metafile of the bundle: every input it was made of. */
  meta: { inputs: Record<string, unknown> };
  remove(): void;
}

export function buildAgentBundle(): BuiltAgentBundle {
  const out = mkdtempSync(join(tmpdir(), 'cre-agent-build-'));
  const dir = mkdtempSync(join(tmpdir(), 'cre-agent-alone-'));
  try {
    execFileSync(process.execPath, [resolve('scripts/build.mjs'), '--outdir', out], { stdio: ['ignore', 'ignore', 'pipe'] });
    copyFileSync(join(out, 'agent.mjs'), join(dir, 'agent.mjs'));
    const meta = JSON.parse(readFileSync(join(out, 'agent.meta.json'), 'utf8')) as BuiltAgentBundle['meta'];
    return { dir, bundle: join(dir, 'agent.mjs'), meta, remove: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

export interface BundleAgent {
  url: string;
  pid: number;
  hostId: string;
  client: AgentClient;
  child: ChildProcess;
  stderr(): string;
  /** SIGTERM, then waits for the exit; returns the exit code. */
  stop(): Promise<number | null>;
}

/** Runs `node agent.mjs --host-id <id>` in the bundle's dir for the engine at dockerHost; resolves once /healthz answers. */
export async function startBundleAgent(options: { bundle: string; cwd: string; dockerHost: string; hostId?: string; nodeArgs?: string[]; env?: Record<string, string> }): Promise<BundleAgent> {
  const hostId = options.hostId ?? 'bundle-host';
  const hostKeyHex = deriveHostKey(randomBytes(32).toString('hex'), hostId);
  const port = 20000 + Math.floor(Math.random() * 20000);
  const state = mkdtempSync(join(tmpdir(), 'cre-agent-state-'));
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), options.bundle, '--host-id', hostId, '--listen', `127.0.0.1:${port}`], {
    cwd: options.cwd,
    // Only what the agent needs: nothing inherited can make it find a module elsewhere.
    env: { PATH: process.env.PATH ?? '', DOCKER_HOST: options.dockerHost, REAPER_AGENT_KEY: hostKeyHex, REAPER_AGENT_STATE_DIR: state, REAPER_LOG_LEVEL: 'warn', ...options.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const code = await exited;
    rmSync(state, { recursive: true, force: true });
    return code;
  };
  const url = `http://127.0.0.1:${port}`;
  const client = createAgentClient({ baseUrl: url, hostKey: decodeKey(hostKeyHex) });
  for (let i = 0; ; i++) {
    try {
      await client.health();
      break;
    } catch (error) {
      if (child.exitCode !== null || i > 150) {
        await stop();
        throw new Error(`the one-file agent did not answer /healthz (exit ${child.exitCode}): ${stderr || (error as Error).message}`, { cause: error });
      }
      await sleep(100);
    }
  }
  return { url, pid: child.pid!, hostId, client, child, stderr: () => stderr, stop };
}

/**
 * The bundle built and a private engine started, in parallel. Whichever succeeded is returned even
 * when the other failed (as `partial`), so the caller's cleanup stops what did start.
 */
export async function buildBundleAndStartEngine(partial: { built?: BuiltAgentBundle; engine?: Engine }): Promise<{ built: BuiltAgentBundle; engine: Engine }> {
  const [bundle, started] = await Promise.allSettled([Promise.resolve().then(buildAgentBundle), startEngine()]);
  if (bundle.status === 'fulfilled') partial.built = bundle.value;
  if (started.status === 'fulfilled') partial.engine = started.value;
  if (bundle.status === 'rejected') throw bundle.reason;
  if (started.status === 'rejected') throw started.reason;
  return { built: bundle.value, engine: started.value };
}
