/**
 * Starts a real agent (real HTTP on 127.0.0.1, real dockerode) against a private engine.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { AgentConfig } from '../../agent/config.js';
import { startAgent, type RunningAgent } from '../../agent/main.js';
import { createDockerPort, type DockerPort } from '../../agent/docker.js';
import { createAgentClient, type AgentClient } from '../../lib/agent-client.js';
import { createLogger, type Logger } from '../../lib/logger.js';
import { deriveHostKey, decodeKey, sha256Hex, sign } from '../../lib/signing.js';
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
  /** Wraps the real Docker port, for injecting faults a real engine cannot produce on demand. */
  wrapDocker?: (port: DockerPort) => DockerPort;
  /** Where reports are kept; default a fresh temp dir, removed on close (pass one to restart on it). */
  stateDir?: string;
  /** Listen on this port (a restart on the agent's URL); default any free one. */
  port?: number;
  /** Serve HTTPS with these files (SPEC §4); `clientFetch` then carries the test CA for `client`. */
  tls?: AgentConfig['tls'];
  clientFetch?: typeof fetch;
}): Promise<TestAgent> {
  const hostId = options.hostId ?? 'host-a';
  const masterKey = options.masterKey ?? randomBytes(32).toString('hex');
  const hostKeyHex = deriveHostKey(masterKey, hostId);
  const hostKey = decodeKey(hostKeyHex);
  const config: AgentConfig = {
    hostId,
    listen: { host: '127.0.0.1', port: options.port ?? 0 },
    hostKey,
    dockerHost: options.dockerHost,
    label: options.label ?? LABEL,
    concurrency: options.concurrency ?? 16,
    bodyLimitBytes: options.bodyLimitBytes ?? 16 * 1024 * 1024,
    publicMetrics: false,
    stateDir: options.stateDir ?? mkdtempSync(join(tmpdir(), 'cre-state-')),
    stateDirIsDefault: false,
    stateBudgetBytes: 64 * 1024 * 1024,
    logLevel: 'info',
    ...(options.tls ? { tls: options.tls } : {}),
  };
  const { logger, lines } = capturingLogger();
  const real = createDockerPort({ dockerHost: config.dockerHost, label: config.label });
  const agent = await startAgent(config, { logger, docker: options.wrapDocker ? options.wrapDocker(real) : real });
  const close = async () => {
    await agent.close();
    if (options.stateDir === undefined) rmSync(config.stateDir, { recursive: true, force: true });
  };
  return { ...agent, close, hostId, masterKey, hostKey, client: createAgentClient({ baseUrl: agent.url, hostKey, ...(options.clientFetch ? { fetch: options.clientFetch } : {}) }), logLines: lines };
}

/** A command with a fresh anchor from the agent (as the control plane sends it, before its snapshot). */
export async function anchored<T extends object>(agent: TestAgent, request: T): Promise<T & { anchor: string }> {
  return { ...request, anchor: (await agent.client.identity()).anchor };
}

export interface RawRequest {
  method?: string;
  path: string;
  body?: string;
  contentType?: string | null;
  /** Unix seconds to sign with (default: now). */
  timestamp?: number;
  /** Sign with this key instead of the agent's. */
  key?: Buffer;
  /** Sign these parts but send the request as given (replay/tamper tests). */
  signAs?: { method?: string; path?: string; body?: string };
  unsigned?: boolean;
  headers?: Record<string, string>;
}

/** Sends one request to an agent over real HTTP, signed (or deliberately mis-signed). */
export async function rawRequest(agent: TestAgent, request: RawRequest): Promise<{ status: number; json: unknown; headers: Headers }> {
  const method = request.method ?? 'GET';
  const body = request.body ?? '';
  const timestamp = request.timestamp ?? Math.floor(Date.now() / 1000);
  const headers: Record<string, string> = { ...request.headers };
  if (!request.unsigned) {
    headers['x-reaper-timestamp'] = String(timestamp);
    headers['x-reaper-signature'] = sign(request.key ?? agent.hostKey, {
      timestamp,
      method: request.signAs?.method ?? method,
      path: request.signAs?.path ?? request.path,
      body: request.signAs?.body ?? body,
    });
    // The hash of the body actually sent (SPEC §4): a signature made for other parts fails as such (401).
    if (body && headers['x-reaper-content-sha256'] === undefined) headers['x-reaper-content-sha256'] = sha256Hex(body);
  }
  if (request.contentType !== null) headers['content-type'] = request.contentType ?? 'application/json';
  const response = await fetch(agent.url + request.path, { method, headers, ...(method === 'GET' || method === 'HEAD' ? {} : { body }) });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: response.status, json, headers: response.headers };
}
