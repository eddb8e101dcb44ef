/**
 * The agent's configuration: flags over environment over defaults, one zod schema, parsed once at
 * start; every problem is listed in one error.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { HostId } from '../lib/ids.js';
import { parseListen } from '../lib/listen.js';
import { decodeKey } from '../lib/signing.js';

export const DEFAULT_LABEL = 'clawbox.container_id';
export const DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock';

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
  publicMetrics: z.boolean(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
});

export type AgentConfig = z.infer<typeof AgentConfigSchema>;

export interface AgentFlags {
  hostId?: string;
  listen?: string;
  keyFile?: string;
  publicMetrics?: boolean;
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
    bodyLimitBytes: env.REAPER_AGENT_BODY_LIMIT_BYTES ?? 16 * 1024 * 1024,
    publicMetrics: flags.publicMetrics ?? env.REAPER_PUBLIC_METRICS === 'true',
    logLevel: env.REAPER_LOG_LEVEL ?? 'info',
  };
  const result = AgentConfigSchema.safeParse(raw);
  if (!result.success) {
    const names: Record<string, string> = {
      hostId: '--host-id / REAPER_HOST_ID',
      listen: '--listen / REAPER_AGENT_LISTEN',
      hostKey: flags.keyFile ? '--key-file' : 'REAPER_AGENT_KEY',
      dockerHost: 'DOCKER_HOST',
      label: 'REAPER_LABEL',
      concurrency: 'REAPER_AGENT_CONCURRENCY',
      bodyLimitBytes: 'REAPER_AGENT_BODY_LIMIT_BYTES',
      logLevel: 'REAPER_LOG_LEVEL',
    };
    const problems = result.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? '');
      if (key === 'hostKey' && hostKey === undefined) {
        return "REAPER_AGENT_KEY is not set: give this host's key (hex) in it or in --key-file; `clawbox-reaper agent-key --host <id>` derives it from the master key";
      }
      return `${names[key] ?? key}: ${issue.message}`;
    });
    throw new ConfigError(`invalid agent configuration:\n  - ${problems.join('\n  - ')}`);
  }
  return Object.freeze(result.data);
}
