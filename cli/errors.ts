/**
 * The API's refusals said in the CLI's words: a validation error names the flag or argument that
 * was wrong and is a usage error (exit 2); an unknown host names the command that registers it.
 */
import { ApiError } from './api-client.js';
import { UsageError } from './output.js';

/** API field names (body, query or path) as the CLI spells them. */
const FIELD_WORDS: Record<string, string> = {
  agentUrl: '--url',
  maxReap: '--max-reap',
  enabled: '--disabled',
  allowPlainHttp: '--allow-plain-http',
  allowLinkLocal: '--allow-link-local',
  dockerId: '--docker-id',
  owner: '--owner',
  leaseSeconds: '--lease',
  hosts: '--host',
  hostId: 'host id',
  containerId: 'container id',
  runId: '--run',
  since: '--since',
  until: '--until',
  limit: '--limit',
  cursor: 'page cursor',
};

/** `body.maxReap` / `hosts.0` / `hostId` → `--max-reap` / `--host` / `the host id`. */
export function fieldWords(path: string): string {
  for (const part of path.split('.')) if (Object.hasOwn(FIELD_WORDS, part)) return FIELD_WORDS[part]!;
  return path.replace(/^(body|query|path)\.?/, '') || 'the request';
}

interface Issue {
  path: string;
  message: string;
}
const issuesOf = (details: unknown): Issue[] =>
  Array.isArray(details) ? details.filter((d): d is Issue => typeof d === 'object' && d !== null && typeof (d as Issue).path === 'string' && typeof (d as Issue).message === 'string') : [];

/** A refusal of bad input becomes a UsageError naming the flags; a host the API does not know, a hint in CLI terms. */
export function translateApiError(error: ApiError, hostId?: string): Error {
  if (error.status === 400 || error.status === 422) {
    const issues = issuesOf(error.details);
    if (issues.length === 0) return new UsageError(error.message.replace(/ \(.*\)$/, ''));
    const seen = new Set<string>();
    const parts: string[] = [];
    for (const issue of issues) {
      const field = fieldWords(issue.path);
      if (seen.has(field)) continue;
      seen.add(field);
      parts.push(`${field}: ${issue.message}`);
    }
    return new UsageError(`invalid ${parts.join('; ')}`);
  }
  if (error.code === 'host_not_found' && /PUT \/v1\//.test(error.message)) {
    const named = hostId ?? /host (\S+) is not registered/.exec(error.message)?.[1] ?? 'ID';
    return new ApiError(`host ${named} is not registered; \`clawbox-reaper hosts\` lists the registered hosts, \`clawbox-reaper hosts add ${named} --url AGENT_URL\` registers it`, error.status, error.code);
  }
  return error;
}

/** `--json` anywhere on the command line (parsed or not): errors are printed as JSON too. */
export const wantsJson = (argv: readonly string[]): boolean => argv.slice(2).includes('--json');

/** The code of a failure in --json output: the API's code, else a CLI one. */
export function errorCode(error: unknown): string {
  if (error instanceof ApiError) return error.code ?? (error.status === undefined ? 'api_unreachable' : `http_${error.status}`);
  if (error instanceof UsageError) return 'usage';
  return 'error';
}
