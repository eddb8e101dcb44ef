/** Where the CLI finds the API and its token: flags, then environment, then the local stack's data dir. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createApiClient, type ApiClient } from './api-client.js';
import { chooseAuth } from './aws-auth.js';

export const DEFAULT_API_URL = 'http://127.0.0.1:8787';
export const DEFAULT_DATA_DIR = '.clawbox-reaper';
export const TOKEN_FILE = 'api-token';
/** The master key `clawbox-reaper local` generates in its data dir (when REAPER_MASTER_KEY is not set). */
export const MASTER_KEY_FILE = 'master-key';

export interface GlobalOptions {
  api?: string;
  json?: boolean;
  dataDir?: string;
}

/** The API token: REAPER_API_TOKEN, else the one `clawbox-reaper local` keeps in its data dir. */
export function resolveToken(options: GlobalOptions, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.REAPER_API_TOKEN) return env.REAPER_API_TOKEN;
  try {
    return readFileSync(join(options.dataDir ?? env.REAPER_DATA_DIR ?? DEFAULT_DATA_DIR, TOKEN_FILE), 'utf8').trim();
  } catch {
    return undefined;
  }
}

export function apiClientFor(options: GlobalOptions, env: NodeJS.ProcessEnv = process.env): ApiClient {
  const token = resolveToken(options, env);
  const baseUrl = options.api ?? env.REAPER_API_URL ?? DEFAULT_API_URL;
  return createApiClient({ baseUrl, auth: chooseAuth(baseUrl, token, env) });
}
