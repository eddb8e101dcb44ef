/**
 * The agent's configuration: flags over environment over defaults, one zod schema, parsed once at
 * start; every problem is listed in one error.
 */
import { readFileSync } from 'node:fs';
import { homedir, tmpdir, userInfo } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { HostId } from '../lib/ids.js';
import { parseListen } from '../lib/listen.js';
import { decodeKey } from '../lib/signing.js';
import { DEFAULT_BODY_LIMIT_BYTES } from './body-limit.js';
import { DEFAULT_STATE_BUDGET_BYTES } from './report-store.js';
import { readCertAndKey, readCertificates } from '../lib/tls-files.js';

export const DEFAULT_LABEL = 'clawbox.container_id';
export const DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock';
/**
 * Connections the agent holds open at once. Its one legitimate caller, the control plane, uses a
 * handful (keep-alive, one or two per run); the cap bounds what unauthenticated callers can hold.
 */
export const DEFAULT_MAX_CONNECTIONS = 64;

/**
 * Where the agent keeps its reports when no --state-dir / REAPER_AGENT_STATE_DIR is given: the
 * directory systemd made for it (StateDirectory= sets $STATE_DIRECTORY), else
 * ~/.clawbox-reaper-agent, else (no home) a per-user directory under the OS temp dir.
 */
export function defaultStateDir(env: NodeJS.ProcessEnv): string {
  const systemd = env.STATE_DIRECTORY?.split(':')[0];
  if (systemd && isAbsolute(systemd)) return systemd;
  let home = '';
  try {
    home = homedir();
  } catch {
    // No home directory for this user.
  }
  if (home && home !== '/' && isAbsolute(home)) return join(home, '.clawbox-reaper-agent');
  let user = 'agent';
  try {
    user = String(userInfo().uid);
  } catch {
    // Keep the generic name.
  }
  return join(tmpdir(), `clawbox-reaper-agent-${user}`);
}

const intFromEnv = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const AgentConfigSchema = z.object({
  hostId: HostId,
  listen: z.string().transform((value, ctx) => {
    try {
      return parseListen(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
      return z.NEVER;
    }
  }),
  hostKey: z.string().transform((value, ctx) => {
    try {
      return decodeKey(value, 'host key');
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
      return z.NEVER;
    }
  }),
  dockerHost: z.string().min(1),
  label: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/, 'must be a Docker label key'),
  concurrency: intFromEnv(1, 256),
  bodyLimitBytes: intFromEnv(1024, 256 * 1024 * 1024),
  /** Connections open at once (server.maxConnections); past it new ones are closed at once. Absent: no cap. */
  maxConnections: intFromEnv(1, 65_536).optional(),
  publicMetrics: z.boolean(),
  /** Reports and the replay memory (S6), kept across restarts; `<stateDir>/<hostId>/`. */
  stateDir: z.string().min(1).transform((value) => resolve(value)),
  /** True when stateDir is the default: if it cannot be used, the agent keeps its reports in memory only. */
  stateDirIsDefault: z.boolean(),
  stateBudgetBytes: intFromEnv(1024 * 1024, 64 * 1024 * 1024 * 1024),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  /** HTTPS (SPEC §4): the files are read at start and again on SIGHUP (agent/main.ts). */
  tls: z
    .strictObject({
      certFile: z.string().min(1),
      keyFile: z.string().min(1),
      /** Only clients with a certificate this CA issued may connect. */
      clientCaFile: z.string().min(1).optional(),
    })
    .optional(),
});

export type AgentConfig = z.infer<typeof AgentConfigSchema>;

