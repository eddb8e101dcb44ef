/**
 * The agent as its own process (the real CLI, `clawbox-reaper agent`) on a private engine, for
 * benchmarks that measure it alone: its memory and CPU are read from /proc by PID.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAgentClient, type AgentClient } from '../lib/agent-client.js';
import { decodeKey, deriveHostKey } from '../lib/signing.js';

export interface AgentProcess {
  pid: number;
  url: string;
  hostId: string;
  hostKey: Buffer;
  client: AgentClient;
  stop(): void;
  /** Settles once the process has exited. */
  exited: Promise<void>;
}

/** Resident memory of a process, MiB (one decimal). */
export function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Math.round((Number(line?.match(/(\d+)/)?.[1] ?? 0) / 1024) * 10) / 10;
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export interface AgentProcessOptions {
  dockerHost: string;
  hostId: string;
  /** More environment for the agent (REAPER_AGENT_MAX_CONNECTIONS, REAPER_AGENT_BODY_LIMIT_BYTES …). */
  env?: Record<string, string>;
  /** Run cli/main.ts through tsx instead of the built dist/ (tests: the code as it is now, no build). */
  fromSource?: boolean;
  /** The project to run the agent of (default: this one); e.g. an export of an older commit, to compare. */
  root?: string;
}

/** Starts `clawbox-reaper agent` (built dist/, or the source) for the engine at dockerHost and waits until it answers. */
export async function startAgentProcess(options: AgentProcessOptions): Promise<AgentProcess> {
  const hostKeyHex = deriveHostKey(randomBytes(32).toString('hex'), options.hostId);
  const port = 20000 + Math.floor(Math.random() * 20000);
  const root = resolve(options.root ?? '.');
  // Reports go to a temp dir, never the user's home (given by environment: older builds have no --state-dir).
  const stateDir = mkdtempSync(join(tmpdir(), 'cre-bench-state-'));
  const entry = options.fromSource ? ['--import', 'tsx', join(root, 'cli/main.ts')] : [join(root, 'bin/clawbox-reaper.js')];
  const child = spawn(process.execPath, [...entry, 'agent', '--host-id', options.hostId, '--listen', `127.0.0.1:${port}`], {
    cwd: root,
    env: { ...process.env, DOCKER_HOST: options.dockerHost, REAPER_AGENT_KEY: hostKeyHex, REAPER_LOG_LEVEL: 'warn', REAPER_AGENT_STATE_DIR: stateDir, ...options.env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const hostKey = decodeKey(hostKeyHex);
  const client = createAgentClient({ baseUrl: url, hostKey });
  const exited = new Promise<void>((done) => child.once('exit', () => done())).then(() => rmSync(stateDir, { recursive: true, force: true }));
  const stop = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  };
  for (let i = 0; ; i++) {
    try {
      await client.health();
      break;
    } catch (error) {
      if (i > 100 || child.exitCode !== null) {
        stop();
        throw error;
      }
      await sleep(100);
    }
  }
  // Let start-up allocations settle before anyone reads an idle RSS.
  await sleep(500);
  return { pid: child.pid!, url, hostId: options.hostId, hostKey, client, stop, exited };
}
