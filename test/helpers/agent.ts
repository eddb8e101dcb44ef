/**
 * Starts a real agent (real HTTP on 127.0.0.1, real dockerode) against a private engine.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { AgentConfig } from '../../agent/config.js';
import { startAgent, type RunningAgent } from '../../agent/main.js';
import { createAgentClient, type AgentClient } from '../../lib/agent-client.js';
import { createLogger, type Logger } from '../../lib/logger.js';
import { deriveHostKey, decodeKey } from '../../lib/signing.js';
import { LABEL } from './containers.js';

/** Captures log lines in memory so tests can grep them (S9). */
export function capturingLogger(level = 'info'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      callback();
    },
  });
  return { logger: createLogger({ level, destination }), lines };
}

export interface TestAgent extends RunningAgent {
  hostId: string;
  masterKey: string;
  hostKey: Buffer;
  client: AgentClient;
  logLines: string[];
}

export async function startTestAgent(options: {
  dockerHost: string;
  hostId?: string;
  masterKey?: string;
  label?: string;
  concurrency?: number;
  bodyLimitBytes?: number;
}): Promise<TestAgent> {
  const hostId = options.hostId ?? 'host-a';
  const masterKey = options.masterKey ?? randomBytes(32).toString('hex');
  const hostKeyHex = deriveHostKey(masterKey, hostId);
  const hostKey = decodeKey(hostKeyHex);
  const config: AgentConfig = {
    hostId,
    listen: { host: '127.0.0.1', port: 0 },
    hostKey,
    dockerHost: options.dockerHost,
    label: options.label ?? LABEL,
    concurrency: options.concurrency ?? 16,
    bodyLimitBytes: options.bodyLimitBytes ?? 16 * 1024 * 1024,
    publicMetrics: false,
    logLevel: 'info',
  };
  const { logger, lines } = capturingLogger();
  const agent = await startAgent(config, { logger });
  return { ...agent, hostId, masterKey, hostKey, client: createAgentClient({ baseUrl: agent.url, hostKey }), logLines: lines };
}
