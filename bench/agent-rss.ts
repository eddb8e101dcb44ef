/**
 * Idle memory of the agent as deployed: each variant started fresh on one private engine, asked
 * /healthz once, left idle 1 s, then its VmRSS read from /proc (median of N starts). Variants:
 * an empty node process (the floor no build changes), the CLI agent (`node bin/clawbox-reaper.js
 * agent`, packages from node_modules) and the one-file agent (`node agent.mjs`, copied alone into
 * a temp dir). Goal: the one-file agent idles at ≤ 64 MiB.
 *
 *   npm run build && npx tsx bench/agent-rss.ts [--runs 5] [--json]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { deriveHostKey } from '../lib/signing.js';
import { startEngine } from '../test/helpers/engine.js';
import { rssMiB } from './agent-process.js';
import { median } from './stats.js';

export const AGENT_RSS_GOAL_MIB = 64;

export interface AgentRssFigures {
  runs: number;
  /** Median idle VmRSS, MiB, and every start's figure. */
  emptyNode: { medianMiB: number; samples: number[] };
  cliAgent: { medianMiB: number; samples: number[] };
  oneFileAgent: { medianMiB: number; samples: number[] };
  goalMiB: number;
  withinGoal: boolean;
  bundleKB: number;
}

async function waitForHealth(child: ChildProcess, url: string): Promise<void> {
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`agent exited with ${child.exitCode} before answering`);
    try {
      const response = await fetch(`${url}/healthz`);
      await response.arrayBuffer();
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    if (i > 150) throw new Error(`agent did not answer ${url}/healthz within 15 s`);
    await sleep(100);
  }
}

/** Starts `argv` (an agent, or an empty node when url is absent), lets it idle, returns its VmRSS in MiB. */
async function idleRss(argv: string[], env: Record<string, string>, cwd: string, url?: string): Promise<number> {
  const child = spawn(process.execPath, argv, { cwd, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise((done) => child.once('exit', done));
  try {
    if (url) await waitForHealth(child, url);
    await sleep(1000);
    return rssMiB(child.pid!);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

export async function measureAgentRss(options: { runs?: number; root?: string } = {}): Promise<AgentRssFigures> {
  const runs = options.runs ?? 5;
  const root = resolve(options.root ?? '.');
  const engine = await startEngine();
  // The one-file agent alone, no node_modules anywhere near it.
  const lone = mkdtempSync(join(tmpdir(), 'cre-agent-rss-'));
  copyFileSync(join(root, 'dist/agent.mjs'), join(lone, 'agent.mjs'));
  const { size } = statSync(join(lone, 'agent.mjs'));
  const samples = { emptyNode: [] as number[], cliAgent: [] as number[], oneFileAgent: [] as number[] };
  try {
    for (let run = 0; run < runs; run++) {
      const hostKey = deriveHostKey(randomBytes(32).toString('hex'), 'rss-host');
      const state = mkdtempSync(join(tmpdir(), 'cre-agent-rss-state-'));
      const agentEnv = (port: number) => ({ DOCKER_HOST: engine.dockerHost, REAPER_AGENT_KEY: hostKey, REAPER_AGENT_STATE_DIR: state, REAPER_AGENT_LISTEN: `127.0.0.1:${port}`, REAPER_LOG_LEVEL: 'info' });
      const port = () => 20000 + Math.floor(Math.random() * 20000);
      try {
        // Interleaved, so that a slow moment of the machine touches every variant alike.
        samples.emptyNode.push(await idleRss(['-e', 'setInterval(() => {}, 1 << 30)'], {}, lone));
        let p = port();
        samples.cliAgent.push(await idleRss([join(root, 'bin/clawbox-reaper.js'), 'agent', '--host-id', 'rss-host'], agentEnv(p), root, `http://127.0.0.1:${p}`));
        p = port();
        samples.oneFileAgent.push(await idleRss(['agent.mjs', '--host-id', 'rss-host'], agentEnv(p), lone, `http://127.0.0.1:${p}`));
      } finally {
        rmSync(state, { recursive: true, force: true });
      }
    }
  } finally {
    rmSync(lone, { recursive: true, force: true });
    await engine.stop();
  }
  const figure = (xs: number[]) => ({ medianMiB: median(xs), samples: xs });
  const oneFileAgent = figure(samples.oneFileAgent);
  return {
    runs,
    emptyNode: figure(samples.emptyNode),
    cliAgent: figure(samples.cliAgent),
    oneFileAgent,
    goalMiB: AGENT_RSS_GOAL_MIB,
    withinGoal: oneFileAgent.medianMiB <= AGENT_RSS_GOAL_MIB,
    bundleKB: Math.round(size / 1024),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const i = process.argv.indexOf('--runs');
  const figures = await measureAgentRss({ runs: i > 0 ? Number(process.argv[i + 1]) : 5 });
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
  else {
    const line = (name: string, f: { medianMiB: number; samples: number[] }) => `${name.padEnd(16)} ${f.medianMiB.toFixed(1).padStart(6)} MiB   (${f.samples.map((x) => x.toFixed(1)).join(', ')})`;
    process.stdout.write(
      [
        `idle VmRSS, median of ${figures.runs} starts`,
        line('empty node', figures.emptyNode),
        line('CLI agent', figures.cliAgent),
        line('one-file agent', figures.oneFileAgent),
        `goal ≤ ${figures.goalMiB} MiB: ${figures.withinGoal ? 'met' : 'NOT met'}; dist/agent.mjs ${figures.bundleKB} KB`,
        '',
      ].join('\n'),
    );
  }
}
