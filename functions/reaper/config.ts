/**
 * The reaper function's configuration (SPEC §7): one zod schema over the environment, parsed once
 * at start into a frozen object; every problem is listed in one error. Integers are parsed
 * strictly (digits only), so "", "1e3" or "12s" are refused rather than coerced into surprises
 * such as a grace of 0.
 */
import { z } from 'zod';
import { parseReaperEnv } from '../../lib/env-config.js';
import { LIMITS } from '../../lib/agent-contract.js';
import { decodeKey } from '../../lib/signing.js';
import { readCertAndKey, readCertificates } from '../../lib/tls-files.js';
import { DEFAULT_TABLE_PREFIX } from '../store/tables.js';

/** Hosts per shard: a worker's event stays far below Lambda's 256 KB, and its run well inside a tick. */
export const DEFAULT_SHARD_HOSTS = 200;

/** The largest per-host maxReap (S4): a larger cap is no cap. */
export const MAX_HOST_MAX_REAP = 10_000;

export class ReaperConfigError extends Error {
  override name = 'ReaperConfigError';
}

const int = (min: number, max: number, fallback: number) =>
  z
    .string()
    .regex(/^\d{1,10}$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))
    .optional()
    .transform((value) => value ?? fallback);

const ReaperEnv = z
  .object({
    REAPER_TABLE_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{0,200}$/, 'must be letters, digits, _ . - (a DynamoDB table name prefix)')
      .optional()
      .transform((value) => value ?? DEFAULT_TABLE_PREFIX),
    REAPER_GRACE_SECONDS: int(0, LIMITS.graceSeconds, 120),
    REAPER_STOP_TIMEOUT_SECONDS: int(0, LIMITS.stopTimeoutSeconds, 5),
    REAPER_MAX_REAP: int(0, MAX_HOST_MAX_REAP, 100),
    REAPER_MAX_REAP_PERCENT: int(1, 100, 50),
    REAPER_MAX_REAP_PERCENT_MIN: int(0, MAX_HOST_MAX_REAP, 3),
    REAPER_FLEET_MAX_REAP: int(0, LIMITS.maxReap, 1000),
    REAPER_QUARANTINE_SECONDS: int(0, LIMITS.quarantineSeconds, 600),
    REAPER_LEASE_SKEW_SECONDS: int(0, 24 * 3600, 60),
    REAPER_HOST_CONCURRENCY: int(1, 1024, 32),
    /** Hosts per shard (SPEC §10): each shard is one worker invocation on AWS. */
    REAPER_SHARD_HOSTS: int(1, 2000, DEFAULT_SHARD_HOSTS),
    /** The worker function the planner invokes asynchronously, one invocation per shard (AWS); unset: shards run in process. */
    REAPER_WORKER_FUNCTION: z
      .string()
      .regex(/^[A-Za-z0-9_:.-]{1,170}$/, 'must be a Lambda function name or ARN')
      .optional(),
    REAPER_REPORT_TTL_DAYS: int(1, 3650, 90),
    /** One agent call's time limit (the run's deadline may cut it shorter). */
    REAPER_AGENT_TIMEOUT_SECONDS: int(1, 900, 60),
    /** Agent calls per host, the first included; only network errors and 5xx are retried. */
    REAPER_AGENT_ATTEMPTS: int(1, 10, 3),
    /** Time kept at the end of the Lambda's run for writing reports (S8). */
    REAPER_REPORT_MARGIN_SECONDS: int(1, 120, 10),
    REAPER_MASTER_KEY: z
      .string()
      .optional()
      .superRefine((value, ctx) => {
        if (value === undefined) return;
        try {
          decodeKey(value, 'REAPER_MASTER_KEY');
        } catch (error) {
          // decodeKey's messages never contain the key itself (S9).
          ctx.addIssue({ code: 'custom', message: (error as Error).message });
        }
      }),
    REAPER_MASTER_KEY_PARAM: z
      .string()
      .regex(/^\/[A-Za-z0-9_.\-/]{1,1010}$/, 'must be an SSM parameter name starting with /')
      .optional(),
    REAPER_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional().transform((value) => value ?? 'info'),
    /** PEM CA bundle for agents' certificates; replaces the default roots for agent calls (lib/agent-transport.ts). */
    REAPER_AGENT_CA_FILE: z.string().optional(),
    /** PEM client certificate and key, for agents started with --tls-client-ca. */
    REAPER_AGENT_CLIENT_CERT: z.string().optional(),
    REAPER_AGENT_CLIENT_KEY: z.string().optional(),
    /** Alerts (SPEC §6): a webhook receiving JSON POSTs, and/or an SNS topic (on AWS). */
    REAPER_ALERT_WEBHOOK_URL: z
      .string()
      .refine((value) => URL.canParse(value) && /^https?:$/.test(new URL(value).protocol), 'must be an http(s) URL')
      .optional(),
    REAPER_ALERT_TOPIC_ARN: z
      .string()
      .regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}$/, 'must be an SNS topic ARN')
      .optional(),
    /** A host failing this many runs in a row gets one alert. */
    REAPER_ALERT_FAILURE_STREAK: int(1, 100, 3),
    /** `emf`: one CloudWatch embedded-metric-format line per run on stdout (default on Lambda). */
    REAPER_METRICS: z.enum(['emf', 'off']).optional(),
    /** The metrics' Stage dimension; none when unset. */
    REAPER_METRICS_STAGE: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be letters, digits, _ -').optional(),
  })
  .superRefine((env, ctx) => {
    // The agent TLS files are read once here, so a bad one stops the start, not every call.
    if (env.REAPER_AGENT_CA_FILE !== undefined) {
      try {
        readCertificates(env.REAPER_AGENT_CA_FILE, 'REAPER_AGENT_CA_FILE');
      } catch (error) {
        ctx.addIssue({ code: 'custom', path: ['REAPER_AGENT_CA_FILE'], message: (error as Error).message.replace(/^REAPER_AGENT_CA_FILE /, '') });
      }
    }
    const cert = env.REAPER_AGENT_CLIENT_CERT;
    const key = env.REAPER_AGENT_CLIENT_KEY;
    if ((cert === undefined) !== (key === undefined)) {
      ctx.addIssue({ code: 'custom', path: [cert === undefined ? 'REAPER_AGENT_CLIENT_CERT' : 'REAPER_AGENT_CLIENT_KEY'], message: 'set both REAPER_AGENT_CLIENT_CERT and REAPER_AGENT_CLIENT_KEY, or neither' });
    } else if (cert !== undefined && key !== undefined) {
      try {
        readCertAndKey({ cert, key }, { cert: 'REAPER_AGENT_CLIENT_CERT', key: 'REAPER_AGENT_CLIENT_KEY' });
      } catch (error) {
        ctx.addIssue({ code: 'custom', path: ['REAPER_AGENT_CLIENT_CERT'], message: (error as Error).message });
      }
    }
    // S12: a call may take this long to be answered; the grace must outlast it.
    if (env.REAPER_GRACE_SECONDS > 0 && env.REAPER_AGENT_TIMEOUT_SECONDS >= env.REAPER_GRACE_SECONDS) {
      ctx.addIssue({
        code: 'custom',
        path: ['REAPER_AGENT_TIMEOUT_SECONDS'],
        message: `must be less than REAPER_GRACE_SECONDS (${env.REAPER_GRACE_SECONDS}): an agent call must not outlast the grace (S12)`,
      });
    }
    if (env.REAPER_MASTER_KEY === undefined && env.REAPER_MASTER_KEY_PARAM === undefined) {
      ctx.addIssue({ code: 'custom', path: ['REAPER_MASTER_KEY'], message: 'set REAPER_MASTER_KEY (hex, locally) or REAPER_MASTER_KEY_PARAM (an SSM SecureString name, on AWS)' });
    }
    if (env.REAPER_MASTER_KEY !== undefined && env.REAPER_MASTER_KEY_PARAM !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['REAPER_MASTER_KEY_PARAM'], message: 'set only one of REAPER_MASTER_KEY and REAPER_MASTER_KEY_PARAM' });
    }
  });

