/**
 * How a failed agent call becomes a report status (SPEC §3): the control plane's own statuses say
 * why no verdict came back from the agent.
 */
import { AgentCallError } from '../../lib/agent-client.js';
import type { ReportStatus } from '../store/schemas.js';

export type FailureStatus = Extract<ReportStatus, 'error' | 'unreachable' | 'timeout' | 'refused'>;

export function failureStatus(error: unknown): FailureStatus {
  if (!(error instanceof AgentCallError)) return 'error';
  switch (error.kind) {
    case 'unreachable':
      return 'unreachable';
    case 'timeout':
      return 'timeout';
    // 401/403: wrong key, stale clock or wrong host id (S3).
    case 'refused':
      return 'refused';
    // An error answer (4xx other than auth, 5xx) or an answer outside the contract.
    case 'error':
    case 'bad-answer':
      return 'error';
  }
}

export function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
