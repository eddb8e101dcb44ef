/** `clawbox-reaper agent`: serves the agent for the local Docker engine until SIGINT/SIGTERM. */
import { ConfigError, loadAgentConfig, type AgentFlags } from '../agent/config.js';
import { startAgent } from '../agent/main.js';
import { UsageError } from './output.js';

export async function runAgent(flags: AgentFlags): Promise<void> {
  let config;
  try {
    config = loadAgentConfig(flags, process.env);
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message);
    throw error;
  }
  const agent = await startAgent(config);
  const shutdown = () => {
    // A reap in flight finishes (its report goes back to the caller) before the process exits.
    void agent.close().then(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}
