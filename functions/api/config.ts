/**
 * The API function's configuration: one zod schema over the environment, parsed once into a
 * frozen object; every problem is listed in one error.
 */
import { z } from 'zod';
import { parseReaperEnv } from '../../lib/env-config.js';
import { DEFAULT_TABLE_PREFIX } from '../store/tables.js';

export class ApiConfigError extends Error {
  override name = 'ApiConfigError';
}

const ApiEnv = z.object({
  REAPER_TABLE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{0,200}$/, 'must be letters, digits, _ . - (a DynamoDB table name prefix)')
    .optional()
    .transform((value) => value ?? DEFAULT_TABLE_PREFIX),
  /** The reaper function POST /v1/reaps invokes asynchronously: a name, or an ARN (with an optional qualifier). */
  REAPER_REAPER_FUNCTION_NAME: z
    .string({ error: 'must be set to the reaper function (name or ARN)' })
    .regex(/^(arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:)?[A-Za-z0-9_-]{1,140}(:[A-Za-z0-9$_-]{1,128})?$/, 'must be a Lambda function name or ARN'),
  /** The default window of the report listing across hosts is the retention. */
  REAPER_REPORT_TTL_DAYS: z
    .string()
    .regex(/^\d{1,4}$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(1).max(3650))
    .optional()
    .transform((value) => value ?? 90),
  REAPER_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional().transform((value) => value ?? 'info'),
});

export interface ApiConfig {
  tablePrefix: string;
  reaperFunctionName: string;
  reportTtlDays: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

export function loadApiConfig(env: NodeJS.ProcessEnv): Readonly<ApiConfig> {
  const result = parseReaperEnv(ApiEnv, env, 'API');
  if ('problems' in result) throw new ApiConfigError(result.problems);
  const e = result.data;
  return Object.freeze({
    tablePrefix: e.REAPER_TABLE_PREFIX,
    reaperFunctionName: e.REAPER_REAPER_FUNCTION_NAME,
    reportTtlDays: e.REAPER_REPORT_TTL_DAYS,
    logLevel: e.REAPER_LOG_LEVEL,
  });
}
