/**
 * The control plane's client for the agent contract: signs each request with the host's key,
 * verifies the agent's signature on every answer (SPEC §4: an answer without a valid one is
 * refused, `bad_answer_signature`, whatever its status), and re-parses every answer with the
 * shared schemas at runtime (an agent may run an older build).
 */
import type { z } from 'zod';
import { AGENT_PATHS, ContainerList, ErrorBody, Health, Identity, ReapReport, ReapResult, RestoreResult, reapResultPath, type ReapRequest, type RestoreRequest } from './agent-contract.js';
import { ANSWER_SIGNATURE_HEADER, SIGNATURE_HEADER, signedHeaders, verifyAnswerSignature } from './signing.js';
import { tlsFailureOf } from './tls-failure.js';

export type AgentFailureKind = 'unreachable' | 'timeout' | 'refused' | 'error' | 'bad-answer';

/** A call to an agent that did not produce a valid answer; `kind` maps to a report status. */
export class AgentCallError extends Error {
  override name = 'AgentCallError';
  constructor(
    readonly kind: AgentFailureKind,
    message: string,
    readonly httpStatus?: number,
    readonly code?: string,
    options?: { cause?: unknown; claimedStatus?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.claimedStatus = options?.claimedStatus;
  }
  /** The status an answer with a bad signature claims: named, never believed, except as a hint. */
  readonly claimedStatus: number | undefined;
  /** Network errors and 5xx may succeed on a retry; a 4xx never will. */
  get retryable(): boolean {
    return this.kind === 'unreachable' || (this.kind === 'error' && (this.httpStatus ?? 0) >= 500);
  }
}

/** The largest answer read from an agent: a broken or hostile agent must not exhaust the caller's memory (S8). */
export const MAX_ANSWER_BYTES = 32 * 1024 * 1024;

export class AnswerTooLargeError extends Error {
  override name = 'AnswerTooLargeError';
}

/** One HTTP exchange with an agent, as the client needs it (lib/agent-transport.ts sends it over undici's request API). */
export type AgentHttp = (url: string, init: { method: string; headers: Record<string, string>; body?: string; signal?: AbortSignal }) => Promise<AgentHttpAnswer>;

export interface AgentHttpAnswer {
  status: number;
  header(name: string): string | null;
  /** The body's bytes, refusing more than `maxBytes` (AnswerTooLargeError). */
  read(maxBytes: number): Promise<Buffer>;
  /** Drops the body unread. */
  discard(): Promise<void>;
}

/** An AgentHttp over a fetch (the global one, or a test's); redirects are never followed. */
export function httpOverFetch(doFetch: typeof fetch): AgentHttp {
  return async (url, init) => {
    const response = await doFetch(url, { ...init, redirect: 'manual' });
    return {
      status: response.status,
      header: (name) => response.headers.get(name),
      read: (maxBytes) => readCapped(response, maxBytes),
      discard: async () => {
        await response.body?.cancel().catch(() => undefined);
      },
    };
  };
}

/** The body's bytes, refusing more than `maxBytes`. */
async function readCapped(response: Response, maxBytes: number): Promise<Buffer> {
  if (!response.body) return Buffer.alloc(0);
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
  return Buffer.concat(chunks);
}

export const BAD_ANSWER_SIGNATURE = 'bad_answer_signature';

/**
 * The error for an answer whose signature is missing or wrong: altered or forged on the path, or
 * an agent that could not verify the command (it signs only answers to commands it verified; a
 * 401 is never signed, so a wrong host key or a clock far off shows here too, said in the
 * message), so what the answer claims is named but not believed.
 */
function badAnswerSignature(base: string, response: AgentHttpAnswer, body: Buffer): AgentCallError {
  const present = response.header(ANSWER_SIGNATURE_HEADER) !== null;
  let claim = '';
  if (!isOk(response.status)) {
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      // Not JSON: nothing to name.
    }
    const parsed = ErrorBody.safeParse(json);
    if (parsed.success) claim = ` It claims ${response.status} ${parsed.data.error.code.slice(0, 64)}`;
    if (response.status === 401) claim += `${claim ? '' : ' It claims 401'}: an agent that cannot verify a command (another host key, a clock over 300 s off) answers unsigned`;
    if (claim) claim += '.';
  }
  return new AgentCallError(
    'refused',
    `agent at ${base}: the answer (HTTP ${response.status}) ${present ? 'carries a wrong' : 'carries no'} ${ANSWER_SIGNATURE_HEADER}; it was altered, forged, or not from this host's agent, and is not trusted.${claim}`,
    // No httpStatus: the status is part of what is not trusted (a forged 413 or 404 must not be taken for one).
    undefined,
    BAD_ANSWER_SIGNATURE,
    { claimedStatus: response.status },
  );
}

