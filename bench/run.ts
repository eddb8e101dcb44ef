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
import { measureAgentRss, type AgentRssFigures } from './agent-rss.js';
import { measureColdStart, type ColdStartFigures } from './cold-start.js';
import { computeCost, type CostResult } from './cost.js';
import { runFanoutBench, type FanoutBenchResult } from './fanout.js';
import { runFanoutCompare, type FanoutScaleResult } from './fanout-compare.js';
import { benchPodmanReap, type PodmanReapBench } from './podman-reap.js';
import { median } from './stats.js';

interface Results {
  machine: string;
  agent?: AgentReapBench & { at: string };
  podman?: PodmanReapBench & { at: string };
  fanout?: FanoutBenchResult & { at: string };
  fanoutScale?: FanoutScaleResult & { at: string };
  coldStart?: ColdStartFigures & { at: string };
  agentRss?: AgentRssFigures & { at: string };
  cost?: CostResult & { at: string };
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
  results.coldStart = { ...measureColdStart({ runs: 9 }), at: at() };
  for (const b of results.coldStart.bundles) process.stderr.write(`cold start ${b.name}: adds ${b.overheadMs.toFixed(1)} ms over an empty node (goal ${results.coldStart.goalMs})\n`);
}
if (wanted('fanout')) {
  results.fanout = { ...(await runFanoutBench()), at: at() };
  process.stderr.write(`fan-out: ${results.fanout.hosts} hosts in ${results.fanout.wallMs} ms\n`);
}
// Heavy (10,000 hosts three times, ~20 minutes): only when named, `--only fanout-scale`.
if (only?.has('fanout-scale')) {
  results.fanoutScale = { ...runFanoutCompare(), at: at() };
  process.stderr.write(`fan-out at scale: CPU per host ${results.fanoutScale.runs.map((x) => x.cpuPerHostMs).join(' / ')} ms\n`);
}
if (wanted('agent')) {
  execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
  results.agent = { ...(await benchAgentReap({ rounds: 3, sequential: true })), at: at() };
}
if (wanted('agent-rss')) {
  execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
  results.agentRss = { ...(await measureAgentRss({ runs: 5 })), at: at() };
  process.stderr.write(`agent idle RSS: one-file ${results.agentRss.oneFileAgent.medianMiB.toFixed(1)} MiB, CLI ${results.agentRss.cliAgent.medianMiB.toFixed(1)} MiB\n`);
}
if (wanted('cost')) {
  results.cost = { ...computeCost(), at: at() };
  process.stderr.write(`cost: $${results.cost.lean.total.toFixed(4)}/host/month (lean tracked), $${results.cost.current.total.toFixed(4)} (tracked today), old design $${results.cost.old.total.toFixed(4)}\n`);
}
if (wanted('podman')) {
  if (!wanted('agent')) execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
  results.podman = { ...(await benchPodmanReap({ rounds: 3, counts: [20, 50] })), at: at() };
}

writeFileSync(RESULTS_JSON, `${JSON.stringify(results, null, 2)}\n`);
writeFileSync('bench/RESULTS.md', render(results));
process.stderr.write('wrote bench/results.json and bench/RESULTS.md\n');