/** The settings a run uses; tests and the local stack build this directly. */
export interface ReapSettings {
  graceSeconds: number;
  stopTimeoutSeconds: number;
  maxReap: number;
  /** S4 extended: capped when orphans > this percent of the labelled containers … */
  maxReapPercent: number;
  /** … and at least this many. */
  maxReapPercentMin: number;
  /** S4: most containers one run removes over all hosts. */
  fleetMaxReap: number;
  /** S11: pause first, remove only this long after; 0 = remove at once. */
  quarantineSeconds: number;
  /** S12: a lease protects until leaseExpiresAt + this. */
  leaseSkewSeconds: number;
  hostConcurrency: number;
  agentTimeoutMs: number;
  agentAttempts: number;
  reportMarginMs: number;
  /** Hosts per shard; default DEFAULT_SHARD_HOSTS. */
  shardHosts?: number;
}

export interface ReaperConfig extends ReapSettings {
  tablePrefix: string;
  reportTtlDays: number;
  /** Hex; named so the logger's redaction covers it if a config is ever logged (S9). */
  masterKey: string | undefined;
  masterKeyParam: string | undefined;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Agent TLS (SPEC §4): file paths, checked at start; read by functions/reaper.ts into the transport. */
  agentCaFile: string | undefined;
  agentClientCertFile: string | undefined;
  agentClientKeyFile: string | undefined;
  /** A secret in its own right (a chat webhook's URL): never logged. */
  alertWebhookUrl: string | undefined;
  alertTopicArn: string | undefined;
  alertFailureStreak: number;
  /** Undefined: EMF on Lambda (AWS_LAMBDA_FUNCTION_NAME set), off elsewhere. */
  metrics: 'emf' | 'off' | undefined;
  metricsStage: string | undefined;
  /** REAPER_WORKER_FUNCTION: shards are dispatched to it (AWS) instead of run in process. */
  workerFunction: string | undefined;
}