/** A 3xx is a bad answer, never followed (SPEC §4); the message names where it pointed (origin and path only). */
async function redirectRefused(base: string, response: AgentHttpAnswer): Promise<AgentCallError> {
  await response.discard();
  const location = response.header('location');
  const target = location !== null && URL.canParse(location, base) ? new URL(location, base) : undefined;
  const where = target ? ` to ${`${target.origin}${target.pathname}`.slice(0, 200)}` : '';
  return new AgentCallError('bad-answer', `agent at ${base} answered HTTP ${response.status}, a redirect${where}: not followed, the command goes only to the registered URL`, response.status, 'agent_redirect');
}

export interface AgentClientOptions {
  baseUrl: string;
  hostKey: Buffer;
  /** Default MAX_ANSWER_BYTES. */
  maxAnswerBytes?: number;
  /** How requests are sent; default `http` over `fetch` (default the global fetch). */
  http?: AgentHttp;
  fetch?: typeof fetch;
  now?: () => number;
}

const isOk = (status: number) => status >= 200 && status < 300;

export function createAgentClient(options: AgentClientOptions) {
  const base = options.baseUrl.replace(/\/+$/, '');
  const send = options.http ?? httpOverFetch(options.fetch ?? fetch);

  async function call<S extends z.ZodType>(method: string, path: string, schema: S, body: string, signal?: AbortSignal): Promise<z.infer<S>> {
    const headers: Record<string, string> = signedHeaders(options.hostKey, { method, path, body }, options.now?.());
    if (body) headers['content-type'] = 'application/json';
    let response: AgentHttpAnswer;
    try {
      // SPEC §4: never follow a redirect; the signed command goes only to the registered URL.
      response = await send(base + path, { method, headers, ...(body ? { body } : {}), ...(signal ? { signal } : {}) });
    } catch (error) {
      if (signal?.aborted) throw new AgentCallError('timeout', `agent at ${base} did not answer in time`, undefined, undefined, { cause: error });
      const tls = tlsFailureOf(error); // SPEC §4: a TLS failure is said plainly and not retried
      if (tls) throw new AgentCallError(tls.kind, `agent at ${base}: ${tls.message}`, undefined, tls.code, { cause: error });
      throw new AgentCallError('unreachable', `agent at ${base} is unreachable: ${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message}`, undefined, undefined, { cause: error });
    }
    if (response.status >= 300 && response.status < 400) throw await redirectRefused(base, response);
    let bytes: Buffer;
    try {
      bytes = await response.read(options.maxAnswerBytes ?? MAX_ANSWER_BYTES);
    } catch (error) {
      if (error instanceof AnswerTooLargeError) throw new AgentCallError('bad-answer', `agent at ${base}: ${error.message}`, response.status);
      throw new AgentCallError(signal?.aborted ? 'timeout' : 'unreachable', `agent at ${base} dropped the answer`, response.status, undefined, { cause: error });
    }
    // Every answer but /healthz's (unauthenticated both ways), success or refusal, is signed over
    // this request's signature, its status and its body: nothing of it is believed otherwise.
    if (path !== AGENT_PATHS.health && !verifyAnswerSignature(options.hostKey, headers[SIGNATURE_HEADER]!, response.status, bytes, response.header(ANSWER_SIGNATURE_HEADER))) {
      throw badAnswerSignature(base, response, bytes);
    }
    const text = bytes.toString('utf8');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new AgentCallError(isOk(response.status) ? 'bad-answer' : 'error', `agent answered HTTP ${response.status} with a body that is not JSON`, response.status);
    }
    if (!isOk(response.status)) {
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
    /**
     * A run's outcome after its answer was lost: the report (200) or `{ status: 'running' }`
     * (202). A run the agent never started is an AgentCallError 404 `unknown_run`; one it began
     * and never finished, 410 `run_interrupted`.
     */
    reapResult: (runId: string, signal?: AbortSignal) => call('GET', reapResultPath(runId), ReapResult, '', signal),
  };
}

export type AnchorOptional<T extends { anchor: string }> = Omit<T, 'anchor'> & { anchor?: string };

export type AgentClient = ReturnType<typeof createAgentClient>;
