/**
 * `npm run bench`: every benchmark in one run, results into bench/results.json and
 * bench/RESULTS.md (with the machine and date). `npm run bench -- --only agent,podman,fanout` runs some.
 * Heavy: the agent bench creates ~700 containers on a private engine (~3 minutes); the podman one
 * ~450 on a private Podman service (~3 minutes).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { benchAgentReap, type AgentReapBench } from './agent-reap.js';
import { measureColdStart, type ColdStartFigures } from './cold-start.js';
import { runFanoutBench, type FanoutBenchResult } from './fanout.js';
import { benchPodmanReap, type PodmanReapBench } from './podman-reap.js';

interface Results {
  machine: string;
  agent?: AgentReapBench & { at: string };
  podman?: PodmanReapBench & { at: string };
  fanout?: FanoutBenchResult & { at: string };
  coldStart?: ColdStartFigures & { at: string };
}

const RESULTS_JSON = 'bench/results.json';
const only = (() => {
  const i = process.argv.indexOf('--only');
  return i > 0 ? new Set((process.argv[i + 1] ?? '').split(',')) : undefined;
})();
const wanted = (name: string) => !only || only.has(name);
const machine = `${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'cpu'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, dockerd ${dockerdVersion()}`;

function dockerdVersion(): string {
  try {
    return execFileSync('dockerd', ['--version'], { encoding: 'utf8' }).trim().replace(/^Docker version /, '');
  } catch {
    return 'not installed';
  }
}

const results: Results = existsSync(RESULTS_JSON) ? (JSON.parse(readFileSync(RESULTS_JSON, 'utf8')) as Results) : { machine };
results.machine = machine;
const at = () => new Date().toISOString();

if (wanted('cold-start')) {
  execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
  results.coldStart = { ...measureColdStart({ runs: 5 }), at: at() };
  process.stderr.write(`cold start: import median ${results.coldStart.medianMs.toFixed(1)} ms\n`);
}
if (wanted('fanout')) {
  results.fanout = { ...(await runFanoutBench()), at: at() };
  process.stderr.write(`fan-out: ${results.fanout.hosts} hosts in ${results.fanout.wallMs} ms\n`);
}
if (wanted('agent')) {
  execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
  results.agent = { ...(await benchAgentReap({ rounds: 3, sequential: true })), at: at() };
}
if (wanted('podman')) {
  if (!wanted('agent')) execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
  results.podman = { ...(await benchPodmanReap({ rounds: 3, counts: [20, 50] })), at: at() };
}

writeFileSync(RESULTS_JSON, `${JSON.stringify(results, null, 2)}\n`);
writeFileSync('bench/RESULTS.md', render(results));
process.stderr.write('wrote bench/results.json and bench/RESULTS.md\n');

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const m = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[m]! : (sorted[m - 1]! + sorted[m]!) / 2;
}

function render(r: Results): string {
  const s = (x: number) => `${x.toFixed(2)} s`;
  const out = [
    '# Benchmark results',
    '',
    `Machine: ${r.machine}. Produced by \`npm run bench\` (all) or \`npm run bench -- --only agent|podman|fanout|cold-start\`;`,
    'raw figures in bench/results.json. These machines are noisy (other work shares the 2 cores): medians and ratios are quoted, each against a baseline measured in the same run.',
    '',
  ];
  if (r.agent) {
    const a = r.agent;
    out.push(
      `## Agent reap: 100 running orphans that ignore SIGTERM, 1 s stop timeout (${a.at})`,
      '',
      'Command: `npx tsx bench/agent-reap.ts --rounds 3` (the agent runs as its own process, `clawbox-reaper agent`, on a private engine).',
      '',
      '| what | median | rounds |',
      '| --- | --- | --- |',
      `| engine limit: force-remove of 100 running containers, 16 at a time, straight through the API | ${s(a.medianEngineSeconds)} | ${a.engineForceRemoveSeconds.map(s).join(', ')} |`,
      `| **agent reap** (signed POST /v1/reap: list, decide, each its stop signal at once, one wait, remove) | **${s(a.medianReapSeconds)}** | ${a.agentReapSeconds.map(s).join(', ')} |`,
      ...(a.identitySeconds ? [`| the identity step just before it (GET /v1/identity, the anchor; not in the reap's time) | ${s(median(a.identitySeconds))} | ${a.identitySeconds.map(s).join(', ')} |`] : []),
      `| goal: 1 s + 1.25 × engine limit | ${s(a.budgetSeconds)} | ${a.withinBudget ? 'met' : '**not met**'} |`,
      ...(a.sequentialOriginal
        ? [`| original reaper's algorithm (one by one: stop t=5, force-remove), timed on ${a.sequentialOriginal.measuredOn}, scaled to 100 | ${s(a.sequentialOriginal.scaledTo100Seconds)} | measured ${s(a.sequentialOriginal.seconds)} for ${a.sequentialOriginal.measuredOn} |`]
        : []),
      '',
      `Ratio agent reap / engine limit: ${a.ratioReapToEngine.toFixed(2)}${a.sequentialOriginal ? `; original / agent: ${(a.sequentialOriginal.scaledTo100Seconds / a.medianReapSeconds).toFixed(1)}x` : ''}.`,
      `Agent RSS: ${a.agentRssMiB.idle.toFixed(1)} MiB idle, ${a.agentRssMiB.peakDuringReap.toFixed(1)} MiB peak during the reaps.`,
      '',
    );
  }
  if (r.podman) {
    const p = r.podman;
    out.push(
      `## Agent reap on Podman ${p.podman}: running orphans that ignore SIGTERM, ${p.stopTimeoutSeconds} s stop timeout (${p.at})`,
      '',
      'Command: `npx tsx bench/podman-reap.ts --rounds 3` (a private rootful `podman system service`, its Docker-compatible API; the agent as its own process). Podman runs at most 3 x CPUs + 1 stops at once, so the engine\'s own stop of many containers pays the timeout once per wave; the agent signals all at once and waits once.',
      '',
      '| orphans | engine limit: force-remove, 16 at a time (median) | **agent reap**: POST /v1/reap (median) | goal: 1 s + 1.25 × engine | identity step before it (median) | engine stop of all at once, then remove (once) | rounds: engine / agent |',
      '| --- | --- | --- | --- | --- | --- | --- |',
      ...p.cases.map(
        (c) =>
          `| ${c.orphans} | ${s(c.medianEngineSeconds)} | **${s(c.medianReapSeconds)}** (${c.ratioReapToEngine.toFixed(2)}x) | ${s(c.budgetSeconds)}: ${c.withinBudget ? 'met' : '**not met**'} | ${c.identitySeconds ? s(median(c.identitySeconds)) : '–'} | ${s(c.stopAllThenRemoveSeconds)} | ${c.engineForceRemoveSeconds.map(s).join(', ')} / ${c.agentReapSeconds.map(s).join(', ')} |`,
      ),
      '',
    );
  }
  if (r.fanout) {
    const f = r.fanout;
    out.push(
      `## Fan-out: one run over ${f.hosts} simulated hosts (${f.at})`,
      '',
      `Command: \`npx tsx bench/fanout.ts\`. ${f.trackedPerHost} tracked items per host in dynalite, virtual agents answering the identity step at once and signed reaps with ${f.latencyMs[0]}-${f.latencyMs[1]} ms latency (one orphan removed per host per run, the fleet budget honoured), host concurrency ${f.concurrency}.`,
      '',
      '| what | figure |',
      '| --- | --- |',
      `| wall time of a steady-state run, hosts pinned (every report written) | **${(f.wallMs / 1000).toFixed(2)} s** (goal ≤ 10 s: ${f.wallMs <= 10_000 ? 'met' : '**not met**'}) |`,
      `| wall time of the first run, which also pins every host to its engine (S10) | ${(f.firstContactWallMs / 1000).toFixed(2)} s |`,
      `| per-host latency p50 / p99 / max | ${f.perHostMs.p50.toFixed(0)} / ${f.perHostMs.p99.toFixed(0)} / ${f.perHostMs.max.toFixed(0)} ms |`,
      `| reports stored | ${f.reportsStored} |`,
      `| reaper CPU | ${(f.reaperCpuMs / 1000).toFixed(2)} s |`,
      '',
    );
  }
  if (r.coldStart) {
    const c = r.coldStart;
    out.push(
      `## Cold start of the reaper Lambda bundle (${c.at})`,
      '',
      'Command: `npm run build && npx tsx bench/cold-start.ts`.',
      '',
      '| what | median of ' + c.runs + ' |',
      '| --- | --- |',
      `| import of dist/lambda/reaper/index.mjs in a fresh process | **${c.medianMs.toFixed(1)} ms** (goal ≤ ${c.goalMs} ms: ${c.withinGoal ? 'met' : '**not met**'}) |`,
      `| node process importing it, spawn to exit | ${c.wallMedianMs.toFixed(0)} ms |`,
      `| empty node process, spawn to exit (baseline) | ${c.baselineMedianMs.toFixed(0)} ms |`,
      `| bundle size: entry / all chunks | ${c.bundleKB.toFixed(0)} KB / ${c.totalKB.toFixed(0)} KB |`,
      '',
    );
  }
  return out.join('\n');
}
