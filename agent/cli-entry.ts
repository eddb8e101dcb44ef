/**
 * The agent's command line, defined once: `clawbox-reaper agent …` (cli/main.ts) and the one-file
 * agent `node agent.mjs …` (agent/standalone.ts) both build their command here, so they take the
 * same flags and environment (agent/config.ts) and serve the same way.
 */
import type { Command } from 'commander';
import type { AgentFlags } from './config.js';

/** What commander hands the action: the flags, --host-id required. */
type AgentOptions = AgentFlags & { hostId: string };

/** Adds the agent's description, flags and action to `command`. */
export function defineAgentCommand(command: Command): Command {
  return command
    .description('Serve the host agent for the local Docker engine (DOCKER_HOST).')
    .requiredOption('--host-id <id>', "this host's id, as registered with the control plane")
    .option('--listen <host:port>', 'address to listen on (env REAPER_AGENT_LISTEN, default 127.0.0.1:8788)')
    .option('--key-file <file>', "file holding this host's key (hex); default: env REAPER_AGENT_KEY")
    .option('--public-metrics', 'serve /metrics without a signature (for a Prometheus scraper)')
    .option('--state-dir <dir>', 'where reports and the replay memory are kept across restarts (env REAPER_AGENT_STATE_DIR; default $STATE_DIRECTORY under systemd, else ~/.clawbox-reaper-agent)')
    .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (chain); reloaded with its key on SIGHUP (env REAPER_AGENT_TLS_CERT)')
    .option('--tls-key <file>', "the certificate's PEM private key (env REAPER_AGENT_TLS_KEY)")
    .option('--tls-client-ca <file>', 'require client certificates issued by this PEM CA (env REAPER_AGENT_TLS_CLIENT_CA)')
    .addHelpText(
      'after',
      '\nEnvironment: DOCKER_HOST (unix:///var/run/docker.sock), REAPER_AGENT_KEY, REAPER_LABEL, REAPER_LOG_LEVEL,\n' +
        'REAPER_AGENT_CONCURRENCY, REAPER_AGENT_BODY_LIMIT_BYTES, REAPER_AGENT_MAX_CONNECTIONS, REAPER_AGENT_STATE_BUDGET_BYTES (docs/DEPLOY.md).',
    )
    .action(async (options: AgentOptions) => {
      // Loaded on demand: the CLI's other commands never need dockerode.
      const { runAgent } = await import('./run-agent.js');
      await runAgent(agentFlags(options));
    });
}

/** The flags that were given (the environment fills the others: agent/config.ts). */
function agentFlags(o: AgentOptions): AgentFlags {
  return {
    hostId: o.hostId,
    ...(o.listen ? { listen: o.listen } : {}),
    ...(o.keyFile ? { keyFile: o.keyFile } : {}),
    ...(o.publicMetrics ? { publicMetrics: true } : {}),
    ...(o.stateDir ? { stateDir: o.stateDir } : {}),
    ...(o.tlsCert ? { tlsCert: o.tlsCert } : {}),
    ...(o.tlsKey ? { tlsKey: o.tlsKey } : {}),
    ...(o.tlsClientCa ? { tlsClientCa: o.tlsClientCa } : {}),
  };
}