export const DEFAULT_REAP_SETTINGS: Readonly<ReapSettings> = Object.freeze({
  graceSeconds: 120,
  stopTimeoutSeconds: 5,
  maxReap: 100,
  maxReapPercent: 50,
  maxReapPercentMin: 3,
  fleetMaxReap: 1000,
  quarantineSeconds: 600,
  leaseSkewSeconds: 60,
  hostConcurrency: 32,
  agentTimeoutMs: 60_000,
  agentAttempts: 3,
  reportMarginMs: 10_000,
});

/** Parses the environment once; throws ReaperConfigError listing every problem. */
export function loadReaperConfig(env: NodeJS.ProcessEnv): Readonly<ReaperConfig> {
  const result = parseReaperEnv(ReaperEnv, env, 'reaper');
  if ('problems' in result) throw new ReaperConfigError(result.problems);
  const e = result.data;
  return Object.freeze({
    tablePrefix: e.REAPER_TABLE_PREFIX,
    graceSeconds: e.REAPER_GRACE_SECONDS,
    stopTimeoutSeconds: e.REAPER_STOP_TIMEOUT_SECONDS,
    maxReap: e.REAPER_MAX_REAP,
    maxReapPercent: e.REAPER_MAX_REAP_PERCENT,
    maxReapPercentMin: e.REAPER_MAX_REAP_PERCENT_MIN,
    fleetMaxReap: e.REAPER_FLEET_MAX_REAP,
    quarantineSeconds: e.REAPER_QUARANTINE_SECONDS,
    leaseSkewSeconds: e.REAPER_LEASE_SKEW_SECONDS,
    hostConcurrency: e.REAPER_HOST_CONCURRENCY,
    shardHosts: e.REAPER_SHARD_HOSTS,
    workerFunction: e.REAPER_WORKER_FUNCTION,
    reportTtlDays: e.REAPER_REPORT_TTL_DAYS,
    agentTimeoutMs: e.REAPER_AGENT_TIMEOUT_SECONDS * 1000,
    agentAttempts: e.REAPER_AGENT_ATTEMPTS,
    reportMarginMs: e.REAPER_REPORT_MARGIN_SECONDS * 1000,
    masterKey: e.REAPER_MASTER_KEY?.trim(),
    masterKeyParam: e.REAPER_MASTER_KEY_PARAM,
    logLevel: e.REAPER_LOG_LEVEL,
    agentCaFile: e.REAPER_AGENT_CA_FILE,
    agentClientCertFile: e.REAPER_AGENT_CLIENT_CERT,
    agentClientKeyFile: e.REAPER_AGENT_CLIENT_KEY,
    alertWebhookUrl: e.REAPER_ALERT_WEBHOOK_URL,
    alertTopicArn: e.REAPER_ALERT_TOPIC_ARN,
    alertFailureStreak: e.REAPER_ALERT_FAILURE_STREAK,
    metrics: e.REAPER_METRICS,
    metricsStage: e.REAPER_METRICS_STAGE,
  });
}
