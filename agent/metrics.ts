/** Prometheus metrics of one agent, on a registry of its own (no global state). */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ReapReport } from '../lib/agent-contract.js';

export function createAgentMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'clawbox_reaper_agent_' });
  const reaps = new Counter({ name: 'clawbox_reaper_agent_reaps_total', help: 'Reaps carried out, by status', labelNames: ['status'], registers: [registry] });
  const containers = new Counter({
    name: 'clawbox_reaper_agent_containers_total',
    help: 'Orphaned containers acted on, by outcome (removed, vanished, failed)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'clawbox_reaper_agent_reap_duration_seconds',
    help: 'Wall time of a reap',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [registry],
  });
  const refused = new Counter({ name: 'clawbox_reaper_agent_refused_total', help: 'Requests refused, by error code', labelNames: ['code'], registers: [registry] });

  return {
    registry,
    recordReap(report: ReapReport) {
      reaps.inc({ status: report.status });
      containers.inc({ outcome: 'removed' }, report.counts.removed);
      containers.inc({ outcome: 'vanished' }, report.counts.vanished);
      containers.inc({ outcome: 'failed' }, report.counts.failed);
      duration.observe(report.durationMs / 1000);
    },
    recordRefusal(code: string) {
      refused.inc({ code });
    },
  };
}

export type AgentMetrics = ReturnType<typeof createAgentMetrics>;
