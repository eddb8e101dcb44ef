/**
 * The control plane's client for the agent contract: signs each request with the host's key and
 * re-parses every answer with the shared schemas at runtime (an agent may run an older build).
 */
import type { z } from 'zod';
import { AGENT_PATHS, ContainerList, ErrorBody, Health, Identity, ReapReport, RestoreResult, type ReapRequest, type RestoreRequest } from '../agent/contract.js';
import { signedHeaders } from './signing.js';

export type AgentFailureKind = 'unreachable' | 'timeout' | 'refused' | 'error' | 'bad-answer';

/** A call to an agent that did not produce a valid answer; `kind` maps to a report status. */
export class AgentCallError extends Error {
  override name = 'AgentCallError';
  constructor(
    readonly kind: AgentFailureKind,
    message: string,
    readonly httpStatus?: number,
    readonly code?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
  /** Network errors and 5xx may succeed on a retry; a 4xx never will. */
  get retryable(): boolean {
    return this.kind === 'unreachable' || (this.kind === 'error' && (this.httpStatus ?? 0) >= 500);
  }
}

/** The largest answer read from an agent: a broken or hostile agent must not exhaust the caller's memory (S8). */
export const MAX_ANSWER_BYTES = 32 * 1024 * 1024;

class AnswerTooLargeError extends Error {
  override name = 'AnswerTooLargeError';
}

/** The body as text, refusing more than `maxBytes`. */
async function readCapped(response: Response, maxBytes: number): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw new AnswerTooLargeError(`answer exceeds ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export interface AgentClientOptions {
  baseUrl: string;
  hostKey: Buffer;
  /** Default MAX_ANSWER_BYTES. */
  maxAnswerBytes?: number;
  fetch?: typeof fetch;
  now?: () => number;
}

export function createAgentClient(options: AgentClientOptions) {
  const base = options.baseUrl.replace(/\/+$/, '');
  const doFetch = options.fetch ?? fetch;

  async function call<S extends z.ZodType>(method: string, path: string, schema: S, body: string, signal?: AbortSignal): Promise<z.infer<S>> {
    const headers: Record<string, string> = signedHeaders(options.hostKey, { method, path, body }, options.now?.());
    if (body) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await doFetch(base + path, { method, headers, ...(body ? { body } : {}), ...(signal ? { signal } : {}) });
    } catch (error) {
      if (signal?.aborted) throw new AgentCallError('timeout', `agent at ${base} did not answer in time`, undefined, undefined, { cause: error });
      throw new AgentCallError('unreachable', `agent at ${base} is unreachable: ${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message}`, undefined, undefined, { cause: error });
    }
    let text: string;
    try {
      text = await readCapped(response, options.maxAnswerBytes ?? MAX_ANSWER_BYTES);
    } catch (error) {
      if (error instanceof AnswerTooLargeError) throw new AgentCallError('bad-answer', `agent at ${base}: ${error.message}`, response.status);
      throw new AgentCallError(signal?.aborted ? 'timeout' : 'unreachable', `agent at ${base} dropped the answer`, response.status, undefined, { cause: error });
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new AgentCallError(response.ok ? 'bad-answer' : 'error', `agent answered HTTP ${response.status} with a body that is not JSON`, response.status);
    }
    if (!response.ok) {
      const parsed = ErrorBody.safeParse(json);
      const code = parsed.success ? parsed.data.error.code : 'unknown';
      const message = parsed.success ? parsed.data.error.message : `HTTP ${response.status}`;
      // 401/403: wrong key, stale clock or wrong host id; the command was refused outright.
      const kind: AgentFailureKind = response.status === 401 || response.status === 403 ? 'refused' : 'error';
      throw new AgentCallError(kind, `agent refused (${response.status} ${code}): ${message}`, response.status, code);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new AgentCallError('bad-answer', `agent answer does not match the contract: ${parsed.error.issues[0]?.message ?? 'invalid'}`, response.status);
    return parsed.data;
  }

  const identity = (signal?: AbortSignal) => call('GET', AGENT_PATHS.identity, Identity, '', signal);
  return {
    health: (signal?: AbortSignal) => call('GET', AGENT_PATHS.health, Health, '', signal),
    containers: (signal?: AbortSignal) => call('GET', AGENT_PATHS.containers, ContainerList, '', signal),
    identity,
    /**
     * Without an anchor, one is asked for first (GET /v1/identity); the control plane asks itself,
     * before it takes its snapshot, which is what makes the anchor sound (agent/anchor.ts).
     */
    reap: async (request: AnchorOptional<ReapRequest>, signal?: AbortSignal) => {
      const anchor = request.anchor ?? (await identity(signal)).anchor;
      return call('POST', AGENT_PATHS.reap, ReapReport, JSON.stringify({ ...request, anchor }), signal);
    },
    restore: (request: RestoreRequest, signal?: AbortSignal) => call('POST', AGENT_PATHS.restore, RestoreResult, JSON.stringify(request), signal),
  };
}

export type AnchorOptional<T extends { anchor: string }> = Omit<T, 'anchor'> & { anchor?: string };

export type AgentClient = ReturnType<typeof createAgentClient>;