function render(r: Results): string {
  const s = (x: number) => `${x.toFixed(2)} s`;
  const out = [
    '# Benchmark results',
    '',
    `Machine: ${r.machine}. Produced by \`npm run bench\` (all) or \`npm run bench -- --only agent|podman|fanout|cold-start|agent-rss|cost|fanout-scale\`;`,
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
  if (r.fanoutScale) {
    const f = r.fanoutScale;
    out.push(
      `## Fan-out at fleet scale: ${f.hosts} simulated hosts, against commit ${f.baselineCommit} in the same run (${f.at})`,
      '',
      'Command: `npm run bench -- --only fanout-scale` (bench/fanout-compare.ts): the baseline commit checked out into a temporary worktree and run as it was, then this checkout bundled as Lambda runs it (scripts/bundle-fanout.mjs), one after the other. 50 tracked items a host, virtual agents with 20-80 ms latency; the shards run in this one process (4 at a time), as locally.',
      '',
      '| run | hosts with an orphan | wall, steady run | reaper CPU | CPU per host | first run (pins every host) | DynamoDB calls per host |',
      '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
      ...f.runs.map(
        (x) =>
          `| ${x.label} | ${Math.round(x.orphanShare * 100)} % | ${(x.wallMs / 1000).toFixed(1)} s | ${(x.reaperCpuMs / 1000).toFixed(1)} s | **${x.cpuPerHostMs.toFixed(2)} ms** | ${(x.firstContactWallMs / 1000).toFixed(0)} s | ${x.dynamoCallsPerHost ? Object.entries(x.dynamoCallsPerHost).map(([k, v]) => `${k} ${v}`).join(', ') : '–'} |`,
      ),
      '',
      `CPU per host, baseline / this checkout on the same shape: ${f.cpuRatioSameShape}×. Goal ≤ ${f.goalCpuPerHostMs} ms per host: ${f.runs.slice(1).every((x) => x.cpuPerHostMs <= f.goalCpuPerHostMs) ? 'met' : f.runs.slice(1).some((x) => x.cpuPerHostMs <= f.goalCpuPerHostMs) ? 'met on the realistic shape only' : '**not met**'}.`,
      '',
    );
  }
  // Results from before the two-bundle shape (no `bundles`) are left out rather than misread.
  if (r.coldStart?.bundles) {
    const c = r.coldStart;
    const ms = (x: number) => `${x.toFixed(1)} ms`;
    out.push(
      `## Cold start of the Lambda bundles (${c.at})`,
      '',
      `Command: \`npm run build && npx tsx bench/cold-start.ts\`. Medians of ${c.runs} fresh node processes per series, interleaved; NODE_OPTIONS ${c.nodeOptions ? `\`${c.nodeOptions}\`` : 'unset, as deployed'}. The reaper bundle serves both the \`reaper\` (planner) and \`reaperWorker\` functions. "Adds" is the importing process's wall time minus an empty node process's (${ms(c.baselineMedianMs)}); the first call is timed inside the child (reaper: an event that is not a run; API: GET /healthz), and shows what a cold start costs once the handler has built its config, clients and app.`,
      '',
      '| bundle | adds over empty node (goal ≤ ' + c.goalMs + ' ms) | adds, CPU time | import() | import + first call | loaded at import / all chunks |',
      '| --- | --- | --- | --- | --- | --- |',
      ...c.bundles.map(
        (b) =>
          `| ${b.name} | **${ms(b.overheadMs)}** (${b.withinGoal ? 'met' : '**not met**'}) | ${ms(b.cpuOverheadMs)} | ${ms(b.importMedianMs)} | ${ms(b.firstCallMedianMs)} | ${b.staticKB.toFixed(0)} KB / ${b.totalKB.toFixed(0)} KB |`,
      ),
      '',
    );
  }
  if (r.agentRss) {
    const m = r.agentRss;
    const starts = (f: { samples: number[] }) => f.samples.map((x) => x.toFixed(1)).join(', ');
    out.push(
      `## Agent idle memory (${m.at})`,
      '',
      'Command: `npm run build && npx tsx bench/agent-rss.ts`. Each variant started fresh on one private engine, asked /healthz once, idle 1 s, then VmRSS from /proc/<pid>/status; the starts are interleaved.',
      '',
      `| what | median of ${m.runs} | starts |`,
      '| --- | --- | --- |',
      `| empty node process (baseline) | ${m.emptyNode.medianMiB.toFixed(1)} MiB | ${starts(m.emptyNode)} |`,
      `| CLI agent: \`node bin/clawbox-reaper.js agent\`, packages from node_modules | ${m.cliAgent.medianMiB.toFixed(1)} MiB | ${starts(m.cliAgent)} |`,
      `| **one-file agent**: \`node agent.mjs\` (dist/agent.mjs, ${m.bundleKB} KB, alone in a temp dir) | **${m.oneFileAgent.medianMiB.toFixed(1)} MiB** | ${starts(m.oneFileAgent)} |`,
      '',
      `Goal ≤ ${m.goalMiB} MiB: ${m.withinGoal ? 'met' : '**not met**'}.`,
      '',
    );
  }
  if (r.cost) {
    const c = r.cost;
    const m = (x: number) => `$${x.toFixed(4)}`;
    const row = (d: CostResult['current']) => `| ${d.name} | ${m(d.byKind.read)} | ${m(d.byKind.write)} | ${m(d.byKind.lambda)} | ${m(d.byKind.storage)} | **${m(d.total)}** |`;
    out.push(
      `## DynamoDB and Lambda cost per host per month, one run a minute (${c.at})`,
      '',
      `Command: \`npx tsx bench/cost.ts\` (arithmetic on item sizes by DynamoDB's rules, items built by the project's builders; no AWS call). ${c.params.tracked} tracked containers a host, ${c.params.eventful * 100}% of hosts eventful a run, ${c.params.shardHosts} hosts a shard, ${c.params.cpuMs} ms CPU a host. Prices: ${c.prices.basis}.`,
      '',
      '| design | reads | writes | Lambda + logs | storage (90 days) | total |',
      '| --- | ---: | ---: | ---: | ---: | ---: |',
      row(c.current),
      row(c.lean),
      row(c.old),
      '',
      `Floor (the consistent tracked read alone, lean layout): ${c.floor.readUnits} read units a run = ${m(c.floor.dollarsPerMonth)}; goal ≤ $0.01: ${c.lean.total <= 0.01 ? 'met' : `**not met** (${c.floor.reachable ? 'reachable' : 'not reachable with this read'})`}.`,
      '',
    );
  }
  return out.join('\n');
}
