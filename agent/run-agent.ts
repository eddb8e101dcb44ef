/** Serves the agent configured by flags and the environment until SIGINT/SIGTERM. */
import { loadAgentConfig, type AgentFlags } from './config.js';
import { startAgent } from './main.js';

/** Throws ConfigError (bad configuration) or DockerUnreachableError (no engine): both exit 2 at the command line. */
export async function runAgent(flags: AgentFlags): Promise<void> {
  const agent = await startAgent(loadAgentConfig(flags, process.env));
  const shutdown = () => {
    // A reap in flight finishes (its report goes back to the caller) before the process exits.
    void agent.close().then(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}