export interface AgentFlags {
  hostId?: string;
  listen?: string;
  keyFile?: string;
  publicMetrics?: boolean;
  /** --state-dir (over REAPER_AGENT_STATE_DIR). */
  stateDir?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Builds the agent's config from flags and an environment; throws ConfigError listing every problem. */
export function loadAgentConfig(flags: AgentFlags, env: NodeJS.ProcessEnv): AgentConfig {
  let hostKey = env.REAPER_AGENT_KEY;
  if (flags.keyFile) {
    try {
      hostKey = readFileSync(flags.keyFile, 'utf8').trim();
    } catch (error) {
      throw new ConfigError(`cannot read --key-file ${flags.keyFile}: ${(error as Error).message}`);
    }
  }
  const raw = {
    hostId: flags.hostId ?? env.REAPER_HOST_ID,
    listen: flags.listen ?? env.REAPER_AGENT_LISTEN ?? '127.0.0.1:8788',
    hostKey: hostKey ?? '',
    dockerHost: env.DOCKER_HOST || DEFAULT_DOCKER_HOST,
    label: env.REAPER_LABEL || DEFAULT_LABEL,
    concurrency: env.REAPER_AGENT_CONCURRENCY ?? 16,
    bodyLimitBytes: env.REAPER_AGENT_BODY_LIMIT_BYTES ?? DEFAULT_BODY_LIMIT_BYTES,
    maxConnections: env.REAPER_AGENT_MAX_CONNECTIONS ?? DEFAULT_MAX_CONNECTIONS,
    publicMetrics: flags.publicMetrics ?? env.REAPER_PUBLIC_METRICS === 'true',
    stateDir: flags.stateDir ?? (env.REAPER_AGENT_STATE_DIR || defaultStateDir(env)),
    stateDirIsDefault: flags.stateDir === undefined && !env.REAPER_AGENT_STATE_DIR && !env.STATE_DIRECTORY,
    stateBudgetBytes: env.REAPER_AGENT_STATE_BUDGET_BYTES ?? DEFAULT_STATE_BUDGET_BYTES,
    logLevel: env.REAPER_LOG_LEVEL ?? 'info',
    ...agentTls(flags, env),
  };
  const tlsProblems = raw.tls === undefined ? [] : checkTlsFiles(raw.tls);
  const result = AgentConfigSchema.safeParse(raw);
  if (!result.success || tlsProblems.length > 0) {
    const names: Record<string, string> = {
      hostId: '--host-id / REAPER_HOST_ID',
      listen: '--listen / REAPER_AGENT_LISTEN',
      hostKey: flags.keyFile ? '--key-file' : 'REAPER_AGENT_KEY',
      dockerHost: 'DOCKER_HOST',
      label: 'REAPER_LABEL',
      concurrency: 'REAPER_AGENT_CONCURRENCY',
      bodyLimitBytes: 'REAPER_AGENT_BODY_LIMIT_BYTES',
      maxConnections: 'REAPER_AGENT_MAX_CONNECTIONS',
      stateDir: '--state-dir / REAPER_AGENT_STATE_DIR',
      stateBudgetBytes: 'REAPER_AGENT_STATE_BUDGET_BYTES',
      logLevel: 'REAPER_LOG_LEVEL',
    };
    // The TLS settings' problems are checkTlsFiles's, said with the flags' names.
    const problems = (result.error?.issues ?? []).filter((issue) => issue.path[0] !== 'tls').map((issue) => {
      const key = String(issue.path[0] ?? '');
      if (key === 'hostKey' && hostKey === undefined) {
        return "REAPER_AGENT_KEY is not set: give this host's key (hex) in it or in --key-file; `clawbox-reaper agent-key --host <id>` derives it from the master key";
      }
      return `${names[key] ?? key}: ${issue.message}`;
    });
    problems.push(...tlsProblems);
    throw new ConfigError(`invalid agent configuration:\n  - ${problems.join('\n  - ')}`);
  }
  return Object.freeze(result.data);
}

/** The TLS files named by flags or environment (flags win); a missing one is '' (checkTlsFiles says so). */
function agentTls(flags: AgentFlags, env: NodeJS.ProcessEnv): { tls?: { certFile: string; keyFile: string; clientCaFile?: string } } {
  const certFile = flags.tlsCert ?? (env.REAPER_AGENT_TLS_CERT || undefined);
  const keyFile = flags.tlsKey ?? (env.REAPER_AGENT_TLS_KEY || undefined);
  const clientCaFile = flags.tlsClientCa ?? (env.REAPER_AGENT_TLS_CLIENT_CA || undefined);
  if (certFile === undefined && keyFile === undefined && clientCaFile === undefined) return {};
  return { tls: { certFile: certFile ?? '', keyFile: keyFile ?? '', ...(clientCaFile === undefined ? {} : { clientCaFile }) } };
}

/** Reads the TLS files once, as the agent will: readable, PEM, the key the certificate's. */
function checkTlsFiles(tls: { certFile: string; keyFile: string; clientCaFile?: string }): string[] {
  if (tls.certFile === '' || tls.keyFile === '') {
    const missing = tls.certFile === '' ? '--tls-cert / REAPER_AGENT_TLS_CERT' : '--tls-key / REAPER_AGENT_TLS_KEY';
    return [`${missing} is not set: HTTPS needs both a certificate and its key${tls.clientCaFile === undefined ? '' : ' (--tls-client-ca needs them too)'}`];
  }
  const problems: string[] = [];
  try {
    readCertAndKey({ cert: tls.certFile, key: tls.keyFile }, TLS_SETTINGS);
  } catch (error) {
    problems.push((error as Error).message);
  }
  if (tls.clientCaFile !== undefined) {
    try {
      readCertificates(tls.clientCaFile, TLS_SETTINGS.clientCa);
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  return problems;
}

/** How the TLS settings are named in messages. */
export const TLS_SETTINGS = { cert: '--tls-cert', key: '--tls-key', clientCa: '--tls-client-ca' } as const;
